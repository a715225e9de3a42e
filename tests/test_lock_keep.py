"""End to end: `reconcile lock` keeps the pins of the lockfiles it wrote (issue 17).

A local wheelhouse starts with one version of each tiny package; the tests add newer ones
between locks, so that a kept pin (the old version although a newer one is there) and a moved
one are both observable. Everything runs the real ``reconcile`` command and the real uv,
offline, except the test marked ``registry``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.runner import uv_bin
from reconciler.spec.lockfile import parse_lockfile
from tests.helpers import Project, lockfile, replace_in_manifest
from tests.wheels import make_wheel, wheel_sha256

NOTHING_CHANGED = "No lockfile was changed."

SMALL = """
[envs.small]
python = "3.11"
requirements = ["alpha==1.0"]
"""

TWO_ENVS = """
[envs.small]
python = "3.11"
requirements = ["alpha"]

[envs.other]
python = "3.11"
requirements = ["gamma"]
"""


@pytest.fixture
def wheelhouse(tmp_path: Path) -> Path:
    """One version of each package: alpha 1.0 (needs beta>=1.0), beta 1.0, gamma 1.0."""
    folder = tmp_path / "wheels"
    make_wheel(folder, "alpha", "1.0", requires=["beta>=1.0"])
    make_wheel(folder, "beta", "1.0")
    make_wheel(folder, "gamma", "1.0")
    return folder


def newer_versions(project: Project) -> None:
    """What a registry offers a while later: alpha 1.1 and 2.0, beta 1.1, gamma 1.5."""
    make_wheel(project.wheels, "alpha", "1.1", requires=["beta>=1.0"])
    make_wheel(project.wheels, "alpha", "2.0", requires=["beta>=1.0"])
    make_wheel(project.wheels, "beta", "1.1")
    make_wheel(project.wheels, "gamma", "1.5")


def versions(path: Path) -> dict[str, str]:
    """name -> version of every pin of the lockfile at ``path``."""
    locked = parse_lockfile(path.read_text(encoding="utf-8"), path.name)
    return {p.name: p.version for p in locked.packages}


def blocks(path: Path) -> dict[str, str]:
    """name -> the lines of its pin as written (the pin, its --hash and ``# via`` lines)."""
    body = path.read_text(encoding="utf-8").split("\n", 2)[2]
    found = re.findall(r"^(([A-Za-z0-9._-]+)==[^\n]*\n(?:[ \t]+[^\n]*\n)*)", body, re.MULTILINE)
    return {name: block for block, name in found}


def hashes(path: Path) -> dict[str, tuple[str, ...]]:
    locked = parse_lockfile(path.read_text(encoding="utf-8"), path.name)
    return {p.name: p.hashes for p in locked.packages}


def sha(project: Project, name: str, version: str) -> str:
    return "sha256:" + wheel_sha256(project.wheels / f"{name}-{version}-py3-none-any.whl")


def locked_ok(project: Project, *args: str) -> list[str]:
    """Run ``reconcile lock ARGS``; it must succeed without a warning. Its stdout lines."""
    done = project.cli("lock", *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "", done.stderr
    return done.stdout.splitlines()


def snapshot(project: Project) -> dict[str, tuple[bytes, int]]:
    """Every lockfile's bytes and inode: a rewrite with the same bytes shows as a new inode."""
    folder = project.folder / "lockfiles"
    return {p.name: (p.read_bytes(), p.stat().st_ino) for p in sorted(folder.iterdir())}


# --- pins are kept -----------------------------------------------------------------------


def test_relaxing_a_pin_keeps_every_pin_and_a_second_lock_changes_nothing(
    project: Project,
) -> None:
    """``alpha==1.0`` relaxed to ``alpha`` while alpha 2.0 and beta 1.1 are on offer: alpha
    1.0 and beta 1.0 are kept with their hashes, the output says no pin changed, and a
    second lock prints "No lockfile was changed." and leaves the file as it was (same
    bytes, same inode)."""
    project.write(SMALL)
    assert locked_ok(project) == ["small: lockfiles/small.txt written (new, 2 packages)"]
    path = lockfile(project, "small")
    before = blocks(path)
    assert versions(path) == {"alpha": "1.0", "beta": "1.0"}
    newer_versions(project)
    replace_in_manifest(project, '["alpha==1.0"]', '["alpha"]')

    assert locked_ok(project) == [
        "small: lockfiles/small.txt written",
        "  no pin changed (its header or comments did)",
    ]
    assert blocks(path) == before
    written = snapshot(project)

    assert locked_ok(project) == ["small: lockfiles/small.txt unchanged", NOTHING_CHANGED]
    assert snapshot(project) == written
    assert project.cli("lock", "--check").returncode == 0


def test_adding_an_env_changes_no_other_lockfile(project: Project) -> None:
    """A new env is locked afresh (the newest versions); the lockfiles of the envs that were
    there are not rewritten, although newer versions of their pins are on offer."""
    project.write(TWO_ENVS)
    locked_ok(project)
    before = snapshot(project)
    newer_versions(project)
    project.manifest.write_text(
        project.manifest.read_text(encoding="utf-8")
        + '\n[envs.third]\npython = "3.11"\nrequirements = ["alpha"]\n',
        encoding="utf-8",
    )

    assert locked_ok(project) == [
        "other: lockfiles/other.txt unchanged",
        "small: lockfiles/small.txt unchanged",
        "third: lockfiles/third.txt written (new, 2 packages)",
    ]
    after = snapshot(project)
    assert {name: after[name] for name in before} == before
    assert versions(lockfile(project, "third")) == {"alpha": "2.0", "beta": "1.1"}


def test_adding_a_requirement_adds_only_what_it_needs(project: Project) -> None:
    """A requirement added to one env adds its package and the dependencies it brings: each
    pin that was there is kept as written (beta stays 1.0, which kappa accepts, although
    1.1 is on offer),
    and the other env's lockfile is not rewritten."""
    project.write(TWO_ENVS)
    locked_ok(project)
    small = lockfile(project, "small")
    before_blocks = blocks(small)
    other_before = snapshot(project)["other.txt"]
    newer_versions(project)
    make_wheel(project.wheels, "kappa", "1.0", requires=["beta>=1.0", "lam"])
    make_wheel(project.wheels, "lam", "1.0")
    replace_in_manifest(project, '["alpha"]', '["alpha", "kappa"]')

    assert locked_ok(project) == [
        "other: lockfiles/other.txt unchanged",
        "small: lockfiles/small.txt written",
        "  Added kappa v1.0",
        "  Added lam v1.0",
    ]
    assert versions(small) == {"alpha": "1.0", "beta": "1.0", "kappa": "1.0", "lam": "1.0"}
    after_blocks = blocks(small)
    assert after_blocks["alpha"] == before_blocks["alpha"]
    assert after_blocks["beta"].split("    # via")[0] == before_blocks["beta"].split("    # via")[0]
    assert snapshot(project)["other.txt"] == other_before


# --- upgrades ----------------------------------------------------------------------------


def test_upgrade_package_moves_only_the_named_package(project: Project) -> None:
    """``--upgrade-package beta`` moves beta to 1.1 and keeps alpha 1.0 although alpha 2.0
    is on offer; the other env, which does not pin beta, is not rewritten."""
    project.write(TWO_ENVS)
    locked_ok(project)
    other_before = snapshot(project)["other.txt"]
    newer_versions(project)

    assert locked_ok(project, "--upgrade-package", "beta") == [
        "other: lockfiles/other.txt unchanged",
        "small: lockfiles/small.txt written",
        "  Updated beta v1.0 -> v1.1",
    ]
    small = lockfile(project, "small")
    assert versions(small) == {"alpha": "1.0", "beta": "1.1"}
    assert hashes(small)["beta"] == (sha(project, "beta", "1.1"),)
    assert snapshot(project)["other.txt"] == other_before


def test_upgrade_package_takes_several_names(project: Project) -> None:
    """``-P Alpha -P gamma`` moves alpha (to 2.0) and gamma (to 1.5); beta, which alpha 2.0
    accepts at 1.0, stays 1.0; a name is matched whatever its case."""
    project.write(TWO_ENVS)
    locked_ok(project)
    newer_versions(project)

    assert locked_ok(project, "-P", "Alpha", "-P", "gamma") == [
        "other: lockfiles/other.txt written",
        "  Updated gamma v1.0 -> v1.5",
        "small: lockfiles/small.txt written",
        "  Updated alpha v1.0 -> v2.0",
    ]
    assert versions(lockfile(project, "small")) == {"alpha": "2.0", "beta": "1.0"}
    assert versions(lockfile(project, "other")) == {"gamma": "1.5"}


def test_upgrade_package_that_no_lockfile_pins_is_a_warning(project: Project) -> None:
    """A name no lockfile pins (most likely a typo) is said on stderr; the lock succeeds and
    keeps every pin."""
    project.write(TWO_ENVS)
    locked_ok(project)
    before = snapshot(project)
    newer_versions(project)

    done = project.cli("lock", "-P", "betta")

    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "warning: --upgrade-package betta: no lockfile of the envs locked pins it.\n"
    )
    assert done.stdout.splitlines()[-1] == NOTHING_CHANGED
    assert snapshot(project) == before


@pytest.mark.parametrize("name", ["=bad name", "beta==1.1", "-x", "beta;", "alpha_"])
def test_upgrade_package_refuses_what_is_no_package_name_before_uv_runs(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A name that is no package name: exit 1, one sentence naming it, nothing written, and
    uv never ran (the fresh uv cache it would create is not there)."""
    project.write(SMALL)
    cache = tmp_path / "fresh-uv-cache"
    monkeypatch.setenv("UV_CACHE_DIR", str(cache))

    done = project.cli("lock", f"--upgrade-package={name}")

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == (
        f"error: --upgrade-package {name!r} is not a package name (letters, digits, '.', '_' "
        "and '-', starting and ending with a letter or digit).\n"
    )
    assert done.stdout == ""
    assert not (project.folder / "lockfiles").exists()
    assert not cache.exists()


def test_upgrade_moves_every_pin(project: Project) -> None:
    """``--upgrade`` (and ``-U``) resolve afresh: every package moves to its newest
    version; a second ``-U`` with nothing newer changes nothing."""
    project.write(TWO_ENVS)
    locked_ok(project)
    newer_versions(project)

    assert locked_ok(project, "--upgrade") == [
        "other: lockfiles/other.txt written",
        "  Updated gamma v1.0 -> v1.5",
        "small: lockfiles/small.txt written",
        "  Updated alpha v1.0 -> v2.0",
        "  Updated beta v1.0 -> v1.1",
    ]
    assert versions(lockfile(project, "small")) == {"alpha": "2.0", "beta": "1.1"}
    written = snapshot(project)
    assert locked_ok(project, "-U")[-1] == NOTHING_CHANGED
    assert snapshot(project) == written


@pytest.mark.parametrize(
    "extra", [("--upgrade",), ("-U",), ("--upgrade-package", "beta"), ("-P", "beta")]
)
def test_check_refuses_an_upgrade(project: Project, extra: tuple[str, ...]) -> None:
    """``lock --check`` writes nothing, so it takes no upgrade: a usage error (exit 1, one
    sentence) before anything is read or resolved."""
    project.write(SMALL)
    done = project.cli("lock", "--check", *extra)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "--check" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (project.folder / "lockfiles").exists()


# --- what is not kept --------------------------------------------------------------------


def test_a_lockfile_edited_by_hand_is_resolved_afresh(project: Project) -> None:
    """beta moved back by hand from 1.1 to 1.0 with the right hash of that wheel (uv would
    install it without a word): `lock` keeps none of its pins, says so, and resolves beta
    1.1 again; the lockfile is then fresh."""
    newer_versions(project)
    project.write(TWO_ENVS.replace('["alpha"]', '["alpha<2"]'))
    locked_ok(project)
    path = lockfile(project, "small")
    fresh = path.read_bytes()
    assert versions(path) == {"alpha": "1.1", "beta": "1.1"}
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("beta==1.1 ", "beta==1.0 ").replace(
            sha(project, "beta", "1.1"), sha(project, "beta", "1.0")
        ),
        encoding="utf-8",
    )
    assert project.cli("lock", "--check").returncode == 2

    assert locked_ok(project) == [
        "other: lockfiles/other.txt unchanged",
        "small: lockfiles/small.txt written",
        "  its pins were edited by hand, so none was kept",
        "  Updated beta v1.0 -> v1.1",
    ]
    assert versions(path) == {"alpha": "1.1", "beta": "1.1"}
    assert sha(project, "beta", "1.0") not in path.read_text(encoding="utf-8")
    assert path.read_bytes() == fresh
    check = project.cli("lock", "--check")
    assert check.returncode == 0, check.stderr


def test_a_header_stripped_of_its_body_digest_launders_nothing(project: Project) -> None:
    """The hand edit of the test above, with ``body=`` taken out of the header too: the
    check still calls it edited, and `lock` keeps none of its pins either (nothing vouches
    for them), so the documented recovery cannot seal the edit."""
    newer_versions(project)
    project.write(TWO_ENVS.replace('["alpha"]', '["alpha<2"]'))
    locked_ok(project)
    path = lockfile(project, "small")
    fresh = path.read_bytes()
    text = path.read_text(encoding="utf-8")
    edited = text.replace("beta==1.1 ", "beta==1.0 ").replace(
        sha(project, "beta", "1.1"), sha(project, "beta", "1.0")
    )
    path.write_text(re.sub(r"body=[0-9a-f]+ ", "", edited), encoding="utf-8")
    assert project.cli("lock", "--check").returncode == 2

    lines = locked_ok(project)
    assert "  it records no digest of its body to vouch for its pins, so none was kept" in lines
    assert versions(path) == {"alpha": "1.1", "beta": "1.1"}
    assert path.read_bytes() == fresh


def test_a_lockfile_that_no_longer_parses_is_named_so_not_new(project: Project) -> None:
    """A pin edited into a range (``beta>=1.0``) is no lockfile line: `lock` rewrites the file
    and says none of its pins was kept, never that the lockfile is new."""
    project.write(SMALL)
    locked_ok(project)
    path = lockfile(project, "small")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("beta==1.0 ", "beta>=1.0 "), encoding="utf-8")

    assert locked_ok(project) == [
        "small: lockfiles/small.txt written (2 packages)",
        "  it does not read as a lockfile, so none of its pins was kept",
    ]
    assert versions(path) == {"alpha": "1.0", "beta": "1.0"}


def test_new_sources_give_new_hashes_for_kept_versions(project: Project) -> None:
    """Another wheelhouse holds other builds of the same versions (other bytes, other
    sha256): the versions are kept, and their hashes are read from the new source, never
    kept from the old lockfile."""
    project.write(SMALL)
    locked_ok(project)
    path = lockfile(project, "small")
    mirror = project.folder / "mirror"
    make_wheel(mirror, "alpha", "1.0", requires=["beta>=1.0"], files={"alpha/rebuilt.py": "1\n"})
    make_wheel(mirror, "beta", "1.0", files={"beta/rebuilt.py": "1\n"})
    old = hashes(path)
    replace_in_manifest(project, 'find_links = ["wheels"]', 'find_links = ["mirror"]')

    assert locked_ok(project) == [
        "small: lockfiles/small.txt written",
        "  Changed alpha v1.0 (hashes)",
        "  Changed beta v1.0 (hashes)",
    ]
    new = hashes(path)
    assert versions(path) == {"alpha": "1.0", "beta": "1.0"}
    for name in ("alpha", "beta"):
        rebuilt = "sha256:" + wheel_sha256(mirror / f"{name}-1.0-py3-none-any.whl")
        assert new[name] == (rebuilt,)
        assert old[name] != new[name]
    check = project.cli("lock", "--check")
    assert check.returncode == 0, check.stderr


def test_unchanged_sources_keep_a_kept_pins_hash_lines_byte_identical(project: Project) -> None:
    """With the same sources, a kept pin keeps its ``--hash`` lines exactly as written: they
    come from the lockfile, not from the wheelhouse, even when beta 1.0 was rebuilt there in
    place (other bytes); ``--upgrade-package beta`` reads its hash afresh."""
    project.write(SMALL)
    locked_ok(project)
    path = lockfile(project, "small")
    before = blocks(path)
    old_beta = sha(project, "beta", "1.0")
    make_wheel(project.wheels, "gamma", "1.5")
    make_wheel(project.wheels, "beta", "1.0", files={"beta/rebuilt.py": "1\n"})
    assert sha(project, "beta", "1.0") != old_beta
    replace_in_manifest(project, '["alpha==1.0"]', '["alpha==1.0", "gamma"]')

    assert locked_ok(project) == ["small: lockfiles/small.txt written", "  Added gamma v1.5"]
    after = blocks(path)
    assert after["alpha"] == before["alpha"]
    assert after["beta"] == before["beta"]
    assert hashes(path)["beta"] == (old_beta,)

    assert locked_ok(project, "-P", "beta") == [
        "small: lockfiles/small.txt written",
        "  Changed beta v1.0 (hashes)",
    ]
    assert hashes(path)["beta"] == (sha(project, "beta", "1.0"),)
    assert blocks(path)["alpha"] == before["alpha"]


# --- the env's Python version alone ------------------------------------------------------


@pytest.fixture(params=["unset", "1"])
def uv_no_config(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """UV_NO_CONFIG in the caller's environment (a CI job may set it; this suite's conftest
    does): the lockfile must not depend on it."""
    if request.param == "unset":
        monkeypatch.delenv("UV_NO_CONFIG", raising=False)
    else:
        monkeypatch.setenv("UV_NO_CONFIG", request.param)
    return str(request.param)


def python_only_wheels(project: Project) -> None:
    """delta 1.0 (with a Windows-only dependency) and 2.0 (Python >= 3.12); eps (Python <
    3.12); zeta, which needs eta on Python >= 3.12, and eta is nowhere (a mirror made for
    one Python)."""
    make_wheel(project.wheels, "delta", "1.0", requires=['winonly; sys_platform == "win32"'])
    make_wheel(project.wheels, "delta", "2.0", requires_python=">=3.12")
    make_wheel(project.wheels, "winonly", "1.0")
    make_wheel(project.wheels, "eps", "1.0", requires_python="<3.12")
    make_wheel(project.wheels, "zeta", "1.0", requires=['eta; python_version >= "3.12"'])


def test_the_env_python_alone_is_resolved(project: Project, uv_no_config: str) -> None:
    """python = "3.11" resolves for 3.11.* alone: delta (2.0 needs Python 3.12) locks at
    1.0 with no Python marker on any pin, eps (needs Python < 3.12) locks, and the
    Windows-only dependency keeps its platform marker."""
    python_only_wheels(project)
    project.write(
        """
        [envs.small]
        python = "3.11"
        requirements = ["delta", "eps"]
        """
    )
    locked_ok(project)
    path = lockfile(project, "small")
    text = path.read_text(encoding="utf-8")
    locked = parse_lockfile(text, "small.txt")
    assert sorted((p.name, p.version, p.marker) for p in locked.packages) == [
        ("delta", "1.0", None),
        ("eps", "1.0", None),
        ("winonly", "1.0", 'sys_platform == "win32"'),
    ]
    assert "python_" not in text
    assert re.search(r"^winonly==1\.0 ; sys_platform == 'win32' \\$", text, re.MULTILINE), text
    assert locked_ok(project)[-1] == NOTHING_CHANGED


def test_what_a_universal_resolution_for_later_pythons_misses_does_not_matter(
    project: Project, uv_no_config: str
) -> None:
    """zeta needs eta on Python >= 3.12, and the wheelhouse has no eta: uv's universal
    resolution for every Python from 3.11 on (what `lock` did before) fails, saying so;
    `lock` resolves for 3.11 alone and pins zeta without a marker."""
    python_only_wheels(project)
    universal = subprocess.run(
        [
            uv_bin(),
            "pip",
            "compile",
            "-",
            "--universal",
            "--python-version",
            "3.11",
            "--no-header",
            "--quiet",
            "--no-index",
            "--find-links",
            str(project.wheels),
        ],
        input="zeta\n",
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=300,
    )
    assert universal.returncode == 1, universal.stdout
    assert "the resolution failed for other Python versions" in universal.stderr
    project.write(
        """
        [envs.small]
        python = "3.11"
        requirements = ["zeta"]
        """
    )
    locked_ok(project)
    path = lockfile(project, "small")
    assert versions(path) == {"zeta": "1.0"}
    assert "python_" not in path.read_text(encoding="utf-8")


def test_platforms_a_universal_lock_does_not_serve_are_not_asked_for(project: Project) -> None:
    """A universal lock serves Linux, macOS and Windows on x86_64 and ARM: a dependency only
    WebAssembly or s390x would need, missing from the wheelhouse, fails no lock (limiting
    uv to the env's Python alone made it ask for every platform), and the pins carry no
    marker listing the six hosts."""
    make_wheel(
        project.wheels,
        "app",
        "1.0",
        requires=[
            "pyodide-shim ; sys_platform == 'emscripten'",
            "zseries ; platform_machine == 's390x'",
            "winonly ; sys_platform == 'win32'",
        ],
    )
    make_wheel(project.wheels, "winonly", "1.0")
    project.write(
        """
        [envs.small]
        python = "3.11"
        requirements = ["app"]
        """
    )
    locked_ok(project)
    path = lockfile(project, "small")
    locked = parse_lockfile(path.read_text(encoding="utf-8"), "small.txt")
    assert sorted((p.name, p.marker) for p in locked.packages) == [
        ("app", None),
        ("winonly", 'sys_platform == "win32"'),
    ]


def test_a_python_bump_keeps_the_pins_that_still_resolve(
    project: Project, uv_no_config: str
) -> None:
    """python 3.11 -> 3.12: delta 1.0 runs on 3.12 too, so it is kept (no Python marker
    appears); ``-P delta`` then moves it to 2.0, which drops the Windows-only dependency."""
    python_only_wheels(project)
    project.write(
        """
        [envs.small]
        python = "3.11"
        requirements = ["delta"]
        """
    )
    locked_ok(project)
    path = lockfile(project, "small")
    replace_in_manifest(project, 'python = "3.11"', 'python = "3.12"')
    assert locked_ok(project) == [
        "small: lockfiles/small.txt written",
        "  no pin changed (its header or comments did)",
    ]
    assert versions(path) == {"delta": "1.0", "winonly": "1.0"}
    assert "python_" not in path.read_text(encoding="utf-8")
    assert locked_ok(project, "-P", "delta") == [
        "small: lockfiles/small.txt written",
        "  Updated delta v1.0 -> v2.0",
        "  Removed winonly v1.0",
    ]


# --- the manifest's folder ---------------------------------------------------------------


def test_a_direct_reference_is_refused_in_one_sentence_before_uv_runs(
    project: Project, tmp_path: Path
) -> None:
    """``alpha @ file:wheels/...`` (the manifest allows it inside its folder) cannot become a
    ``name==version`` pin with hashes: lock refuses it naming the env, the requirement and
    what to do, writes nothing, and the other env's lockfile is not written either."""
    project.write(
        """
        [envs.small]
        python = "3.11"
        requirements = ["alpha @ file:wheels/alpha-1.0-py3-none-any.whl"]

        [envs.other]
        python = "3.11"
        requirements = ["beta"]
        """
    )
    done = project.cli("lock")
    assert done.returncode == 1
    assert (
        "cannot lock small: requirement alpha @ file:wheels/alpha-1.0-py3-none-any.whl is a "
        "direct reference, which a lockfile cannot pin with hashes; put the wheel in a "
        "find_links folder inside the manifest's folder and require alpha==<version>."
    ) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project.folder / "lockfiles").exists()


# --- the registry ------------------------------------------------------------------------


@pytest.mark.registry
@pytest.mark.slow
def test_a_real_stack_relocks_unchanged_and_a_new_requirement_only_adds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers 4.44.0 for Python 3.11 from PyPI: a second lock changes nothing (same
    bytes); adding rich only adds rich and its dependencies (no pin moves although newer
    versions may be out)."""
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.delenv("UV_NO_CONFIG", raising=False)  # as a user runs it (see uv_no_config)
    folder = tmp_path / "stack"
    folder.mkdir()
    manifest = folder / "envs.toml"
    manifest.write_text(
        textwrap.dedent(
            """\
            [envs.ml]
            python = "3.11"
            requirements = ["transformers==4.44.0"]
            """
        ),
        encoding="utf-8",
    )

    def lock() -> list[str]:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", "lock"],
            capture_output=True,
            text=True,
            cwd=folder,
            check=False,
            timeout=600,
            env={**os.environ, "UV_HTTP_TIMEOUT": "120"},
        )
        print(f"lock: {time.monotonic() - started:.1f} s")
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    first = lock()
    assert first[0].startswith("ml: lockfiles/ml.txt written (new, "), first
    path = folder / "lockfiles" / "ml.txt"
    before = path.read_bytes()
    inode = path.stat().st_ino
    pinned = versions(path)
    assert pinned["transformers"] == "4.44.0"
    assert "python_" not in path.read_text(encoding="utf-8")  # resolved for 3.11 alone

    assert lock() == ["ml: lockfiles/ml.txt unchanged", NOTHING_CHANGED]
    assert path.read_bytes() == before
    assert path.stat().st_ino == inode

    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(text.replace('"transformers==4.44.0"', '"transformers==4.44.0", "rich"'))
    added = lock()
    assert added[0] == "ml: lockfiles/ml.txt written", added
    changes = [line.strip() for line in added[1:]]
    assert changes and all(line.startswith("Added ") for line in changes), added
    assert any(line.startswith("Added rich v") for line in changes), added
    after = versions(path)
    assert {name: after[name] for name in pinned} == pinned
    assert "rich" in after
    assert sorted(set(after) - set(pinned)) == sorted(line.split()[1] for line in changes), added
    shutil.rmtree(tmp_path / "uv-cache", ignore_errors=True)
