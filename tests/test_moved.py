"""``env_moved``: the folder a venv's activation script was made for against the folder it is
in (reconciler/core/moved.py, read by observe/look.py), on both platforms' layouts. The
scripts below are the real text the Windows makers wrote in the Wine lab (CPython 3.13.2's
``python -m venv``, uv 0.13.9's ``uv venv``), with uv's license header left out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PureWindowsPath

import pytest

from reconciler.core.facts import Finding
from reconciler.core.health import structure
from reconciler.core.moved import one_folder, recorded_folder
from reconciler.observe.look import EnvRequest, look_at
from reconciler.platform import POSIX_VENV, WINDOWS_VENV
from reconciler.store import linkfile

CPYTHON_313 = """\
@echo off

rem This file is UTF-8 encoded, so we need to update the current code page while executing it
for /f "tokens=2 delims=:." %%a in ('"%SystemRoot%\\System32\\chcp.com"') do (
    set _OLD_CODEPAGE=%%a
)
if defined _OLD_CODEPAGE (
    "%SystemRoot%\\System32\\chcp.com" 65001 > nul
)

set "VIRTUAL_ENV=__FOLDER__"

if not defined PROMPT set PROMPT=$P$G

if defined _OLD_VIRTUAL_PROMPT set PROMPT=%_OLD_VIRTUAL_PROMPT%
if defined _OLD_VIRTUAL_PYTHONHOME set PYTHONHOME=%_OLD_VIRTUAL_PYTHONHOME%

set "_OLD_VIRTUAL_PROMPT=%PROMPT%"
set "PROMPT=(mv-a) %PROMPT%"

if defined PYTHONHOME set _OLD_VIRTUAL_PYTHONHOME=%PYTHONHOME%
set PYTHONHOME=

if defined _OLD_VIRTUAL_PATH set PATH=%_OLD_VIRTUAL_PATH%
if not defined _OLD_VIRTUAL_PATH set _OLD_VIRTUAL_PATH=%PATH%

set "PATH=%VIRTUAL_ENV%\\Scripts;%PATH%"
set "VIRTUAL_ENV_PROMPT=mv-a"

:END
if defined _OLD_CODEPAGE (
    "%SystemRoot%\\System32\\chcp.com" %_OLD_CODEPAGE% > nul
    set _OLD_CODEPAGE=
)
""".replace("\n", "\r\n")

CPYTHON_310 = CPYTHON_313.replace('set "VIRTUAL_ENV=__FOLDER__"', "set VIRTUAL_ENV=__FOLDER__")
"""CPython before the value was quoted: ``set VIRTUAL_ENV=...``, the rest of the line."""

UV_0139 = """\
@REM This file is UTF-8 encoded, so we need to update the current code page while executing it
@for /f "tokens=2 delims=:." %%a in ('"%SystemRoot%\\System32\\chcp.com"') do @set _OLD_CODEPAGE=%%a

@if defined _OLD_CODEPAGE (
    "%SystemRoot%\\System32\\chcp.com" 65001 > nul
)

@for %%i in ("__FOLDER__") do @set "VIRTUAL_ENV=%%~fi"

@set "VIRTUAL_ENV_PROMPT="
@if NOT DEFINED VIRTUAL_ENV_PROMPT (
    @for %%d in ("%VIRTUAL_ENV%") do @set "VIRTUAL_ENV_PROMPT=%%~nxd"
)

@set PYTHONHOME=

@set "PATH=%VIRTUAL_ENV%\\Scripts;%PATH%"
""".replace("\n", "\r\n")

VIRTUALENV_OLD = (
    '@echo off\r\n\r\n@set "VIRTUAL_ENV=__FOLDER__"\r\n'
    '@set "PATH=%VIRTUAL_ENV%\\Scripts;%PATH%"\r\n'
)
"""virtualenv before it took uv's ``for`` form."""

UV_RELOCATABLE = UV_0139.replace('("__FOLDER__")', '("%~dp0..")')
"""``uv venv --relocatable``: the folder is the script's own, computed when it runs."""

UV_RELOCATABLE_POSIX = """\
SCRIPT_PATH="${BASH_SOURCE[0]:-${(%):-%x}}"
VIRTUAL_ENV=''"$(dirname -- "$(dirname -- "$(realpath -- "$SCRIPT_PATH")")")"''
if ([ "$OSTYPE" = "cygwin" ] || [ "$OSTYPE" = "msys" ]) && $(command -v cygpath &> /dev/null) ; then
    VIRTUAL_ENV=$(cygpath -u "$VIRTUAL_ENV")
fi
export VIRTUAL_ENV
"""

MAKERS = {
    "CPython 3.11 and later": CPYTHON_313,
    "CPython 3.10 and before": CPYTHON_310,
    "uv and virtualenv": UV_0139,
    "virtualenv, before": VIRTUALENV_OLD,
}


def made(script: str, folder: str) -> str:
    return script.replace("__FOLDER__", folder)


@pytest.mark.parametrize("script", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize("folder", ["C:\\h18\\mv1", "C:\\Users\\Zoë\\my env & co", "\\\\srv\\s\\v"])
def test_the_folder_each_windows_maker_records_is_read_from_activate_bat(
    script: str, folder: str
) -> None:
    assert recorded_folder(made(script, folder), windows=True) == folder


@pytest.mark.parametrize(
    "script",
    [
        UV_RELOCATABLE,
        "@echo off\r\nrem a venv made by hand\r\n",
        "",
        "set VIRTUAL_ENV=\r\n",  # deactivate.bat
        made(CPYTHON_313, "C:\\Users\\Zo\ufffd\\v"),  # not UTF-8: the name cannot be told
    ],
    ids=["computed when it runs", "hand-made", "empty", "emptied", "undecodable"],
)
def test_a_batch_file_that_names_no_folder_records_none(script: str) -> None:
    assert recorded_folder(script, windows=True) is None


def test_a_relocatable_posix_venv_records_no_folder() -> None:
    """uv's ``--relocatable`` ``bin/activate`` computes its folder: no false ``env_moved``."""
    assert recorded_folder(UV_RELOCATABLE_POSIX, windows=False) is None
    assert recorded_folder('VIRTUAL_ENV="$HOME/v"\n', windows=False) is None
    assert recorded_folder("VIRTUAL_ENV='/a/$HOME/v'\n", windows=False) == "/a/$HOME/v"
    assert recorded_folder("VIRTUAL_ENV=/a/\\$b\n", windows=False) == "/a/$b"


@pytest.mark.parametrize(
    "spelled",
    [
        "C:\\h18\\mv2",
        "c:\\H18\\MV2",
        "C:/h18/mv2",
        "C:\\h18\\mv2\\",
        "C:\\h18\\x\\..\\mv2",
        "\\\\?\\C:\\h18\\mv2",
        "\\\\.\\c:\\h18\\MV2",
    ],
)
def test_a_windows_folder_is_one_folder_whatever_its_case_slashes_and_prefix(
    spelled: str,
) -> None:
    real = str(PureWindowsPath("C:/h18/mv2"))
    assert one_folder(spelled, real, windows=True)
    assert one_folder(real, spelled, windows=True)
    assert not one_folder("C:\\h18\\mv1", real, windows=True)
    assert not one_folder("D:\\h18\\mv2", real, windows=True)


def test_a_unc_folder_is_one_folder_with_or_without_the_extended_prefix() -> None:
    assert one_folder("\\\\?\\UNC\\srv\\share\\v", "\\\\SRV\\share\\v", windows=True)
    assert not one_folder("\\\\?\\UNC\\srv\\share\\v", "\\\\srv\\other\\v", windows=True)


def test_posix_folders_are_one_folder_only_when_equal() -> None:
    assert one_folder("/srv/v", "/srv/v", windows=False)
    assert not one_folder("/srv/V", "/srv/v", windows=False)


# --- what observation makes of it, on a Windows-layout venv (run here on any OS) ---------------


def windows_venv(folder: Path, activate_bat: str) -> Path:
    (folder / "Scripts").mkdir(parents=True)
    (folder / "Lib" / "site-packages").mkdir(parents=True)
    python = folder / "Scripts" / "python.exe"
    python.write_bytes(b"MZ not a program")
    python.chmod(0o755)
    (folder / "Scripts" / "activate.bat").write_text(activate_bat, encoding="utf-8")
    (folder / "Scripts" / "Activate.ps1").write_text("# computes its folder\n", encoding="utf-8")
    (folder / "pyvenv.cfg").write_text(f"home = {folder}\n", encoding="utf-8")
    return folder


def as_windows_writes(folder: Path) -> str:
    """``folder`` with backslashes, as a Windows maker writes it."""
    return str(folder).replace("/", "\\")


def moved(folder: Path) -> list[Finding]:
    facts = look_at(EnvRequest("legacy", folder), venv=WINDOWS_VENV)
    return [f for f in structure(facts, venv=WINDOWS_VENV) if f.reason == "env_moved"]


@pytest.mark.parametrize("script", MAKERS.values(), ids=MAKERS.keys())
def test_a_windows_venv_moved_after_it_was_made_is_env_moved(tmp_path: Path, script: str) -> None:
    venv = windows_venv(tmp_path / "mv2", made(script, "C:\\h18\\mv1"))

    assert moved(venv) == [Finding("env_moved", f"made for C:\\h18\\mv1, now at {venv}", ".")]


@pytest.mark.parametrize("script", MAKERS.values(), ids=MAKERS.keys())
@pytest.mark.parametrize("spelling", [str.upper, str.lower, as_windows_writes, str])
def test_a_windows_venv_in_its_own_folder_is_not_moved_whatever_the_spelling(
    tmp_path: Path, script: str, spelling: Callable[[str], str]
) -> None:
    folder = tmp_path / "mv1"
    venv = windows_venv(folder, made(script, spelling(as_windows_writes(folder))))

    assert moved(venv) == []
    facts = look_at(EnvRequest("legacy", venv), venv=WINDOWS_VENV)
    assert facts.activation_venv_path == facts.real_path


def test_a_windows_venv_whose_script_names_no_folder_is_not_moved(tmp_path: Path) -> None:
    assert moved(windows_venv(tmp_path / "byhand", "@echo off\r\n")) == []
    assert moved(windows_venv(tmp_path / "relocatable", UV_RELOCATABLE)) == []


def test_a_posix_venv_is_judged_from_bin_activate_not_activate_bat(tmp_path: Path) -> None:
    venv = windows_venv(tmp_path / "v", made(CPYTHON_313, "C:\\elsewhere"))
    (venv / "bin").mkdir()
    (venv / "bin" / "activate").write_text(f"VIRTUAL_ENV='{venv}'\n", encoding="utf-8")

    facts = look_at(EnvRequest("legacy", venv), venv=POSIX_VENV)

    assert facts.activation_venv_path == facts.real_path == str(venv)


def test_a_managed_generation_is_judged_against_its_own_folder_and_a_hand_copy_is_moved(
    tmp_path: Path,
) -> None:
    """A generation records its own folder (``.generations\\serving\\g0002``), never the
    env's place: reached through the link file it is not moved; a copy of it (``g0099``) that
    the link file was pointed at by hand is."""
    root = tmp_path / "envs"
    built = root / ".generations" / "serving" / "g0002"
    script = made(UV_0139, as_windows_writes(built))
    windows_venv(built, script)
    windows_venv(root / ".generations" / "serving" / "g0099", script)

    def findings(gen_id: str) -> list[Finding]:
        (root / "serving").write_bytes(linkfile.render("serving", gen_id))
        request = EnvRequest("serving", root / "serving", confine_to=root)
        facts = look_at(request, venv=WINDOWS_VENV)
        assert facts.kind == "symlink"
        return [f for f in structure(facts, venv=WINDOWS_VENV) if f.reason == "env_moved"]

    assert findings("g0002") == []
    copy = root / ".generations" / "serving" / "g0099"
    assert findings("g0099") == [
        Finding("env_moved", f"made for {as_windows_writes(built)}, now at {copy}", ".")
    ]
