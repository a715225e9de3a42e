"""Pure: the rows of `reconcile status` as a versioned JSON document, and that document as a
text table.

One row per declared env (managed or adopted) and per orphan (an entry of the root that the
manifest does not declare). The text is rendered from the document, never from the rows, so
the two cannot disagree.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from rich.console import Console
from rich.table import Table

from reconciler import __version__
from reconciler.report.units import human_size

FORMAT_VERSION = "1"
RowKind = Literal["managed", "adopted", "orphan"]
COLUMNS = (
    "env",
    "kind",
    "health",
    "python",
    "live",
    "age",
    "previous",
    "models",
    "size",
    "link",
    "path",
)
NONE = "-"
"""What an empty cell shows: no cell is blank, so columns stay easy to read and to cut."""
LINK_NOTES = {"link_file": "this filesystem cannot make junctions"}
"""Why a managed env's link is not the usual kind, in one phrase (JSON ``link_note``)."""


@dataclass(frozen=True)
class StatusRow:
    """What `status` knows about one env: the facts, not yet formatted.

    ``reasons`` is empty when the env is healthy; ``details`` say more about them
    (``probe_failed: import alpha: ModuleNotFoundError: ...``). ``generation`` is the live
    generation's folder name (``g0002``) and ``created`` when it was built; ``previous`` the
    other complete generations that went live once, kept for rollback, oldest first.
    ``models`` are the applied bindings (the models that run in this env now),
    ``models_declared`` those the manifest binds to it. ``size_bytes`` is the disk space of
    the env's folder, ``None`` when it was not measured. ``link`` is what stands at
    ``<root>/<env>`` for a managed env: ``symlink``, ``junction`` or ``link_file`` (a Windows
    volume that cannot make junctions).
    """

    env: str
    kind: RowKind
    path: str
    reasons: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    python: str | None = None
    python_declared: str | None = None
    generation: str | None = None
    created: datetime | None = None
    previous: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    models_declared: tuple[str, ...] = ()
    size_bytes: int | None = None
    created_by_reconcile: bool = False
    link: str | None = None


def iso_utc(moment: datetime) -> str:
    """``2024-05-01T12:00:00Z``: ISO-8601 in UTC, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row(row: StatusRow, now: datetime) -> dict[str, Any]:
    generation = None
    if row.generation is not None:
        age = None
        if row.created is not None:
            age = max(0, int((now - row.created).total_seconds()))
        generation = {
            "name": row.generation,
            "created": iso_utc(row.created) if row.created is not None else None,
            "age_seconds": age,
        }
    return {
        "env": row.env,
        "kind": row.kind,
        "path": row.path,
        "healthy": not row.reasons,
        "reasons": sorted(set(row.reasons)),
        "details": list(row.details),
        "python": row.python,
        "python_declared": row.python_declared,
        "generation": generation,
        "previous_generations": list(row.previous),
        "models": sorted(row.models),
        "models_declared": sorted(row.models_declared),
        "size_bytes": row.size_bytes,
        "created_by_reconcile": row.created_by_reconcile,
        "link": row.link,
        "link_note": LINK_NOTES.get(row.link) if row.link is not None else None,
    }


def status_document(
    rows: Sequence[StatusRow], now: datetime, manifest: str, root: str
) -> dict[str, Any]:
    """The versioned status document: declared envs by key, then orphans by name."""
    ordered = sorted(rows, key=lambda r: (r.kind == "orphan", r.env))
    envs = [_row(r, now) for r in ordered]
    declared = [e for e in envs if e["kind"] != "orphan"]
    return {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "reconcile", "version": __version__},
        "manifest": manifest,
        "root": root,
        "generated_at": iso_utc(now),
        "envs": envs,
        "summary": {
            "declared": len(declared),
            "healthy": sum(e["healthy"] for e in declared),
            "missing": sum("missing" in e["reasons"] for e in declared),
            "unhealthy": sum(_unhealthy(e) for e in declared),
            "to_delete": sum("delete_requested" in e["reasons"] for e in declared),
            "deleted": sum("already_deleted" in e["reasons"] for e in declared),
            "orphans": len(envs) - len(declared),
            "size_bytes": sum(e["size_bytes"] or 0 for e in envs),
        },
    }


_NOT_PROBLEMS = frozenset({"missing", "delete_requested", "already_deleted"})
"""Reasons that say where an env is in its life, counted apart from the unhealthy ones."""


def _unhealthy(env: Mapping[str, Any]) -> bool:
    return not env["healthy"] and not _NOT_PROBLEMS & set(env["reasons"])


def render_json(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, indent=2) + "\n"


def human_age(seconds: int) -> str:
    """``45s``, ``12m``, ``3h``, ``2d``: the largest unit that fits, rounded down."""
    seconds = max(0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def health_text(env: Mapping[str, Any]) -> str:
    """``healthy``, or the sorted reasons (``files_corrupted, probe_failed``)."""
    return "healthy" if env["healthy"] else ", ".join(env["reasons"])


def models_text(env: Mapping[str, Any]) -> str:
    """The applied bindings; ``+name`` for a model the manifest binds here that `apply` has
    not bound yet, ``-name`` for one bound here now that `apply` will move or unbind."""
    applied, declared = set(env["models"]), set(env["models_declared"])
    cells = []
    for model in sorted(applied | declared):
        sign = "" if model in applied and model in declared else "-" if model in applied else "+"
        cells.append(f"{sign}{model}")
    return ", ".join(cells) or NONE


def _cells(env: Mapping[str, Any]) -> tuple[str, ...]:
    generation = env["generation"] or {}
    age = generation.get("age_seconds")
    size = env["size_bytes"]
    return (
        env["env"],
        env["kind"],
        health_text(env),
        env["python"] or NONE,
        generation.get("name") or NONE,
        human_age(age) if age is not None else NONE,
        ", ".join(env["previous_generations"]) or NONE,
        models_text(env),
        human_size(size) if size is not None else NONE,
        (env.get("link") or NONE).replace("_", " "),
        env["path"],
    )


def _summary(doc: Mapping[str, Any]) -> str:
    counts = doc["summary"]
    parts = [f"{counts['healthy']} healthy"]
    parts += [f"{counts[k]} {k}" for k in ("unhealthy", "missing", "deleted") if counts[k]]
    if counts["to_delete"]:
        parts.append(f"{counts['to_delete']} to delete (delete = true)")
    noun = "env" if counts["declared"] == 1 else "envs"
    line = f"{counts['declared']} declared {noun}: {', '.join(parts)}"
    if counts["orphans"]:
        line += f"; {counts['orphans']} orphan{'s' * (counts['orphans'] != 1)} under the root"
    return f"{line}; {human_size(counts['size_bytes'])} on disk."


def render_text(doc: Mapping[str, Any]) -> str:
    """The table, one line per env, then a summary line (and a legend when a model will
    move). Plain text: no colour, nothing wrapped, no trailing spaces, so it can be grepped."""
    envs = doc["envs"]
    if not envs:
        return "No envs: none declared in the manifest and none under the root.\n"
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0))
    for column in COLUMNS:
        table.add_column(column, no_wrap=True)
    for env in envs:
        table.add_row(*_cells(env))
    out = io.StringIO()
    Console(file=out, width=100_000, color_system=None, highlight=False).print(table)
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    lines = [line for line in lines if line] + ["", _summary(doc)]
    if any(m != NONE and m[0] in "+-" for e in envs for m in models_text(e).split(", ")):
        lines.append("models: +name is bound here by the next `reconcile apply`, -name moves away.")
    if linked := [e["path"] for e in envs if e.get("link") == "link_file"]:
        are = "is a text file" if len(linked) == 1 else "are text files"
        lines.append(
            f"link file ({LINK_NOTES['link_file']}): {', '.join(linked)} {are} naming the live "
            "generation, not a folder; reach the env through `reconcile which` or `reconcile run`."
        )
    return "".join(f"{line}\n" for line in lines)
