"""`reconcile verify PATH`: any venv folder, checked without a manifest, with the same checks
and output as an env key; and the hash cache of envs that have no root folder, kept in the
user's cache folder (issue 16). The command runs for real in a temp folder, on venvs made by
`python -m venv` and the real uv from tiny local wheels.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.observe.hashcache import cache_name
from reconciler.platform import POSIX_VENV
from tests.apply_helpers import SERVING, setup
from tests.helpers import Project, require_python, settle, uv

pytestmark = pytest.mark.slow  # makes venvs and runs reconcile


def make_venv(env: Path, wheels: Path) -> Path:
    """A venv as a person makes one: `python -m venv` with a pyenv interpreter, then alpha
    (which needs beta) installed with uv, its files copied (not linked to uv's cache)."""
    python = require_python("3.11")
    made = subprocess.run(
        [str(python), "-m", "venv", "--without-pip", str(env)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    uv(
        "pip",
        "install",
        "--quiet",
        "--no-index",
        "--find-links",
        str(wheels),
        "--link-mode",
        "copy",
        "--python",
        str(POSIX_VENV.interpreter(env)),
        "alpha",
    )
    return env


def module(env: Path, name: str) -> Path:
    return next(env.glob(f"lib/python*/site-packages/{name}/__init__.py"))


def reconcile(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The command in ``folder``; ``env`` is added to the environment (a value of ``""``
    removes the variable)."""
    environ = {**os.environ, **env}
    for name in [k for k, v in env.items() if not v]:
        del environ[name]
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        env=environ,
        check=False,
        timeout=300,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


def as_json(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode in (0, 2), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@pytest.fixture
def folder(tmp_path: Path, wheelhouse: Path) -> Path:
    """A folder with no envs.toml, holding ``.venv`` (alpha and beta installed)."""
    work = tmp_path / "work"
    work.mkdir()
    make_venv(work / ".venv", wheelhouse)
    return work


def user_cache() -> Path:
    return Path(os.environ["RECONCILE_CACHE_DIR"])  # per test (tests/conftest.py)


# -- the check ------------------------------------------------------------------------------


def test_a_clean_venv_named_by_its_path_verifies_ok_without_any_manifest(folder: Path) -> None:
    done = reconcile(folder, "verify", ".venv")

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(".venv: OK, 2 distributions ("), done.stdout
    assert done.stderr == ""
    assert sorted(p.name for p in folder.iterdir()) == [".venv"]  # no envs.toml, no root


def test_a_zero_byte_file_is_a_zero_byte_finding_and_exit_2(folder: Path) -> None:
    beta = module(folder / ".venv", "beta")
    size = beta.stat().st_size
    beta.write_bytes(b"")

    done = reconcile(folder, "verify", "./.venv")

    assert done.returncode == 2
    finding, blank, summary = done.stdout.splitlines()
    assert finding.split() == [
        "zero_byte",
        "./.venv",
        "beta",
        beta.relative_to(folder / ".venv").as_posix(),
        "size",
        "0,",
        "RECORD",
        "says",
        f"{size:,}",
    ]
    assert blank == ""
    assert summary.startswith("./.venv: 1 problem in 1 of 2 distributions: 1 zero_byte (")


def test_a_removed_interpreter_is_interpreter_broken_before_any_file_finding(
    folder: Path,
) -> None:
    env = folder / ".venv"
    module(env, "alpha").write_bytes(b"")
    POSIX_VENV.interpreter(env).unlink()

    done = reconcile(folder, "verify", ".venv")

    assert done.returncode == 2
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["interpreter_broken", ".venv", "-", "bin/python"]
    assert lines[1].split()[:3] == ["zero_byte", ".venv", "alpha"]
    assert ".venv: env broken (1 interpreter_broken); files: 1 problem" in done.stdout


def test_a_vanished_venv_is_env_missing_and_exit_2(folder: Path) -> None:
    shutil.rmtree(folder / ".venv")

    text = reconcile(folder, "verify", ".venv")
    doc = as_json(reconcile(folder, "verify", ".venv", "--format", "json"))

    assert text.returncode == 2
    assert text.stdout.splitlines()[0].split()[:4] == ["env_missing", ".venv", "-", "."]
    assert ".venv: env missing: .venv does not exist;" in text.stdout
    (env,) = doc["envs"]
    assert (env["env"], env["kind"], env["status"]) == (".venv", "folder", "problems")
    assert [f["category"] for f in env["findings"]] == ["env_missing"]
    assert doc["summary"]["env_findings"] == 1


@pytest.mark.parametrize(
    ("make", "argument", "says"),
    [
        (lambda f: (f / "notes.txt").write_text("x"), "./notes.txt", "is a file, not a venv"),
        (lambda f: (f / "empty").mkdir(), "./empty", "is not a venv (it holds no pyvenv.cfg"),
        (lambda f: None, ".", "did you mean .venv?"),
    ],
    ids=["a file", "an empty folder", "the folder holding the venv"],
)
def test_a_path_that_never_was_a_venv_is_one_sentence_and_exit_1(
    folder: Path, make: Any, argument: str, says: str
) -> None:
    make(folder)

    done = reconcile(folder, "verify", argument, ".venv")

    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: verify: ")
    assert says in line


def test_the_json_of_a_path_is_the_document_of_an_env(folder: Path) -> None:
    module(folder / ".venv", "alpha").unlink()

    doc = as_json(reconcile(folder, "verify", ".venv", "--format", "json"))

    assert doc["format_version"] == "1"
    (env,) = doc["envs"]
    assert (env["env"], env["kind"], env["path"], env["status"]) == (
        ".venv",
        "folder",
        ".venv",
        "problems",
    )
    assert env["counts"] == {"missing": 1}
    (finding,) = env["findings"]
    assert (finding["category"], finding["dist"]) == ("missing", "alpha")
    assert env["distributions"] == 2
    assert doc["summary"] == {
        "envs": 1,
        "ok": 0,
        "with_problems": 1,
        "unchecked": 0,
        "findings": 1,
        "env_findings": 0,
    }


def test_a_name_without_a_slash_is_an_env_key_and_the_error_says_how_to_name_the_folder(
    folder: Path,
) -> None:
    (folder / ".venv").rename(folder / "venv")

    done = reconcile(folder, "verify", "venv")

    assert done.returncode == 1
    assert done.stderr.startswith("error: no manifest at envs.toml")
    assert done.stderr.rstrip().endswith("to check the folder venv instead, write ./venv.")
    checked = reconcile(folder, "verify", "./venv")  # the folder: renamed, so env_moved
    assert checked.returncode == 2, checked.stdout
    assert checked.stdout.split()[:4] == ["env_moved", "./venv", "-", "."], checked.stdout


def test_an_env_key_and_a_path_are_checked_together_and_a_broken_manifest_is_never_read_for_a_path(
    folder: Path, wheelhouse: Path
) -> None:
    make_venv(folder / "legacy", wheelhouse)
    module(folder / "legacy", "beta").write_bytes(b"")
    manifest = folder / "envs.toml"
    manifest.write_text('[envs.old]\nadopt = "legacy"\n', encoding="utf-8")

    both = as_json(reconcile(folder, "verify", "./.venv", "old", "--format", "json"))
    manifest.write_text("[envs.old\n", encoding="utf-8")  # not even TOML
    path_alone = reconcile(folder, "verify", ".venv")

    assert [(e["env"], e["kind"], e["status"]) for e in both["envs"]] == [
        ("old", "adopted", "problems"),
        ("./.venv", "folder", "ok"),
    ]
    assert path_alone.returncode == 0, path_alone.stderr
    assert not (folder / ".envs").exists()


def test_a_managed_env_named_by_its_path_is_checked_as_by_its_key(project: Project) -> None:
    setup(project, SERVING)
    settle()
    by_key = as_json(project.cli("verify", "serving", "--format", "json"))

    by_path = as_json(project.cli("verify", ".envs/serving", "--format", "json"))

    (key_env,), (path_env,) = by_key["envs"], by_path["envs"]
    assert (path_env["env"], path_env["kind"], path_env["status"]) == (
        ".envs/serving",
        "folder",
        "ok",
    )
    assert path_env["files_checked"] == key_env["files_checked"] > 0
    assert path_env["files_hashed"] == 0  # the root's hash cache, shared with `verify serving`
    assert not list(user_cache().glob("hashes/*"))


# -- the hash cache of envs with no root ----------------------------------------------------


def test_the_second_verify_of_a_path_trusts_the_hash_cache_kept_in_the_users_cache(
    folder: Path,
) -> None:
    settle()
    first = as_json(reconcile(folder, "verify", ".venv", "--format", "json"))["envs"][0]
    second = as_json(reconcile(folder, "verify", ".venv", "--format", "json"))["envs"][0]

    assert first["files_hashed"] > 0
    assert (second["files_hashed"], second["files_cached"]) == (0, first["files_hashed"])
    real = os.path.realpath(folder / ".venv")
    assert (user_cache() / "hashes" / cache_name(real)).is_file()
    for made in (user_cache(), user_cache() / "hashes"):
        assert made.stat().st_mode & 0o777 == 0o700


def test_an_adopt_only_manifest_never_applied_keeps_its_hash_cache_in_the_users_cache(
    folder: Path,
) -> None:
    (folder / "envs.toml").write_text('[envs.old]\nadopt = ".venv"\n', encoding="utf-8")
    settle()
    runs = [as_json(reconcile(folder, "verify", "--format", "json"))["envs"][0] for _ in range(2)]

    assert runs[0]["files_hashed"] > 0
    assert (runs[1]["files_hashed"], runs[1]["files_cached"]) == (0, runs[0]["files_hashed"])
    assert not (folder / ".envs").exists()  # no root made for a cache
    assert list((user_cache() / "verify").glob("*.json"))  # nor to remember the manifest


def test_xdg_cache_home_then_the_home_folder_hold_the_cache_without_reconcile_cache_dir(
    folder: Path, tmp_path: Path
) -> None:
    home, xdg = tmp_path / "home", tmp_path / "xdg"
    home.mkdir()
    settle()

    with_xdg = reconcile(
        folder, "verify", ".venv", RECONCILE_CACHE_DIR="", XDG_CACHE_HOME=str(xdg), HOME=str(home)
    )
    without = reconcile(
        folder, "verify", ".venv", RECONCILE_CACHE_DIR="", XDG_CACHE_HOME="", HOME=str(home)
    )

    assert with_xdg.returncode == without.returncode == 0
    name = cache_name(os.path.realpath(folder / ".venv"))
    assert (xdg / "reconcile" / "hashes" / name).is_file()
    assert (home / ".cache" / "reconcile" / "hashes" / name).is_file()
    assert not list(user_cache().iterdir())


def test_a_changed_file_is_found_whatever_the_cache_held_for_it(
    folder: Path, wheelhouse: Path
) -> None:
    """The cache was right about the file before it changed: an edit that keeps its size and
    puts its mtime back is still found (the cache is keyed on ctime too), and a cache of
    another venv put in this one's place answers for nothing."""
    env = folder / ".venv"
    make_venv(folder / "other", wheelhouse)
    settle()
    for venv in (".venv", "./other"):
        assert reconcile(folder, "verify", venv).returncode == 0
    beta = module(env, "beta")
    before = beta.stat()
    data = beta.read_bytes()
    beta.write_bytes(bytes([data[0] ^ 1]) + data[1:])
    os.utime(beta, ns=(before.st_atime_ns, before.st_mtime_ns))

    edited = as_json(reconcile(folder, "verify", ".venv", "--format", "json"))["envs"][0]
    hashes = user_cache() / "hashes"
    own = hashes / cache_name(os.path.realpath(env))
    shutil.copyfile(hashes / cache_name(os.path.realpath(folder / "other")), own)
    foreign = as_json(reconcile(folder, "verify", ".venv", "--format", "json"))["envs"][0]

    assert beta.stat().st_mtime_ns == before.st_mtime_ns
    assert edited["counts"] == foreign["counts"] == {"hash_mismatch": 1}
    assert edited["files_hashed"] == 1  # the edited file alone; the others were trusted
    assert edited["files_cached"] > 0
    assert foreign["files_cached"] == 0  # the other venv's cache: everything rehashed


@pytest.mark.parametrize("how", ["a link", "writable by others", "a corrupt cache file"])
def test_a_cache_folder_that_is_not_the_users_own_or_a_corrupt_cache_is_never_trusted(
    folder: Path, tmp_path: Path, how: str
) -> None:
    settle()
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    cache = tmp_path / "cache"
    if how == "a link":
        cache.symlink_to(real)
    elif how == "writable by others":
        cache.mkdir()
        cache.chmod(0o777)
    env = {"RECONCILE_CACHE_DIR": str(cache)}
    first = as_json(reconcile(folder, "verify", ".venv", "--format", "json", **env))["envs"][0]
    if how == "a corrupt cache file":
        (stored,) = (cache / "hashes").iterdir()
        data = bytearray(stored.read_bytes())
        data[len(data) // 2] ^= 0xFF
        stored.write_bytes(bytes(data))

    second = as_json(reconcile(folder, "verify", ".venv", "--format", "json", **env))["envs"][0]

    assert first["status"] == second["status"] == "ok"
    assert second["files_hashed"] == first["files_hashed"] > 0
    assert second["files_cached"] == 0
    if how != "a corrupt cache file":  # nothing written there, nor through the link
        assert list(real.iterdir()) == []
        assert list(cache.iterdir()) == []
