"""Unit tests of spec/markerscope.py: markers scoped to the env's Python mean the same on
every host of that Python, and drop only what the range decides."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from packaging.markers import Marker

from reconciler.spec.markerscope import HOSTS, scoped, scoped_marker

_VERSIONS = ("3.10", "3.11", "3.11.0", "3.11.4", "3.11.7", "3.11.8", "3.12", "3.12.1", "3.13")
_PY_OPS = ("<", "<=", ">", ">=", "==", "!=", "~=")


def _python_atom() -> st.SearchStrategy[str]:
    full = st.tuples(st.sampled_from(_PY_OPS), st.sampled_from(_VERSIONS)).map(
        lambda t: f"python_full_version {t[0]} '{t[1]}'"
    )
    short = st.tuples(st.sampled_from(_PY_OPS), st.sampled_from(("3.10", "3.11", "3.12"))).map(
        lambda t: f"python_version {t[0]} '{t[1]}'"
    )
    wild = st.sampled_from(("==", "!=")).map(lambda op: f"python_full_version {op} '3.11.*'")
    return st.one_of(full, short, wild)


_OTHER = st.sampled_from(
    (
        "sys_platform == 'win32'",
        "sys_platform == 'linux'",
        "sys_platform == 'darwin'",
        "sys_platform != 'emscripten'",
        "platform_machine == 'x86_64'",
        "platform_machine == 'aarch64'",
        "platform_machine == 'arm64'",
        "platform_machine == 'AMD64'",
        "platform_machine != 'aarch64'",
        "platform_system == 'Windows'",
        'os_name == "nt"',
        "extra == 'cuda'",
        "implementation_name == 'cpython'",
        "platform_python_implementation != 'PyPy'",
    )
)


def _tree() -> st.SearchStrategy[str]:
    leaf = st.one_of(_python_atom(), _OTHER)
    return st.recursive(
        leaf,
        lambda inner: st.tuples(inner, st.sampled_from((" and ", " or ")), inner).map(
            lambda t: f"({t[0]}{t[1]}{t[2]})"
        ),
        max_leaves=6,
    )


def _hosts(python: str) -> list[dict[str, str]]:
    """Every host of the scope: the six a universal lockfile serves, with Python releases
    across the range, CPython, and an extra asked for or not."""
    fulls = ("3.11.7",) if python.count(".") == 2 else ("3.11.0", "3.11.4", "3.11.7", "3.11.15")
    return [
        {
            **host,
            "python_full_version": full,
            "python_version": "3.11",
            "implementation_name": implementation.lower(),
            "platform_python_implementation": implementation,
            "extra": extra,
        }
        for full in fulls
        for host in HOSTS
        for extra in ("", "cuda")
        for implementation in ("CPython", "PyPy")
    ]


def _holds(marker: str | bool, host: dict[str, str]) -> bool:
    return marker if isinstance(marker, bool) else Marker(marker).evaluate(host)


@settings(max_examples=600, deadline=None)
@given(marker=_tree(), python=st.sampled_from(("3.11", "3.11.7")))
def test_a_scoped_marker_means_the_same_on_every_host_of_the_python(
    marker: str, python: str
) -> None:
    """Whatever the shape, the scoped marker holds on exactly the hosts of the scope (that
    Python, the six platforms) where uv's marker holds: nothing the scope does not decide is
    dropped, and a host clause rewritten picks the same hosts."""
    result = scoped_marker(marker, python)
    for host in _hosts(python):
        assert _holds(result, host) == Marker(marker).evaluate(host), (marker, result, host)


@pytest.mark.parametrize(
    ("marker", "python", "expected"),
    [
        ("python_full_version < '3.12'", "3.11", True),
        (
            "python_full_version < '3.12' and sys_platform == 'win32'",
            "3.11",
            "sys_platform == 'win32'",
        ),
        (
            "python_full_version >= '3.11.4' and python_full_version < '3.12'",
            "3.11",
            "python_full_version >= '3.11.4'",
        ),
        ("python_full_version <= '3.11.7'", "3.11.7", True),
        ("python_full_version <= '3.11.7'", "3.11", "python_full_version <= '3.11.7'"),
        ("python_version >= '3.12'", "3.11", False),
        ("python_full_version == '3.11.4'", "3.11", "python_full_version == '3.11.4'"),
        (
            "(sys_platform == 'linux' or sys_platform == 'darwin')"
            " and python_full_version < '3.12'",
            "3.11",
            "sys_platform == 'linux' or sys_platform == 'darwin'",
        ),
        (
            "python_full_version < '3.12' and (sys_platform == 'linux' or sys_platform == 'darwin')"
            " and platform_machine == 'x86_64'",
            "3.11",
            "(sys_platform == 'linux' or sys_platform == 'darwin')"
            " and platform_machine == 'x86_64'",
        ),
        ("sys_platform == 'win32'", "3.11", "sys_platform == 'win32'"),
        ("extra == 'cuda'", "3.11", "extra == 'cuda'"),
        ("not a marker ((", "3.11", "not a marker (("),
        ("python_full_version != '3.11.4.*'", "3.11", "python_full_version != '3.11.4.*'"),
        ("python_full_version != '3.11.4.*'", "3.11.7", True),
        (
            "python_full_version < '3.12' and ((platform_machine == 'AMD64' and sys_platform"
            " == 'win32') or (platform_machine == 'ARM64' and sys_platform == 'win32'))",
            "3.11",
            "sys_platform == 'win32'",
        ),
        (
            "(platform_machine == 'arm64' and sys_platform == 'darwin') or (platform_machine =="
            " 'x86_64' and sys_platform == 'darwin') or (platform_machine == 'aarch64' and"
            " sys_platform == 'linux') or (platform_machine == 'x86_64' and sys_platform =="
            " 'linux') or (platform_machine == 'AMD64' and sys_platform == 'win32') or"
            " (platform_machine == 'ARM64' and sys_platform == 'win32')",
            "3.11",
            True,
        ),
        (
            "platform_machine == 'aarch64' or platform_machine == 'amd64' or platform_machine =="
            " 'arm64' or platform_machine == 'x86_64'",
            "3.11",
            "sys_platform == 'darwin' or sys_platform == 'linux'",
        ),
        (
            "(platform_machine == 'arm64' and sys_platform == 'darwin') or (platform_machine =="
            " 'x86_64' and sys_platform == 'linux')",
            "3.11",
            "(platform_machine == 'arm64' and sys_platform == 'darwin') or (platform_machine =="
            " 'x86_64' and sys_platform == 'linux')",
        ),
        (
            "(platform_machine == 'arm64' and platform_python_implementation != 'PyPy' and"
            " sys_platform == 'darwin') or (platform_machine == 'x86_64' and"
            " platform_python_implementation != 'PyPy' and sys_platform == 'darwin') or"
            " (platform_machine == 'aarch64' and platform_python_implementation != 'PyPy' and"
            " sys_platform == 'linux') or (platform_machine == 'x86_64' and"
            " platform_python_implementation != 'PyPy' and sys_platform == 'linux') or"
            " (platform_machine == 'AMD64' and platform_python_implementation != 'PyPy' and"
            " sys_platform == 'win32') or (platform_machine == 'ARM64' and"
            " platform_python_implementation != 'PyPy' and sys_platform == 'win32')",
            "3.11",
            "platform_python_implementation != 'PyPy'",
        ),
        (
            "(implementation_name == 'cpython' and sys_platform == 'linux') or"
            " (implementation_name == 'cpython' and sys_platform == 'win32')",
            "3.11",
            "implementation_name == 'cpython' and (sys_platform == 'linux' or sys_platform =="
            " 'win32')",
        ),
        ("sys_platform != 'emscripten'", "3.11", True),
        ("sys_platform == 'emscripten'", "3.11", False),
        (
            "sys_platform == 'win32' and extra == 'x'",
            "3.11",
            "sys_platform == 'win32' and extra == 'x'",
        ),
        ("python_full_version < '3.12' and", "3.11", "python_full_version < '3.12' and"),
    ],
)
def test_scoped_marker_examples(marker: str, python: str, expected: str | bool) -> None:
    """Clauses the range decides go; partial ones, other variables and unreadable markers
    stay as uv wrote them."""
    assert scoped_marker(marker, python) == expected


def test_scoped_rewrites_only_pin_lines() -> None:
    """Pin lines lose the decided clause (keeping the continuation backslash); hash lines,
    comments and a pin whose marker holds nowhere in the range stay as they were."""
    text = (
        "alpha==1.0 ; python_full_version < '3.12' \\\n"
        "    --hash=sha256:aa\n"
        "colorama==0.4.6 ; python_full_version < '3.12' and sys_platform == 'win32' \\\n"
        "    --hash=sha256:bb\n"
        "    # via tqdm ; python_full_version < '3.12'\n"
        "numpy==2.5 ; python_full_version >= '3.12' \\\n"
        "    --hash=sha256:cc\n"
        "six==1.16.0 \\\n"
        "    --hash=sha256:dd\n"
    )
    assert scoped(text, "3.11") == (
        "alpha==1.0 \\\n"
        "    --hash=sha256:aa\n"
        "colorama==0.4.6 ; sys_platform == 'win32' \\\n"
        "    --hash=sha256:bb\n"
        "    # via tqdm ; python_full_version < '3.12'\n"
        "numpy==2.5 ; python_full_version >= '3.12' \\\n"
        "    --hash=sha256:cc\n"
        "six==1.16.0 \\\n"
        "    --hash=sha256:dd\n"
    )
