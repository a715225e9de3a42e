"""IO: read files as they are at a git revision (``reconcile diff git:REF``), through git.

Every call goes through runner.py with a timeout; git's own messages never reach the user
raw: each failure becomes one sentence naming the revision and what to do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import InputFileError, UsageError
from reconciler.runner import Command, Result, attempt

GIT_TIMEOUT = 60.0
_QUIET = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def _git(args: list[str], cwd: Path) -> Result:
    outcome = attempt(Command(("git", *args), env=_QUIET, cwd=cwd, timeout=GIT_TIMEOUT))
    if isinstance(outcome, Result):
        return outcome
    if outcome.timeout is not None:
        raise UsageError(
            f"git did not answer within {outcome.timeout:.0f} s in {cwd}; check the repository."
        )
    if outcome.missing:
        raise UsageError(
            "git is not installed or not on PATH; install git or pass manifest paths "
            "instead of git:REF."
        )
    raise UsageError(
        f"git cannot be run ({outcome.error}); fix its installation or pass manifest paths "
        "instead of git:REF."
    )


@dataclass(frozen=True)
class Revision:
    """A commit of the repository that holds the manifest, named as the user wrote it."""

    ref: str
    commit: str
    toplevel: Path

    @property
    def label(self) -> str:
        return f"git:{self.ref}"

    def where(self, path: Path) -> str:
        """``path`` (absolute, in the work tree) as a path of the repository, for git."""
        inside = _inside(path, self.toplevel)
        if inside is None:
            raise UsageError(
                f"{path} is outside the git repository {self.toplevel}, so {self.label} cannot "
                "hold it; keep the manifest and its lockfiles in the repository."
            )
        return inside

    def read(self, path: Path, limit: int) -> str | None:
        """The text of ``path`` (absolute, inside the work tree) at this commit; None when the
        commit has no such file."""
        return self.read_inside(self.where(path), limit)

    def read_inside(self, inside: str, limit: int) -> str | None:
        """The text of the file ``inside`` (a path of the repository) at this commit; None
        when the commit has no such file. Like the work-tree reader, it refuses what is not
        a regular file (a link, a folder, a submodule) or is larger than ``limit`` bytes,
        naming the path and never showing the content."""
        listed = _git(["ls-tree", "-l", "-z", self.commit, "--", inside], self.toplevel)
        entry = listed.stdout.split("\0")[0] if listed.ok else ""
        if not entry:
            return None
        fields, _, _ = entry.partition("\t")
        mode, kind, obj, size = [*fields.split(), "", "", "", ""][:4]
        shown = f"{self.label}:{inside}"
        if kind != "blob" or mode not in ("100644", "100755"):
            what = {"tree": "a folder", "commit": "a submodule"}.get(kind, "a link")
            raise InputFileError(
                f"{shown} is {what} in that revision, not a regular file; commit the file "
                "itself there."
            )
        if not size.isdigit() or int(size) > limit:
            raise InputFileError(
                f"{shown} is larger than {limit >> 20} MiB, more than reconcile reads; check "
                "that it names the right file."
            )
        result = _git(["cat-file", "blob", obj], self.toplevel)
        return result.stdout if result.ok else None


def _inside(path: Path, toplevel: Path) -> str | None:
    """``path`` relative to the work tree, with forward slashes as git wants them."""
    real = Path(os.path.realpath(path))
    try:
        return real.relative_to(toplevel).as_posix()
    except ValueError:
        return None


def revision(ref: str, near: Path) -> Revision:
    """Resolve ``ref`` in the git repository that holds the folder ``near``."""
    if not ref or ref.startswith("-"):
        raise UsageError(f"git:{ref} names no revision; write git:REF, e.g. git:origin/main.")
    where = near if near.is_dir() else Path.cwd()
    top = _git(["rev-parse", "--show-toplevel"], where)
    if not top.ok:
        said = _first_line(top.stderr)
        if "not a git repository" in said:
            raise UsageError(
                f"{where} is not inside a git repository, so git:{ref} cannot be read; run "
                "diff from a clone or pass a manifest path."
            )
        fix = "fix that first"
        if "dubious ownership" in said:  # a checkout owned by another user, as in CI containers
            fix = f"trust it with `git config --global --add safe.directory {where}`"
        raise UsageError(f"git cannot read the repository at {where} ({said}); {fix}.")
    toplevel = Path(os.path.realpath(top.stdout.strip()))
    found = _git(["rev-parse", "--verify", "--quiet", "--end-of-options", ref], where)
    if not found.ok:
        raise UsageError(
            f"git:{ref}: no such revision in {toplevel}; fetch it first (e.g. `git fetch origin "
            "main`, or `fetch-depth: 0` in CI) or name another."
        )
    commit = _git(["rev-parse", "--verify", "--quiet", f"{found.stdout.strip()}^{{commit}}"], where)
    if not commit.ok:
        kind = _git(["cat-file", "-t", found.stdout.strip()], where).stdout.strip() or "object"
        raise UsageError(f"git:{ref} names a {kind}, not a commit; name a branch, tag or commit.")
    return Revision(ref=ref, commit=commit.stdout.strip(), toplevel=toplevel)


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].removeprefix("fatal: ") if lines else "no message"
