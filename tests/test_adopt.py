"""Legacy envs end to end (issue 5): adopt what exists, migrate models by editing the
manifest, forget an adopted env or delete its folder when the manifest says so, and refuse
bad adopt paths before anything happens. Real uv, real venvs, the installed command."""

from __future__ import annotations

import json
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.platform import POSIX_VENV
from reconciler.store import layout
from reconciler.store.bindings import read_state
from tests.apply_helpers import error_lines, legacy_venv, lock, plan_json, snapshot, trash_entries
from tests.helpers import Project, require_python, uv

LEGACY = """\
[envs.legacy-a]
adopt = "environments/a/.venv"
imports = ["alpha"]

[envs.legacy-b]
adopt = "environments/b/.venv"
imports = ["gamma"]

[models.m1]
env = "legacy-a"

[models.m2]
env = "legacy-b"
"""

SHARED = """\
[envs.shared]
python = "3.11"
requirements = ["alpha==1.0", "gamma==1.0"]
imports = ["alpha", "gamma"]
"""


@pytest.fixture
def legacy(project: Project) -> Iterator[Project]:
    """Two legacy venvs, adopted and applied: m1 runs in legacy-a, m2 in legacy-b."""
    legacy_venv(project, project.folder / "environments/a/.venv", "alpha==1.0")
    legacy_venv(project, project.folder / "environments/b/.venv", "gamma==1.0")
    project.write(LEGACY)
    done = project.cli("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    yield project


def _migrated(fallbacks: bool = True) -> str:
    """Both models moved to the shared env (with their legacy env as fallback)."""
    text = LEGACY.replace('env = "legacy-a"', 'env = "shared"').replace(
        'env = "legacy-b"', 'env = "shared"'
    )
    if fallbacks:
        text = text.replace(
            '[models.m1]\nenv = "shared"', '[models.m1]\nenv = "shared"\nfallback = "legacy-a"'
        )
        text = text.replace(
            '[models.m2]\nenv = "shared"', '[models.m2]\nenv = "shared"\nfallback = "legacy-b"'
        )
    return SHARED + "\n" + text


def test_adopting_writes_down_what_exists_and_which_runs_in_the_adopted_venv(
    legacy: Project,
) -> None:
    which = legacy.cli("which", "m1")
    state = read_state(legacy.root)

    assert which.returncode == 0, which.stderr
    assert which.stdout.strip() == str(
        POSIX_VENV.interpreter(legacy.folder / "environments/a/.venv")
    )
    assert state.bindings == {"m1": "legacy-a", "m2": "legacy-b"}
    assert state.adopted == {
        "legacy-a": str(legacy.folder / "environments/a/.venv"),
        "legacy-b": str(legacy.folder / "environments/b/.venv"),
    }
    assert legacy.cli("plan", "--detailed-exitcode").returncode == 0


def test_which_resolves_through_the_applied_adopt_path_and_says_adopted_envs_are_not_rebuilt(
    legacy: Project,
) -> None:
    other = legacy_venv(legacy, legacy.folder / "environments/other/.venv", "alpha==1.0")
    legacy.write(LEGACY.replace("environments/a/.venv", "environments/other/.venv"))  # unapplied
    moved = legacy.cli("which", "m1")
    site = next((legacy.folder / "environments/a/.venv").glob("lib/python*/site-packages"))
    (site / "alpha" / "__init__.py").unlink()

    broken = legacy.cli("which", "m1")

    assert moved.stdout.strip() == str(
        POSIX_VENV.interpreter(legacy.folder / "environments/a/.venv")
    )
    assert moved.stdout.strip() != str(POSIX_VENV.interpreter(other))
    assert broken.returncode == 1
    assert broken.stderr.splitlines() == [
        "error: model m1 cannot run: env legacy-a: 1 file is corrupted (missing "
        "alpha/__init__.py) and it has no fallback; reconcile never rebuilds the adopted env "
        "legacy-a: repair that venv, or move the model to a managed env (see docs/migration.md)."
    ]


def test_moving_models_to_a_shared_env_creates_it_first_and_leaves_legacy_venvs_alone(
    legacy: Project,
) -> None:
    before = {k: snapshot(legacy.folder / f"environments/{k}/.venv") for k in "ab"}
    legacy.write(_migrated())
    lock(legacy)

    document = plan_json(legacy)
    text = legacy.cli("plan")
    done = legacy.cli("apply", "--yes")

    steps = {s["id"]: s for s in document["steps"]}
    assert list(steps) == ["env.shared", "model.m1", "model.m2"]
    assert steps["env.shared"]["action"] == "create"
    for model in ("model.m1", "model.m2"):
        assert steps[model]["action"] == "rebind"
        assert steps[model]["depends_on"] == ["env.shared"]
    assert '~ model "m1": legacy-a -> shared' in text.stdout, text.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_state(legacy.root).bindings == {"m1": "shared", "m2": "shared"}
    assert read_state(legacy.root).fallbacks == {"m1": "legacy-a", "m2": "legacy-b"}
    which = legacy.cli("which", "m2")
    assert which.stdout.strip().startswith(str(legacy.root / layout.GENERATIONS / "shared"))
    after = {k: snapshot(legacy.folder / f"environments/{k}/.venv") for k in "ab"}
    assert after == before
    assert legacy.cli("plan", "--detailed-exitcode").returncode == 0


def test_removing_an_adopted_env_forgets_it_and_leaves_its_files(legacy: Project) -> None:
    legacy.write(_migrated(fallbacks=False))
    lock(legacy)
    assert legacy.cli("apply", "--yes").returncode == 0
    before = snapshot(legacy.folder / "environments/a/.venv")
    legacy.write(_migrated(fallbacks=False).replace(LEGACY.split("[models.m1]")[0], ""))

    text = legacy.cli("plan")
    document = plan_json(legacy)
    done = legacy.cli("apply", "--yes")

    assert [(s["id"], s["action"]) for s in document["steps"]] == [
        ("env.legacy-a", "forget"),
        ("env.legacy-b", "forget"),
    ]
    assert "will be forgotten (its files are left alone)" in text.stdout
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_state(legacy.root).adopted == {}
    assert snapshot(legacy.folder / "environments/a/.venv") == before
    assert legacy.cli("plan", "--detailed-exitcode").returncode == 0


def _doomed(text: str, key: str) -> str:
    marker = f'adopt = "environments/{key[-1]}/.venv"\n'
    return text.replace(marker, marker + "delete = true\n")


def test_delete_true_moves_models_off_then_deletes_exactly_that_folder(legacy: Project) -> None:
    folder = legacy.folder / "environments/a/.venv"
    readonly = folder / "locked-down"
    readonly.mkdir()
    (readonly / "file.txt").write_text("x", encoding="utf-8")
    readonly.chmod(stat.S_IRUSR | stat.S_IXUSR)
    neighbour = legacy.folder / "environments/a/notes.txt"
    neighbour.write_text("keep me", encoding="utf-8")
    legacy.write(_doomed(_migrated(fallbacks=False), "legacy-a"))
    lock(legacy)

    document = plan_json(legacy)
    done = legacy.cli("apply", "--yes")

    steps = {s["id"]: s for s in document["steps"]}
    assert steps["env.legacy-a"]["action"] == "delete"
    assert steps["env.legacy-a"]["reasons"] == ["delete_requested"]
    assert steps["env.legacy-a"]["details"] == [
        "deletes the adopted folder environments/a/.venv (delete = true)"
    ]
    assert steps["env.legacy-a"]["depends_on"] == ["model.m1"]
    assert document["summary"]["delete"] == 1
    assert done.returncode == 0, done.stdout + done.stderr
    assert not folder.exists()
    assert neighbour.read_text(encoding="utf-8") == "keep me"
    assert trash_entries(legacy) == []
    assert "legacy-a" not in read_state(legacy.root).adopted
    assert (legacy.folder / "environments/b/.venv/pyvenv.cfg").is_file()
    assert legacy.cli("plan", "--detailed-exitcode").returncode == 0
    verify = legacy.cli("verify")  # an env deleted as asked is not a problem
    assert verify.returncode == 0, verify.stdout
    assert "legacy-a" not in verify.stdout


def test_delete_true_across_filesystems_moves_the_folder_aside_beside_itself(
    project: Project,
) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == project.folder.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) to adopt a venv from")
    outside = shm / f"reconcile-test-{uuid.uuid4().hex[:8]}"
    try:
        venv = legacy_venv(project, outside / ".venv", "alpha==1.0")
        project.write(f'[envs.old]\nadopt = "{venv}"\n')
        assert project.cli("apply", "--yes").returncode == 0  # adopted first
        project.write(f'[envs.old]\nadopt = "{venv}"\ndelete = true\n')

        done = project.cli("apply", "--yes")

        assert done.returncode == 0, done.stdout + done.stderr
        assert not venv.exists()
        assert list(outside.iterdir()) == []  # nothing left beside it either
    finally:
        if outside.exists():
            shutil.rmtree(outside)


@pytest.mark.parametrize("history", ["never applied", "applied elsewhere", "old state"])
def test_delete_true_deletes_only_a_folder_applied_as_adopted_at_that_very_place(
    project: Project, tmp_path: Path, history: str
) -> None:
    """A pull request adding ``adopt`` and ``delete = true`` together (or pointing a
    ``delete = true`` env at another folder) deletes nothing: plan and apply refuse in one
    sentence naming the line, and say to apply the env adopted first."""
    home = legacy_venv(project, tmp_path / "home-me-project", "alpha==1.0")
    (home / "thesis.tex").write_text("years of work", encoding="utf-8")
    if history == "applied elsewhere":
        other = legacy_venv(project, tmp_path / "other" / ".venv", "alpha==1.0")
        project.write(f'[envs.ghost]\nadopt = "{other}"\n')
        assert project.cli("apply", "--yes").returncode == 0
    elif history == "old state":  # written before adopted folders were recorded
        state = project.root / layout.STATE / "bindings.json"
        state.parent.mkdir(parents=True)
        state.write_text(json.dumps({"bindings": {}, "adopted": ["ghost"]}), encoding="utf-8")
    project.write(f'[envs.ghost]\nadopt = "{home}"\ndelete = true\n')
    before = snapshot(home)

    runs = [project.cli("plan"), project.cli("apply", "--yes"), project.cli("gc")]

    for done in runs[:2]:
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert (
            f"envs.ghost.delete: {home} was never applied as adopted env ghost at this "
            "folder, so reconcile will not delete it: apply the env adopted first (without "
            "delete = true), then mark it delete = true"
        ) in done.stderr
    assert runs[2].returncode == 0, runs[2].stderr
    assert snapshot(home) == before


def test_an_adopted_env_no_model_uses_is_applied_with_no_changes_and_may_then_be_deleted(
    project: Project, tmp_path: Path
) -> None:
    venv = legacy_venv(project, tmp_path / "old" / ".venv", "alpha==1.0")
    project.write(f'[envs.old]\nadopt = "{venv}"\n')

    first = project.cli("apply", "--yes")
    project.write(f'[envs.old]\nadopt = "{venv}"\ndelete = true\n')
    second = project.cli("apply", "--yes")

    assert first.returncode == 0 and "No changes" in first.stdout, first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert not venv.exists()
    assert read_state(project.root).adopted == {}


def test_delete_true_refuses_a_folder_that_no_longer_looks_like_a_venv(legacy: Project) -> None:
    folder = legacy.folder / "environments/a/.venv"
    shutil.rmtree(folder / "bin")  # pyvenv.cfg alone is no venv
    (folder / "data.csv").write_text("precious", encoding="utf-8")
    legacy.write(_doomed(_migrated(fallbacks=False), "legacy-a"))
    lock(legacy)

    done = legacy.cli("apply", "--yes")

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "no longer looks like a venv (pyvenv.cfg and bin/python" in done.stderr
    assert (folder / "data.csv").read_text(encoding="utf-8") == "precious"


def test_a_model_may_not_use_an_env_marked_for_deletion(legacy: Project) -> None:
    legacy.write(_doomed(LEGACY, "legacy-a"))

    done = legacy.cli("plan")

    assert done.returncode == 1
    assert 'models.m1.env: names env "legacy-a", which is marked delete = true' in done.stderr
    assert (legacy.folder / "environments/a/.venv/pyvenv.cfg").is_file()


def test_delete_true_never_goes_through_a_link(project: Project, tmp_path: Path) -> None:
    real = legacy_venv(project, tmp_path / "elsewhere" / ".venv", "alpha==1.0")
    link = project.folder / "venv-link"
    link.symlink_to(real, target_is_directory=True)
    project.write('[envs.old]\nadopt = "venv-link"\ndelete = true\n')
    before = snapshot(real)

    plan = project.cli("plan")
    done = project.cli("apply", "--yes")

    for result in (plan, done):
        assert result.returncode == 1
        assert "envs.old.adopt: venv-link is a link; reconcile never deletes through a link" in (
            result.stderr
        )
    assert snapshot(real) == before and link.is_symlink()


def test_bad_adopt_paths_are_errors_naming_each_line_and_nothing_is_created(
    project: Project,
) -> None:
    good = legacy_venv(project, project.folder / "environments/good/.venv")
    (project.folder / "plain").mkdir()
    inside = project.root / "hand-made"
    inside.mkdir(parents=True)
    (inside / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    project.write(
        f"""\
        [envs.missing]
        adopt = "environments/gone/.venv"

        [envs.plain]
        adopt = "plain"

        [envs.inside]
        adopt = ".envs/hand-made"

        [envs.good]
        adopt = "environments/good/.venv"

        [envs.twin]
        adopt = "{good}"
        """
    )
    before = sorted(p.name for p in project.root.iterdir())

    for command in (("plan",), ("apply", "--yes"), ("plan", "--format", "json")):
        done = project.cli(*command)

        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert error_lines(done.stderr) == [
            "envs.toml:5: envs.missing.adopt: environments/gone/.venv does not exist; fix the "
            "path, or remove the env from the manifest to forget it",
            "envs.toml:8: envs.plain.adopt: plain is not a venv (no pyvenv.cfg in it); adopt "
            "the venv's own folder",
            "envs.toml:11: envs.inside.adopt: .envs/hand-made is inside the root .envs, where "
            "reconcile keeps the envs it builds; adopt a venv outside the root",
            "envs.toml:17: envs.twin.adopt: environments/good/.venv is the same folder as env "
            "good's; declare "
            "each venv once and bind several models to it",
            "error: envs.toml has 4 problems; fix them and run the command again.",
        ]
    assert sorted(p.name for p in project.root.iterdir()) == before


def test_a_saved_plan_that_deletes_an_adopted_folder_is_stale_once_the_folder_is_gone(
    legacy: Project,
) -> None:
    legacy.write(_doomed(_migrated(fallbacks=False), "legacy-a"))
    lock(legacy)
    assert legacy.cli("plan", "--out", "p.json").returncode == 0
    saved = json.loads((legacy.folder / "p.json").read_text(encoding="utf-8"))
    shutil.rmtree(legacy.folder / "environments/a/.venv")

    done = legacy.cli("apply", "p.json")

    assert [s["action"] for s in saved["steps"]].count("delete") == 1
    assert done.returncode == 1
    assert "plan is stale" in done.stderr
    assert read_state(legacy.root).bindings == {"m1": "legacy-a", "m2": "legacy-b"}


def test_delete_true_never_takes_the_manifest_folder_or_another_adopted_env_with_it(
    project: Project, tmp_path: Path
) -> None:
    legacy_venv(project, project.folder / "outer")
    legacy_venv(project, project.folder / "outer/inner")
    (project.folder / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    project.write(
        f"""\
        [settings]
        root = "{tmp_path / "elsewhere"}"

        [envs.project]
        adopt = "."
        delete = true

        [envs.old]
        adopt = "outer"
        delete = true

        [envs.keep]
        adopt = "outer/inner"
        """
    )
    before = snapshot(project.folder)

    done = project.cli("apply", "--yes")

    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        "envs.toml:8: envs.project.adopt: . holds the folder of envs.toml, which must stay; "
        "drop delete = true and remove by hand what should go",
        "envs.toml:12: envs.old.adopt: outer is around env keep's folder; adopt folders that "
        "do not nest",
        "error: envs.toml has 2 problems; fix them and run the command again.",
    ]
    assert snapshot(project.folder) == before


def test_a_changed_adopt_path_is_a_rebind_the_plan_shows_and_which_follows_once_applied(
    legacy: Project,
) -> None:
    uv(
        "venv",
        "--quiet",
        "--python",
        str(require_python("3.11")),
        str(legacy.folder / "environments/a2/.venv"),
    )
    legacy.install(legacy.folder / "environments/a2/.venv", "alpha==1.0")
    legacy.write(LEGACY.replace("environments/a/.venv", "environments/a2/.venv"))

    document = plan_json(legacy)
    before = legacy.cli("which", "m1")
    done = legacy.cli("apply", "--yes")
    after = legacy.cli("which", "m1")

    assert [(s["id"], s["action"], s["reasons"], s["details"]) for s in document["steps"]] == [
        (
            "model.m1",
            "rebind",
            ["adopt_path_changed"],
            ["adopted folder: environments/a/.venv -> environments/a2/.venv"],
        )
    ]
    assert before.stdout.strip() == str(
        POSIX_VENV.interpreter(legacy.folder / "environments/a/.venv")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert after.stdout.strip() == str(
        POSIX_VENV.interpreter(legacy.folder / "environments/a2/.venv")
    )
    assert legacy.cli("plan", "--detailed-exitcode").returncode == 0


def test_an_adopt_path_that_cannot_be_looked_at_is_one_sentence(project: Project) -> None:
    project.write(f'[envs.odd]\nadopt = "environments/{"x" * 300}/.venv"\n')  # too long

    done = project.cli("plan")

    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    assert len(error_lines(done.stderr)) == 2 and "envs.odd.adopt: environments/" in done.stderr


def test_a_folder_set_aside_beside_itself_by_a_killed_apply_is_removed_by_the_next(
    legacy: Project,
) -> None:
    from reconciler.store import removals

    legacy.write(_doomed(_migrated(fallbacks=False), "legacy-a"))
    lock(legacy)
    venv = legacy.folder / "environments/a/.venv"
    aside = venv.with_name(".venv.reconcile-trash-0badc0de")
    removals.record(legacy.root, "aside", aside)  # what apply does: record, rename, SIGKILL
    venv.rename(aside)

    dry = legacy.cli("gc", "--dry-run")
    done = legacy.cli("apply", "--yes")

    assert f"would remove {aside}" in dry.stdout.splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert not aside.exists()
    assert sorted(p.name for p in (legacy.folder / "environments/a").iterdir()) == []
    assert "legacy-a" not in read_state(legacy.root).adopted
    assert removals.entries(legacy.root) == []


LOOK_ALIKES = (
    ".venv.reconcile-trash-0badc0de",
    ".venv.reconcile-trash-mine",
    ".venv.reconcile-trash-",
)


@pytest.mark.parametrize("command", [("apply", "--yes"), ("gc",)])
def test_delete_true_never_removes_a_folder_that_merely_looks_set_aside(
    legacy: Project, command: tuple[str, ...]
) -> None:
    """Only what reconcile recorded before renaming it is removed: a user's folder named
    like a set-aside one, beside the adopted folder, is neither removed nor listed."""
    parent = legacy.folder / "environments/a"
    for name in LOOK_ALIKES:
        (parent / name / "data").mkdir(parents=True)
        (parent / name / "data" / "notes.txt").write_text("mine", encoding="utf-8")
    legacy.write(_doomed(_migrated(fallbacks=False), "legacy-a"))
    lock(legacy)
    assert legacy.cli("apply", "--yes").returncode == 0  # deletes the venv itself
    before = snapshot(parent)

    dry = legacy.cli("gc", "--dry-run")
    done = legacy.cli(*command)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "reconcile-trash" not in dry.stdout + done.stdout + done.stderr
    assert snapshot(parent) == before
    assert sorted(p.name for p in parent.iterdir()) == sorted(LOOK_ALIKES)


def test_gc_never_removes_a_generation_that_an_adopted_env_names(project: Project) -> None:
    """Defence in depth: whatever let an adopt path into the root (on Windows a
    ``\\\\?\\`` spelling did), gc and the prune after a switch leave an adopted env's
    folder alone, warning, and the env stays usable."""
    require_python("3.11")
    project.write(SHARED)
    lock(project)
    for args in (("apply", "--yes"), ("apply", "--yes", "--replace", "shared")):
        assert project.cli(*args).returncode == 0
    first = project.root / layout.GENERATIONS / "shared" / "g0001"
    assert first.is_dir()
    # gc reads no adopt check: a hand-edited manifest adopting a kept generation
    project.write(SHARED + '\n[envs.a]\nadopt = ".envs/.generations/shared/g0001"\n')
    before = snapshot(first)

    dry = project.cli("gc", "--keep", "1", "--dry-run")
    done = project.cli("gc", "--keep", "1")

    assert str(first) not in dry.stdout
    assert f"warning: could not remove {first}: it is, holds or lies inside {first}, which " in (
        done.stderr
    )
    assert snapshot(first) == before
    assert "removed" not in done.stdout or str(first) not in done.stdout
