"""One exception root for the whole tool; the CLI catches it once and maps it to an exit code."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

TYPE_CHECKING = False  # not typing's: every command imports this module, and typing costs 2 ms
if TYPE_CHECKING:
    from typing import NoReturn


class ReconcileError(Exception):
    """Root of every error the tool reports to a user.

    ``str(error)`` is one clear sentence naming the thing and what to do.
    """

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def details(self) -> tuple[str, ...]:
        """Lines printed to stderr before the message (one per problem, where there are many)."""
        return ()


class Problem:
    """One problem found in an input file, located by line and key path.

    A plain immutable value class rather than a dataclass: every command imports this module,
    and dataclasses (with inspect) would cost the start-up of each."""

    __slots__ = ("key_path", "line", "message")

    def __init__(self, line: int | None, key_path: str, message: str) -> None:
        object.__setattr__(self, "line", line)
        object.__setattr__(self, "key_path", key_path)
        object.__setattr__(self, "message", message)

    line: int | None
    key_path: str
    message: str

    def _key(self) -> tuple[int | None, str, str]:
        return (self.line, self.key_path, self.message)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Problem is immutable; cannot set {name}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Problem) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Problem(line={self.line!r}, key_path={self.key_path!r}, message={self.message!r})"

    def render(self, file_label: str) -> str:
        where = f"{file_label}:{self.line}" if self.line else file_label
        prefix = f"{self.key_path}: " if self.key_path else ""
        return f"{where}: {prefix}{self.message}"


class ManifestError(ReconcileError):
    """The manifest is missing, unreadable, not TOML, or breaks the schema."""

    def __init__(self, file_label: str, problems: Sequence[Problem]) -> None:
        self.file_label = file_label
        self.problems = tuple(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        them = "it" if count == 1 else "them"
        super().__init__(f"{file_label} has {count} {noun}; fix {them} and run the command again.")

    def details(self) -> tuple[str, ...]:
        return tuple(p.render(self.file_label) for p in self.problems)


class ManifestNotFound(ReconcileError):
    """No manifest at the given path."""


class LockfileError(ReconcileError):
    """A lockfile is missing, stale, or does not parse."""


class PlanCycleError(ReconcileError):
    """The dependency graph of a plan has a cycle."""


class RootNotAFolder(ReconcileError):
    """The root (``settings.root`` or ``--root``), or a folder above it, is a file."""

    def __init__(self, root: object) -> None:
        super().__init__(
            f"the root {root} is not a folder: a file or a broken link is in its place or on "
            "its path; point settings.root (or --root) at a folder, or move that away."
        )


class UsageError(ReconcileError):
    """A command-line argument is wrong (unknown env, bad format...)."""


class CommandNotStarted(UsageError):
    """`run` could not start the user's command: exit 127 when its program was not found,
    126 when it was found but cannot be run, as shells (and `uv run`) say."""

    def __init__(self, message: str, *, found: bool) -> None:
        super().__init__(message)
        self.exit_code = 126 if found else 127


class UnknownEnv(UsageError):
    """A command names an env that is not there: the command's own sentence about ``name``
    (``said``), then the closest of the ``known`` names, or where the names are."""

    def __init__(self, said: str, name: str, known: Iterable[str]) -> None:
        import difflib  # only on this error: every command imports this module

        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f'did you mean "{close[0]}"?' if close else "pass a key from [envs]."
        super().__init__(f"{said}; {hint}")
        self.name = name


class LockTimeout(ReconcileError):
    """Another reconcile held the apply lock (``<root>/.lock``) for longer than the lock timeout."""


class PythonNotFound(ReconcileError):
    """No working interpreter for a declared Python version, and none could be downloaded.

    ``version`` is the declared version (``"3.11"`` or ``"3.11.7"``); ``details()`` carries
    uv's reason when a download was attempted and failed.
    """

    def __init__(self, version: str, message: str, details: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.version = version
        self._details = tuple(details)

    def details(self) -> tuple[str, ...]:
        return self._details


class InternalFolderRefused(ReconcileError):
    """One of the root's own folders (``.generations``, ``.state``, ``.cache``, ``.trash``, a
    per-env folder under ``.generations``, a generation) is a link or a file: reconcile never
    reads, writes or removes anything through it."""

    def __init__(self, path: object, what: str, is_link: bool) -> None:
        self.path = path
        if is_link:
            message = (
                f"refusing to use {path}: it is a link, and reconcile keeps {what} there and "
                "never reads, writes or removes anything through a link; remove the link (move "
                "back what it points at, if it was reconcile's) and run the command again."
            )
        else:
            message = (
                f"refusing to use {path}: a file is where a folder should be (reconcile keeps "
                f"{what} there); move it away and run the command again."
            )
        super().__init__(message)


class PathUnreadable(ReconcileError):
    """A path reconcile must look at cannot be looked at (permission denied, a link loop...)."""

    def __init__(self, path: object, exc: OSError) -> None:
        super().__init__(
            f"cannot look at {path}: {exc.strerror or exc}; run reconcile as a user who may "
            "read it, or fix its permissions."
        )
        self.path = path


class LockRefused(LockfileError):
    """Several lockfiles refused at once (every env `lock` could not lock, every lockfile a
    plan cannot use): the last one's sentence is the message, the others come before it
    (``details``), each as an error line of its own."""

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__(messages[-1])
        self._earlier = tuple(f"error: {message}" for message in messages[:-1])

    def details(self) -> tuple[str, ...]:
        return self._earlier


class InputFileError(ReconcileError):
    """A file reconcile was told to read (a lockfile the manifest names, a saved plan) is not
    a regular file, is too big, or cannot be opened. The message names the path and never
    shows the file's content."""


class UnusablePath(ReconcileError):
    """A path reconcile would hand to a program cannot be used there: the root or an env
    folder holds ``os.pathsep``, so its bin folder could never be put on PATH."""


class EnvPathOccupied(ReconcileError):
    """Something reconcile did not create (a folder, a file, a link elsewhere) sits where an
    env's link goes, ``<root>/<env_key>``: reconcile never moves nor removes it."""

    def __init__(self, path: object, what: str) -> None:
        self.path = path
        super().__init__(
            f"{path} is {what} that reconcile did not create, where this env's link goes: move "
            "it away (reconcile never deletes it) and run apply again."
        )


def assert_never(value: NoReturn) -> NoReturn:
    """The last ``case _:`` of a match over a Literal or an enum: mypy (exhaustive-match)
    rejects a match that leaves a value out, and this names one that got through at run time.
    (``typing.assert_never`` is 3.11+.)"""
    raise AssertionError(f"unhandled value: {value!r}")
