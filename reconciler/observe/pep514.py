"""IO: the Pythons registered in the Windows registry (PEP 514), as the installers of
python.org, the Python install manager and others write them; empty where there is no
registry. Stdlib only and no dataclasses: the plan replay's key reads it before anything
heavy is imported.
"""

from __future__ import annotations

import ntpath

TYPE_CHECKING = False  # typing itself is not imported: the plan replay's start-up
if TYPE_CHECKING:
    from types import ModuleType

Registration = tuple[str, str, str, str]
"""``(company, tag, executable, sys_version)`` of one registered Python: its
``InstallPath``'s ``ExecutablePath``, or its default value joined with ``python.exe``;
``sys_version`` is the tag's ``SysVersion`` (``"3.13"``), ``""`` when not given."""

KEY = "Software\\Python"
LAUNCHER = "PyLauncher"
"""PEP 514 reserves this company for the ``py`` launcher's own settings: no Python there."""


def registered() -> tuple[Registration, ...]:
    """Every Python registered: HKEY_CURRENT_USER, then HKEY_LOCAL_MACHINE, each in its
    64-bit view then its 32-bit one, PythonCore first, then the other companies by name."""
    try:
        import winreg
    except ImportError:  # not Windows: no registry
        return ()
    return _registered(winreg)


def _registered(winreg: ModuleType) -> tuple[Registration, ...]:
    found: list[Registration] = []
    for hive in (winreg.HKEY_CURRENT_USER, winreg.HKEY_LOCAL_MACHINE):
        for view in (winreg.KEY_WOW64_64KEY, winreg.KEY_WOW64_32KEY):
            found += _hive(winreg, hive, winreg.KEY_READ | view)
    return tuple(dict.fromkeys(found))  # HKCU's key is the same one in both views


def _hive(winreg: ModuleType, hive: int, access: int) -> list[Registration]:
    try:
        root = winreg.OpenKey(hive, KEY, 0, access)
    except OSError:
        return []
    found: list[Registration] = []
    with root:
        companies = sorted(_subkeys(winreg, root), key=lambda c: (c != "PythonCore", c.lower()))
        for company in companies:
            if company == LAUNCHER:
                continue
            try:
                with winreg.OpenKey(root, company, 0, access) as tags:
                    for tag in _subkeys(winreg, tags):
                        found += _tag(winreg, tags, company, tag, access)
            except OSError:  # removed while read, or not ours to read
                continue
    return found


def _tag(
    winreg: ModuleType, tags: object, company: str, tag: str, access: int
) -> list[Registration]:
    try:
        with winreg.OpenKey(tags, tag, 0, access) as key:
            sys_version = _value(winreg, key, "SysVersion")
            with winreg.OpenKey(key, "InstallPath", 0, access) as install:
                executable = _value(winreg, install, "ExecutablePath")
                folder = _value(winreg, install, "")
    except OSError:  # no InstallPath: nothing to run
        return []
    if not executable and folder:
        executable = ntpath.join(folder, "python.exe")
    return [(company, tag, executable, sys_version)] if executable else []


def _subkeys(winreg: ModuleType, key: object) -> list[str]:
    names: list[str] = []
    while True:
        try:
            names.append(winreg.EnumKey(key, len(names)))
        except OSError:  # no more
            return names


def _value(winreg: ModuleType, key: object, name: str) -> str:
    """A string value of ``key`` (``""`` for its default value), or ``""`` when not set."""
    try:
        value, kind = winreg.QueryValueEx(key, name)
    except OSError:
        return ""
    if not isinstance(value, str):
        return ""
    if kind == winreg.REG_EXPAND_SZ:
        return str(winreg.ExpandEnvironmentStrings(value))
    return value if kind == winreg.REG_SZ else ""
