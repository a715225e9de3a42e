"""Pure: the value types of envs.toml's keys (names, Python versions, requirements, modules,
globs, paths, package sources, platforms) and how each is checked, one sentence per problem.

The models that use them are :mod:`reconciler.spec.manifest`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Literal
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import AfterValidator, StrictStr
from pydantic_core import PydanticCustomError

from reconciler.spec.envkeys import device_problem
from reconciler.spec.platforms import canonical_platform, platform_problem
from reconciler.spec.winpaths import form_problem

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PYTHON_PATTERN = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
MODULE_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("reconcile", message)


def _name_problem(value: str) -> str | None:
    if not NAME_PATTERN.fullmatch(value) or ".." in value:
        return (
            f'"{value}" is not a valid name: use 1-64 letters, digits, ".", "_" or "-", '
            'starting with a letter or digit, without ".."'
        )
    return None


def env_key_problem(value: str) -> str | None:
    """Why ``value`` may not be an env key (a name that also names folders on every host:
    see :mod:`reconciler.spec.envkeys`); ``None`` when it may."""
    return _name_problem(value) or device_problem(value)


def _checked(problem_of: Callable[[str], str | None]) -> Callable[[str], str]:
    def check(value: str) -> str:
        problem = problem_of(value)
        if problem is not None:
            raise _fail(problem)
        return value

    return check


def _check_python(value: str) -> str:
    if not PYTHON_PATTERN.fullmatch(value):
        raise _fail(f'expected a Python version "X.Y" or "X.Y.Z", got "{value}"')
    return value


def _check_requirement(value: str) -> str:
    try:
        requirement = Requirement(value)
    except InvalidRequirement as exc:
        first = str(exc).splitlines()[0]
        raise _fail(f'"{value}" is not a valid PEP 508 requirement ({first})') from None
    if requirement.url is not None:
        path = local_path(requirement.url)
        if path is not None and (leaves_folder(path) or "\x00" in path):
            raise _fail(
                f'"{value}" names a local file outside the folder of envs.toml, which '
                "reconcile never reads; put the wheel in a find_links folder inside it and "
                f'require "{requirement.name}==<version>", or use an https:// URL'
            )
        problem = None if path is None else form_problem(path)
        if problem is not None:
            raise _fail(problem)
    return value


def _check_platform(value: str) -> str:
    problem = platform_problem(value)
    if problem is not None:
        raise _fail(problem)
    return canonical_platform(value)


def _check_module(value: str) -> str:
    if not MODULE_PATTERN.fullmatch(value):
        raise _fail(f'"{value}" is not an importable module name such as "torch" or "a.b"')
    return value


def _check_glob(value: str) -> str:
    if not value or value.startswith("/") or ".." in Path(value).parts:
        raise _fail(f'"{value}" must be a glob relative to site-packages, without ".."')
    return value


NAME_MAX = 255
"""The longest file or folder name (in UTF-8 bytes) that every common file system allows."""


def _check_path(value: str) -> str:
    if "\x00" in value:
        raise _fail(
            f'"{value}" holds a NUL character, which no file system allows in a path; remove it'
        )
    longest = max(value.replace("\\", "/").split("/"), key=lambda part: len(part.encode()))
    if len(longest.encode()) > NAME_MAX:
        raise _fail(
            f"{value} holds a name longer than {NAME_MAX} bytes ({longest[:20]}...), which file "
            "systems refuse; shorten it"
        )
    problem = form_problem(value)
    if problem is not None:
        raise _fail(problem)
    return value


def leaves_folder(value: str) -> bool:
    """Whether a path written in the manifest leads out of the manifest's folder: absolute
    (``/x``, ``C:\\x``, ``C:x``, ``\\\\server\\share``) or climbing above it with ``..``
    (either separator counts: the same manifest serves Windows hosts)."""
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).anchor:
        return True
    depth = 0
    for part in value.replace("\\", "/").split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _check_inside(value: str, path: str | None = None) -> str:
    """``value`` if the path it names (``path``, when ``value`` is a ``file:`` URL) stays
    inside the manifest's folder as written."""
    path = value if path is None else path
    _check_path(path)
    if leaves_folder(path):
        raise _fail(
            f'"{value}" leads out of the folder of envs.toml; write a path relative to that '
            'folder, without a leading "/" or ".." out of it, and keep the file there'
        )
    return value


def local_path(link: str) -> str | None:
    """The local path a ``find_links`` entry, an index URL or a direct reference (``name @
    link``) names:
    the link as written, or the decoded path of a ``file:`` URL (``git+file:`` too), which
    names a local file as surely as a path does; ``None`` for a URL of any other scheme
    (``https://``...), which uv fetches. A ``file:`` URL naming another host is returned as
    ``//host/path``: a path that leads out of the folder."""
    scheme, colon, _ = link.partition(":")
    if colon and scheme.lower().rsplit("+", 1)[-1] == "file":
        parts = urlsplit(link)
        path = unquote(parts.path)
        return path if parts.netloc in ("", "localhost") else f"//{parts.netloc}{path}"
    return None if "://" in link else link


def is_url(link: str) -> bool:
    """Whether a ``find_links`` entry or an index URL is a URL passed to uv as written, rather
    than a path (a ``file:`` URL is a path: see :func:`local_path`)."""
    return local_path(link) is None


def _check_find_link(value: str) -> str:
    path = local_path(value)
    return value if path is None else _check_inside(value, path)


Name = Annotated[StrictStr, AfterValidator(_checked(_name_problem))]
EnvKey = Annotated[StrictStr, AfterValidator(_checked(env_key_problem))]
PythonVersion = Annotated[StrictStr, AfterValidator(_check_python)]
RequirementStr = Annotated[StrictStr, AfterValidator(_check_requirement)]
ModuleName = Annotated[StrictStr, AfterValidator(_check_module)]
Glob = Annotated[StrictStr, AfterValidator(_check_glob)]
PathStr = Annotated[StrictStr, AfterValidator(_check_path)]
InsidePath = Annotated[StrictStr, AfterValidator(_check_inside)]
FindLink = Annotated[StrictStr, AfterValidator(_check_find_link)]
PlatformName = Annotated[StrictStr, AfterValidator(_check_platform)]
IndexUrl = Annotated[StrictStr, AfterValidator(_check_find_link)]
"""An index URL: ``https://...`` as written, or a folder (a path or a ``file:`` URL, which uv
reads as a local index) inside the manifest's folder, as a ``find_links`` path."""
LinkMode = Literal["auto", "copy", "clone", "hardlink"]
PythonDownloads = Literal["automatic", "manual", "never"]
