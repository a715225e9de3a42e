"""Pure: render a plan document (never internal objects) as text, markdown or JSON."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping
from typing import Any

from rich.text import Text

from reconciler.core.actions import ACTION_LOOKS, ACTIONS, BUILDS

NO_CHANGES = "No changes. Environments match envs.toml."


def _no_changes(doc: Mapping[str, Any]) -> str:
    if "base" in doc:
        return f"No changes. {doc['head']} declares the same environments as {doc['base']}."
    return NO_CHANGES


def summary_line(summary: Mapping[str, int]) -> str:
    counted = [a for a in ACTIONS if ACTION_LOOKS[a].summarized]
    line = "Plan: " + ", ".join(f"{summary[a]} to {a}" for a in counted) + "."
    extra = [f"{summary[a]} to {a}" for a in ACTIONS if a not in counted and summary.get(a)]
    if extra:
        line += f" Also {', '.join(extra)}."
    return line


def _headline(step: Mapping[str, Any]) -> str:
    target = step["target"]
    if step["kind"] == "env":
        facts = []
        if step.get("python"):
            missing = " (missing: see the warning)" if step.get("blocked") else ""
            facts.append(f"python {step['python']}{missing}")
        if step.get("packages") is not None:
            count = step["packages"]
            facts.append(f"{count} package" if count == 1 else f"{count} packages")
        suffix = f" {{{', '.join(facts)}}}" if facts else ""
        return f'env "{target}"{suffix}'
    source = step.get("from_env") or "(unbound)"
    dest = step.get("to_env") or "(unbound)"
    return f'model "{target}": {source} -> {dest}'


_CHANGE_SYMBOLS = {"added": "+", "removed": "-"}


def _origin(change: Mapping[str, Any]) -> str:
    """``direct``: one of the env's requirements in the manifest; ``transitive``: pulled in."""
    return "direct" if change["direct"] else "transitive"


def _direct_first(changes: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The changes a reviewer asked for (the env's requirements) before those they bring."""
    return sorted(changes, key=lambda c: not c["direct"])


def _change_line(change: Mapping[str, Any]) -> str:
    symbol = _CHANGE_SYMBOLS.get(change["change"], "~")
    origin = f"({_origin(change)})"
    if change["old"] is None or change["new"] is None:
        return f"{symbol} {change['package']} {change['old'] or change['new']} {origin}"
    if change["old"] == change["new"]:
        return f"{symbol} {change['package']} {change['new']} (new hashes or markers) {origin}"
    return f"{symbol} {change['package']} {change['old']} -> {change['new']} {origin}"


WARNING_WIDTH = 100
"""Columns a warning is wrapped at in text (JSON and markdown keep each one a single line)."""


def _wrapped(warning: str) -> str:
    """``Warning: ...`` wrapped at :data:`WARNING_WIDTH`, paths never broken."""
    return textwrap.fill(
        warning,
        WARNING_WIDTH,
        initial_indent="Warning: ",
        subsequent_indent="  ",
        break_long_words=False,
        break_on_hyphens=False,
    )


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
            look = ACTION_LOOKS[step["action"]]
            out.append(f"\n  # {step['id']} {look.verb}\n", style="bold")
            out.append(f"{look.symbol:>3}", style=look.style)
            out.append(f" {_headline(step)}\n")
            out.append(f"      reasons: {', '.join(step['reasons'])}\n", style="dim")
            for detail in step["details"]:
                out.append(f"      - {detail}\n", style="dim")
            if step["action"] == "replace":  # a new env's packages are all new: counted above
                for change in _direct_first(step.get("changes", [])):
                    out.append(f"        {_change_line(change)}\n", style="dim")
            if step["depends_on"]:
                out.append(f"      after: {', '.join(step['depends_on'])}\n", style="dim")
    for index, warning in enumerate(doc["warnings"]):
        gap = "\n" if steps or index else ""
        out.append(f"{gap}{_wrapped(warning)}\n", style="yellow")
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
    """Text for a markdown table cell: absolute paths shortened, ``|`` escaped, and ``<``, so
    no HTML tag gets through (lockfiles and names come from the pull request under review)."""
    return _portable(text).replace("<", "&lt;").replace("|", "\\|").replace("\n", " ")


COLLAPSE_AFTER = 10
"""Rows a markdown table shows open, a table of steps or of one env's package changes alike;
a longer one is folded into a <details> block, so a comment stays short to scroll."""

_COLUMNS = {
    "build": ["env", "python", "packages"],
    "env": ["env"],
    "model": ["model", "from", "to"],
}


def _columns(step: Mapping[str, Any]) -> str:
    if step["kind"] == "model":
        return "model"
    return "build" if step["action"] in BUILDS else "env"


def _header(columns: str) -> list[str]:
    names = [*_COLUMNS[columns], "reasons", "after"]
    return ["| |" + "".join(f" {n} |" for n in names), "|---|" + "---|" * len(names)]


def _codes(words: list[str]) -> str:
    return ", ".join(f"`{w}`" for w in words)


def _row(step: Mapping[str, Any]) -> str:
    cells = [f"`{ACTION_LOOKS[step['action']].symbol}`", _code(step["target"])]
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
    for action in ACTIONS:
        chosen = [s for s in steps if s["action"] == action]
        for kind in ("env", "model"):
            rows = [_row(s) for s in chosen if s["kind"] == kind]
            if not rows:
                continue
            noun = kind if len(rows) == 1 else f"{kind}s"
            title = f"{len(rows)} {noun} to {action}"
            lines += ["", f"#### `{ACTION_LOOKS[action].symbol}` {title}", ""]
            table = [*_header(_columns(next(s for s in chosen if s["kind"] == kind))), *rows]
            lines += _folded(f"Show the {len(rows)} {noun}", table, len(rows) > COLLAPSE_AFTER)
    return lines


MAX_COMMENT_CHARS = 60_000
"""GitHub refuses comments over 65,536 characters: a longer markdown plan is shortened."""

MAX_PACKAGE_ROWS = 50
"""Package rows per table when the whole fits one comment; the JSON always has them all."""

_SHAPES = ((MAX_PACKAGE_ROWS, True), (10, True), (10, False), (0, False))
"""(package rows per table, details shown), tried in turn until the markdown fits."""


def _code(text: str) -> str:
    """``text`` as a code span, whatever backticks it holds."""
    text = _cell(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _change_row(change: Mapping[str, Any]) -> str:
    old, new = _cell(change["old"] or ""), _cell(change["new"] or "")
    package, kind = _code(change["package"]), change["change"]
    return f"| {package} | {old} | {new} | {kind} | {_origin(change)} |"


def _direct_count(changes: list[Mapping[str, Any]]) -> str:
    direct = sum(1 for c in changes if c["direct"])
    return f" ({direct} direct)" if direct else ""


def _change_counts(changes: list[Mapping[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for change in changes:
        counts[change["change"]] = counts.get(change["change"], 0) + 1
    shown = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return shown + _direct_count(changes)


def _change_table(changes: list[Mapping[str, Any]], max_rows: int) -> list[str]:
    """One env's package changes, direct ones first, folded when longer than COLLAPSE_AFTER."""
    rows = _direct_first(changes)
    table = ["| package | old | new | change | requirement |", "|---|---|---|---|---|"]
    table += [_change_row(c) for c in rows[:max_rows]]
    if len(rows) > max_rows:
        table.append(f"| ... | | | | and {len(rows) - max_rows} more (see `--format json`) |")
    title = f"Show the {len(rows)} package changes{_direct_count(rows)}"
    return _folded(title, table, len(rows) > COLLAPSE_AFTER)


def _package_section(steps: list[Mapping[str, Any]], max_rows: int) -> list[str]:
    """The package changes, one table per set of changes: envs with the same changes (one
    upgrade across a fleet) share a table. ``max_rows`` 0 leaves only the counts."""
    changed = [s for s in steps if s.get("changes")]
    if not changed:
        return []
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for step in changed:
        groups.setdefault(json.dumps(step["changes"], sort_keys=True), []).append(step)
    count = sum(len(s["changes"]) for s in changed)
    envs = "env" if len(changed) == 1 else "envs"
    lines = ["", f"#### Package changes ({count} in {len(changed)} {envs})", ""]
    if not max_rows:
        counts = [
            f"- {_names(group)}: {_change_counts(group[0]['changes'])}" for group in groups.values()
        ]
        title = f"Show the counts of the {len(changed)} {envs}"
        return lines + _folded(title, counts, len(counts) > COLLAPSE_AFTER)
    for index, group in enumerate(groups.values()):
        gap = [""] if index else []
        lines += [*gap, f"**{_names(group)}**", "", *_change_table(group[0]["changes"], max_rows)]
    return lines


def _names(group: list[Mapping[str, Any]]) -> str:
    return ", ".join(f"{_code(s['target'])} ({s['action']})" for s in group)


def _details_section(steps: list[Mapping[str, Any]]) -> list[str]:
    detailed = [s for s in steps if s["details"]]
    if not detailed:
        return []
    count = sum(len(s["details"]) for s in detailed)
    body: list[str] = []
    for step in detailed:
        body.append(f"- {_code(step['id'])}")
        body += [f"  - {_cell(d)}" for d in step["details"]]
    return ["", *_folded(f"Details ({count})", body, fold=True)]


def render_markdown(doc: Mapping[str, Any]) -> str:
    """Markdown for a PR comment: deterministic, no timestamps, no absolute paths. A table
    per action and one of package changes per env; tables longer than COLLAPSE_AFTER rows
    and the details are folded, and shortened until the whole fits one comment."""
    text = ""
    for max_rows, details in _SHAPES:
        text = _markdown(doc, max_rows, details)
        if len(text) <= MAX_COMMENT_CHARS:
            break
    return text


def _markdown(doc: Mapping[str, Any], max_rows: int, details: bool) -> str:
    if "base" in doc:
        title = f"### reconcile diff {_code(doc['base'])} → {_code(doc['head'])}"
    else:
        title = f"### reconcile plan for {_code(doc['manifest'])}"
    lines = [title, ""]
    steps = doc["steps"]
    if not steps:
        lines.append(f"**{_cell(_no_changes(doc))}**")
    else:
        lines.append(f"**{summary_line(doc['summary'])}**")
        lines += _action_sections(steps)
        lines += _package_section(steps, max_rows)
        lines += _details_section(steps) if details else []
    for warning in doc["warnings"]:  # a blank line apiece, or they merge into one paragraph
        lines += ["", f"> **Warning:** {_cell(warning)}"]
    if (max_rows, details) != _SHAPES[0]:
        lines += [
            "",
            "_Shortened to fit one comment: `reconcile diff` or `plan` with `--format json` "
            "lists every package and detail._",
        ]
    return "\n".join(lines) + "\n"


def render_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
