"""Unit tests of the adopted folder's identity: the applied state keeps the one recorded first
while the path stays, reads states written before it was kept, and ``delete_problem`` refuses
a folder that is not the one recorded; ``normalised`` keeps a ``..`` after a link; plan marks
a refused delete step blocked with one warning."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.facts import EnvHealth
from reconciler.core.plan import Observed, build_plan
from reconciler.execute.executor import adopted_to_record
from reconciler.observe.adoption import (
    check_doomed,
    delete_problem,
    folder_identity,
    normalised,
)
from reconciler.spec.manifest import LoadedManifest, parse_manifest
from reconciler.store import layout
from reconciler.store.bindings import AppliedState, read_state, write_state

BODY = '[envs.old]\nadopt = "legacy/.venv"\n'
DOOMED = BODY + "delete = true\n"


def _loaded(tmp_path: Path, body: str) -> LoadedManifest:
    path = tmp_path / "envs.toml"
    path.write_text(body, encoding="utf-8")
    return LoadedManifest(path, body, parse_manifest(body, "envs.toml"), tmp_path / ".envs")


def _venv(folder: Path) -> Path:
    (folder / "bin").mkdir(parents=True)
    (folder / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    (folder / "bin/python").write_text("", encoding="utf-8")
    return folder


def test_an_identity_is_kept_while_the_path_stays_and_replaced_when_it_moves() -> None:
    state = AppliedState(adopted={"old": "/a"}, adopted_ids={"old": "1:2:/a"})

    same = state.with_adopted({"old": "/a"}, {"old": "9:9:/victim"})
    moved = state.with_adopted({"old": "/b"}, {"old": "3:4:/b"})
    unknown = AppliedState(adopted={"old": "/a"}).with_adopted({"old": "/a"}, {"old": "5:6:/a"})

    assert same.adopted_ids == {"old": "1:2:/a"}
    assert moved.adopted_ids == {"old": "3:4:/b"}
    assert unknown.adopted_ids == {"old": "5:6:/a"}
    assert state.without_adopted("old").adopted_ids == {}
    assert state.with_binding("m", "old").adopted_ids == state.adopted_ids


def test_a_state_without_identities_is_read_and_they_round_trip(tmp_path: Path) -> None:
    (tmp_path / layout.STATE).mkdir(parents=True)
    layout.bindings_path(tmp_path).write_text(
        '{"bindings": {}, "adopted": {"old": "/a"}}', encoding="utf-8"
    )
    assert read_state(tmp_path).adopted_ids == {}

    write_state(tmp_path, AppliedState(adopted={"old": "/a"}, adopted_ids={"old": "1:2:/a"}))

    assert read_state(tmp_path).adopted_ids == {"old": "1:2:/a"}


def test_normalised_keeps_a_dotdot_after_a_link(tmp_path: Path) -> None:
    (tmp_path / "real/sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real/sub", target_is_directory=True)

    assert normalised(tmp_path / "real/sub/../x") == str(tmp_path / "real/x")
    assert normalised(tmp_path / "link/../x") == str(tmp_path / "link/../x")
    assert os.path.normpath(tmp_path / "link/../x") == str(tmp_path / "x")  # what it was


def test_an_apply_records_a_missing_identity_but_never_refreshes_one(tmp_path: Path) -> None:
    venv = _venv(tmp_path / "legacy/.venv")
    loaded = _loaded(tmp_path, BODY)
    first = adopted_to_record(loaded, AppliedState())
    recorded = folder_identity(venv)
    venv.rename(tmp_path / "legacy/.venv.moved")
    _venv(venv)  # another folder at the same path

    again = adopted_to_record(loaded, first)
    doomed = adopted_to_record(_loaded(tmp_path, DOOMED), AppliedState(adopted=first.adopted))

    assert recorded is not None and first.adopted_ids == {"old": recorded}
    assert again.adopted_ids == first.adopted_ids
    assert doomed.adopted_ids == {}  # marked for deletion: never recorded then


def test_delete_problem_accepts_only_the_recorded_folder(tmp_path: Path) -> None:
    venv = _venv(tmp_path / "legacy/.venv")
    loaded = _loaded(tmp_path, DOOMED)
    state = adopted_to_record(_loaded(tmp_path, BODY), AppliedState())
    old = AppliedState(adopted=state.adopted)

    assert delete_problem(loaded, "old", state) is None
    assert "apply once without delete = true" in (delete_problem(loaded, "old", old) or "")
    victim = _venv(tmp_path / "victim/.venv")
    (tmp_path / "legacy").rename(tmp_path / "legacy.moved")
    (tmp_path / "legacy").symlink_to(tmp_path / "victim", target_is_directory=True)
    linked = delete_problem(loaded, "old", state) or ""
    (tmp_path / "legacy").unlink()
    (tmp_path / "legacy").mkdir()
    victim.rename(venv)
    swapped = delete_problem(loaded, "old", state) or ""

    assert f"(a link on the way now leads it to {os.path.realpath(victim)})" in linked
    assert "is no longer the folder apply adopted as env old" in linked
    assert "(another folder was put at that path since)" in swapped
    check_doomed(loaded, state.adopted)  # reality, not a manifest error


def test_a_refused_delete_is_a_blocked_step_with_one_warning(tmp_path: Path) -> None:
    manifest = parse_manifest(DOOMED, "envs.toml")
    observed = Observed(
        health={"old": EnvHealth("old", True, ())},
        orphans={},
        bindings={},
        adopted=frozenset({"old"}),
        doomed={"old": "legacy/.venv"},
        undeletable={"old": "legacy/.venv is no longer the folder apply adopted"},
    )

    plan = build_plan(manifest, observed, {})

    [step] = plan.steps
    assert (step.action, step.blocked) == (
        "delete",
        "legacy/.venv is no longer the folder apply adopted",
    )
    assert step.details == ("will not delete the adopted folder legacy/.venv: see the warning",)
    assert plan.warnings == (
        "adopted env old (delete = true): legacy/.venv is no longer the folder apply adopted.",
    )


def test_a_folder_adopted_through_a_link_is_still_never_deleted_through_it(
    tmp_path: Path,
) -> None:
    _venv(tmp_path / "real/.venv")
    (tmp_path / "legacy").mkdir()
    (tmp_path / "legacy/.venv").symlink_to(tmp_path / "real/.venv", target_is_directory=True)
    state = adopted_to_record(_loaded(tmp_path, BODY), AppliedState())

    why = delete_problem(_loaded(tmp_path, DOOMED), "old", state)

    assert state.adopted_ids  # the identity matches: the link is what is refused
    assert why == (
        f"{tmp_path}/legacy/.venv is a link; reconcile never deletes through a link: remove "
        "the link yourself, or drop delete = true"
    )
