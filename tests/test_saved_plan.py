"""Saved plans (`plan --out FILE`, then `apply FILE`) as hostile input and as a contract.

A saved plan is applied only when every part of its fingerprint equals what is observed now
(the manifest, the lockfiles, the state of every env it touches down to the files of adopted
envs) and its whole document equals the plan made now. The file itself is input a person
hands over: a FIFO, a device, a huge file, or a document of the wrong shape is one sentence,
exit 1, and nothing is touched.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.cli.app import main
from reconciler.commands.savedplan import SIZE_LIMIT, document_changes, stale_parts
from reconciler.store import layout
from tests.apply_helpers import (
    SERVING,
    generations_of,
    legacy_venv,
    link_of,
    lock,
    relock,
    setup,
    snapshot,
)
from tests.helpers import Project, require_python
from tests.plan_mutations import mutations

ADOPTED = """\
[envs.legacy-a]
adopt = "environments/a/.venv"
imports = ["alpha"]

[models.m1]
env = "legacy-a"
"""


def save_plan(project: Project, name: str = "p.json") -> dict[str, Any]:
    out = str(project.folder / name)
    assert main(["--manifest", str(project.manifest), "--quiet", "plan", "--out", out]) == 0
    document: dict[str, Any] = json.loads((project.folder / name).read_text(encoding="utf-8"))
    return document


def apply_saved(
    project: Project, capsys: pytest.CaptureFixture[str], name: str = "p.json"
) -> tuple[int, str]:
    """``reconcile apply FILE`` in-process (fast); returns the exit code and stderr."""
    capsys.readouterr()
    code = main(["--manifest", str(project.manifest), "apply", str(project.folder / name)])
    return code, capsys.readouterr().err


def one_sentence(stderr: str) -> str:
    """The single ``error:`` line of a refusal, with nothing else on stderr."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return lines[0]


def under_root(project: Project) -> dict[str, tuple[object, ...]]:
    """What a refused apply must leave as it was: everything under the root but the lock
    file (taken before the plan is checked) and the caches (hashes, remembered plans)."""
    return {
        rel: entry
        for rel, entry in snapshot(project.root).items()
        if rel != layout.LOCK and not rel.startswith(layout.CACHE)
    }


# --- a file changed in an adopted env -------------------------------------------------------


def _site(venv: Path) -> Path:
    return next(venv.glob("lib/python*/site-packages"))


@pytest.fixture
def adopted(project: Project) -> Project:
    """One hand-made venv, adopted and applied (m1 runs in it)."""
    legacy_venv(project, project.folder / "environments/a/.venv", "alpha==1.0")
    project.write(ADOPTED)
    assert main(["--manifest", str(project.manifest), "--quiet", "apply", "--yes"]) == 0
    return project


def _edit_a_recorded_file(venv: Path) -> None:
    (_site(venv) / "alpha" / "__init__.py").write_text("VERSION = 'evil'\n", encoding="utf-8")


def _edit_an_already_edited_file_keeping_its_size(venv: Path) -> None:
    # already unlike RECORD when planned (a size_mismatch, never hashed): its finding stays
    # the same, only its bytes change
    (_site(venv) / "alpha" / "__init__.py").write_text("VERSION = 'evil'\n", encoding="utf-8")


def _add_a_pth_file(venv: Path) -> None:
    (_site(venv) / "zzz-hook.pth").write_text("import os\n", encoding="utf-8")


@pytest.mark.parametrize(
    ("before", "change"),
    [
        (None, _edit_a_recorded_file),
        (
            lambda venv: (_site(venv) / "alpha" / "__init__.py").write_text(
                "VERSION = 'good'\n", encoding="utf-8"
            ),
            _edit_an_already_edited_file_keeping_its_size,
        ),
        (None, _add_a_pth_file),
    ],
    ids=["recorded_file", "already_edited_file_same_size", "new_pth_file"],
)
def test_a_file_changed_in_an_adopted_env_after_the_plan_makes_it_stale(
    adopted: Project,
    capsys: pytest.CaptureFixture[str],
    before: Callable[[Path], None] | None,
    change: Callable[[Path], None],
) -> None:
    venv = adopted.folder / "environments/a/.venv"
    if before is not None:
        before(venv)
    save_plan(adopted)
    state = layout.bindings_path(adopted.root).read_bytes()
    change(venv)

    code, stderr = apply_saved(adopted, capsys)

    assert code == 1
    assert one_sentence(stderr).startswith("error: plan is stale: ")
    assert "the files of env legacy-a changed" in stderr
    assert layout.bindings_path(adopted.root).read_bytes() == state


def test_a_saved_plan_of_unchanged_adopted_envs_applies(
    adopted: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    """The probes import modules from the adopted venv (writing bytecode caches into it):
    that is no change of the env, and the plan is not stale for it."""
    first = save_plan(adopted, "first.json")
    second = save_plan(adopted, "second.json")
    assert first["fingerprint"]["files"] == second["fingerprint"]["files"]
    assert sorted(first["fingerprint"]["files"]) == ["legacy-a"]

    code, stderr = apply_saved(adopted, capsys, "first.json")

    assert code == 0, stderr


# --- hand edits of a saved plan ---------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit that sets the value at a dotted path (list indexes as numbers)."""

    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return edit


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = document
        for part in parents:
            node = node[part]
        del node[last]

    return edit


HAND_EDITS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "integrity",
        _set("fingerprint.integrity.serving", "0" * 64),
        "installed files of env serving",
    ),
    ("doomed", _set("fingerprint.doomed", ["serving"]), "adopted env serving is gone"),
    ("files", _set("fingerprint.files.serving", "0" * 64), "the files of env serving changed"),
    ("unknown_part", _set("fingerprint.extra", "x"), "fingerprint part 'extra' this reconcile"),
    ("missing_part", _delete("fingerprint.integrity"), "lacks the part integrity"),
    ("step_target", _set("steps.0.target", "other"), "step env.serving differs in target"),
    ("step_reasons", _set("steps.0.reasons", ["replace_requested"]), "differs in reasons"),
    ("step_details", _set("steps.0.details", []), "step env.serving differs in details"),
    ("step_gone", _set("steps", []), "step env.serving is planned now but not in the saved plan"),
    ("summary", _set("summary.replace", 0), "its summary differs"),
    ("warnings", _set("warnings", ["all is well"]), "its warnings differ"),
]


@pytest.mark.parametrize(
    ("edit", "named"), [(e, n) for _, e, n in HAND_EDITS], ids=[i for i, _, _ in HAND_EDITS]
)
def test_a_hand_edited_saved_plan_is_stale_and_names_what_differs(
    project: Project,
    capsys: pytest.CaptureFixture[str],
    edit: Callable[[dict[str, Any]], None],
    named: str,
) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))  # a replace is pending
    document = save_plan(project)
    assert [s["id"] for s in document["steps"]] == ["env.serving"]
    edit(document)
    (project.folder / "p.json").write_text(json.dumps(document), encoding="utf-8")
    before = under_root(project)

    code, stderr = apply_saved(project, capsys)

    assert code == 1
    assert one_sentence(stderr).startswith("error: plan is stale: "), stderr
    assert named in stderr
    assert under_root(project) == before
    assert link_of(project, "serving") == ".generations/serving/g0001"
    assert generations_of(project, "serving") == ["g0001"]


def test_fingerprint_parts_are_compared_over_both_sides() -> None:
    fresh = {"manifest_sha256": "a", "integrity": {"x": "1"}, "doomed": [], "later": 1}
    assert stale_parts(fresh, fresh) == []
    assert stale_parts({**fresh, "integrity": {"x": "2"}}, fresh) == [
        "the installed files of env x changed"
    ]
    assert stale_parts({**fresh, "doomed": ["x"]}, fresh) == ["the folder of adopted env x is gone"]
    without = {k: v for k, v in fresh.items() if k != "later"}
    assert stale_parts(without, fresh) == ["its fingerprint lacks the part later"]
    assert stale_parts(fresh, without) == [
        "it has a fingerprint part 'later' this reconcile does not make"
    ]
    # a difference the words do not cover is still named
    assert stale_parts({**fresh, "doomed": ["x", "x"]}, {**fresh, "doomed": ["x"]}) == [
        "fingerprint part doomed changed"
    ]


def test_documents_are_compared_whole_step_by_step() -> None:
    step = {"id": "env.a", "action": "create", "target": "a", "reasons": ["missing"]}
    other = {"id": "model.m", "action": "rebind", "target": "m", "reasons": ["model_new"]}
    fresh = {"steps": [step, other], "summary": {"create": 1}, "warnings": []}
    assert document_changes(fresh, fresh) == []
    assert document_changes({**fresh, "steps": [other, step]}, fresh) == [
        "its steps are in another order than the plan made now"
    ]
    assert document_changes({**fresh, "steps": [{**step, "target": "b"}, other]}, fresh) == [
        "step env.a differs in target"
    ]


# --- the plan file itself ---------------------------------------------------------------------


def _limit_memory() -> None:
    # a reader that never stops (/dev/zero) fails here instead of eating the machine
    import resource  # POSIX only, as the test that uses it

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def _apply_file(project: Project, plan: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", str(plan)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=60,  # a FIFO used to block here forever
        preexec_fn=_limit_memory,
    )


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero are POSIX")
@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "folder", "huge"])
def test_a_plan_file_that_is_not_a_small_regular_file_is_refused_without_reading_it(
    project: Project, kind: str
) -> None:
    project.write(SERVING)
    lock(project)
    plan = project.folder / "p.json"
    match kind:
        case "fifo":
            os.mkfifo(plan)
            said = "a FIFO"
        case "dev_zero":
            plan = Path("/dev/zero")
            said = "a character device"
        case "folder":
            plan.mkdir()
            said = "a folder"
        case _:
            with plan.open("wb") as sparse:
                sparse.truncate(SIZE_LIMIT + 1)
            said = "larger than"

    done = _apply_file(project, plan)

    assert done.returncode == 1
    line = one_sentence(done.stderr)
    assert plan.name in line and said in line, line
    assert not project.root.exists()


def test_a_printed_plan_given_to_apply_says_how_to_save_one(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.write(SERVING)
    lock(project)
    capsys.readouterr()
    assert main(["--manifest", str(project.manifest), "plan", "--format", "json"]) == 0
    (project.folder / "p.json").write_text(capsys.readouterr().out, encoding="utf-8")

    code, stderr = apply_saved(project, capsys)

    assert code == 1
    assert "it has no fingerprint: `plan --format json` prints a plan to read, " in stderr
    assert one_sentence(stderr).endswith("again and apply that file.")
    assert not project.root.exists()


def _deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


MALFORMED: dict[str, Callable[[bytes], bytes]] = {
    "orphans_of_lists": lambda plan: json.dumps(
        {**json.loads(plan), "fingerprint": {**json.loads(plan)["fingerprint"], "orphans": [[1]]}}
    ).encode(),
    "nested_100000_deep": lambda plan: _deep(100_000),
    "nested_in_a_field": lambda plan: plan.replace(b'"warnings": []', b'"warnings": ' + _deep(900)),
    "truncated": lambda plan: plan[: len(plan) // 2],
    "not_utf8": lambda plan: plan.replace(b'"reconcile"', b'"reconc\xffile"'),
    "duplicate_key": lambda plan: plan.replace(
        b'"has_changes": ', b'"has_changes": true, "has_changes": '
    ),
    "nan": lambda plan: plan.replace(b'"packages": 2', b'"packages": NaN'),
    "not_an_object": lambda plan: b"[]",
    "empty": lambda plan: b"",
    "step_kind_unknown": lambda plan: plan.replace(b'"kind": "env"', b'"kind": "gpu"'),
    "count_as_text": lambda plan: plan.replace(b'"create": 1', b'"create": "1"'),
}


@pytest.mark.parametrize("mutate", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_saved_plan_is_one_sentence_and_touches_nothing(
    project: Project, capsys: pytest.CaptureFixture[str], mutate: Callable[[bytes], bytes]
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    save_plan(project)
    plan = project.folder / "p.json"
    original = plan.read_bytes()
    assert b'"packages": 2' in original and b'"create": 1' in original
    plan.write_bytes(mutate(original))

    code, stderr = apply_saved(project, capsys)

    assert code == 1
    line = one_sentence(stderr)
    assert line.startswith(f"error: {plan} is not a plan reconcile wrote ("), line
    assert line.endswith(f"; run `reconcile plan --out {plan}` again and apply that file."), line
    assert not project.root.exists()


# --- any mutation of a real saved plan ------------------------------------------------------


def _verdict(original: dict[str, Any], changed: Any) -> str:
    """What apply must do with ``changed``: ``"apply"`` when it differs from ``original`` only
    in the tool's version or the manifest's file name (still strings), ``"either"`` when the
    targets changed too (a target that selects the same steps is no change), else
    ``"refuse"``."""
    if not isinstance(changed, dict):
        return "refuse"
    names = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
    tool, fingerprint = changed.get("tool"), changed.get("fingerprint")
    shaped = (
        isinstance(changed.get("manifest"), str)
        and isinstance(tool, dict)
        and sorted(tool) == ["name", "version"]
        and tool["name"] == "reconcile"
        and isinstance(tool["version"], str)
        and isinstance(fingerprint, dict)
        and isinstance(fingerprint.get("targets"), list)
        and all(isinstance(t, str) and names.fullmatch(t) for t in fingerprint["targets"])
    )

    def core(document: dict[str, Any]) -> dict[str, Any]:
        kept = {k: v for k, v in document.items() if k not in ("tool", "manifest")}
        kept["fingerprint"] = {k: v for k, v in document["fingerprint"].items() if k != "targets"}
        return kept

    def text(document: dict[str, Any]) -> str:  # false == 0 in Python, not in a plan
        return json.dumps(core(document), sort_keys=True)

    if not shaped or text(original) != text(changed):
        return "refuse"
    return (
        "apply"
        if changed["fingerprint"]["targets"] == original["fingerprint"]["targets"]
        else "either"
    )


@settings(
    max_examples=int(os.environ.get("RECONCILE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_mutation_of_a_saved_plan_is_refused_in_one_sentence_or_changes_nothing(
    project: Project, capsys: pytest.CaptureFixture[str], data: st.DataObject
) -> None:
    if not (project.folder / "p.json").exists():  # once per test, not per example
        setup(project, SERVING)
        project.write(SERVING + '\n[models.extra]\nenv = "serving"\n')  # a rebind, no build
        save_plan(project)
    plan = project.folder / "p.json"
    original = json.loads(plan.read_text(encoding="utf-8"))
    state = layout.bindings_path(project.root).read_bytes()
    mutated = data.draw(mutations(original))
    target = project.folder / "mutated.json"
    target.write_bytes(mutated)
    before = under_root(project)

    code, stderr = apply_saved(project, capsys, "mutated.json")

    verdict = _verdict(original, _parsed(mutated))
    event(f"exit {code}, {verdict}, {'stale' if 'plan is stale' in stderr else 'other'}")
    if code == 0:
        assert verdict in ("apply", "either"), stderr
        layout.bindings_path(project.root).write_bytes(state)  # undo, for the next example
        return
    assert code == 1, stderr
    line = one_sentence(stderr)
    assert verdict in ("refuse", "either"), line
    refusals = ("error: plan is stale: ", f"error: {target} is not a plan reconcile wrote (")
    assert line.startswith(refusals) or " has plan format " in line, line
    assert under_root(project) == before


def _parsed(data: bytes) -> Any:
    """The document in ``data``; ``None`` for one no plan could be (not JSON, or nested
    deeper than any plan: comparing it would hit the recursion limit here)."""
    if data.count(b"[") > 100 or data.count(b"{") > 100:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
