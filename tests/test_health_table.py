"""The health judgement (reconciler/core/health.py) as a table: facts made in memory -> the
verdict and its findings, in order. No venv and no process: observing real venvs is
tests/test_observe_health.py's job.

Each row starts from one healthy managed env and changes what the case is about.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from reconciler.core.facts import EnvFacts, InstalledDist, ProbeResult
from reconciler.core.health import (
    MAX_FILES_LISTED,
    Expectation,
    assess,
    python_matches,
    structure,
)
from reconciler.core.integrity import BASELINE_DETAIL, IntegrityFinding, VerifyReport
from reconciler.platform import POSIX_VENV, WINDOWS_VENV, VenvLayout
from reconciler.spec.lockfile import LockedPackage, Lockfile

LOCK_SHA = "a" * 64
LIVE = "/r/.generations/work/g0001"
SITE = "lib/python3.11/site-packages"
LINUX = (("sys_platform", "linux"), ("python_version", "3.11"), ("os_name", "posix"))


def pin(name: str, version: str, marker: str | None = None) -> LockedPackage:
    return LockedPackage(name, version, marker, (f"sha256:{'0' * 64}",), 1)


LOCK = Lockfile(
    label="lockfiles/work.txt",
    packages=(pin("alpha", "1.0"), pin("beta", "2.0"), pin("pywin32", "306", "os_name == 'nt'")),
    inputs=None,
    sha256=LOCK_SHA,
)


def dist(name: str, version: str) -> InstalledDist:
    return InstalledDist(name, version, f"{name}-{version}.dist-info")


HEALTHY = EnvFacts(
    env_key="work",
    path="/r/work",
    kind="symlink",
    link_target=".generations/work/g0001",
    receipt=(("generation", "g0001"), ("lockfile_sha256", LOCK_SHA)),
    interpreter_present=True,
    pyvenv_cfg=(("home", "/py/3.11/bin"), ("version", "3.11.9")),
    base_interpreter_present=True,
    activation_venv_path=LIVE,
    real_path=LIVE,
    probe=ProbeResult(version="3.11.9", marker_env=LINUX, import_failures=()),
    installed=(dist("alpha", "1.0"), dist("beta", "2.0")),
)
"""A managed env as apply leaves it: a link to a generation with a receipt, every pin of the
lockfile that applies on Linux installed (pywin32 is for Windows only)."""

MANAGED = Expectation(python="3.11", lock=LOCK, managed=True)
ADOPTED = Expectation(python=None, lock=None, managed=False)


def facts(**changes: object) -> EnvFacts:
    return dataclasses.replace(HEALTHY, **changes)  # type: ignore[arg-type]


def probe(version: str = "3.11.9", failures: tuple[tuple[str, str], ...] = ()) -> ProbeResult:
    return ProbeResult(version=version, marker_env=LINUX, import_failures=failures)


def bad_file(path: str, dist: str | None = "alpha", detail: str = "") -> IntegrityFinding:
    return IntegrityFinding("hash_mismatch", dist, path, detail=detail)


def integrity(*findings: IntegrityFinding) -> VerifyReport:
    return VerifyReport(
        env_dir=LIVE,
        site_packages=(SITE,),
        findings=findings,
        allowed=(),
        dists=2,
        rows_checked=10,
        files_hashed=10,
        bytes_hashed=1000,
    )


@dataclass(frozen=True)
class Case:
    """``facts`` judged against ``expect`` (and ``checked``, the RECORD check) must give
    ``exists`` and exactly ``reasons``, in order; ``details``, when given, exactly."""

    facts: EnvFacts
    reasons: tuple[str, ...]
    expect: Expectation = MANAGED
    checked: VerifyReport | None = None
    exists: bool = True
    details: tuple[str, ...] | None = None


CASES: dict[str, Case] = {
    # -- healthy -----------------------------------------------------------------------
    "a managed env as apply left it": Case(HEALTHY, ()),
    "an adopted venv: no receipt, no lockfile, any Python": Case(
        facts(receipt=None, probe=probe("3.9.1"), installed=(dist("gamma", "1.0"),)),
        (),
        expect=ADOPTED,
    ),
    "a clean RECORD check": Case(HEALTHY, (), checked=integrity()),
    "a real folder rather than a link": Case(facts(kind="dir", link_target=None), ()),
    "a Python declared as X.Y.Z that matches": Case(
        HEALTHY, (), expect=dataclasses.replace(MANAGED, python="3.11.9")
    ),
    # -- no env at all -----------------------------------------------------------------
    "nothing at the env's place": Case(
        EnvFacts(env_key="work", path="/r/work", kind="absent"),
        ("missing",),
        exists=False,
        details=("",),
    ),
    "a link whose generation is gone": Case(
        facts(kind="broken_symlink", probe=None, real_path=None),
        ("missing",),
        exists=False,
        details=("the link points at .generations/work/g0001, which is gone",),
    ),
    # -- what sits there is no env of ours -----------------------------------------------
    "a file where the env should be (nothing else is judged)": Case(
        facts(kind="other", probe=None, receipt=None),
        ("not_a_venv",),
        details=("/r/work is a file, not an env folder",),
    ),
    "a link out of the root (never probed, its files never judged)": Case(
        facts(escapes_root=True, real_path="/elsewhere", probe=None, installed=()),
        ("outside_root",),
        checked=integrity(bad_file(f"{SITE}/alpha/__init__.py")),
        details=("the link resolves outside the root, to /elsewhere",),
    ),
    "a managed env reconcile did not build": Case(
        facts(receipt=None), ("not_created_by_reconcile",)
    ),
    # -- structure ---------------------------------------------------------------------
    "pyvenv.cfg missing": Case(
        facts(pyvenv_cfg=None, base_interpreter_present=None),
        ("pyvenv_cfg_missing",),
        details=("pyvenv.cfg is missing",),
    ),
    "pyvenv.cfg unreadable": Case(
        facts(
            pyvenv_cfg=None,
            pyvenv_cfg_problem="cannot be read (Permission denied)",
            base_interpreter_present=None,
        ),
        ("pyvenv_cfg_missing",),
        details=("pyvenv.cfg cannot be read (Permission denied)",),
    ),
    "the base interpreter gone": Case(
        facts(base_interpreter_present=False),
        ("base_interpreter_missing",),
        details=("the base interpreter folder /py/3.11/bin is gone",),
    ),
    "the base interpreter not to be looked at": Case(
        facts(
            base_interpreter_present=False,
            base_interpreter_problem="cannot be looked at (Permission denied)",
        ),
        ("base_interpreter_missing",),
        details=(
            "the base interpreter folder /py/3.11/bin cannot be looked at (Permission denied)",
        ),
    ),
    "activation scripts missing or empty": Case(
        facts(missing_activation=("bin/activate",), empty_activation=("bin/activate.fish",)),
        ("activation_missing", "activation_missing"),
        details=("bin/activate is missing", "bin/activate.fish is empty"),
    ),
    "an env moved after it was made": Case(
        facts(activation_venv_path="/old/place"),
        ("env_moved",),
        details=(f"made for /old/place, now at {LIVE}",),
    ),
    # -- the probe ---------------------------------------------------------------------
    "an interpreter that does not run, with the reason": Case(
        facts(probe=None, probe_error="exited 127"),
        ("interpreter_broken",),
        details=("exited 127",),
    ),
    "an interpreter that does not run, no reason known": Case(
        facts(probe=None), ("interpreter_broken",), details=("does not run",)
    ),
    "another Python minor than declared": Case(
        facts(probe=probe("3.12.1")),
        ("python_changed",),
        details=("Python 3.12.1 installed, 3.11 declared",),
    ),
    "another patch than an exact X.Y.Z declared": Case(
        HEALTHY,
        ("python_changed",),
        expect=dataclasses.replace(MANAGED, python="3.11.7"),
        details=("Python 3.11.9 installed, 3.11.7 declared",),
    ),
    "imports that fail": Case(
        facts(probe=probe(failures=(("alpha", "ImportError: boom"), ("beta", "SyntaxError")))),
        ("probe_failed", "probe_failed"),
        details=("import alpha: ImportError: boom", "import beta: SyntaxError"),
    ),
    # -- drift from the lockfile -------------------------------------------------------
    "an extra distribution": Case(
        facts(installed=(*HEALTHY.installed, dist("gamma", "1.0"))),
        ("packages_drifted",),
        details=("extra: gamma 1.0",),
    ),
    "a missing distribution": Case(
        facts(installed=(dist("alpha", "1.0"),)),
        ("packages_drifted",),
        details=("missing: beta==2.0",),
    ),
    "a wrong version": Case(
        facts(installed=(dist("alpha", "1.0"), dist("beta", "1.0"))),
        ("packages_drifted",),
        details=("wrong version: beta 1.0 (lockfile: 2.0)",),
    ),
    "two versions of one distribution": Case(
        facts(installed=(dist("alpha", "1.0"), dist("beta", "1.0"), dist("beta", "2.0"))),
        ("packages_drifted",),
        details=("wrong version: beta 1.0, 2.0 (lockfile: 2.0)",),
    ),
    "drift in name order, whatever the install order": Case(
        facts(installed=(dist("zeta", "1"), dist("beta", "2.0"), dist("alpha", "0.9"))),
        ("packages_drifted", "packages_drifted"),
        details=("wrong version: alpha 0.9 (lockfile: 1.0)", "extra: zeta 1"),
    ),
    "no drift judged without a probe (no markers to select the pins)": Case(
        facts(probe=None, installed=()), ("interpreter_broken",)
    ),
    "built from an older lockfile": Case(
        facts(receipt=(("generation", "g0001"), ("lockfile_sha256", "b" * 64))),
        ("lock_changed",),
        details=("built from an older lockfile",),
    ),
    "a receipt that names no lockfile": Case(facts(receipt=(("generation", "g0001"),)), ()),
    # -- the RECORD check ----------------------------------------------------------------
    "a corrupted file, named with its distribution": Case(
        HEALTHY,
        ("files_corrupted",),
        checked=integrity(bad_file(f"{SITE}/alpha/__init__.py")),
        details=(f"hash_mismatch {SITE}/alpha/__init__.py (alpha)",),
    ),
    "a finding about the env itself names no distribution": Case(
        HEALTHY,
        ("files_corrupted",),
        checked=integrity(bad_file(SITE, dist=None)),
        details=(f"hash_mismatch {SITE}",),
    ),
    "a file whose RECORD row is wrong upstream": Case(
        HEALTHY,
        ("files_corrupted",),
        checked=integrity(bad_file(f"{SITE}/alpha/data.txt", detail=f"x; {BASELINE_DETAIL}")),
        details=(
            f"hash_mismatch {SITE}/alpha/data.txt "
            "(alpha; upstream record_defect: checked against what reconcile installed)",
        ),
    ),
    "many corrupted files: the first ones, then a count": Case(
        HEALTHY,
        ("files_corrupted",) * (MAX_FILES_LISTED + 1),
        checked=integrity(*(bad_file(f"{SITE}/alpha/m{i:02}.py") for i in range(12))),
        details=(
            *(f"hash_mismatch {SITE}/alpha/m{i:02}.py (alpha)" for i in range(MAX_FILES_LISTED)),
            "and 2 more; see `reconcile verify`",
        ),
    ),
    # -- everything at once, in the order reports list it ----------------------------------
    "every kind of finding at once": Case(
        facts(
            receipt=None,
            pyvenv_cfg=None,
            base_interpreter_present=None,
            missing_activation=("bin/activate",),
            activation_venv_path="/old/place",
            probe=probe("3.12.1", failures=(("alpha", "ImportError: boom"),)),
            installed=(dist("alpha", "1.0"),),
        ),
        (
            "not_created_by_reconcile",
            "pyvenv_cfg_missing",
            "activation_missing",
            "env_moved",
            "python_changed",
            "probe_failed",
            "packages_drifted",
            "files_corrupted",
        ),
        checked=integrity(bad_file(f"{SITE}/alpha/__init__.py")),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_assess_judges_the_facts_of_one_env(case: Case) -> None:
    health = assess(case.facts, case.expect, case.checked)

    assert health.env_key == "work"
    assert health.exists is case.exists
    assert [f.reason for f in health.findings] == list(case.reasons)
    assert health.healthy is (case.exists and not case.reasons)
    if case.details is not None:
        assert [f.detail for f in health.findings] == list(case.details)


def test_the_table_covers_every_reason_assess_gives() -> None:
    """A new finding reason in core/health.py needs a row here."""
    seen = {reason for case in CASES.values() for reason in case.reasons}
    assert seen == {
        "missing",
        "not_a_venv",
        "outside_root",
        "not_created_by_reconcile",
        "pyvenv_cfg_missing",
        "base_interpreter_missing",
        "activation_missing",
        "env_moved",
        "interpreter_broken",
        "python_changed",
        "probe_failed",
        "packages_drifted",
        "lock_changed",
        "files_corrupted",
    }


@pytest.mark.parametrize(
    ("declared", "actual", "matches"),
    [
        ("3.11", "3.11.9", True),
        ("3.11", "3.11.0rc1", True),
        ("3.11", "3.12.0", False),
        ("3.1", "3.11.9", False),
        ("3.11.9", "3.11.9", True),
        ("3.11.7", "3.11.9", False),
        ("3", "3.11.9", True),
    ],
)
def test_a_declared_python_matches_every_release_it_names(
    declared: str, actual: str, matches: bool
) -> None:
    assert python_matches(declared, actual) is matches


@pytest.mark.parametrize(
    ("venv", "interpreter"), [(POSIX_VENV, "bin/python"), (WINDOWS_VENV, "Scripts/python.exe")]
)
def test_structure_names_the_interpreter_of_the_platform_and_judges_the_setup(
    venv: VenvLayout, interpreter: str
) -> None:
    broken = facts(interpreter_problem="is missing", missing_activation=("bin/activate",))

    found = structure(broken, venv=venv)

    assert [(f.reason, f.detail, f.path) for f in found] == [
        ("interpreter_broken", "the interpreter is missing", interpreter),
        ("activation_missing", "bin/activate is missing", "bin/activate"),
    ]
    assert structure(HEALTHY, venv=venv) == []
