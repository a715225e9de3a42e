"""The user's cache folder, where envs with no root keep their hash cache: where it is on each
system, and that it is used only while it is a folder of this user's own (a cache there can
make `verify` trust a file, so nobody else may write it); how a `verify` argument is told to be
a path; which root a generation named by its path belongs to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.commands.verify import names_a_path
from reconciler.observe.venvpath import generation_root
from reconciler.store.cachedir import CACHE_DIR_ENV, user_cache_folder, user_cache_home

HOME = Path("/home/ada")


@pytest.mark.parametrize(
    ("system", "environ", "expected"),
    [
        ("linux", {}, "/home/ada/.cache/reconcile"),
        ("linux", {"XDG_CACHE_HOME": "/var/cache/ada"}, "/var/cache/ada/reconcile"),
        ("linux", {"XDG_CACHE_HOME": "relative/cache"}, "/home/ada/.cache/reconcile"),
        ("linux", {"XDG_CACHE_HOME": ""}, "/home/ada/.cache/reconcile"),
        ("darwin", {"XDG_CACHE_HOME": "/x"}, "/home/ada/Library/Caches/reconcile"),
        (
            "win32",
            {"LOCALAPPDATA": "/c/Users/ada/AppData/Local"},
            "/c/Users/ada/AppData/Local/reconcile/Cache",
        ),
        ("win32", {}, "/home/ada/AppData/Local/reconcile/Cache"),
        ("linux", {CACHE_DIR_ENV: "/srv/cache", "XDG_CACHE_HOME": "/x"}, "/srv/cache"),
        ("win32", {CACHE_DIR_ENV: "/srv/cache"}, "/srv/cache"),
    ],
)
def test_the_users_cache_folder_is_where_each_system_keeps_caches_unless_named(
    system: str, environ: dict[str, str], expected: str
) -> None:
    assert user_cache_home(environ, system, HOME) == Path(expected)


def test_a_relative_reconcile_cache_dir_is_taken_from_the_working_folder() -> None:
    assert user_cache_home({CACHE_DIR_ENV: "cache"}, "linux", HOME) == Path.cwd() / "cache"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "deep" / "reconcile"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    return folder


def test_the_folders_are_made_private_where_missing(cache_dir: Path) -> None:
    made = user_cache_folder("hashes")

    assert made == cache_dir / "hashes"
    for folder in (cache_dir, cache_dir / "hashes"):
        assert folder.stat().st_mode & 0o777 == 0o700
    assert user_cache_folder("hashes") == made  # and used as they are the next time


@pytest.mark.parametrize("where", ["the cache folder", "a folder in it"])
@pytest.mark.parametrize("what", ["a link", "writable by others", "a file", "another user's"])
def test_a_cache_folder_that_is_not_the_users_own_is_never_used(
    cache_dir: Path, tmp_path: Path, where: str, what: str
) -> None:
    cache_dir.parent.mkdir(parents=True)
    if where == "a folder in it":
        cache_dir.mkdir(mode=0o700)
    spot = cache_dir if where == "the cache folder" else cache_dir / "hashes"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if what == "a link":
        spot.symlink_to(elsewhere, target_is_directory=True)
    elif what == "writable by others":
        spot.mkdir()
        spot.chmod(0o757)
    elif what == "a file":
        spot.write_bytes(b"")
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a folder to another user")
        spot.mkdir(mode=0o700)
        os.chown(spot, 65534, 65534)

    assert user_cache_folder("hashes") is None
    assert list(elsewhere.iterdir()) == []


def test_a_cache_folder_that_cannot_be_made_means_no_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_bytes(b"")
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "file" / "reconcile"))

    assert user_cache_folder("hashes") is None


@pytest.mark.parametrize(
    ("argument", "is_path"),
    [
        (".venv", True),
        ("./venv", True),
        ("venv/", True),
        ("/srv/envs/legacy/.venv", True),
        (".", True),
        ("..", True),
        ("envs\\legacy", True),
        ("serving", False),
        ("torch-cu121.transformers_bnb", False),
        ("venv", False),
    ],
)
def test_a_verify_argument_is_a_path_when_no_env_key_could_be_written_so(
    argument: str, is_path: bool
) -> None:
    assert names_a_path(argument) is is_path


def test_a_generation_named_by_its_path_belongs_to_the_root_it_sits_in() -> None:
    assert generation_root("/srv/m/.envs/.generations/serving/g0002") == Path("/srv/m/.envs")
    assert generation_root("/srv/m/.envs/serving") is None
    assert generation_root("/home/ada/project/.venv") is None
