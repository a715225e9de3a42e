"""The platform is decided once, at the edge, and passed down: the running system's venv layout
and filesystem operations (reconciler/platform.py), the Windows layout judged on Linux, and
no module below the edge choosing a layout for itself."""

from __future__ import annotations

import ast
import base64
import hashlib
import sys
from pathlib import Path

import pytest

from reconciler.commands.gate import structure_problem
from reconciler.core.health import structure
from reconciler.files import site_packages
from reconciler.observe.integrity import VerifyScope, VerifyTarget, check_env
from reconciler.observe.look import EnvRequest, look_at
from reconciler.observe.walk import EnvNotVerifiable, verify_env
from reconciler.platform import POSIX_VENV, WINDOWS_VENV
from reconciler.store.posix import PosixStoreOps
from reconciler.store.system import current

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"

DECIDES = {"store/system.py", "cli/start.py"}
"""The modules that look at the running system: ``current()``, and the entry point's answer
from the memo of `which`, which writes its path before the platform's modules are imported
(they would cost that answer a third of its time)."""

EDGES = {"cli/verbs.py", "commands/which.py"}
"""The commands and ``resolve()``: the only callers of ``current()``; they pass it down."""

LOW_LEVEL = {
    "runner.py": "process groups (killpg or taskkill) and whether fork may be used",
    "execute/uv.py": "reflink copies are probed on Linux only",
    "store/applylock.py": "whether a lock holder's pid still runs (no os.kill(pid, 0) there)",
    "observe/pythons.py": "the python.org framework folder, on macOS only",
    "store/cachedir.py": "where a user's caches live (XDG, ~/Library/Caches, %LOCALAPPDATA%)",
}
"""Platform-specific low-level code that reads ``sys.platform`` or ``os.name`` for a reason
of its own, never to pick the venv layout or the store's operations."""


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (path.relative_to(PACKAGE).as_posix(), ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(PACKAGE.rglob("*.py"))
    ]


def test_the_platform_of_this_linux_machine_is_posix_with_bin_python_and_lib_site_packages(
    tmp_path: Path,
) -> None:
    if sys.platform == "win32":
        pytest.skip("checks the POSIX choice")
    chosen = current()
    site = tmp_path / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (site / "site-packages").mkdir(parents=True)

    assert not chosen.windows and chosen.venv == POSIX_VENV
    assert isinstance(chosen.ops, PosixStoreOps)
    assert chosen.venv.interpreter(tmp_path) == tmp_path / "bin" / "python"
    assert chosen.venv.activation == ("bin/activate",)
    assert site_packages(tmp_path, venv=chosen.venv) == [site / "site-packages"]


def _record_row(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


@pytest.fixture
def windows_venv(tmp_path: Path) -> Path:
    """A venv laid out as on Windows, with a correct RECORD. Its ``python.exe`` is no program
    that runs here: only what needs no run is judged."""
    venv = tmp_path / "root" / "legacy"
    home = tmp_path / "Python311"
    home.mkdir()
    site = venv / "Lib" / "site-packages"
    (site / "pkg").mkdir(parents=True)
    (venv / "Scripts").mkdir()
    python = venv / "Scripts" / "python.exe"
    python.write_bytes(b"MZ not a program")
    python.chmod(0o755)
    for script in ("activate.bat", "Activate.ps1"):
        (venv / "Scripts" / script).write_text(f"rem {venv}\n", encoding="utf-8")
    (venv / "pyvenv.cfg").write_text(f"home = {home}\nversion = 3.11.9\n", encoding="utf-8")
    module, launcher = b"X = 1\n", b"MZ pkg launcher"
    (site / "pkg" / "__init__.py").write_bytes(module)
    (venv / "Scripts" / "pkg.exe").write_bytes(launcher)
    dist_info = site / "pkg-1.0.dist-info"
    dist_info.mkdir()
    rows = [
        _record_row("pkg/__init__.py", module),
        _record_row("..\\..\\Scripts\\pkg.exe", launcher),
        "pkg-1.0.dist-info/RECORD,,",
    ]
    (dist_info / "RECORD").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return venv


def test_a_windows_layout_venv_is_judged_sound_with_the_windows_layout(windows_venv: Path) -> None:
    facts = look_at(EnvRequest("legacy", windows_venv), venv=WINDOWS_VENV)
    report = verify_env(windows_venv, venv=WINDOWS_VENV)

    assert facts.missing_activation == () and facts.interpreter_problem is None
    assert structure(facts, venv=WINDOWS_VENV) == []
    assert structure_problem(windows_venv, venv=WINDOWS_VENV) is None
    assert report.site_packages == ("Lib/site-packages",)
    assert report.findings == ()


def test_verify_checks_a_windows_layout_venv_with_the_layout_it_is_given(
    windows_venv: Path,
) -> None:
    root = windows_venv.parent
    target = VerifyTarget("legacy", "adopted", str(windows_venv), (), "copy")
    scope = VerifyScope(str(root), (target,), frozenset())

    on_windows = check_env(scope, target, venv=WINDOWS_VENV)
    as_posix = check_env(scope, target, venv=POSIX_VENV)

    assert on_windows.problem is None and on_windows.env_findings == ()
    assert on_windows.report is not None and on_windows.report.findings == ()
    # The symptoms of judging it with the other layout (issue #18): never on Windows now.
    assert {f.reason for f in as_posix.env_findings} == {
        "interpreter_broken",
        "activation_missing",
    }
    assert as_posix.problem is not None and "lib/python*/site-packages" in as_posix.problem
    with pytest.raises(EnvNotVerifiable, match="no lib/python"):
        verify_env(windows_venv, venv=POSIX_VENV)


def test_a_windows_activation_script_that_is_gone_is_still_found_missing(
    windows_venv: Path,
) -> None:
    (windows_venv / "Scripts" / "Activate.ps1").unlink()

    facts = look_at(EnvRequest("legacy", windows_venv), venv=WINDOWS_VENV)

    found = structure(facts, venv=WINDOWS_VENV)
    assert [f.reason for f in found] == ["activation_missing"]
    assert "Scripts/Activate.ps1" in (found[0].detail or "")


def test_no_function_defaults_the_platform_or_the_layout() -> None:
    """A default of ``windows=False`` (or of a layout, a platform, the store's operations) is
    how every env was judged with the POSIX layout on Windows: each is passed from the edge."""
    chosen_below = []
    for name, module in _modules():
        for node in ast.walk(module):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            defaulted = positional[len(positional) - len(args.defaults) :]
            defaulted += [
                a for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None
            ]
            chosen_below += [
                f"{name}:{node.lineno} {node.name}({arg.arg}=...)"
                for arg in defaulted
                if arg.arg in ("windows", "venv", "platform", "ops")
            ]
    assert chosen_below == []


def test_only_the_edge_asks_which_platform_this_is() -> None:
    asked = []
    for name, module in _modules():
        for node in ast.walk(module):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and (node.value.id, node.attr) in (("sys", "platform"), ("os", "name"))
                and name not in DECIDES
                and name not in LOW_LEVEL
            ):
                asked.append(f"{name}:{node.lineno} {node.value.id}.{node.attr}")
            if isinstance(node, ast.Call) and name not in EDGES | DECIDES:
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if called in ("native", "current", "current_venv"):
                    asked.append(f"{name}:{node.lineno} {called}()")
    assert asked == []
