"""Pure: the pydantic models of envs.toml and a parser that reports every problem at once.

``parse_manifest(text, label)`` never touches the disk; reading the file is
:func:`reconciler.observe.inputs.load_manifest`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import tomlkit
import tomlkit.exceptions
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
)
from pydantic_core import ErrorDetails

from reconciler.errors import ManifestError, Problem
from reconciler.spec.problems import (
    EXPECTED,
    describe,
    did_you_mean,
    format_key_path,
    key_clashes,
    lockfile_clashes,
    one_line,
    semantic_problems,
    toml_error_line,
)
from reconciler.spec.tomllines import key_lines, line_for
from reconciler.spec.values import (
    EnvKey,
    FindLink,
    Glob,
    IndexUrl,
    InsidePath,
    ModuleName,
    Name,
    PathStr,
    PlatformName,
    PythonVersion,
    RequirementStr,
)
from reconciler.spec.values import LinkMode as LinkMode
from reconciler.spec.values import PythonDownloads as PythonDownloads
from reconciler.spec.values import local_path as local_path
from reconciler.spec.winpaths import plain_path

MANIFEST_LIMIT = 16 << 20
"""The largest manifest read: 16 MiB, thousands of times a large real envs.toml."""

BOM = "\ufeff"
"""The byte-order mark some Windows tools write first (PowerShell 5.1's ``-Encoding UTF8``);
a manifest is read as if it were absent, as a lockfile is."""


_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Sources(BaseModel):
    """Where uv looks for packages (``[settings.sources]`` or ``[envs.<key>.sources]``)."""

    model_config = _FROZEN

    index_url: IndexUrl | None = Field(
        None,
        description="Main package index URL; a local index (a path or a `file:` URL) is "
        "relative to the manifest and must stay inside its folder, as `find_links` paths.",
    )
    extra_index_urls: tuple[IndexUrl, ...] = Field(
        (), description="Extra index URLs; a local one as `index_url`."
    )
    find_links: tuple[FindLink, ...] = Field(
        (),
        description="Folders or URLs of wheels; a path (or a `file:` URL) is relative to the "
        "manifest and must stay inside its folder, and so must every wheel or link in it.",
    )
    no_index: StrictBool = Field(False, description="Ignore every index; use find_links only.")


class Settings(BaseModel):
    """``[settings]``: where envs live and how they are built."""

    model_config = _FROZEN

    root: PathStr = Field(
        ".envs",
        description="Where managed envs live, relative to envs.toml or absolute; a folder of "
        "its own: not `/`, not the manifest's folder nor a folder above it.",
    )
    lockfiles: InsidePath = Field(
        "lockfiles", description="Lockfile folder, relative to envs.toml and inside its folder."
    )
    keep_generations: StrictInt = Field(
        2, ge=1, description="Generations kept per env for rollback (>= 1)."
    )
    link_mode: LinkMode = Field(
        "auto", description="How files reach an env: auto (reflink or copy), copy, clone, hardlink."
    )
    python_downloads: PythonDownloads = Field(
        "automatic",
        description=(
            "Whether uv may download a Python that is not installed: automatic (apply "
            "downloads it, if uv has a download for this machine), manual or never (`plan` "
            "warns naming the env, and apply fails that env without building it)."
        ),
    )
    verify_ignore: tuple[Glob, ...] = Field(
        (), description="Globs (relative to site-packages) whose content may differ from RECORD."
    )
    sources: Sources = Field(Sources(), description="Default package sources for every env.")
    platform: PlatformName | None = Field(
        None,
        description="Lock every managed env for this one target platform instead of all of "
        'them: one of uv\'s `--python-platform` names (`"x86_64-manylinux_2_28"`, `"linux"`, '
        '`"macos"`, `"windows"`: see [Platforms](#platforms)), for a mirror that carries one '
        "platform's wheels. `plan` and `apply` refuse to build such an env on a machine of "
        "another platform. Default: universal lockfiles, for every platform.",
    )


class EnvSpec(BaseModel):
    """``[envs.<key>]``: a managed env (``python`` + ``requirements``) or an adopted one."""

    model_config = _FROZEN

    python: PythonVersion | None = Field(
        None, description='"X.Y" or "X.Y.Z"; required for managed envs.'
    )
    requirements: tuple[RequirementStr, ...] = Field(
        (),
        description="PEP 508 requirements, ranges (`numpy>=1.26,<2`) or exact pins "
        "(`numpy==1.26.4`); `reconcile lock` pins every package in the lockfile, and apply "
        "installs exactly that. A direct reference (`name @ URL`) cannot be locked, since a "
        "lockfile pins `name==version` with hashes: put the wheel in a `find_links` folder "
        "and require `name==version` (a local one, `name @ file:...`, must in any case stay "
        "inside the manifest's folder).",
    )
    imports: tuple[ModuleName, ...] = Field(
        (),
        description="Health probe: these modules must import, each as a regular module or "
        "package. A package whose `__init__.py` is missing imports as a namespace package and "
        "fails the probe; for a namespace package on purpose, name a module in it "
        "(`google.protobuf`, not `google`).",
    )
    adopt: PathStr | None = Field(
        None, description="Path of an existing venv: probed and verified, never rebuilt."
    )
    delete: StrictBool = Field(
        False,
        description="Adopted envs only: apply deletes the adopted folder, then forgets the env.",
    )
    verify_ignore: tuple[Glob, ...] = Field(
        (), description="Added to settings.verify_ignore for this env."
    )
    lockfile: InsidePath | None = Field(
        None,
        description="Lockfile path, relative to envs.toml and inside its folder; default "
        "`<lockfiles>/<env_key>.txt`. Not the manifest, not another env's lockfile; `lock` "
        "overwrites only a file it wrote.",
    )
    sources: Sources | None = Field(None, description="Overrides settings.sources for this env.")
    platform: PlatformName | None = Field(
        None, description="Managed envs only: overrides settings.platform for this env."
    )

    @property
    def adopted(self) -> bool:
        return self.adopt is not None


class ModelSpec(BaseModel):
    """``[models.<name>]``: which env a model runs in."""

    model_config = _FROZEN

    env: Name = Field(description="The env this model runs in.")
    fallback: Name | None = Field(None, description="Env used by which/run when env is unhealthy.")


class Manifest(BaseModel):
    """The whole of envs.toml."""

    model_config = _FROZEN

    version: Literal[1] = Field(1, description="Manifest format version; only 1 exists.")
    settings: Settings = Field(Settings(), description="Tool settings.")
    envs: dict[EnvKey, EnvSpec] = Field(default_factory=dict, description="Declared envs.")
    models: dict[Name, ModelSpec] = Field(default_factory=dict, description="Model bindings.")

    def managed_envs(self) -> dict[str, EnvSpec]:
        return {k: v for k, v in sorted(self.envs.items()) if not v.adopted}

    def adopted_envs(self) -> dict[str, EnvSpec]:
        """Adopted envs in use (not marked ``delete = true``)."""
        return {k: v for k, v in sorted(self.envs.items()) if v.adopted and not v.delete}

    def doomed_envs(self) -> dict[str, EnvSpec]:
        """Adopted envs marked ``delete = true``: apply deletes their folder."""
        return {k: v for k, v in sorted(self.envs.items()) if v.adopted and v.delete}

    def sources_for(self, env_key: str) -> Sources:
        spec = self.envs[env_key]
        return spec.sources if spec.sources is not None else self.settings.sources

    def platform_for(self, env_key: str) -> str | None:
        """The one platform a managed env is locked for, or None: universal."""
        spec = self.envs[env_key]
        if spec.adopted:
            return None
        return spec.platform if spec.platform is not None else self.settings.platform

    def verify_ignore_for(self, env_key: str) -> tuple[str, ...]:
        return self.settings.verify_ignore + self.envs[env_key].verify_ignore


_SECTION_MODELS: dict[str, type[BaseModel]] = {
    "": Manifest,
    "settings": Settings,
    "settings.sources": Sources,
    "envs.*": EnvSpec,
    "envs.*.sources": Sources,
    "models.*": ModelSpec,
}


def _section_of(loc: tuple[str | int, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts[:1] in (["envs"], ["models"]) and len(parts) >= 2:
        parts[1] = "*"
    return ".".join(parts)


def _message(error: ErrorDetails) -> tuple[tuple[str | int, ...], str]:
    loc = tuple(error["loc"])
    kind = error["type"]
    if loc and loc[-1] == "[key]":
        loc = loc[:-1]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _SECTION_MODELS.get(_section_of(loc[:-1]))
        allowed = sorted(model.model_fields) if model else []
        close = did_you_mean(key, allowed)
        hint = f'; did you mean "{close}"?' if close else f"; allowed keys: {', '.join(allowed)}"
        return loc, f'unknown key "{key}"{hint}'
    if kind == "missing":
        return loc, "missing required key"
    if kind in EXPECTED:
        return loc, f"expected {EXPECTED[kind]}, got {describe(error['input'])}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return loc, f"expected {expected}, got {describe(error['input'])}"
    if kind == "greater_than_equal":
        bound = error.get("ctx", {}).get("ge")
        return loc, f"must be at least {bound}, got {describe(error['input'])}"
    return loc, str(error["msg"])


def parse_manifest(text: str, label: str) -> Manifest:
    """Parse envs.toml text; raise one ManifestError listing every problem with line numbers."""
    text = text.removeprefix(BOM)
    try:
        raw = tomlkit.parse(text).unwrap()  # unwrap too: it finds a table split and redefined
    except tomlkit.exceptions.ParseError as exc:
        reason = str(exc).split(" at line ")[0]
        raise ManifestError(label, [Problem(exc.line, "", f"not valid TOML: {reason}")]) from None
    except tomlkit.exceptions.TOMLKitError as exc:  # a key or table defined twice: no line
        line = toml_error_line(text)
        raise ManifestError(label, [Problem(line, "", f"not valid TOML: {exc}")]) from None
    except RecursionError:
        problem = Problem(None, "", "arrays or tables are nested too deeply; flatten them")
        raise ManifestError(label, [problem]) from None
    lines = key_lines(text)
    located: list[tuple[tuple[str | int, ...], str]] = []
    manifest: Manifest | None = None
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        located.extend(_message(err) for err in exc.errors(include_url=False))
    located.extend(semantic_problems(raw))
    located.extend(key_clashes(raw, lambda loc: line_for(lines, loc)))
    located.extend(lockfile_clashes(raw, lambda loc: line_for(lines, loc)))
    if located:
        problems = sorted(
            {
                Problem(
                    line_for(lines, tuple(str(p) for p in loc)),
                    format_key_path(loc),
                    one_line(msg),
                )
                for loc, msg in located
            },
            key=lambda p: (p.line or 0, p.key_path, p.message),
        )
        raise ManifestError(label, problems)
    assert manifest is not None  # validate either returned or raised
    return manifest


@dataclass(frozen=True)
class LoadedManifest:
    """A parsed manifest with where it came from; paths resolve relative to its folder, each
    in its plain spelling (:func:`~reconciler.spec.winpaths.plain_path`: ``\\\\?\\C:\\x``
    is ``C:\\x``), so every check compares, and every command uses, one spelling."""

    path: Path
    text: str
    manifest: Manifest
    root_override: Path | None = None

    @property
    def base_dir(self) -> Path:
        return plain_path(self.path.parent)

    @property
    def root(self) -> Path:
        if self.root_override is not None:
            return plain_path(self.root_override)
        return plain_path(self.base_dir / self.manifest.settings.root)

    def lockfile_path(self, env_key: str) -> Path:
        spec = self.manifest.envs[env_key]
        if spec.lockfile is not None:
            return plain_path(self.base_dir / spec.lockfile)
        return plain_path(self.base_dir / self.manifest.settings.lockfiles / f"{env_key}.txt")

    def adopt_path(self, env_key: str) -> Path:
        adopt = self.manifest.envs[env_key].adopt
        if adopt is None:
            raise ValueError(f"{env_key} is not adopted")
        return plain_path(self.base_dir / adopt)

    def adopt_folders(self) -> list[Path]:
        """The folders of every adopted env declared (``delete = true`` or not)."""
        return [self.adopt_path(k) for k, spec in self.manifest.envs.items() if spec.adopted]
