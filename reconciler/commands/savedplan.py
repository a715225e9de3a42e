"""Saved plans (`plan --out FILE`, `apply FILE`): read one strictly, and tell how it differs
from the plan computed now.

A saved plan is input a person hands to `apply`, possibly from a pull request: it is read
as a regular file of bounded size, parsed as JSON without duplicate keys or deep nesting, and
checked field by field against the shape `plan --out` writes (``PlanFile``). Anything else is
one sentence saying the file is not a plan reconcile wrote. Only a well-formed plan is then
compared with a fresh one: every part of its fingerprint (the union of the saved and fresh
parts, so a part added later is never skipped), and its whole document (steps, summary,
warnings), so the file a reviewer approved is exactly what runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
)
from pydantic_core import ErrorDetails

from reconciler.commands.plan import PlanRun
from reconciler.core.actions import Action
from reconciler.errors import ReconcileError, UsageError
from reconciler.files import NotARegularFile, is_file, read_regular_bytes
from reconciler.report import document
from reconciler.report.document import FORMAT_VERSION

SIZE_LIMIT = 64 * 1024 * 1024
"""The largest saved plan read: a plan of thousands of envs is a few megabytes."""

DEPTH_LIMIT = 8
"""The deepest nesting of arrays and objects read; ``plan --out`` writes at most 4."""


class StalePlan(ReconcileError):
    """A saved plan no longer matches the manifest, the lockfiles or the envs."""


class NotAPlan(ReconcileError):
    """A saved plan given to `apply` is not a plan `reconcile plan --out` wrote: not a regular
    file, too large, not UTF-8 JSON, or a field of the wrong shape."""

    def __init__(self, path: Path, why: str) -> None:
        # a FIFO or a device is no place to save a plan: name a file instead
        where = path if is_file(path) else Path("plan.json")
        super().__init__(
            f"{path} is not a plan reconcile wrote ({why}); "
            f"run `reconcile plan --out {where}` again and apply that file."
        )


# --- the shape `plan --out` writes (docs/plan.schema.json, stricter where it can be) ---------

_Sha256 = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9a-f]{64}$")]
_Name = Annotated[str, StringConstraints(strict=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
_Count = Annotated[StrictInt, Field(ge=0)]


class _Strict(BaseModel):
    # strict: no "1" for 1, no true for 1; lists, since a JSON array is one (the model only
    # judges the shape and is dropped: the document itself is what gets compared)
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class _Tool(_Strict):
    name: Literal["reconcile"]
    version: StrictStr


class _StepFields(_Strict):
    id: Annotated[
        str,
        StringConstraints(strict=True, pattern=r"^(env|model)\.[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    ]
    action: Action
    target: _Name
    reasons: list[StrictStr] = Field(min_length=1)
    depends_on: list[StrictStr]
    details: list[StrictStr]


class _EnvStep(_StepFields):
    kind: Literal["env"]
    python: StrictStr | None
    packages: _Count | None
    python_download: StrictStr | None = None
    blocked: StrictStr | None = None
    switch_back: Annotated[str, StringConstraints(strict=True, pattern=r"^g[0-9]{4,}$")] = ""


class _ModelStep(_StepFields):
    kind: Literal["model"]
    from_env: _Name | None
    to_env: _Name | None


class _Summary(_Strict):
    create: _Count
    replace: _Count
    delete: _Count
    rebind: _Count
    unbind: _Count
    forget: _Count


class _Fingerprint(BaseModel):
    """The parts this version writes, typed where present. A missing part, or one this version
    does not know, is no shape error: the comparison calls the plan stale for it."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    manifest_sha256: _Sha256 | None = None
    root: StrictStr | None = None
    lockfiles: dict[_Name, _Sha256] | None = None
    observed: dict[_Name, _Sha256] | None = None
    integrity: dict[_Name, _Sha256] | None = None
    files: dict[str, _Sha256] | None = None
    orphans: list[StrictStr] | None = None
    doomed: list[_Name] | None = None
    targets: list[_Name] | None = None
    replace: list[_Name] | None = None
    applied_state: _Sha256 | None = None
    pythons: dict[StrictStr, list[StrictStr | None]] | None = None


class _PlanFile(_Strict):
    format_version: Literal["1"]
    tool: _Tool
    manifest: StrictStr
    has_changes: StrictBool
    steps: list[Annotated[_EnvStep | _ModelStep, Field(discriminator="kind")]]
    summary: _Summary
    warnings: list[StrictStr]
    fingerprint: _Fingerprint


@dataclass(frozen=True)
class SavedPlan:
    document: dict[str, Any]
    targets: tuple[str, ...]
    replace: tuple[str, ...] = ()
    """The envs the plan rebuilds because `plan --replace` named them."""


def load_saved_plan(path: Path) -> SavedPlan:
    """Read and check a saved plan; anything but what `plan --out` writes is :class:`NotAPlan`
    (nothing is touched before or after)."""
    try:
        data = read_regular_bytes(path, SIZE_LIMIT)
    except FileNotFoundError:
        raise UsageError(
            f"no saved plan at {path}: make one with `reconcile plan --out {path}`."
        ) from None
    except NotARegularFile as exc:
        raise NotAPlan(path, f"it {exc}") from None
    except OSError as exc:
        raise UsageError(
            f"cannot read the saved plan {path} ({exc.strerror or exc}); "
            "check its permissions, or make a new one with `reconcile plan --out`."
        ) from None
    document = parse_plan(data, str(path))
    fingerprint = document["fingerprint"]
    targets, replace = fingerprint.get("targets"), fingerprint.get("replace")
    return SavedPlan(
        document,
        tuple(targets) if isinstance(targets, list) else (),
        tuple(replace) if isinstance(replace, list) else (),
    )


def parse_plan(data: bytes, label: str) -> dict[str, Any]:
    """Pure: the document in ``data`` when it has the shape `plan --out` writes, else
    :class:`NotAPlan` naming the first thing wrong (``label`` names the file)."""
    path = Path(label)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotAPlan(path, f"not UTF-8 text at byte {exc.start}") from None
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:  # the decoder recurses per level; far deeper than any plan
        raise NotAPlan(path, "nested far deeper than a plan") from None
    except ValueError as exc:
        raise NotAPlan(path, f"not JSON: {_first_line(exc)}") from None
    if _depth(document) > DEPTH_LIMIT:
        raise NotAPlan(path, f"nested deeper than {DEPTH_LIMIT} levels")
    if not isinstance(document, dict):
        raise NotAPlan(path, "not a JSON object")
    version = document.get("format_version")
    if isinstance(version, str) and version != FORMAT_VERSION:
        raise UsageError(
            f"{label} has plan format {_shown(version)}, this reconcile reads "
            f"{FORMAT_VERSION!r}; make a new plan with `reconcile plan --out`."
        )
    if "fingerprint" not in document and "steps" in document:
        raise NotAPlan(
            path,
            "it has no fingerprint: `plan --format json` prints a plan to read, "
            "`plan --out FILE` saves one to apply",
        )
    try:
        _PlanFile.model_validate(document)
    except ValidationError as exc:
        raise NotAPlan(path, _first_problem(exc.errors(include_url=False))) from None
    return document


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # a hand-made duplicate key reads one way in a viewer and another way here
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {_shown(key)} appears twice in one object")
        found[key] = value
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (iteratively: no recursion limit)."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(value, 0)]
    while todo:
        item, level = todo.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            todo.extend((child, level + 1) for child in item)
    return deepest


def _shown(value: str, limit: int = 40) -> str:
    """A value from the file, quoted, on one line and short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _first_line(exc: Exception) -> str:
    return _printable(str(exc).splitlines()[0], 120) if str(exc) else type(exc).__name__


def _first_problem(errors: Sequence[ErrorDetails]) -> str:
    first = errors[0]
    loc = list(first["loc"])
    if loc[:1] == ["steps"] and len(loc) > 2 and loc[2] in ("env", "model"):
        del loc[2]  # the tag of the step union, not a field of the file
    where = ".".join(
        str(part) if isinstance(part, int) else _shown(part, 30).strip("'\"") for part in loc
    )
    message = _printable(first["msg"][:1].lower() + first["msg"][1:], 120)
    more = f", and {len(errors) - 1} more" if len(errors) > 1 else ""
    return f"{where or 'the document'}: {message}{more}"


def _printable(text: str, limit: int) -> str:
    """``text`` on one line, without control characters (a terminal escape in a value the
    message quotes is shown, never sent), at most ``limit`` characters."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


# --- saved against fresh --------------------------------------------------------------------

_PART_WORDS = {
    "manifest_sha256": "the manifest changed",
    "root": "the root is another folder",
    "targets": "the targets differ",
    "replace": "the envs to replace differ",
    "applied_state": "the applied bindings changed",
}
_ENTRY_WORDS = {
    "lockfiles": "lockfile {} changed",
    "observed": "env {} changed",
    "integrity": "the installed files of env {} changed",
    "files": "the files of env {} changed",
    "pythons": "the Python {} found for a build changed",
}


def stale_parts(saved: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Pure: which parts of a fingerprint differ, in words. Every part of either side is
    compared; one that only one side has makes the plan stale too."""
    changed: list[str] = []
    for part in sorted(set(saved) | set(fresh)):
        if part not in fresh:
            changed.append(f"it has a fingerprint part {_shown(part)} this reconcile does not make")
        elif part not in saved:
            changed.append(f"its fingerprint lacks the part {part}")
        elif saved[part] != fresh[part]:
            changed += _part_changes(part, saved[part], fresh[part])
    return list(dict.fromkeys(changed))  # integrity and files may both name one env


def _part_changes(part: str, old: Any, new: Any) -> list[str]:
    """What differs in one part (never nothing: the caller saw that it differs)."""
    named: list[str] = []
    if part in _ENTRY_WORDS and isinstance(old, dict) and isinstance(new, dict):
        words = _ENTRY_WORDS[part]
        named = [words.format(k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    elif part == "orphans" and _strings(old) and _strings(new):
        named = [f"{n} appeared in the root" for n in sorted(set(new) - set(old))]
        named += [f"{n} disappeared from the root" for n in sorted(set(old) - set(new))]
    elif part == "doomed" and _strings(old) and _strings(new):
        named = [f"the folder of adopted env {n} appeared" for n in sorted(set(new) - set(old))]
        named += [f"the folder of adopted env {n} is gone" for n in sorted(set(old) - set(new))]
    return named or [_PART_WORDS.get(part, f"fingerprint part {part} changed")]


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def document_changes(saved: Mapping[str, Any], fresh: Mapping[str, Any]) -> list[str]:
    """Pure: how a saved plan document's steps, summary and warnings differ from a fresh
    one's, in words (the fingerprint, the tool's version and the manifest's name aside)."""
    changed = _step_changes(saved.get("steps"), fresh.get("steps"))
    for part, words in (
        ("has_changes", "its has_changes differs"),
        ("summary", "its summary differs"),
        ("warnings", "its warnings differ"),
    ):
        if saved.get(part) != fresh.get(part):
            changed.append(f"{words} from the plan made now")
    return changed


def _step_changes(saved: Any, fresh: Any) -> list[str]:
    if saved == fresh:
        return []
    if not isinstance(saved, list) or not isinstance(fresh, list):
        return ["its steps differ from the plan made now"]
    old = {s.get("id"): s for s in saved if isinstance(s, dict)}
    new = {s.get("id"): s for s in fresh if isinstance(s, dict)}
    changed = [f"step {i} is no longer planned" for i in old if i not in new]
    changed += [f"step {i} is planned now but not in the saved plan" for i in new if i not in old]
    for step_id, step in old.items():
        if step_id in new and step != new[step_id]:
            fields = sorted(
                k for k in set(step) | set(new[step_id]) if step.get(k) != new[step_id].get(k)
            )
            changed.append(f"step {step_id} differs in {', '.join(fields)}")
    return changed or ["its steps are in another order than the plan made now"]


def check_saved(saved: SavedPlan, run: PlanRun, path: Path) -> None:
    """Refuse a saved plan when anything it was computed from changed, or when the plan
    computed now differs in anything from the reviewed document."""
    # the fresh plan as `plan --out` would save it now, through JSON as the saved one came
    fresh = json.loads(json.dumps(document.plan_document(run.plan, "envs.toml", run.fingerprint)))
    changed = stale_parts(saved.document["fingerprint"], fresh["fingerprint"])
    changed += document_changes(saved.document, fresh)
    if changed:
        # names from the saved file are quoted in it: shown, never sent to the terminal raw
        listed = "; ".join(_printable(c, 200) for c in changed[:5])
        listed += "; ..." if len(changed) > 5 else ""
        again = "".join(f" --replace {key}" for key in saved.replace)
        raise StalePlan(
            f"plan is stale: {listed}. Make a new one with `reconcile plan{again} --out {path}`."
        )
