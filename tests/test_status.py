"""`reconcile status`: one table of every env (SPEC 4). End to end with real envs built by the
real uv from local wheels, through the installed command; then the pure renderer.

Building envs is the slow part, so the projects that are only read are built once per module
(``applied``, ``mixed``); a test that changes its envs builds its own.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.app import main
from reconciler.commands.status import disk_usage
from reconciler.report.status import (
    StatusRow,
    human_age,
    models_text,
    render_text,
    status_document,
)
from reconciler.report.units import human_size
from reconciler.store import layout
from reconciler.store.applylock import ApplyLock
from tests.apply_helpers import error_line, snapshot
from tests.helpers import Project, require_python, uv
from tests.wheels import make_wheel

SERVING = """\
[envs.serving]
python = "3.11"
requirements = [{pins}]
imports = ["alpha"]

[envs.tools]
python = "3.11"
requirements = ["gamma==1.0"]
imports = ["gamma"]

[models.chat]
env = "serving"

[models.report]
env = "tools"
"""

OLD = """\
[envs.old]
python = "3.11"
requirements = ["gamma==1.0"]

[models.summarize]
env = "old"
"""

MIXED = """\
[envs.legacy]
adopt = "environments/ner/.venv"
imports = ["gamma"]

[envs.batch]
python = "3.11"
requirements = ["beta==1.0"]

[models.ner]
env = "legacy"

[models.summarize]
env = "batch"
"""


# --- helpers -------------------------------------------------------------------------------


def _in_process(project: Project, *args: str) -> None:
    assert main(["--manifest", str(project.manifest), "--quiet", *args]) == 0


def _write_lock_apply(project: Project, body: str, apply: bool = True) -> None:
    project.write(body)
    _in_process(project, "lock")
    if apply:
        _in_process(project, "apply", "--yes")


@pytest.fixture(scope="module")
def isolated_uv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """uv isolated for this module's set-up as conftest's ``_isolated_uv`` isolates it for
    each test (that fixture is per test; the projects here are built once per module)."""
    require_python("3.11")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UV_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "uv-cache"))
        patch.setenv("UV_PYTHON_DOWNLOADS", "never")
        patch.setenv("UV_NO_CONFIG", "1")
        for name in ("UV_INDEX_URL", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "VIRTUAL_ENV"):
            patch.delenv(name, raising=False)
        yield


def _new_project(tmp_path_factory: pytest.TempPathFactory, name: str) -> Project:
    folder = tmp_path_factory.mktemp(name) / "project"
    wheels = folder / "wheels"
    make_wheel(wheels, "alpha", "1.0", requires=["beta>=1.0"])
    make_wheel(wheels, "beta", "1.0")
    make_wheel(wheels, "beta", "2.0")
    make_wheel(wheels, "gamma", "1.0")
    return Project(folder=folder, wheels=wheels)


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory, isolated_uv: None) -> Project:
    """serving applied twice (a second generation: beta 1.0 -> 2.0) and tools once."""
    project = _new_project(tmp_path_factory, "applied")
    _write_lock_apply(project, SERVING.format(pins='"alpha==1.0", "beta==1.0"'))
    _write_lock_apply(project, SERVING.format(pins='"alpha==1.0", "beta==2.0"'))
    return project


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, isolated_uv: None) -> Project:
    """Env old applied then dropped from the manifest (an orphan reconcile built, with model
    summarize still bound to it), a hand-made folder in the root (an orphan it did not
    build), an adopted venv, and env batch declared and locked but never built."""
    project = _new_project(tmp_path_factory, "mixed")
    _write_lock_apply(project, OLD)
    venv = project.folder / "environments" / "ner" / ".venv"
    uv("venv", "--quiet", "--python", str(require_python("3.11")), str(venv))
    project.install(venv, "gamma==1.0")
    _write_lock_apply(project, MIXED, apply=False)
    (project.root / "scratch").mkdir()
    return project


def status_json(project: Project) -> dict[str, Any]:
    done = project.cli("status", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def by_env(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {env["env"]: env for env in doc["envs"]}


def text_rows(stdout: str) -> dict[str, list[str]]:
    """The table's lines by env, split into cells on runs of two spaces or more."""
    table = stdout.split("\n\n", 1)[0].splitlines()
    assert re.split(r" {2,}", table[0]) == [
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
    ]
    rows = [re.split(r" {2,}", line) for line in table[1:]]
    return {row[0]: row for row in rows}


# --- an applied project --------------------------------------------------------------------


@pytest.mark.slow
def test_status_shows_each_env_with_its_live_and_previous_generations_models_and_size(
    applied: Project,
) -> None:
    done = applied.cli("status")
    assert done.returncode == 0, done.stderr
    rows = text_rows(done.stdout)
    assert sorted(rows) == ["serving", "tools"]
    _, kind, health, python, live, age, previous, models, size, link, path = rows["serving"]
    assert (kind, health, live, previous, models, link, path) == (
        "managed",
        "healthy",
        "g0002",
        "g0001",
        "chat",
        "symlink",
        ".envs/serving",
    )
    assert python.startswith("3.11.")
    assert age[-1] in "smhd" and age[:-1].isdigit()
    assert size.endswith((" KB", " MB"))
    assert (rows["tools"][4], rows["tools"][6], rows["tools"][7]) == ("g0001", "-", "report")
    assert "2 declared envs: 2 healthy;" in done.stdout
    assert "+name" not in done.stdout  # no legend: no binding is about to change


@pytest.mark.slow
def test_status_json_is_a_versioned_document_with_every_column(applied: Project) -> None:
    doc = status_json(applied)
    assert doc["format_version"] == "1"
    assert doc["manifest"] == "envs.toml"
    assert doc["root"] == ".envs"
    datetime.strptime(doc["generated_at"], "%Y-%m-%dT%H:%M:%SZ")
    serving = by_env(doc)["serving"]
    assert set(serving) == {
        "env",
        "kind",
        "path",
        "healthy",
        "reasons",
        "details",
        "python",
        "python_declared",
        "generation",
        "previous_generations",
        "models",
        "models_declared",
        "size_bytes",
        "created_by_reconcile",
        "link",
        "link_note",
    }
    assert serving["healthy"] is True and serving["reasons"] == []
    assert serving["python_declared"] == "3.11"
    assert serving["generation"]["name"] == "g0002"
    created = datetime.strptime(serving["generation"]["created"], "%Y-%m-%dT%H:%M:%SZ")
    age = datetime.now(timezone.utc).replace(tzinfo=None) - created
    assert timedelta(0) <= age < timedelta(hours=1)
    assert 0 <= serving["generation"]["age_seconds"] < 3600
    assert serving["previous_generations"] == ["g0001"]
    assert serving["models"] == serving["models_declared"] == ["chat"]
    assert serving["created_by_reconcile"] is True
    live = applied.root / layout.GENERATIONS / "serving" / "g0002"
    assert serving["size_bytes"] == disk_usage(live)
    assert serving["size_bytes"] > 0
    assert doc["summary"] == {
        "declared": 2,
        "healthy": 2,
        "missing": 0,
        "unhealthy": 0,
        "to_delete": 0,
        "deleted": 0,
        "orphans": 0,
        "size_bytes": serving["size_bytes"] + by_env(doc)["tools"]["size_bytes"],
    }


@pytest.mark.slow
def test_status_writes_nothing_outside_the_cache_and_needs_no_lock(applied: Project) -> None:
    def outside_cache() -> dict[str, tuple[object, ...]]:
        return {
            path: entry
            for path, entry in snapshot(applied.folder).items()
            if not path.startswith(f".envs/{layout.CACHE}")
        }

    before = outside_cache()
    with ApplyLock(applied.root, timeout=0, command="reconcile apply --yes"):
        lock_file = {p: e for p, e in outside_cache().items() if p not in before}
        text = applied.cli("status")
        as_json = applied.cli("status", "--format", "json")
    assert (text.returncode, as_json.returncode) == (0, 0), text.stderr + as_json.stderr
    assert "waiting" not in text.stderr + as_json.stderr
    after = {p: e for p, e in outside_cache().items() if p not in lock_file}
    assert after == before


@pytest.mark.slow
def test_status_shows_files_corrupted_for_a_damaged_file(applied: Project) -> None:
    module = next((applied.root / "serving").glob("lib/python3.11/site-packages/alpha/__init__.py"))
    original = module.read_bytes()
    try:
        module.write_bytes(b"")
        doc = status_json(applied)
        serving = by_env(doc)["serving"]
        assert serving["reasons"] == ["files_corrupted"]
        assert any("zero_byte" in d and "alpha/__init__.py" in d for d in serving["details"])
        assert by_env(doc)["tools"]["healthy"] is True
        done = applied.cli("status")
        assert text_rows(done.stdout)["serving"][2] == "files_corrupted"
        assert "1 healthy, 1 unhealthy" in done.stdout
    finally:
        module.write_bytes(original)
    assert by_env(status_json(applied))["serving"]["healthy"] is True


# --- adopted envs, orphans, an env not built yet -------------------------------------------


@pytest.mark.slow
def test_status_shows_an_adopted_env_with_its_path_and_no_generation(mixed: Project) -> None:
    legacy = by_env(status_json(mixed))["legacy"]
    assert legacy["kind"] == "adopted"
    assert legacy["path"] == "environments/ner/.venv"
    assert legacy["healthy"] is True
    assert legacy["generation"] is None and legacy["previous_generations"] == []
    assert legacy["python"].startswith("3.11.")
    assert legacy["size_bytes"] > 0
    assert legacy["models"] == [] and legacy["models_declared"] == ["ner"]
    row = text_rows(mixed.cli("status").stdout)["legacy"]
    assert row[1:3] == ["adopted", "healthy"]
    assert row[4:7] == ["-", "-", "-"]
    assert row[7] == "+ner"
    assert row[9:] == ["-", "environments/ner/.venv"]  # an adopted env has no link of ours


@pytest.mark.slow
def test_status_shows_a_declared_env_that_is_not_built_as_missing(mixed: Project) -> None:
    batch = by_env(status_json(mixed))["batch"]
    assert (batch["kind"], batch["reasons"], batch["size_bytes"]) == ("managed", ["missing"], None)
    assert batch["python"] is None and batch["python_declared"] == "3.11"
    done = mixed.cli("status")
    assert text_rows(done.stdout)["batch"][2:4] == ["missing", "-"]
    assert not (mixed.root / "batch").exists()
    assert "+name is bound here by the next `reconcile apply`" in done.stdout


@pytest.mark.slow
def test_status_lists_orphans_and_whether_reconcile_built_them(mixed: Project) -> None:
    doc = status_json(mixed)
    old, scratch = by_env(doc)["old"], by_env(doc)["scratch"]
    assert [e["env"] for e in doc["envs"]][-2:] == ["old", "scratch"]  # orphans last
    assert (old["kind"], old["created_by_reconcile"], old["reasons"]) == (
        "orphan",
        True,
        ["not_declared"],
    )
    assert old["generation"]["name"] == "g0001"
    assert old["models"] == ["summarize"] and old["models_declared"] == []
    assert old["size_bytes"] > 0
    assert (scratch["kind"], scratch["created_by_reconcile"]) == ("orphan", False)
    assert scratch["reasons"] == ["not_created_by_reconcile", "not_declared"]
    assert doc["summary"]["orphans"] == 2
    rows = text_rows(mixed.cli("status").stdout)
    assert rows["old"][1:3] == ["orphan", "not_declared"]
    assert rows["old"][7] == "-summarize"


@pytest.mark.slow
def test_status_reports_a_missing_lockfile_instead_of_failing(mixed: Project) -> None:
    lockfile = mixed.folder / "lockfiles" / "batch.txt"
    saved = lockfile.read_bytes()
    lockfile.unlink()
    try:
        batch = by_env(status_json(mixed))["batch"]
    finally:
        lockfile.write_bytes(saved)
    assert batch["reasons"] == ["lock_missing", "missing"]


def test_status_shows_bad_adopt_paths_and_deletions_as_reasons_not_errors(
    project: Project,
) -> None:
    """`plan` refuses a bad adopt path; `status` shows it, and what `delete = true` asks."""
    (project.folder / "not-a-venv").mkdir()
    doomed = project.folder / "doomed" / ".venv"
    doomed.mkdir(parents=True)
    (doomed / "pyvenv.cfg").write_text("home = /nowhere\nversion_info = 3.9.1\n", "utf-8")
    project.write(
        '[envs.gone]\nadopt = "gone/.venv"\n\n[envs.odd]\nadopt = "not-a-venv"\n\n'
        '[envs.doomed]\nadopt = "doomed/.venv"\ndelete = true\n\n'
        '[envs.deleted]\nadopt = "deleted/.venv"\ndelete = true\n'
    )
    envs = by_env(status_json(project))
    assert {key: env["reasons"] for key, env in envs.items()} == {
        "deleted": ["already_deleted"],
        "doomed": ["delete_requested"],
        "gone": ["missing"],
        "odd": ["adopt_path_invalid"],
    }
    assert "not a venv" in envs["odd"]["details"][0]
    assert envs["doomed"]["python"] == "3.9.1"
    assert {env["kind"] for env in envs.values()} == {"adopted"}
    summary = status_json(project)["summary"]  # where an env is in its life is no problem
    assert (summary["unhealthy"], summary["to_delete"], summary["deleted"]) == (1, 1, 1)
    assert not project.root.exists()


# --- errors --------------------------------------------------------------------------------


def test_status_with_a_bad_manifest_exits_1_with_one_sentence_and_no_traceback(
    project: Project,
) -> None:
    project.write('[envs.tools]\npython = "3.11"\nrequirements = ["gamma==1.0"]\npyton = 1\n')
    done = project.cli("status")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert error_line(done.stderr).startswith("error: ")
    assert "envs.tools.pyton" in done.stderr
    assert not project.root.exists()


def test_status_of_a_project_never_applied_creates_nothing(project: Project) -> None:
    project.write('[envs.tools]\npython = "3.11"\nrequirements = ["gamma==1.0"]\n')
    done = project.cli("status")
    assert done.returncode == 0, done.stderr
    assert text_rows(done.stdout)["tools"][2] == "lock_missing, missing"
    assert not project.root.exists()


# --- disk usage ----------------------------------------------------------------------------


def test_disk_usage_counts_hard_links_once_and_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big").write_bytes(os.urandom(1 << 20))
    env = tmp_path / "env"
    env.mkdir()
    (env / "file").write_bytes(os.urandom(64 << 10))
    alone = disk_usage(env)
    assert alone is not None and alone >= 64 << 10
    os.link(env / "file", env / "same-file")
    (env / "to-big").symlink_to(outside / "big")
    (env / "to-outside").symlink_to(outside, target_is_directory=True)
    with_links = disk_usage(env)
    assert with_links is not None and alone <= with_links < alone + (64 << 10)
    assert disk_usage(tmp_path / "absent") is None


# --- the renderer (pure) -------------------------------------------------------------------


NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-5, "0s"),
        (0, "0s"),
        (59, "59s"),
        (60, "1m"),
        (3599, "59m"),
        (3600, "1h"),
        (3 * 3600 + 59, "3h"),
        (86399, "23h"),
        (86400, "1d"),
        (2 * 86400 + 7200, "2d"),
    ],
)
def test_ages_are_shown_in_the_largest_unit_that_fits(seconds: int, text: str) -> None:
    assert human_age(seconds) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 KB"),
        (4096, "4.1 KB"),
        (12_345_678, "12.3 MB"),
        (1_200_000_000, "1.2 GB"),
        (3_400_000_000_000, "3.4 TB"),
    ],
)
def test_sizes_are_shown_in_decimal_units(count: int, text: str) -> None:
    assert human_size(count) == text


def test_models_show_what_apply_will_bind_here_and_move_away() -> None:
    env = {"models": ["a", "gone"], "models_declared": ["a", "new"]}
    assert models_text(env) == "a, -gone, +new"
    assert models_text({"models": [], "models_declared": []}) == "-"


ROWS = (
    StatusRow(
        "serving",
        "managed",
        ".envs/serving",
        python="3.11.7",
        python_declared="3.11",
        generation="g0002",
        created=NOW - timedelta(hours=3, minutes=5),
        previous=("g0001",),
        models=("chat",),
        models_declared=("chat",),
        size_bytes=12_345_678,
        created_by_reconcile=True,
    ),
    StatusRow(
        "legacy",
        "adopted",
        "environments/a/.venv",
        reasons=("probe_failed", "files_corrupted"),
        python="3.10.4",
        models=("m1",),
        models_declared=("m1",),
        size_bytes=800_000,
    ),
    StatusRow("old", "orphan", ".envs/old", ("not_declared",), created_by_reconcile=True),
    StatusRow("batch", "managed", ".envs/batch", ("missing",), python_declared="3.12"),
)


def test_the_table_has_one_aligned_row_per_env_then_a_summary() -> None:
    doc = status_document(ROWS, NOW, "envs.toml", ".envs")
    assert render_text(doc) == textwrap.dedent(
        """\
        env      kind     health                         python  live   age  previous  models  size      link  path
        batch    managed  missing                        -       -      -    -         -       -         -     .envs/batch
        legacy   adopted  files_corrupted, probe_failed  3.10.4  -      -    -         m1      800.0 KB  -     environments/a/.venv
        serving  managed  healthy                        3.11.7  g0002  3h   g0001     chat    12.3 MB   -     .envs/serving
        old      orphan   not_declared                   -       -      -    -         -       -         -     .envs/old

        3 declared envs: 1 healthy, 1 unhealthy, 1 missing; 1 orphan under the root; 13.1 MB on disk.
        """  # noqa: E501  the table as a user sees it
    )


def test_the_document_carries_ages_in_seconds_and_utc_timestamps() -> None:
    doc = status_document(ROWS, NOW, "envs.toml", ".envs")
    assert doc["format_version"] == "1"
    assert doc["generated_at"] == "2024-05-01T12:00:00Z"
    serving = next(e for e in doc["envs"] if e["env"] == "serving")
    assert serving["generation"] == {
        "name": "g0002",
        "created": "2024-05-01T08:55:00Z",
        "age_seconds": 3 * 3600 + 5 * 60,
    }
    legacy = next(e for e in doc["envs"] if e["env"] == "legacy")
    assert legacy["reasons"] == ["files_corrupted", "probe_failed"]
    assert legacy["healthy"] is False and legacy["generation"] is None
    assert json.loads(json.dumps(doc)) == doc


def test_a_project_with_no_envs_says_so() -> None:
    doc = status_document((), NOW, "envs.toml", ".envs")
    assert render_text(doc) == "No envs: none declared in the manifest and none under the root.\n"


def test_a_symlink_loop_in_the_root_is_an_orphan_not_a_crash(project: Project) -> None:
    """`status`, `plan` and `gc` meet a link that leads to itself as one more entry."""
    _write_lock_apply(
        project, '[envs.tools]\npython = "3.11"\nrequirements = ["gamma==1.0"]\n', False
    )
    project.root.mkdir()
    (project.root / "loop").symlink_to("loop")
    for args in (("status",), ("plan",), ("gc", "--dry-run")):
        done = project.cli(*args)
        assert done.returncode == 0, (args, done.stderr)
        assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert re.search(r"^loop +orphan ", project.cli("status").stdout, re.MULTILINE)
