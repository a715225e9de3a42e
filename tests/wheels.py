"""Test helper: write tiny, correct wheels with zipfile (no network, no build backend)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    files: Mapping[str, bytes | str] | None = None,
    requires: Sequence[str] = (),
    wrong_record: Mapping[str, Literal["sha256", "size"]] | None = None,
    tag: str = "py3-none-any",
    requires_python: str | None = None,
) -> Path:
    """Write ``<name>-<version>-<tag>.whl`` into ``folder`` and return its path.

    ``files`` maps paths inside site-packages to contents; by default the wheel holds one
    module ``<name>/__init__.py`` that sets ``VERSION``. The RECORD lists every file with its
    sha256 and size, as installers expect, except for the paths in ``wrong_record``: a wheel
    built wrong upstream (some torch releases, uv_build before 0.8.13), whose RECORD row for
    that file has another file's sha256 (``"sha256"``, same size) or a size one byte off
    (``"size"``, right sha256). The wheel itself is what it is: its own hash pins it.
    A ``tag`` such as ``py3-none-manylinux_2_28_x86_64`` makes a wheel that installers take
    for one platform's build (its files are pure Python all the same).
    ``requires_python`` (a specifier such as ``">=3.12"``) is written as ``Requires-Python``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    module = canonicalize_name(name).replace("-", "_")
    if files is None:
        files = {f"{module}/__init__.py": f"VERSION = {version!r}\n"}
    dist_info = f"{module}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python is not None:
        metadata.append(f"Requires-Python: {requires_python}")
    metadata += [f"Requires-Dist: {r}" for r in requires]
    contents: dict[str, bytes] = {
        path: data.encode("utf-8") if isinstance(data, str) else data
        for path, data in files.items()
    }
    contents[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode("utf-8")
    contents[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: reconcile-tests\n"
        b"Root-Is-Purelib: true\nTag: " + tag.encode("ascii") + b"\n"
    )
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    wrong = wrong_record or {}
    assert set(wrong) <= set(contents), f"no such file in the wheel: {set(wrong) - set(contents)}"
    for path, data in sorted(contents.items()):
        digest, size = _record_hash(data), len(data)
        if wrong.get(path) == "sha256":
            digest = _record_hash(b"not " + data)
        elif wrong.get(path) == "size":
            size += 1
        writer.writerow([path, digest, str(size)])
    writer.writerow([f"{dist_info}/RECORD", "", ""])
    contents[f"{dist_info}/RECORD"] = record.getvalue().encode("utf-8")
    target = folder / f"{module}-{version}-{tag}.whl"
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, data in sorted(contents.items()):
            info = zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return target


def wheel_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
