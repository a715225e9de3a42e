"""Pure: integrity results as a versioned JSON document, and that document as text.

Text follows ``rpm -V``: one line per finding (category, env, distribution, path relative to
the env, then expected vs actual), so a scheduled job can grep it; then one summary line per
env. Findings about an env as a whole (``health.ENV_LEVEL``: it is missing or cannot start)
come first, in the text before every finding about files, in JSON first in their env's
``findings`` and ``counts``. JSON carries the same data and is what the text is rendered from.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.core.facts import EnvCheck, Finding
from reconciler.core.health import ENV_LEVEL
from reconciler.core.integrity import (
    BASELINE_DETAIL,
    AllowedModification,
    IntegrityFinding,
    VerifyReport,
)
from reconciler.report.units import human_size

FORMAT_VERSION = "1"
LINKED_FILES_HINT = "they share storage with another copy, most likely uv's package cache"


def _finding(finding: IntegrityFinding) -> dict[str, Any]:
    return {
        "category": finding.category,
        "dist": finding.dist,
        "path": finding.path,
        "expected_size": finding.expected_size,
        "actual_size": finding.actual_size,
        "expected_sha256": finding.expected_sha256,
        "actual_sha256": finding.actual_sha256,
        "detail": finding.detail,
    }


def _allowed(allowed: AllowedModification) -> dict[str, Any]:
    return {**_finding(allowed.finding), "pattern": allowed.pattern}


def _linked_warning(check: EnvCheck, report: VerifyReport) -> str | None:
    if not report.linked_files:
        return None
    files = f"{report.linked_files:,} of its files have other hard links"
    if check.kind == "folder":  # no manifest: nothing to advise but what it means
        return f"{check.env_key}: {files}: {LINKED_FILES_HINT}, and a write to one changes both."
    if check.kind == "adopted":
        return (
            f"{check.env_key}: {files}: {LINKED_FILES_HINT}, and a write to one changes both; "
            "reconcile never rebuilds an adopted env: move its models to a managed env."
        )
    if check.link_mode == "hardlink":
        return (
            f'{check.env_key}: {files} (link_mode = "hardlink"): {LINKED_FILES_HINT}, and a '
            'write to one changes both; use link_mode "auto" to give envs their own files.'
        )
    return (
        f'{check.env_key}: {files} although link_mode is "{check.link_mode}": '
        f"{LINKED_FILES_HINT}; `reconcile apply --replace {check.env_key}` rebuilds it with "
        "files of its own."
    )


def _env_finding(finding: Finding) -> dict[str, Any]:
    """An env-level finding in the shape of a file's: no distribution, no sizes."""
    return {
        "category": finding.reason,
        "dist": None,
        "path": finding.path,
        "expected_size": None,
        "actual_size": None,
        "expected_sha256": None,
        "actual_sha256": None,
        "detail": finding.detail,
    }


def _env(check: EnvCheck) -> dict[str, Any]:
    doc: dict[str, Any] = {"env": check.env_key, "kind": check.kind, "path": check.path}
    report = check.report
    level = [_env_finding(f) for f in check.env_findings]
    counts = Counter(f["category"] for f in level)
    if report is None:
        if not level:
            return {**doc, "status": "unchecked", "problem": check.problem}
        return {
            **doc,
            "status": "problems",
            "problem": check.problem,
            "counts": {c: counts[c] for c in ENV_LEVEL if counts[c]},
            "findings": level,
            "allowed": [],
        }
    return {
        **doc,
        "status": "ok" if report.ok and not level else "problems",
        "problem": None,
        "counts": {**{c: counts[c] for c in ENV_LEVEL if counts[c]}, **report.counts()},
        "findings": level + [_finding(f) for f in report.findings],
        "allowed": [_allowed(a) for a in report.allowed],
        "record_defects": [_finding(d) for d in report.record_defects],
        "distributions": report.dists,
        "files_checked": report.rows_checked,
        "files_hashed": report.files_hashed,
        "files_cached": report.files_cached,
        "bytes_hashed": report.bytes_hashed,
        "bytecode_rows": report.bytecode_rows,
        "linked_files": report.linked_files,
        "notes": list(report.notes),
    }


def verify_document(checks: Sequence[EnvCheck], deep: bool) -> dict[str, Any]:
    """The versioned integrity document of ``checks``."""
    envs = [_env(c) for c in checks]
    warnings = [w for c in checks if c.report is not None and (w := _linked_warning(c, c.report))]
    return {
        "format_version": FORMAT_VERSION,
        "deep": deep,
        "envs": envs,
        "warnings": warnings,
        "summary": {
            "envs": len(envs),
            "ok": sum(e["status"] == "ok" for e in envs),
            "with_problems": sum(e["status"] == "problems" for e in envs),
            "unchecked": sum(e["status"] == "unchecked" for e in envs),
            "findings": sum(len(e.get("findings", ())) for e in envs),
            "env_findings": sum(len(c.env_findings) for c in checks),
        },
    }


def has_problems(doc: Mapping[str, Any]) -> bool:
    return any(env["status"] != "ok" for env in doc["envs"])


def render_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def _size(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def finding_text(finding: Mapping[str, Any]) -> str:
    """What differs, in a few words: expected vs actual size, or the finding's detail."""
    category = finding["category"]
    expected, actual = finding["expected_size"], finding["actual_size"]
    detail = finding["detail"]
    # A row that is wrong upstream is checked against what reconcile installed instead.
    source = "what reconcile installed" if BASELINE_DETAIL in detail else "RECORD"
    if category in ("zero_byte", "size_mismatch"):
        text = f"size {_size(actual)}, {source} says {_size(expected)}"
    elif category == "hash_mismatch":
        text = f"sha256 differs from {source} (size {_size(actual)})"
    elif category == "record_defect":
        said = (
            f"says size {_size(expected)}, it ships {_size(actual)}"
            if expected is not None and expected != actual
            else "has another sha256 for it"
        )
        return f"upstream RECORD defect: the wheel's RECORD {said}; the file is as installed"
    else:
        text = ""
    return f"{text}; {detail}" if text and detail else text or detail


def _table(rows: Iterable[Sequence[str]]) -> list[str]:
    rows = list(rows)
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(w) for cell, w in zip(r, widths, strict=False)), r[-1]]).rstrip()
        for r in rows
    ]


def _summary(env: Mapping[str, Any]) -> str:
    """One line: the env-level findings first (``env broken (1 interpreter_broken)``), then
    what the check of its files found."""
    key = env["env"]
    level = [f for f in env.get("findings", ()) if f["category"] in ENV_LEVEL]
    files = _files(env, len(level))
    if not level:
        return f"{key}: {files}."
    if [f["category"] for f in level] == ["env_missing"]:
        return f"{key}: env missing: {level[0]['detail']}."
    counts = ", ".join(f"{n} {c}" for c, n in env["counts"].items() if c in ENV_LEVEL)
    head = f"{key}: env broken ({counts})"
    if files is None:
        return f"{head}."
    return f"{head}; files: {files}."


def _files(env: Mapping[str, Any], env_level: int) -> str | None:
    """What the check of the env's files found, ``None`` when there was nothing to check."""
    if "files_checked" not in env:
        return None if env["problem"] is None else f"not checked: {env['problem'].rstrip('.')}"
    checked = (
        f"{env['files_checked']:,} files checked: {env['files_hashed']:,} hashed "
        f"({human_size(env['bytes_hashed'])}), {env['files_cached']:,} unchanged since last hashed"
    )
    found = env["findings"][env_level:]
    dists = env["distributions"]
    if not found:
        allowed = len(env["allowed"])
        extra = f", {allowed} allowed modification{'s' * (allowed != 1)}" if allowed else ""
        defects = len(env.get("record_defects", ()))
        extra += f", {defects} upstream RECORD defect{'s' * (defects != 1)}" if defects else ""
        return f"OK, {dists} distribution{'s' * (dists != 1)}{extra} ({checked})"
    counts = ", ".join(
        f"{n} {category}" for category, n in env["counts"].items() if category not in ENV_LEVEL
    )
    bad = len({f["dist"] for f in found if f["dist"]})
    count = len(found)
    return (
        f"{count} problem{'s' * (count != 1)} in {bad} of {dists} distributions: {counts} "
        f"({checked})"
    )


def render_text(doc: Mapping[str, Any], verbose: bool = False, quiet: bool = False) -> str:
    """One line per finding (and per allowed modification and upstream RECORD defect with
    ``verbose``), then one
    summary line per env (``quiet``: only for envs that are not OK), then warnings."""
    rows: list[tuple[str, ...]] = []
    for env in doc["envs"]:  # an env that cannot start is worse than a bad file: those first
        for f in env.get("findings", ()):
            if f["category"] in ENV_LEVEL:
                rows.append((f["category"], env["env"], "-", f["path"], f["detail"]))
    for env in doc["envs"]:
        for f in env.get("findings", ()):
            if f["category"] in ENV_LEVEL:
                continue
            rows.append((f["category"], env["env"], f["dist"] or "-", f["path"], finding_text(f)))
        if verbose:
            for a in env.get("allowed", ()):
                why = f'{a["category"]} allowed by verify_ignore "{a["pattern"]}"'
                rows.append(("allowed", env["env"], a["dist"] or "-", a["path"], why))
            for d in env.get("record_defects", ()):
                rows.append(
                    ("record_defect", env["env"], d["dist"] or "-", d["path"], finding_text(d))
                )
    lines = _table(rows)
    if lines:
        lines.append("")
    lines += [_summary(env) for env in doc["envs"] if not quiet or env["status"] != "ok"]
    if verbose:
        lines += [f"note: {env['env']}: {n}" for env in doc["envs"] for n in env.get("notes", ())]
    lines += [f"warning: {w}" for w in doc["warnings"]]
    return "".join(f"{line}\n" for line in lines)
