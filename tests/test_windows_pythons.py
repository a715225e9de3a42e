"""Finding a base Python on Windows, judged on Linux: the PEP 514 registry (read through a fake
``winreg``, or replaced by a fake reader), ``python.exe`` on PATH but the Store's aliases, the
override, and the hint a Windows user gets when there is none. Real runs of the Windows search
happen in the Wine job; here the candidates are stand-in scripts that answer the probe."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path, PureWindowsPath
from types import SimpleNamespace

import pytest

from reconciler.core.pythons import missing_python
from reconciler.errors import PythonNotFound
from reconciler.execute.pythons import find_python
from reconciler.memo import replay
from reconciler.observe import pep514, pythons
from reconciler.observe.winpythons import windows_defaults, windows_places
from tests.test_pythons import FINDS_NOTHING, FakeUv, fake_interpreter

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the stand-ins are POSIX shell scripts")

W = PureWindowsPath


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    pythons.clear_cache()
    yield
    pythons.clear_cache()


def test_the_registry_comes_first_then_python_exe_on_path_but_the_store_aliases() -> None:
    registered = [
        ("PythonCore", "3.12", "C:\\Python312\\python.exe", "3.12"),
        ("PythonCore", "3.13", "C:\\Python313\\python.exe", "3.13"),
        ("PythonCore", "3.13-32", "C:\\Python313-32\\python.exe", "3.13"),
        ("PythonCore", "3.13t", "C:\\Python313\\python3.13t.exe", "3.13"),
        ("ContinuumAnalytics", "Anaconda313-64", "C:\\Anaconda\\python.exe", "3.13"),
        ("ContinuumAnalytics", "Anaconda312-64", "C:\\Anaconda312\\python.exe", "3.12"),
        ("Other", "mine", "D:\\Mine\\python.exe", ""),
    ]
    path = [
        "C:\\Users\\u\\AppData\\Local\\Microsoft\\WindowsApps",
        "relative\\bin",
        "C:\\Tools\\Py",
    ]

    places = windows_places("3.13", registered, path, W)

    assert places == [
        (W("C:/Python313/python.exe"), "registry"),
        (W("C:/Python313-32/python.exe"), "registry"),
        (W("C:/Anaconda/python.exe"), "registry"),
        (W("D:/Mine/python.exe"), "registry"),
        (W("C:/Tools/Py/python.exe"), "path"),
        (W("C:/Tools/Py/python3.exe"), "path"),
        (W("C:/Tools/Py/python3.13.exe"), "path"),
    ]


def test_python_orgs_default_folders_are_the_last_places() -> None:
    environ = {"LOCALAPPDATA": "C:\\Users\\u\\AppData\\Local", "ProgramFiles": "C:\\Program Files"}

    assert windows_defaults("3.13", environ, W) == [
        W("C:/Users/u/AppData/Local/Programs/Python/Python313/python.exe"),
        W("C:/Program Files/Python313/python.exe"),
    ]
    assert windows_defaults("3.13", {}, W) == []


class _Key(SimpleNamespace):
    def __enter__(self) -> _Key:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class FakeWinreg:
    """``winreg`` over a dict: ``{(hive, view): {"Software\\\\Python\\\\Company\\\\Tag...":
    {value name: value}}}``; keys are opened by their full path."""

    HKEY_CURRENT_USER, HKEY_LOCAL_MACHINE = 1, 2
    KEY_READ, KEY_WOW64_64KEY, KEY_WOW64_32KEY = 0x20019, 0x100, 0x200
    REG_SZ, REG_EXPAND_SZ, REG_DWORD = 1, 2, 4

    def __init__(self, keys: dict[tuple[int, int], dict[str, dict[str, object]]]) -> None:
        self.keys = keys

    def OpenKey(self, parent: object, name: str, reserved: int, access: int) -> _Key:
        if isinstance(parent, _Key):
            where, path = parent.where, f"{parent.path}\\{name}"
        else:
            where, path = (parent, access & ~self.KEY_READ), name
        if path not in self.keys.get(where, {}):
            raise FileNotFoundError(2, "not found", path)
        return _Key(where=where, path=path)

    def EnumKey(self, key: _Key, index: int) -> str:
        prefix = key.path + "\\"
        below = [k[len(prefix) :] for k in self.keys[key.where] if k.startswith(prefix)]
        children = list(dict.fromkeys(k.split("\\")[0] for k in below))
        if index >= len(children):
            raise OSError(259, "no more data")
        return children[index]

    def QueryValueEx(self, key: _Key, name: str) -> tuple[object, int]:
        values = self.keys[key.where][key.path]
        if name not in values:
            raise FileNotFoundError(2, "not found", name)
        value = values[name]
        return value, self.REG_SZ if isinstance(value, str) else self.REG_DWORD

    def ExpandEnvironmentStrings(self, value: str) -> str:
        return value


def _tree(
    *tags: tuple[str, str, dict[str, object], dict[str, object]],
) -> dict[str, dict[str, object]]:
    """Registry keys for ``(company, tag, tag values, InstallPath values)``."""
    keys: dict[str, dict[str, object]] = {"Software\\Python": {}}
    for company, tag, values, install in tags:
        keys[f"Software\\Python\\{company}"] = {}
        keys[f"Software\\Python\\{company}\\{tag}"] = values
        if install:
            keys[f"Software\\Python\\{company}\\{tag}\\InstallPath"] = install
    return keys


def test_the_registry_reader_reads_pep_514_user_first_pythoncore_first() -> None:
    user = _tree(
        ("Zeta", "z1", {"SysVersion": "3.13"}, {"": "C:\\Zeta"}),
        ("PythonCore", "3.13", {"SysVersion": "3.13"}, {"": "C:\\Python313\\"}),
        ("PyLauncher", "x", {}, {"": "C:\\launcher"}),
        ("PythonCore", "3.11", {}, {}),  # no InstallPath: nothing to run
    )
    machine = _tree(
        (
            "PythonCore",
            "3.13",
            {"SysVersion": "3.13"},
            {"": "C:\\Program Files\\Python313", "ExecutablePath": "C:\\PF\\py.exe"},
        ),
    )
    machine32 = _tree(("PythonCore", "3.13-32", {}, {"": "C:\\Py32"}))
    fake = FakeWinreg(
        {
            (1, 0x100): user,
            (1, 0x200): user,  # HKCU\Software is one key in both views
            (2, 0x100): machine,
            (2, 0x200): machine32,
        }
    )
    assert pep514._registered(fake) == (  # type: ignore[arg-type]
        ("PythonCore", "3.13", "C:\\Python313\\python.exe", "3.13"),
        ("Zeta", "z1", "C:\\Zeta\\python.exe", "3.13"),
        ("PythonCore", "3.13", "C:\\PF\\py.exe", "3.13"),
        ("PythonCore", "3.13-32", "C:\\Py32\\python.exe", ""),
    )
    assert pep514.registered() == ()  # no winreg on Linux: no registry, no error


@pytest.fixture
def windows_search(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """A Windows-like search on Linux: nothing registered until a test says so, nothing on
    PATH, in pyenv-win or python.org's folders, and a uv that finds nothing."""
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setattr(pep514, "registered", lambda: ())
    monkeypatch.delenv("LOCALAPPDATA", raising=False)
    monkeypatch.delenv("ProgramFiles", raising=False)
    return FakeUv(tmp_path / "uv", FINDS_NOTHING).path


def test_a_python_registered_for_the_user_is_found_off_path(
    tmp_path: Path, windows_search: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registered = fake_interpreter(tmp_path / "Python313" / "python.exe", "3.13.2")
    older = fake_interpreter(tmp_path / "Python312" / "python.exe", "3.12.9")
    monkeypatch.setattr(
        pep514,
        "registered",
        lambda: (
            ("PythonCore", "3.12", str(older), "3.12"),
            ("PythonCore", "3.13", str(registered), "3.13"),
        ),
    )

    found = pythons.installed("3.13", windows=True, uv=str(windows_search))

    assert found is not None
    assert (found.path, found.version, found.source) == (registered, "3.13.2", "registry")
    assert pythons.installed("3.13", windows=False, uv=str(windows_search)) is None


def test_every_python_exe_on_path_is_asked_its_version_but_the_store_alias(
    tmp_path: Path,
    windows_search: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """There is no ``python3.13.exe`` on Windows: each ``python.exe`` on PATH says which
    Python it is. The Store's alias in ``WindowsApps`` is never run (it opens the Store)."""
    store = tmp_path / "Microsoft" / "WindowsApps"
    alias = fake_interpreter(store / "python.exe", "3.13.9")
    old = fake_interpreter(tmp_path / "Python312" / "python.exe", "3.12.9")
    new = fake_interpreter(tmp_path / "Python313" / "python.exe", "3.13.1")
    path = [str(store), str(old.parent), str(new.parent)]
    monkeypatch.setenv("PATH", os.pathsep.join(path))

    found = pythons.installed("3.13", windows=True, uv=str(windows_search))

    assert found is not None
    assert (found.path, found.version, found.source) == (new, "3.13.1", "path")
    assert str(store) not in pythons.search_folders("3.13", windows=True)
    assert alias.exists()


def test_the_override_is_a_python_exe_too(
    tmp_path: Path, windows_search: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = fake_interpreter(tmp_path / "Custom" / "python.exe", "3.13.2")
    monkeypatch.setenv("RECONCILE_PYTHON_3_13", str(chosen))

    found = pythons.installed("3.13.2", windows=True, uv=str(windows_search))

    assert found is not None and (found.path, found.source) == (chosen, "override")


def test_a_missing_python_is_hinted_the_windows_way_on_windows_and_the_posix_way_elsewhere(
    windows_search: Path,
) -> None:
    with pytest.raises(PythonNotFound) as on_windows:
        find_python("3.13", "never", windows=True, uv=str(windows_search), env="tools")
    posix = missing_python("3.13", "never", windows=False, env="tools")

    hint = str(on_windows.value)
    assert hint.startswith("env tools needs Python 3.13, which is not installed")
    assert "winget install Python.Python.3.13" in hint and "py install 3.13" in hint
    assert "RECONCILE_PYTHON_3_13=C:\\path\\to\\python.exe" in hint and "python.org" in hint
    assert "pyenv" not in hint and "/path/to" not in hint
    assert "pyenv install 3.13" in posix and "RECONCILE_PYTHON_3_13=/path/to/python3.13" in posix
    assert "winget" not in posix


def test_a_python_registered_after_a_plan_is_seen_by_the_next_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The registry is no file whose identity a replayed plan checks: it is part of the key."""
    before = replay.memo_key({}, io.StringIO())
    monkeypatch.setattr(pep514, "registered", lambda: (("PythonCore", "3.13", "C:\\P", "3.13"),))

    assert replay.memo_key({}, io.StringIO()) != before
