"""A local package index (``index_url`` or ``extra_index_urls`` naming a path or a ``file:``
URL, in ``[settings.sources]`` or an env's own ``sources``) is held inside the manifest's
folder, as ``find_links`` paths are: a manifest never makes `lock` or `apply` read packages
from elsewhere on the host. One inside it works, relative to the manifest wherever the
command runs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from reconciler.cli.app import main
from reconciler.observe.inputs import load_manifest
from tests.helpers import require_python
from tests.test_lock import simple_index
from tests.test_manifest import (  # noqa: F401  fixtures, used by name
    folder,
    outside,
    refused_by_every_command,
)
from tests.wheels import make_wheel

ENV_SOURCES = '[envs.b]\npython = "3.11"\nrequirements = ["alpha==1.0"]\n[envs.b.sources]\n'

MODEL = '\n[envs.a]\npython = "3.11"\nrequirements = ["alpha==1.0"]\n\n[models.m]\nenv = "a"\n'


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            '[settings.sources]\nindex_url = "file:///tmp/idx"\n',
            ':2: settings.sources.index_url: "file:///tmp/idx" leads out of the folder of '
            "envs.toml",
        ),
        ('[settings.sources]\nindex_url = "FILE://localhost/tmp"\n', ":2: settings.sources."),
        ('[settings.sources]\nindex_url = "file:%2E%2E/idx"\n', ":2: settings.sources."),
        ('[settings.sources]\nindex_url = "file://host/idx"\n', ":2: settings.sources."),
        ('[settings.sources]\nindex_url = "/tmp/idx"\n', ":2: settings.sources.index_url: "),
        ('[settings.sources]\nindex_url = "../idx"\n', ":2: settings.sources.index_url: "),
        (
            '[settings.sources]\nextra_index_urls = ["https://x.test/simple", "file:///root"]\n',
            ':2: settings.sources.extra_index_urls[1]: "file:///root" leads out',
        ),
        (ENV_SOURCES + 'index_url = "file:/tmp/idx"\n', ":5: envs.b.sources.index_url: "),
        (
            ENV_SOURCES + 'extra_index_urls = ["file:///root"]\n',
            ":5: envs.b.sources.extra_index_urls[0]: ",
        ),
    ],
    ids=[
        "file-url",
        "upper-localhost",
        "percent-dotdot",
        "other-host",
        "absolute-path",
        "dotdot-path",
        "extra",
        "env-index",
        "env-extra",
    ],
)
def test_a_local_index_outside_the_manifest_folder_is_a_manifest_error(
    folder: Path,  # noqa: F811  the fixture
    capsys: pytest.CaptureFixture[str],
    body: str,
    detail: str,
) -> None:
    manifest = folder / "envs.toml"
    manifest.write_text(body + MODEL, "utf-8")
    refused_by_every_command(folder, capsys, f"{manifest}{detail}")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
@pytest.mark.parametrize("where", ["index", "project", "wheel"])
def test_a_local_index_through_a_link_out_is_a_manifest_error(
    folder: Path,  # noqa: F811  the fixture
    outside: Path,  # noqa: F811  the fixture
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """uv reads the whole index: the folder, each project's folder and what is in them."""
    index = folder / "idx"
    if where == "index":
        index.symlink_to(outside.parent)
        shown = "idx"
    else:
        (index / "alpha").mkdir(parents=True)
        link = index / "beta" if where == "project" else index / "alpha" / "x.whl"
        link.symlink_to(outside.parent if where == "project" else outside)
        shown = str(link.relative_to(folder))
    manifest = folder / "envs.toml"
    manifest.write_text('[settings.sources]\nextra_index_urls = ["file:idx"]\n' + MODEL)
    monkeypatch.chdir(folder)
    refused_by_every_command(
        folder,
        capsys,
        f"{manifest}:2: settings.sources.extra_index_urls[0]: {shown} is, or goes through, a "
        "link that leads out of the manifest's folder",
    )


def test_a_local_index_inside_the_folder_and_https_indexes_stay_allowed(
    folder: Path,  # noqa: F811  the fixture
) -> None:
    (folder / "idx").mkdir()
    manifest = folder / "envs.toml"
    manifest.write_text(
        '[settings.sources]\nindex_url = "file:idx"\n'
        'extra_index_urls = ["https://x.test/simple", "./idx", "file:./idx/../idx"]\n' + MODEL
    )
    assert load_manifest(manifest).manifest.settings.sources.index_url == "file:idx"


@pytest.mark.slow
def test_lock_and_apply_read_a_local_index_relative_to_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_python("3.11")
    place = tmp_path / "project"
    wheels = tmp_path / "wheels"
    simple_index(place / "idx", [make_wheel(wheels, "fastpkg", "1.0")])
    manifest = place / "envs.toml"
    manifest.write_text(
        'version = 1\n[settings]\nroot = ".envs"\n[settings.sources]\nindex_url = "file:idx"\n'
        '[envs.t]\npython = "3.11"\n'
        'requirements = ["fastpkg==1.0"]\nimports = ["fastpkg"]\n'
    )
    monkeypatch.chdir(tmp_path)  # not the manifest's folder: the index is relative to it

    assert main(["--manifest", str(manifest), "--quiet", "lock"]) == 0
    assert main(["--manifest", str(manifest), "--quiet", "apply", "--yes"]) == 0

    assert "fastpkg==1.0" in (place / "lockfiles" / "t.txt").read_text()
    assert (place / ".envs" / "t").is_dir()
