"""Pure: frozen types for what observation saw and what health assessment concluded."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from reconciler.core.integrity import VerifyReport

PathKind = Literal["absent", "dir", "symlink", "broken_symlink", "other"]


@dataclass(frozen=True)
class InstalledDist:
    """A distribution found as ``*.dist-info`` in site-packages (name is canonicalized)."""

    name: str
    version: str
    dist_info: str


@dataclass(frozen=True)
class ProbeResult:
    """What the env's own interpreter said about itself in one probe subprocess."""

    version: str
    marker_env: tuple[tuple[str, str], ...]
    import_failures: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class EnvFacts:
    """Raw facts about one env folder, gathered without judging them."""

    env_key: str
    path: str
    kind: PathKind
    link_target: str | None = None
    receipt: tuple[tuple[str, str], ...] | None = None
    interpreter_present: bool = False
    interpreter_problem: str | None = None
    """Why the interpreter cannot be started, seen without running it (``"is missing"``,
    ``"is not executable"``, ``"cannot be looked at (Permission denied)"``); ``None`` when it
    is an executable file."""
    pyvenv_cfg: tuple[tuple[str, str], ...] | None = None
    pyvenv_cfg_problem: str | None = None
    """Why pyvenv.cfg could not be read (``"is missing"``, ``"cannot be read (...)"``)."""
    base_interpreter_present: bool | None = None
    base_interpreter_problem: str | None = None
    """Why pyvenv.cfg's ``home`` is no usable folder (``"is gone"``, ``"cannot be looked at
    (...)"``); ``None`` when it is one, or when pyvenv.cfg names none."""
    missing_activation: tuple[str, ...] = ()
    empty_activation: tuple[str, ...] = ()
    """Activation scripts that are empty files: there, but they activate nothing."""
    activation_venv_path: str | None = None
    pth_not_files: tuple[str, ...] = ()
    """``*.pth`` files in site-packages that are no regular file (``lib/python3.12/site-packages/
    x.pth is a FIFO``): Python opens each at start, and would wait on a FIFO forever."""
    real_path: str | None = None
    escapes_root: bool = False
    probe: ProbeResult | None = None
    probe_error: str | None = None
    installed: tuple[InstalledDist, ...] = ()

    @property
    def exists(self) -> bool:
        return self.kind in ("dir", "symlink")

    @property
    def created_by_reconcile(self) -> bool:
        return self.receipt is not None


@dataclass(frozen=True)
class Finding:
    """One health problem: a stable snake_case reason and a human detail."""

    reason: str
    detail: str
    path: str = ""
    """What the finding is about, where that is one file or folder (relative to the env when
    inside it: ``bin/python``, ``pyvenv.cfg``); empty otherwise."""


@dataclass(frozen=True)
class EnvHealth:
    """The verdict on one env: its findings, empty when healthy."""

    env_key: str
    exists: bool
    findings: tuple[Finding, ...] = field(default=())
    corrupted: int = 0
    """How many of its files are unlike their RECORD rows (the ``files_corrupted`` findings
    name only the first few)."""

    @property
    def healthy(self) -> bool:
        return self.exists and not self.findings

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(sorted({f.reason for f in self.findings}))


EnvKind = Literal["managed", "adopted", "folder"]
"""A declared env built by reconcile or adopted by the manifest, or a venv folder named by its
path on the command line (`verify PATH`), checked without a manifest."""


@dataclass(frozen=True)
class EnvCheck:
    """The health and integrity of one declared env.

    ``env_findings`` are about the env as a whole (``health.ENV_LEVEL``: it is missing, or
    cannot start or be activated); they come first in every report. ``report`` is the check
    of its files, ``None`` when ``problem`` says why they were not checked (a link out of the
    root, not a venv; nothing to check in a missing env). ``link_mode`` is the manifest's, for
    the warning about files shared with the package cache.
    """

    env_key: str
    kind: EnvKind
    path: str
    report: VerifyReport | None
    problem: str | None = None
    link_mode: str = "auto"
    env_findings: tuple[Finding, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            not self.env_findings
            and self.problem is None
            and self.report is not None
            and self.report.ok
        )
