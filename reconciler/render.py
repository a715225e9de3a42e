"""Pure: render a plan document (never internal objects) as text, markdown or JSON."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from rich.text import Text

SYMBOLS = {
    "create": "+",
    "replace": "-/+",
    "delete": "-",
    "rebind": "~",
    "unbind": "-",
    "forget": "-",
}
STYLES = {
    "create": "green",
    "replace": "yellow",
    "delete": "red",
    "rebind": "cyan",
    "unbind": "red",
    "forget": "magenta",
}
VERBS = {
    "create": "will be created",
    "replace": "must be replaced",
    "delete": "will be deleted",
    "rebind": "will be rebound",
    "unbind": "will be unbound",
    "forget": "will be forgotten (its files are left alone)",
}
NO_CHANGES = "No changes. Environments match envs.toml."


def _no_changes(doc: Mapping[str, Any]) -> str:
    if "base" in doc:
        return f"No changes. {doc['head']} declares the same environments as {doc['base']}."
    return NO_CHANGES


def summary_line(summary: Mapping[str, int]) -> str:
    line = (
        f"Plan: {summary['create']} to create, {summary['replace']} to replace, "
        f"{summary['delete']} to delete, {summary['rebind']} to rebind."
    )
    extra = [f"{summary[a]} to {a}" for a in ("unbind", "forget") if summary.get(a)]
    if extra:
        line += f" Also {', '.join(extra)}."
    return line


def _headline(step: Mapping[str, Any]) -> str:
    target = step["target"]
    if step["kind"] == "env":
        facts = []
        if step.get("python"):
            facts.append(f"python {step['python']}")
        if step.get("packages") is not None:
            count = step["packages"]
            facts.append(f"{count} package" if count == 1 else f"{count} packages")
        suffix = f" {{{', '.join(facts)}}}" if facts else ""
        return f'env "{target}"{suffix}'
    source = step.get("from_env") or "(unbound)"
    dest = step.get("to_env") or "(unbound)"
    return f'model "{target}": {source} -> {dest}'


_CHANGE_SYMBOLS = {"added": "+", "removed": "-"}


def _change_line(change: Mapping[str, Any]) -> str:
    symbol = _CHANGE_SYMBOLS.get(change["change"], "~")
    if change["old"] is None or change["new"] is None:
        return f"{symbol} {change['package']} {change['old'] or change['new']}"
    if change["old"] == change["new"]:
        return f"{symbol} {change['package']} {change['new']} (new hashes or markers)"
    return f"{symbol} {change['package']} {change['old']} -> {change['new']}"


def render_text(doc: Mapping[str, Any]) -> Text:
    """Terraform-style text; styles apply only when the console prints colour.

    Warnings come before the last line, which is always the summary (SPEC 5).
    """
    out = Text()
    steps = doc["steps"]
    if "base" in doc:
        out.append(f"Comparing {doc['base']} (as if applied and healthy) with {doc['head']}.\n\n")
    if steps:
        out.append("reconcile will perform the following actions:\n")
        for step in steps:
            action = step["action"]
            out.append(f"\n  # {step['id']} {VERBS[action]}\n", style="bold")
            out.append(f"{SYMBOLS[action]:>3}", style=STYLES[action])
            out.append(f" {_headline(step)}\n")
            out.append(f"      reasons: {', '.join(step['reasons'])}\n", style="dim")
            for detail in step["details"]:
                out.append(f"      - {detail}\n", style="dim")
            if step["action"] == "replace":  # a new env's packages are all new: counted above
                for change in step.get("changes", ()):
                    out.append(f"        {_change_line(change)}\n", style="dim")
            if step["depends_on"]:
                out.append(f"      after: {', '.join(step['depends_on'])}\n", style="dim")
    for index, warning in enumerate(doc["warnings"]):
        gap = "\n" if steps or index else ""
        out.append(f"{gap}Warning: {warning}\n", style="yellow")
    gap = "\n" if steps or doc["warnings"] else ""
    if steps:
        out.append(gap + summary_line(doc["summary"]) + "\n", style="bold")
    else:
        out.append(gap + _no_changes(doc) + "\n", style="bold green")
    return out


_ABSOLUTE = re.compile(r"(?<![\w.~])(?:[A-Za-z]:\\|/)[^\s,;()'\"`]*")


def _portable(text: str) -> str:
    """Shorten absolute paths to their last part so plans from two machines diff cleanly."""

    def short(match: re.Match[str]) -> str:
        parts = [p for p in re.split(r"[\\/]", match.group(0)) if p]
        return f".../{parts[-1]}" if parts else match.group(0)

    return _ABSOLUTE.sub(short, text)


def _cell(text: str) -> str:
    return _portable(text).replace("|", "\\|").replace("\n", " ")


COLLAPSE_AFTER = 10
"""Rows a markdown table shows open; a longer one is folded into a <details> block."""

_COLUMNS = {
    "build": ["env", "python", "packages"],
    "env": ["env"],
    "model": ["model", "from", "to"],
}


def _columns(step: Mapping[str, Any]) -> str:
    if step["kind"] == "model":
        return "model"
    return "build" if step["action"] in ("create", "replace") else "env"


def _header(columns: str) -> list[str]:
    names = [*_COLUMNS[columns], "reasons", "after"]
    return ["| |" + "".join(f" {n} |" for n in names), "|---|" + "---|" * len(names)]


def _codes(words: list[str]) -> str:
    return ", ".join(f"`{w}`" for w in words)


def _row(step: Mapping[str, Any]) -> str:
    cells = [f"`{SYMBOLS[step['action']]}`", f"`{_cell(step['target'])}`"]
    if _columns(step) == "build":
        packages = step.get("packages")
        cells += [step.get("python") or "", "" if packages is None else str(packages)]
    elif step["kind"] == "model":
        cells += [step.get("from_env") or "(unbound)", step.get("to_env") or "(unbound)"]
    cells += [_codes(step["reasons"]), _codes(step["depends_on"])]
    return "| " + " | ".join(cells) + " |"


def _folded(summary: str, body: list[str], fold: bool) -> list[str]:
    if not fold:
        return body
    return [f"<details><summary>{summary}</summary>", "", *body, "", "</details>"]


def _action_sections(steps: list[Mapping[str, Any]]) -> list[str]:
    """One table per action, in the summary's order; steps keep their dependency order."""
    lines: list[str] = []
    for action in ("create", "replace", "delete", "rebind", "unbind", "forget"):
        chosen = [s for s in steps if s["action"] == action]
        for kind in ("env", "model"):
            rows = [_row(s) for s in chosen if s["kind"] == kind]
            if not rows:
                continue
            noun = kind if len(rows) == 1 else f"{kind}s"
            title = f"{len(rows)} {noun} to {action}"
            lines += ["", f"#### `{SYMBOLS[action]}` {title}", ""]
            table = [*_header(_columns(next(s for s in chosen if s["kind"] == kind))), *rows]
            lines += _folded(f"Show the {len(rows)} {noun}", table, len(rows) > COLLAPSE_AFTER)
    return lines


MAX_PACKAGE_ROWS = 50
"""Package rows shown per group of envs; the rest are counted (the JSON has them all)."""

MAX_COMMENT_CHARS = 60_000
"""GitHub refuses comments over 65,536 characters: past this, the folded lists are left out."""


def _change_row(change: Mapping[str, Any]) -> str:
    old, new = _cell(change["old"] or ""), _cell(change["new"] or "")
    return f"| `{_cell(change['package'])}` | {old} | {new} | {change['change']} |"


def _package_section(steps: list[Mapping[str, Any]]) -> list[str]:
    """The package changes, one table per set of changes: envs with the same changes (one
    upgrade across a fleet) share a table."""
    changed = [s for s in steps if s.get("changes")]
    if not changed:
        return []
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for step in changed:
        groups.setdefault(json.dumps(step["changes"], sort_keys=True), []).append(step)
    count = sum(len(s["changes"]) for s in changed)
    envs = "env" if len(changed) == 1 else "envs"
    body: list[str] = []
    for group in groups.values():
        names = ", ".join(f"`{_cell(s['target'])}` ({s['action']})" for s in group)
        rows = group[0]["changes"]
        body += [f"**{names}**", "", "| package | old | new | change |", "|---|---|---|---|"]
        body += [_change_row(c) for c in rows[:MAX_PACKAGE_ROWS]]
        if len(rows) > MAX_PACKAGE_ROWS:
            body.append(
                f"| ... | | | and {len(rows) - MAX_PACKAGE_ROWS} more (see `--format json`) |"
            )
        body.append("")
    title = f"Package changes ({count} in {len(changed)} {envs})"
    return ["", *_folded(title, body[:-1], fold=True)]


def render_markdown(doc: Mapping[str, Any]) -> str:
    """Markdown for a PR comment: deterministic, no timestamps, no absolute paths. A table
    per action; long tables, package changes and details are folded."""
    if "base" in doc:
        title = f"### reconcile diff `{_cell(doc['base'])}` → `{_cell(doc['head'])}`"
    else:
        title = f"### reconcile plan for `{doc['manifest']}`"
    lines = [title, ""]
    steps = doc["steps"]
    if not steps:
        lines.append(f"**{_no_changes(doc)}**")
    else:
        lines.append(f"**{summary_line(doc['summary'])}**")
        lines += _action_sections(steps)
        lines += _package_section(steps)
        detailed = [s for s in steps if s["details"]]
        if detailed:
            count = sum(len(s["details"]) for s in detailed)
            body: list[str] = []
            for step in detailed:
                body.append(f"- `{step['id']}`")
                body += [f"  - {_cell(d)}" for d in step["details"]]
            lines += ["", *_folded(f"Details ({count})", body, fold=True)]
    for warning in doc["warnings"]:  # a blank line apiece, or they merge into one paragraph
        lines += ["", f"> **Warning:** {_cell(warning)}"]
    text = "\n".join(lines) + "\n"
    for optional in (("Package changes", "Details"), ("",)):  # the lists first, then all
        if len(text) <= MAX_COMMENT_CHARS:
            break
        text = _without_folded(lines, optional)
    return text


def _without_folded(lines: list[str], titles: tuple[str, ...]) -> str:
    """The markdown without the folded blocks whose summary starts with one of ``titles``,
    and a line that says where the rest is."""
    kept: list[str] = []
    skipping = False
    for line in lines:
        if line.startswith("<details><summary>"):
            skipping = line.removeprefix("<details><summary>").startswith(titles)
        if not skipping:
            kept.append(line)
        if line == "</details>":
            skipping = False
    kept += [
        "",
        "_Long lists are left out to fit one comment: run `reconcile diff` or `plan` "
        "with `--format json` (or text) for every step and package._",
    ]
    return "\n".join(kept) + "\n"


def render_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
