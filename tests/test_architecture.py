"""The layout is the pipeline: each subpackage imports only the layers below it, the pure
packages do no IO, and a package's ``__init__`` imports nothing (docs/architecture.md)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "reconciler"

# The foundation every layer may use: one exception root, the only process spawner, the file
# helpers, signal handling, fault injection for the crash tests, and the venv layouts (plain
# data; which one applies is decided by store/system.py).
BASE = frozenset({"errors", "runner", "files", "interrupts", "faults", "platform", "__version__"})

# What each part may import besides BASE and itself. Lower layers never import higher ones.
ALLOWED: dict[str, frozenset[str]] = {
    "spec": frozenset(),
    "core": frozenset({"spec"}),
    "report": frozenset({"spec", "core"}),
    "store": frozenset({"spec", "core"}),
    "observe": frozenset({"spec", "core", "store"}),
    "memo": frozenset({"spec", "core", "store", "observe"}),
    "execute": frozenset({"spec", "core", "store", "observe", "memo"}),
    "commands": frozenset({"spec", "core", "report", "store", "observe", "memo", "execute"}),
    "cli": frozenset({"spec", "core", "report", "store", "observe", "memo", "execute", "commands"}),
    "__main__": frozenset({"cli"}),
    "__init__": frozenset({"commands"}),
}

PURE = ("spec", "core", "report")
# Pure code decides; it never touches the disk, the clock of other processes, or a process.
IO_MODULES = frozenset(
    {
        "os",
        "shutil",
        "subprocess",
        "stat",
        "tempfile",
        "socket",
        "threading",
        "concurrent",
        "signal",
        "fcntl",
        "msvcrt",
        "ctypes",
    }
)
IO_PARTS = frozenset({"files", "runner", "interrupts", "faults"})


def _part(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` but those under ``if TYPE_CHECKING:`` (imports for annotations
    only: they never run, so they create no dependency between layers at run time)."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            yield from (node for stmt in child.orelse for node in _runtime_nodes_of(stmt))
            continue
        yield child
        yield from _runtime_nodes(child)


def _runtime_nodes_of(stmt: ast.AST) -> Iterator[ast.AST]:
    yield stmt
    yield from _runtime_nodes(stmt)


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """Every module ``path`` imports at run time, at any depth (lazy imports in functions
    count; imports for the type checker only do not)."""
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "reconciler":
                for alias in node.names:
                    yield node.lineno, f"reconciler.{alias.name}"
            else:
                yield node.lineno, node.module


def _target(module: str) -> str | None:
    """The part of reconciler a dotted import lands in, or None for a third-party module."""
    parts = module.split(".")
    if parts[0] != "reconciler":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_each_module_imports_only_the_layers_below_it(path: Path) -> None:
    part = _part(path)
    allowed = ALLOWED.get(part)
    if allowed is None:
        assert part in BASE, f"{path.name}: a top-level module the layering does not know"
        allowed = frozenset({"errors", "interrupts"}) if part != "errors" else frozenset()
    wrong = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if (target := _target(module)) is not None
        and target not in {part, *allowed}
        and not (part not in BASE and target in BASE)
    ]
    assert not wrong, f"{path.relative_to(PACKAGE)} imports above its layer: {wrong}"


@pytest.mark.parametrize(
    "path",
    [p for p in _sources() if _part(p) in PURE],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_pure_packages_do_no_io(path: Path) -> None:
    wrong = [
        f"line {line}: {module}"
        for line, module in _imports(path)
        if module.split(".")[0] in IO_MODULES or _target(module) in IO_PARTS
    ]
    assert not wrong, f"{path.relative_to(PACKAGE)} is pure but imports IO: {wrong}"


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*/__init__.py")), ids=lambda p: p.parent.name)
def test_subpackage_init_is_a_docstring_only(path: Path) -> None:
    body = ast.parse(path.read_text(encoding="utf-8")).body
    assert len(body) == 1 and isinstance(body[0], ast.Expr), (
        f"{path.parent.name}/__init__.py must hold only its docstring: importing a package "
        "must not import its modules (which and plan replays import very little)"
    )


def test_only_the_runner_spawns_processes() -> None:
    spawners = {
        str(path.relative_to(PACKAGE))
        for path in _sources()
        for _, module in _imports(path)
        if module.split(".")[0] == "subprocess"
    }
    assert spawners <= {"runner.py"}


def test_every_part_is_a_known_layer() -> None:
    parts = {_part(p) for p in _sources()}
    assert parts <= set(ALLOWED) | BASE, parts - set(ALLOWED) - BASE


def test_the_architecture_page_names_every_part_and_only_modules_that_exist() -> None:
    text = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for part in sorted(parts):
        assert f"`{part}/`" in text, f"docs/architecture.md does not describe {part}/"
    named = set(re.findall(r"`((?:[a-z]+/)?[a-z_]+\.py)`", text))
    for name in sorted(named):
        found = list(PACKAGE.glob(name)) or list(PACKAGE.glob(f"*/{name}"))
        found += list((PACKAGE.parent / "tests").glob(name.removeprefix("tests/")))
        assert found, f"docs/architecture.md names {name}, which does not exist"


# What a model's start runs when `which` answers from its memo (reconciler/cli/start.py): the
# standard library's cheapest modules and these, so that it costs a few milliseconds, not the
# hundred that pydantic, tomlkit, rich, networkx, argparse and pathlib take to import.
START_UP = ("cli/start.py", "memo/resolution.py", "memo/stamps.py", "spec/rootline.py")
START_UP_STDLIB = frozenset({"__future__", "os", "sys", "stat", "json"})
LATE = {
    "cli/start.py": {"reconciler.cli.app"},  # the CLI, for every answer not remembered
    "memo/resolution.py": {"pathlib", "reconciler.memo.identity"},  # remember(): not on a start
}


def _start_up_module(module: str) -> bool:
    return module in START_UP_STDLIB or module.replace(".", "/").removeprefix("reconciler/") + (
        ".py"
    ) in set(START_UP)


@pytest.mark.parametrize("name", START_UP)
def test_a_remembered_which_imports_only_the_standard_librarys_cheapest_modules(
    name: str,
) -> None:
    wrong = [
        f"line {line}: {module}"
        for line, module in _imports(PACKAGE / name)
        if not _start_up_module(module) and module not in LATE.get(name, set())
    ]
    assert not wrong, f"{name} is on a model's start but imports {wrong}"


def test_the_command_starts_from_the_module_that_answers_which_first() -> None:
    pyproject = (PACKAGE.parent / "pyproject.toml").read_text(encoding="utf-8")
    assert 'reconcile = "reconciler.cli.start:main"' in pyproject
    main = (PACKAGE / "__main__.py").read_text(encoding="utf-8")
    assert "from reconciler.cli.start import main" in main
