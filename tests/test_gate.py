"""The health gate of `which`, `run` and `resolve()` (reconciler/observe/gate.py), on real venvs.

An env is usable when its structure is sound, every RECORD-listed file is intact and its
interpreter (of the declared version) imports the declared modules. The verdict is
remembered while none of the files it was drawn from changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.commands import gate
from reconciler.commands.gate import Expect
from reconciler.core.facts import ProbeResult
from reconciler.core.health import corruption_phrase
from reconciler.core.integrity import Category, IntegrityFinding, VerifyReport
from reconciler.observe import env as observe
from reconciler.platform import POSIX_VENV
from reconciler.store import layout
from tests.helpers import Project, require_python, settle

ALPHA = Expect(imports=("alpha",))


@pytest.fixture
def env(project: Project) -> Path:
    """A venv with alpha 1.0 and beta 1.0 under the root, built by the real uv."""
    python = require_python("3.11")
    project.write('[envs.serving]\npython = "3.11"\nrequirements = ["alpha==1.0"]\n')
    project.lock()
    project.root.mkdir()
    return project.build("serving", python)


def site(env_dir: Path) -> Path:
    return next(env_dir.glob("lib/python*/site-packages"))


def memos(root: Path) -> list[Path]:
    folder = root / layout.CACHE / "health"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture
def probes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """The interpreters the gate probes, in order (the real probe still runs)."""
    calls: list[Path] = []
    real = observe.probe

    def counting(
        python: Path, imports: tuple[str, ...], timeout: float
    ) -> tuple[ProbeResult | None, str | None]:
        assert timeout == gate.GATE_PROBE_TIMEOUT  # a model's start never waits plan's minutes
        calls.append(python)
        return real(python, imports, timeout)

    monkeypatch.setattr(gate, "probe", counting)
    yield calls


def checker(root: Path, env_dir: Path, expect: Expect) -> Callable[[], str | None]:
    return lambda: gate.env_problem(root, env_dir, expect, venv=POSIX_VENV)


def remembered(root: Path, check: Callable[[], str | None]) -> str | None:
    """Check until the verdict is stored: the first probe writes bytecode caches into the env,
    and a verdict drawn from a folder changed that recently is not stored (the racy rule)."""
    for _ in range(3):
        settle()
        verdict = check()
        if memos(root):
            return verdict
    pytest.fail("no verdict was ever stored")


# --- verdicts -----------------------------------------------------------------------------------


def test_an_intact_env_whose_imports_work_is_usable(project: Project, env: Path) -> None:
    assert gate.env_problem(project.root, env, ALPHA, venv=POSIX_VENV) is None


def test_a_zero_byte_and_a_missing_file_are_named_with_their_category(
    project: Project, env: Path
) -> None:
    (site(env) / "alpha" / "__init__.py").write_bytes(b"")
    (site(env) / "beta" / "__init__.py").unlink()

    problem = gate.env_problem(project.root, env, ALPHA, venv=POSIX_VENV)

    assert problem == (
        "2 files are corrupted (zero_byte alpha/__init__.py, missing beta/__init__.py)"
    )


def test_an_import_that_fails_is_named_with_its_error(project: Project, env: Path) -> None:
    expect = Expect(imports=("alpha", "nonexistent_mod"))

    problem = gate.env_problem(project.root, env, expect, venv=POSIX_VENV)

    assert problem == (
        "import of nonexistent_mod fails: ModuleNotFoundError: No module named 'nonexistent_mod'"
    )


def test_a_missing_interpreter_is_found_without_running_anything(
    project: Project, env: Path, probes: list[Path]
) -> None:
    python = POSIX_VENV.interpreter(env)
    python.unlink()

    assert (
        gate.env_problem(project.root, env, ALPHA, venv=POSIX_VENV)
        == f"its interpreter {python} is missing"
    )
    assert probes == []


def test_a_removed_base_interpreter_is_named_as_the_base_interpreter(
    project: Project, env: Path, probes: list[Path], tmp_path: Path
) -> None:
    python = POSIX_VENV.interpreter(env)
    gone = tmp_path / "removed-python" / "bin"
    python.unlink()
    python.symlink_to(gone / "python3.11")  # as a venv's link to a base Python now removed
    cfg = env / "pyvenv.cfg"
    cfg.write_text(
        "".join(
            f"home = {gone}\n" if line.startswith("home") else line
            for line in cfg.read_text(encoding="utf-8").splitlines(keepends=True)
        ),
        encoding="utf-8",
    )

    assert (
        gate.env_problem(project.root, env, ALPHA, venv=POSIX_VENV)
        == f"its base interpreter {gone / 'python3.11'} is missing"
    )
    assert probes == []


def test_the_count_names_three_files_then_counts_the_rest() -> None:
    site_rel = "lib/python3.11/site-packages"
    bad: list[tuple[Category, str]] = [
        ("zero_byte", "a.py"),
        ("missing", "b.py"),
        ("hash_mismatch", "c.py"),
        ("size_mismatch", "d.py"),
        ("missing", "e.py"),
    ]
    findings = tuple(
        IntegrityFinding(category, "torch", f"{site_rel}/torch/{name}") for category, name in bad
    )
    report = VerifyReport("env", (site_rel,), findings, (), 1, 5, 0, 0)
    one = VerifyReport(
        "env", (site_rel,), (IntegrityFinding("missing", None, "bin/x"),), (), 1, 1, 0, 0
    )

    assert corruption_phrase(report) == (
        "5 files are corrupted (zero_byte torch/a.py, missing torch/b.py, "
        "hash_mismatch torch/c.py and 2 more)"
    )
    assert corruption_phrase(one) == "1 file is corrupted (missing bin/x)"


# --- the remembered verdict ---------------------------------------------------------------------


def test_an_unchanged_env_is_judged_from_the_memo_without_a_probe(
    project: Project, env: Path, probes: list[Path]
) -> None:
    check = checker(project.root, env, ALPHA)
    assert remembered(project.root, check) is None
    probes.clear()

    assert check() is None
    assert probes == []
    [memo] = memos(project.root)
    document = json.loads(memo.read_text())
    assert document["problem"] is None
    paths = {path for path, _ in document["inputs"]}
    assert str(site(env) / "alpha" / "__init__.py") in paths  # a RECORD-listed file
    assert str(env / "pyvenv.cfg") in paths
    assert str(POSIX_VENV.interpreter(env)) in paths


def test_a_failed_import_is_never_remembered(
    project: Project, env: Path, probes: list[Path]
) -> None:
    # An import can fail for a reason outside the env's files (LD_LIBRARY_PATH, a driver not
    # up yet): the next check must probe again rather than repeat the failure.
    check = checker(project.root, env, Expect(imports=("nonexistent_mod",)))
    verdicts = []
    for _ in range(2):
        settle()
        verdicts.append(check())

    assert verdicts[0] == verdicts[1]
    assert verdicts[0] is not None and verdicts[0].startswith("import of nonexistent_mod fails")
    assert len(probes) == 2 and memos(project.root) == []


def test_a_changed_file_is_judged_afresh_both_ways(
    project: Project, env: Path, probes: list[Path]
) -> None:
    check = checker(project.root, env, ALPHA)
    assert remembered(project.root, check) is None
    probes.clear()
    module = site(env) / "alpha" / "__init__.py"
    content = module.read_bytes()

    module.write_bytes(b"")  # no settle: a change is seen at once; only storing waits
    broken = check()
    module.write_bytes(content)
    settle()
    healed = check()

    assert broken == "1 file is corrupted (zero_byte alpha/__init__.py)"
    assert healed is None
    assert probes == [POSIX_VENV.interpreter(env)]  # the healed env was probed afresh


def test_each_expectation_has_its_own_verdict(project: Project, env: Path) -> None:
    assert remembered(project.root, checker(project.root, env, ALPHA)) is None

    problem = gate.env_problem(
        project.root, env, Expect(imports=("nonexistent_mod",)), venv=POSIX_VENV
    )

    assert problem is not None and "nonexistent_mod" in problem


def test_a_cache_folder_that_is_a_link_is_never_written_through(
    project: Project, env: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (project.root / layout.CACHE).mkdir()
    (project.root / layout.CACHE / "health").symlink_to(elsewhere)
    settle()

    for _ in range(2):
        assert gate.env_problem(project.root, env, ALPHA, venv=POSIX_VENV) is None
        settle()

    assert list(elsewhere.iterdir()) == []


def test_an_unreadable_memo_is_ignored_and_replaced(project: Project, env: Path) -> None:
    check = checker(project.root, env, ALPHA)
    assert remembered(project.root, check) is None
    [memo] = memos(project.root)
    memo.write_text("{not json")
    settle()

    assert check() is None
    assert json.loads(memo.read_text())["problem"] is None
