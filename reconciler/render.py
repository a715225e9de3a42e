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
            facts.append(f"{step['packages']} packages")
        suffix = f" {{{', '.join(facts)}}}" if facts else ""
        return f'env "{target}"{suffix}'
    source = step.get("from_env") or "(unbound)"
    dest = step.get("to_env") or "(unbound)"
    return f'model "{target}": {source} -> {dest}'


def render_text(doc: Mapping[str, Any]) -> Text:
    """Terraform-style text; styles apply only when the console prints colour.

    Warnings come before the last line, which is always the summary (SPEC 5).
    """
    out = Text()
    steps = doc["steps"]
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
            if step["depends_on"]:
                out.append(f"      after: {', '.join(step['depends_on'])}\n", style="dim")
    for index, warning in enumerate(doc["warnings"]):
        gap = "\n" if steps or index else ""
        out.append(f"{gap}Warning: {warning}\n", style="yellow")
    gap = "\n" if steps or doc["warnings"] else ""
    if steps:
        out.append(gap + summary_line(doc["summary"]) + "\n", style="bold")
    else:
        out.append(gap + NO_CHANGES + "\n", style="bold green")
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


def render_markdown(doc: Mapping[str, Any]) -> str:
    """Markdown for a PR comment: deterministic, no timestamps, no absolute paths."""
    lines = [f"### reconcile plan for `{doc['manifest']}`", ""]
    steps = doc["steps"]
    if not steps:
        lines.append(f"**{NO_CHANGES}**")
    else:
        lines += [f"**{summary_line(doc['summary'])}**", ""]
        lines += ["| | step | action | reasons | after |", "|---|---|---|---|---|"]
        for step in steps:
            reasons = ", ".join(f"`{r}`" for r in step["reasons"])
            after = ", ".join(f"`{d}`" for d in step["depends_on"])
            lines.append(
                f"| `{SYMBOLS[step['action']]}` | {_cell(_headline(step))} | {step['action']} "
                f"| {reasons} | {after} |"
            )
        detailed = [s for s in steps if s["details"]]
        if detailed:
            count = sum(len(s["details"]) for s in detailed)
            lines += ["", f"<details><summary>Details ({count})</summary>", ""]
            for step in detailed:
                lines.append(f"- `{step['id']}`")
                lines += [f"  - {_cell(d)}" for d in step["details"]]
            lines += ["", "</details>"]
    for warning in doc["warnings"]:  # a blank line apiece, or they merge into one paragraph
        lines += ["", f"> **Warning:** {_cell(warning)}"]
    return "\n".join(lines) + "\n"


def render_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
