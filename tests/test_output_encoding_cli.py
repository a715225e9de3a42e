"""The `reconcile` command in a project whose folder holds an emoji (and, on POSIX, a byte
that is not UTF-8), its output read as ascii or cp1252 (``PYTHONIOENCODING``, as a pipe on
Windows writes the ANSI code page): every command prints, none says "internal error", and
`which` writes the interpreter's path as the bytes that name it (issue #18)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import require_python

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name == "nt", reason="POSIX: a path is bytes"),
]

MANIFEST = """\
[settings.sources]
find_links = ["wheels"]
no_index = true

[envs.shared]
python = "3.11"
requirements = ["gamma==1.0"]

[models.m1]
env = "shared"
"""


def _cli(folder: Path, encoding: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": encoding, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        cwd=folder,
        env=env,
        check=False,
        timeout=600,
    )


def _project(tmp_path: Path, wheelhouse: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copytree(wheelhouse, folder / "wheels")
    (folder / "envs.toml").write_text(MANIFEST, encoding="utf-8")
    return folder


def test_every_command_prints_whatever_the_outputs_encoding(
    tmp_path: Path, wheelhouse: Path
) -> None:
    require_python("3.11")
    folder = _project(tmp_path, wheelhouse, "ü😀 x")
    python = folder / ".envs" / ".generations" / "shared" / "g0001" / "bin" / "python"

    outputs: list[bytes] = []
    for encoding, args in [
        ("ascii", ("lock",)),
        ("cp1252", ("apply", "--yes")),
        ("ascii", ("status",)),
        ("ascii", ("verify",)),
        ("cp1252", ("plan",)),
    ]:
        done = _cli(folder, encoding, *args)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, (args, done.stderr)
    status = _cli(folder, "ascii", "status", "--format", "json")  # JSON escapes as JSON does
    assert json.loads(status.stdout)["envs"][0]["env"] == "shared", status.stderr
    for encoding in ("ascii", "cp1252", "ascii"):  # the second `which` answers from its memo
        done = _cli(folder, encoding, "which", "m1")
        assert (done.returncode, done.stdout, done.stderr) == (0, os.fsencode(python) + b"\n", b"")
    # a folder where the link should be: plan, apply and verify name its path
    (folder / ".envs" / "shared").replace(folder / ".envs" / "shared.keep")
    (folder / ".envs" / "shared").mkdir()
    for encoding, args, code in [
        ("cp1252", ("plan",), 0),
        ("ascii", ("apply", "--yes"), 1),
        ("ascii", ("verify",), 2),
        ("ascii", ("status",), 0),
    ]:
        done = _cli(folder, encoding, *args)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == code, (args, done.stderr)
        assert b"\\U0001f600" in done.stdout + done.stderr or args == ("status",)
    for output in outputs:
        assert b"internal error" not in output


def test_a_folder_name_that_is_not_utf8_is_refused_in_one_escaped_sentence(
    tmp_path: Path, wheelhouse: Path
) -> None:
    """uv takes only UTF-8 paths; the refusal names the folder with its bytes escaped."""
    folder = _project(tmp_path, wheelhouse, os.fsdecode(b"\xff \xc3\xbc\xf0\x9f\x98\x80"))

    for encoding, args in [("ascii", ("plan",)), ("cp1252", ("apply", "--yes"))]:
        done = _cli(folder, encoding, *args)
        assert done.returncode == 1
        assert b"\\xff " in done.stderr
        assert b"internal error" not in done.stdout + done.stderr
