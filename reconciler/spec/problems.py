"""Pure: how a manifest's problems are worded. Key paths as TOML writes them, what a wrong
value is, the key that was probably meant, and the rules that span several fields."""

from __future__ import annotations

import difflib
import json
import posixpath
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from reconciler.spec.envkeys import clashes, folded_path
from reconciler.spec.values import env_key_problem


def format_key_path(loc: Iterable[str | int]) -> str:
    """Render a location as a TOML key path: ``envs."my.env".python``, ``requirements[2]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        bare = re.fullmatch(r"[A-Za-z0-9_-]+", part)
        text = part if bare else json.dumps(part, ensure_ascii=False)  # TOML's basic string
        out += f".{text}" if out else text
    return out


def describe(value: Any) -> str:
    kind = {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)
    if isinstance(value, (dict, list)):
        return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
    return f"{kind} {value!r}" if not isinstance(value, str) else f'string "{value}"'


# Names people reach for that are too far from ours for difflib alone: alias -> our key.
_ALIASES = {
    "environments": "envs",
    "dependencies": "requirements",
    "packages": "requirements",
    "python_version": "python",
}


def did_you_mean(key: str, allowed: Iterable[str]) -> str | None:
    """The allowed key closest to ``key`` (a misspelling, or a common alias of it), if any."""
    known = list(allowed)
    aliases = [alias for alias, real in _ALIASES.items() if real in known]
    close = difflib.get_close_matches(key, known + aliases, n=1, cutoff=0.6)
    return _ALIASES.get(close[0], close[0]) if close else None


EXPECTED = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean (true or false)",
    "tuple_type": "an array",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}


def semantic_problems(raw: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-field rules pydantic cannot express per field; tolerant of wrong types."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    envs = raw.get("envs")
    envs = envs if isinstance(envs, dict) else {}
    for key, spec in envs.items():
        if not isinstance(spec, dict):
            continue
        if "adopt" in spec:
            for managed_only in ("requirements", "lockfile", "sources", "platform"):
                if managed_only in spec:
                    found.append(
                        (
                            ("envs", key, managed_only),
                            f'an adopted env cannot have "{managed_only}"; remove it, or remove '
                            '"adopt" to let reconcile build this env',
                        )
                    )
        elif spec.get("delete") is True:
            found.append(
                (
                    ("envs", key, "delete"),
                    "only an adopted env can be deleted this way; to delete a managed env, "
                    "remove its table from the manifest",
                )
            )
        elif "python" not in spec:
            found.append(
                (
                    ("envs", key, "python"),
                    'a managed env needs "python" ("X.Y" or "X.Y.Z"), or "adopt" for an '
                    "existing venv",
                )
            )
    models = raw.get("models")
    models = models if isinstance(models, dict) else {}
    declared = sorted(str(k) for k in envs)
    doomed = {k for k, v in envs.items() if isinstance(v, dict) and v.get("delete") is True}
    for name, spec in models.items():
        if not isinstance(spec, dict):
            continue
        for field in ("env", "fallback"):
            target = spec.get(field)
            if not isinstance(target, str):
                continue
            if target in doomed:
                fix = "move the model to another env" if field == "env" else "name another env"
                found.append(
                    (
                        ("models", name, field),
                        f'names env "{target}", which is marked delete = true; {fix} first',
                    )
                )
            if target in envs:
                continue
            usable = [k for k in declared if k not in doomed]
            close = difflib.get_close_matches(target, usable, n=1, cutoff=0.6)
            hint = f'; did you mean "{close[0]}"?' if close else "; declare it under [envs]"
            found.append((("models", name, field), f'names undeclared env "{target}"{hint}'))
        if spec.get("fallback") is not None and spec.get("fallback") == spec.get("env"):
            loop = f"{name} -> {spec['env']} -> {spec['fallback']}"
            found.append(
                (
                    ("models", name, "fallback"),
                    f"is the model's own env, a fallback loop ({loop}); name a different env",
                )
            )
    return found


def key_clashes(
    raw: Mapping[str, Any], line_of: Callable[[tuple[str, ...]], int | None]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Env keys that are one name where case is ignored (``shared`` and ``Shared``), each
    after the first by line: they would share one folder in the root on Windows and macOS.
    Keys the key rule refuses are left to it."""
    envs = raw.get("envs")
    keys = [k for k in envs if env_key_problem(k) is None] if isinstance(envs, dict) else []
    keys.sort(key=lambda k: line_of(("envs", k)) or 0)
    found: list[tuple[tuple[str | int, ...], str]] = []
    for key, earlier in clashes(keys):
        where = line_of(("envs", earlier))
        found.append(
            (
                ("envs", key),
                f'env "{key}" and env "{earlier}"{f" (line {where})" if where else ""} are '
                "one name on Windows and macOS, which ignore case in file names, and would "
                "share one folder in the root; rename one of them",
            )
        )
    return found


def lockfile_clashes(
    raw: Mapping[str, Any], line_of: Callable[[tuple[str, ...]], int | None]
) -> list[tuple[tuple[str | int, ...], str]]:
    """Managed envs whose lockfiles, as written (``lockfile``, or the default
    ``<lockfiles>/<key>.txt``), differ only in case or trailing dots: two files on Linux, one
    on Windows and macOS, where `lock` would write one over the other. Lockfiles written
    alike are one file everywhere: the check on disk names those."""
    settings = raw.get("settings")
    folder = settings.get("lockfiles") if isinstance(settings, dict) else None
    folder = folder if isinstance(folder, str) else "lockfiles"
    envs = raw.get("envs")
    written: dict[str, tuple[str, tuple[str, ...]]] = {}
    for key, spec in envs.items() if isinstance(envs, dict) else ():
        if not isinstance(spec, dict) or "adopt" in spec or env_key_problem(key) is not None:
            continue
        path = spec.get("lockfile", f"{folder}/{key}.txt")
        if isinstance(path, str):
            loc: tuple[str, ...] = ("envs", key)
            loc += ("lockfile",) if "lockfile" in spec else ()
            written.setdefault(posixpath.normpath(path.replace("\\", "/")), (path, loc))
    by_line = sorted(written, key=lambda path: line_of(written[path][1]) or 0)
    found: list[tuple[tuple[str | int, ...], str]] = []
    for path, earlier in clashes(by_line, fold=folded_path):
        (shown, loc), (other, other_loc) = written[path], written[earlier]
        if len(loc) == len(other_loc) == 2:
            continue  # two default lockfiles: their keys clash, which key_clashes says
        where = line_of(other_loc)
        found.append(
            (
                loc,
                f"the lockfile {shown} and env {other_loc[1]}'s lockfile {other}"
                f"{f' (line {where})' if where else ''} are one file on Windows and macOS, "
                "which ignore case in file names; name another file",
            )
        )
    return found


def toml_error_line(text: str) -> int | None:
    """The line of a TOML error that tomlkit reports without one, asked of the stdlib parser."""
    if sys.version_info >= (3, 11):  # tomllib is in the stdlib from 3.11 on
        import tomllib

        try:
            tomllib.loads(text)
        except RecursionError:
            return None
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"at line (\d+)", str(exc))
            return int(match.group(1)) if match else None
    return None


def one_line(text: str) -> str:
    """Escape control characters (a key or value may hold a newline): one problem, one line."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: json.dumps(m.group(0))[1:-1], text)
