"""What reconcile shows of data a pull request or a user controls (a manifest's paths, a PATH
argument) never acts on a terminal: control characters are shown escaped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.files import display_path, printable

ESCAPES = "\x1b[2K\r\x1b]0;title\x07\x9b31m\u202e"


@given(st.text())
def test_printable_leaves_no_control_character_but_tab_and_newline(text: str) -> None:
    shown = printable(text)

    controls = {*map(chr, range(0x20)), *map(chr, range(0x7F, 0xA0))} - {"\t", "\n"}
    overrides = {*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))}
    assert not (set(shown) & (controls | overrides))


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Zl", "Zp"))))
def test_printable_text_is_shown_as_it_is(text: str) -> None:
    assert printable(text) == text


def test_a_path_is_displayed_with_its_escapes_written_out(tmp_path: Path) -> None:
    shown = display_path(tmp_path / f"v{ESCAPES}x")

    assert "\\x1b[2K\\x0d\\x1b]0;title\\x07\\x9b31m\\u202ex" in shown
    assert "\x1b" not in shown


@pytest.mark.parametrize("where", ["message", "path"])
def test_an_error_line_cannot_fake_another_line(tmp_path: Path, where: str) -> None:
    """The error line goes through the CLI's one writer, which escapes whatever its message
    holds (a manifest's adopt path here)."""
    manifest = tmp_path / "envs.toml"
    adopt = "x\\r\\u001b[2KNo changes. Environments match envs.toml.\\u001b[8m"
    manifest.write_text(f'version = 1\n[envs.legacy]\nadopt = "{adopt}"\n', encoding="utf-8")
    argv = ["plan"] if where == "message" else ["verify", str(tmp_path / "v\x1b[31mX")]
    script = "import sys; from reconciler.cli.app import main; sys.exit(main(sys.argv[1:]))"

    done = subprocess.run(
        [sys.executable, "-c", script, "--manifest", str(manifest), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )

    assert done.returncode in (1, 2), done.stderr
    assert "\x1b" not in done.stdout + done.stderr and "\r" not in done.stdout + done.stderr
    assert "\\x1b" in done.stdout + done.stderr
