"""Nothing reconcile prints may fail on the output's encoding (issue #18): a path with an emoji
through a cp1252 pipe on Windows, or an ascii locale on POSIX, is written with escapes
(``cli.start.guard_streams``). `which` is the exception: its output is a path a script starts,
so it is written exactly (POSIX: the path's bytes; Windows: in the stream's encoding) or not
at all, with one sentence and exit 1. Unit tests on streams over bytes; no env is built."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from reconciler.cli import app, start, verbs
from reconciler.commands.which import ResolvedEnv
from reconciler.files import printable
from reconciler.platform import POSIX_VENV, WINDOWS_VENV
from reconciler.store import system

ENCODINGS = ("cp1252", "ascii", "utf-8")

# what a path may hold: any character, an emoji, a letter cp1252 has, a byte a POSIX file
# name held that is not UTF-8 (surrogate-escaped), a control character
texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(["ü", "😀", "\udcff", "\udc80", " ", "x", "\x1b", "€"])),
)


def _stream(encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, newline="")


def _written(stream: io.TextIOWrapper) -> bytes:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue()


@pytest.mark.parametrize("encoding", ENCODINGS)
@given(text=texts)
def test_a_guarded_stream_writes_any_text(encoding: str, text: str) -> None:
    out, err = _stream(encoding), _stream(encoding)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        start.guard_streams()
        print(printable(text))
        print(text, file=sys.stderr)
        Console(file=sys.stdout, color_system=None, soft_wrap=True).print(text, markup=False)
    finally:
        sys.stdout, sys.stderr = saved
    assert (
        _written(out)
        .decode(encoding)
        .startswith(printable(text).encode(encoding, "backslashreplace").decode(encoding))
    )


@given(path=texts.filter(lambda t: "\x00" not in t))
def test_which_writes_a_posix_path_as_its_bytes_whatever_the_encoding(path: str) -> None:
    try:
        exact = os.fsencode(path)
    except UnicodeEncodeError:  # a surrogate no file name decodes to
        exact = None
    for encoding in ENCODINGS:
        data = start.path_bytes(path, encoding, windows=False)
        assert data == (None if exact is None else exact + b"\n")


@pytest.mark.parametrize("encoding", ENCODINGS)
@given(path=texts)
def test_which_writes_a_windows_path_exactly_or_not_at_all(encoding: str, path: str) -> None:
    data = start.path_bytes(path, encoding, windows=True)
    if data is not None:
        assert data.decode(encoding) == path + "\r\n"
    else:
        with pytest.raises(UnicodeEncodeError):
            path.encode(encoding)


PYTHON = "C:\\h18x\\ü😀 x\\envs\\.generations\\shared\\g0001\\Scripts\\python.exe"


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    """`which m1` answers PYTHON, as on Windows (no manifest, no env)."""

    def resolve(args: object) -> ResolvedEnv:
        python = Path(PYTHON)
        return ResolvedEnv("m1", "shared", python, python.parent.parent, "env", healthy=True)

    monkeypatch.setattr(verbs, "_resolve", resolve)
    monkeypatch.setattr(system, "current_venv", lambda: WINDOWS_VENV)


def _cli(words: list[str], encoding: str) -> tuple[int, bytes, str]:
    out, err = _stream(encoding), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        code = app.main(words)
    finally:
        sys.stdout, sys.stderr = saved
    return code, _written(out), err.getvalue()


@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_which_refuses_a_windows_path_its_output_cannot_carry(
    resolved: None, encoding: str
) -> None:
    code, out, err = _cli(["which", "m1"], encoding)

    assert (code, out) == (1, b"")
    assert "internal error" not in err
    assert f"cannot be written in this output's encoding ({encoding})" in err
    assert "PYTHONIOENCODING=utf-8" in err
    assert err.count("\n") == 1


def test_which_writes_a_windows_path_in_utf8_when_the_output_is_utf8(resolved: None) -> None:
    """PYTHONIOENCODING=utf-8 (or PYTHONUTF8=1) makes stdout UTF-8: the path is written so."""
    code, out, err = _cli(["which", "m1"], "utf-8")

    assert (code, out, err) == (0, PYTHON.encode() + b"\r\n", "")


def test_which_from_the_memo_goes_to_the_cli_when_it_cannot_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path writes what it can; anything else is the CLI's, which says why."""
    monkeypatch.setattr(start, "_remembered_which", lambda words: PYTHON)
    monkeypatch.setattr(start, "path_bytes", lambda path, encoding, windows: None)
    told: list[object] = []

    def cli(argv: object) -> int:
        told.append(argv)
        return 1

    monkeypatch.setattr(app, "main", cli)
    out = _stream("cp1252")
    monkeypatch.setattr(sys, "stdout", out)

    assert start.main(["which", "m1"]) == 1
    assert told == [["which", "m1"]]
    assert _written(out) == b""


def test_which_from_the_memo_writes_a_posix_path_as_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = os.fsdecode(b"/r/\xff \xc3\xbc\xf0\x9f\x98\x80/bin/python")
    monkeypatch.setattr(start, "_remembered_which", lambda words: path)
    out = _stream("ascii")
    monkeypatch.setattr(sys, "stdout", out)

    assert start.main(["which", "m1"]) == 0
    assert _written(out) == b"/r/\xff \xc3\xbc\xf0\x9f\x98\x80/bin/python\n"


def test_a_posix_which_is_not_refused(resolved: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(system, "current_venv", lambda: POSIX_VENV)
    code, out, err = _cli(["which", "m1"], "ascii")

    assert (code, out, err) == (0, os.fsencode(PYTHON) + b"\n", "")
