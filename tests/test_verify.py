"""Hash verification of real venvs: built with the real uv from tiny wheels, then corrupted.

Each test breaks one thing the way the incidents did (a truncated file, a changed byte, a
deleted module, a second dist-info) or the way a hostile RECORD could (a row that climbs out
of the env, a symlink out), and checks the finding's category, distribution and path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.core.integrity import IntegrityFinding, VerifyReport
from reconciler.files import RACY_NS
from reconciler.observe import walk
from reconciler.observe.hashcache import HashCache, cache_file
from reconciler.observe.hashing import CHUNK, FileHash, Hasher, sha256_file
from reconciler.observe.rows import RowChecker
from reconciler.observe.tally import Tally
from reconciler.observe.walk import EnvNotVerifiable, verify_env
from reconciler.platform import POSIX_VENV, WINDOWS_VENV
from reconciler.spec.record import EMPTY_SHA256, MAX_INVALID_ROWS, record_digest, resolve_record
from tests.helpers import build_env, require_python
from tests.wheels import make_wheel, wheel_sha256

pytestmark = pytest.mark.slow  # each test verifies a venv built with the real uv

SITE = "lib/python3.11/site-packages"
BIG = random.Random(7).randbytes(3 * CHUNK + 123)  # noqa: S311  test data, not a secret
"""Bigger than three read chunks, so chunk boundaries are crossed while hashing."""


@pytest.fixture(autouse=True)
def _copy_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install by copying: corrupting a hardlinked file would corrupt the shared test cache."""
    monkeypatch.setenv("UV_LINK_MODE", "copy")


@dataclass
class Env:
    """A venv built by the real uv: ``vfalpha`` 1.0 (a module, data, a script) and ``vfcerts``."""

    path: Path

    @property
    def site(self) -> Path:
        return self.path / SITE

    def dist_info(self, name: str = "vfalpha", version: str = "1.0") -> Path:
        return self.site / f"{name}-{version}.dist-info"

    def add_rows(self, *rows: str, name: str = "vfalpha") -> None:
        record = self.dist_info(name) / "RECORD"
        text = record.read_text(encoding="utf-8")
        record.write_text(text + "".join(row + "\n" for row in rows), encoding="utf-8")


def _wheels(folder: Path) -> None:
    make_wheel(
        folder,
        "vfalpha",
        "1.0",
        files={
            "vfalpha/__init__.py": "from vfalpha.core import VALUE\n",
            "vfalpha/core.py": "VALUE = 42\n",
            "vfalpha/data.bin": BIG,
            "vfalpha/__pycache__/core.cpython-311.pyc": b"\x00shipped bytecode",
            "vfalpha-1.0.data/scripts/vfalpha-cli": "#!python\nprint('hi')\n",
        },
    )
    make_wheel(
        folder,
        "vfcerts",
        "1.0",
        files={"vfcerts/__init__.py": "", "vfcerts/cacert.pem": "-----BEGIN CERT-----\n"},
    )


@pytest.fixture
def env(tmp_path: Path) -> Env:
    python = require_python("3.11")
    wheels = tmp_path / "wheels"
    _wheels(wheels)
    lockfile = tmp_path / "lock.txt"
    lockfile.write_text(
        "".join(
            f"{wheel.name.split('-')[0]}=={wheel.name.split('-')[1]} "
            f"--hash=sha256:{wheel_sha256(wheel)}\n"
            for wheel in sorted(wheels.glob("*.whl"))
        ),
        encoding="utf-8",
    )
    return Env(build_env(tmp_path / "env", python, lockfile, wheels, receipt=False))


@dataclass
class Spy:
    """A hasher that records every path it is asked to read."""

    read: list[str]

    def __call__(self, path: str, expected: os.stat_result) -> FileHash:
        self.read.append(path)
        return sha256_file(path, expected)


@pytest.fixture
def spy() -> Spy:
    return Spy([])


def only(report: VerifyReport) -> IntegrityFinding:
    assert len(report.findings) == 1, report.findings
    return report.findings[0]


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A secret outside the env, and the guarantee that nothing there was read."""
    folder = tmp_path / "outside"
    folder.mkdir()
    secret = folder / "secret.txt"
    secret.write_text("top secret\n", encoding="utf-8")
    yield secret


def row_for(path: str, data: bytes) -> str:
    """A RECORD row that a file with ``data`` at ``path`` would pass."""
    return f"{path},sha256={record_digest(hashlib.sha256(data).digest())},{len(data)}"


# -- a healthy env --------------------------------------------------------------------------


def test_a_freshly_built_env_verifies_clean_and_counts_what_it_checked(env: Env) -> None:
    report = verify_env(env.path, venv=POSIX_VENV)
    assert report.ok, report.findings
    assert report.allowed == ()
    assert report.site_packages == (SITE,)
    assert report.dists == 2
    assert report.bytecode_rows == 1
    assert report.rows_checked >= 10
    assert report.files_hashed >= 8
    assert report.bytes_hashed > len(BIG)


def test_an_env_reached_through_a_symlink_is_verified_inside_the_folder_it_points_at(
    env: Env, tmp_path: Path
) -> None:
    link = tmp_path / "live"
    link.symlink_to(env.path)
    (env.site / "vfalpha" / "core.py").write_text("VALUE = 43\n", encoding="utf-8")
    finding = only(verify_env(link, venv=POSIX_VENV))
    assert (finding.category, finding.path) == ("hash_mismatch", f"{SITE}/vfalpha/core.py")


def test_hashing_in_parallel_reports_exactly_what_hashing_sequentially_reports(env: Env) -> None:
    (env.site / "vfalpha" / "core.py").write_text("VALUE = 43\n", encoding="utf-8")
    data = env.site / "vfalpha" / "data.bin"
    data.write_bytes(BIG[:-1] + b"\x00")
    sequential = verify_env(env.path, workers=1, venv=POSIX_VENV)
    assert sequential == verify_env(env.path, workers=8, venv=POSIX_VENV)
    assert [f.category for f in sequential.findings] == ["hash_mismatch", "hash_mismatch"]


def test_a_missing_env_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EnvNotVerifiable, match="is not an env folder"):
        verify_env(tmp_path / "nowhere", venv=POSIX_VENV)


def test_a_folder_without_site_packages_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(EnvNotVerifiable, match="has no lib/python"):
        verify_env(tmp_path, venv=POSIX_VENV)


# -- the incident symptoms ------------------------------------------------------------------


def test_a_file_truncated_to_zero_bytes_is_zero_byte(env: Env) -> None:
    core = env.site / "vfalpha" / "core.py"
    core.write_bytes(b"")
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert finding == IntegrityFinding(
        "zero_byte",
        "vfalpha",
        f"{SITE}/vfalpha/core.py",
        expected_size=11,
        actual_size=0,
        expected_sha256=finding.expected_sha256,
        actual_sha256=EMPTY_SHA256,
    )


def test_an_empty_file_whose_row_has_a_hash_but_no_size_is_zero_byte(env: Env) -> None:
    (env.site / "vfalpha" / "blank.txt").write_bytes(b"")
    env.add_rows(row_for("vfalpha/blank.txt", b"content").rsplit(",", 1)[0] + ",")
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.expected_size, finding.actual_size) == (
        "zero_byte",
        None,
        0,
    )


def test_an_empty_file_that_record_says_is_empty_is_fine(env: Env) -> None:
    assert (env.site / "vfcerts" / "__init__.py").stat().st_size == 0
    assert verify_env(env.path, venv=POSIX_VENV).ok


def test_one_changed_byte_with_the_same_size_is_a_hash_mismatch(env: Env) -> None:
    data = env.site / "vfalpha" / "data.bin"
    changed = bytearray(BIG)
    changed[CHUNK + 5] ^= 0xFF  # in the second read chunk
    data.write_bytes(bytes(changed))
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.dist, finding.path) == (
        "hash_mismatch",
        "vfalpha",
        f"{SITE}/vfalpha/data.bin",
    )
    assert finding.expected_size == finding.actual_size == len(BIG)
    assert finding.expected_sha256 == record_digest(hashlib.sha256(BIG).digest())
    assert finding.actual_sha256 == record_digest(hashlib.sha256(changed).digest())


def test_appended_bytes_are_a_size_mismatch_found_without_hashing(env: Env, spy: Spy) -> None:
    core = env.site / "vfalpha" / "core.py"
    core.write_bytes(core.read_bytes() + b"# appended\n")
    finding = only(verify_env(env.path, hasher=spy, venv=POSIX_VENV))
    assert (finding.category, finding.expected_size, finding.actual_size) == (
        "size_mismatch",
        11,
        22,
    )
    assert finding.actual_sha256 is None
    assert str(core) not in spy.read


def test_a_deleted_module_with_its_dist_info_intact_is_missing(env: Env) -> None:
    (env.site / "vfalpha" / "core.py").unlink()
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.dist, finding.path, finding.expected_size) == (
        "missing",
        "vfalpha",
        f"{SITE}/vfalpha/core.py",
        11,
    )


def test_a_file_listed_twice_in_one_record_is_reported_once(env: Env) -> None:
    record = (env.dist_info() / "RECORD").read_text(encoding="utf-8")
    [core_row] = [line for line in record.splitlines() if line.startswith("vfalpha/core.py,")]
    env.add_rows(core_row)
    (env.site / "vfalpha" / "core.py").unlink()
    assert only(verify_env(env.path, venv=POSIX_VENV)).category == "missing"


def test_a_deleted_record_is_record_missing_and_the_other_dists_are_still_checked(
    env: Env,
) -> None:
    (env.dist_info() / "RECORD").unlink()
    (env.site / "vfcerts" / "__init__.py").write_text("oops\n", encoding="utf-8")
    report = verify_env(env.path, venv=POSIX_VENV)
    assert [(f.category, f.dist, f.path) for f in report.findings] == [
        ("record_missing", "vfalpha", f"{SITE}/vfalpha-1.0.dist-info/RECORD"),
        ("size_mismatch", "vfcerts", f"{SITE}/vfcerts/__init__.py"),
    ]


def test_a_second_dist_info_for_the_same_name_is_duplicate_dist(env: Env) -> None:
    second = env.site / "VFAlpha-0.9.dist-info"
    shutil.copytree(env.dist_info(), second)
    report = verify_env(env.path, venv=POSIX_VENV)
    duplicates = [(f.dist, f.path) for f in report.findings if f.category == "duplicate_dist"]
    assert duplicates == [
        ("vfalpha", f"{SITE}/VFAlpha-0.9.dist-info"),
        ("vfalpha", f"{SITE}/vfalpha-1.0.dist-info"),
    ]
    assert report.dists == 3


def test_a_modified_script_outside_site_packages_is_found_through_its_dotdot_row(
    env: Env,
) -> None:
    record = (env.dist_info() / "RECORD").read_text(encoding="utf-8")
    assert "../../../bin/vfalpha-cli," in record
    script = env.path / "bin" / "vfalpha-cli"
    script.write_bytes(script.read_bytes().replace(b"hi", b"ho"))
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.path) == ("hash_mismatch", "bin/vfalpha-cli")


# -- bytecode, hashless rows, other algorithms ----------------------------------------------


def test_bytecode_rows_are_never_findings(env: Env) -> None:
    env.add_rows(
        "vfalpha/__pycache__/gone.cpython-311.pyc,,",
        "vfalpha/__pycache__/core.cpython-311.pyc,sha256=" + "A" * 43 + ",3",
        "vfalpha/legacy.pyc,,12",
    )
    (env.site / "vfalpha" / "__pycache__" / "core.cpython-311.pyc").write_bytes(b"recompiled")
    report = verify_env(env.path, venv=POSIX_VENV)
    assert report.ok, report.findings
    assert report.bytecode_rows == 4


def test_a_hashless_row_whose_file_exists_is_not_a_finding(env: Env) -> None:
    (env.site / "vfalpha" / "local.cfg").write_text("anything\n", encoding="utf-8")
    env.add_rows("vfalpha/local.cfg,,")
    assert verify_env(env.path, venv=POSIX_VENV).ok


def test_a_hashless_row_whose_file_is_gone_or_resized_is_unrecorded(env: Env) -> None:
    (env.site / "vfalpha" / "sized.cfg").write_text("12345\n", encoding="utf-8")
    env.add_rows("vfalpha/gone.cfg,,", "vfalpha/sized.cfg,,99")
    report = verify_env(env.path, venv=POSIX_VENV)
    assert [(f.category, f.path, f.expected_size, f.actual_size) for f in report.findings] == [
        ("unrecorded", f"{SITE}/vfalpha/gone.cfg", None, None),
        ("unrecorded", f"{SITE}/vfalpha/sized.cfg", 99, 6),
    ]


def test_a_row_hashed_with_another_algorithm_is_checked_for_presence_and_size_only(
    env: Env,
) -> None:
    (env.site / "vfalpha" / "legacy.txt").write_text("changed\n", encoding="utf-8")
    env.add_rows("vfalpha/legacy.txt,md5=AAAAAAAAAAAAAAAAAAAAAA,8", "vfalpha/gone.txt,sha512=x,1")
    report = verify_env(env.path, venv=POSIX_VENV)
    assert [(f.category, f.path) for f in report.findings] == [
        ("unrecorded", f"{SITE}/vfalpha/gone.txt")
    ]
    assert report.notes == (
        "vfalpha: 1 RECORD rows hashed with md5, not sha256: checked for presence and size only",
        "vfalpha: 1 RECORD rows hashed with sha512, not sha256: checked for presence and size only",
    )


def test_a_record_row_that_does_not_parse_is_record_invalid_and_the_rest_is_still_checked(
    env: Env,
) -> None:
    env.add_rows("vfalpha/odd.py,sha256=tooshort,twelve")
    (env.site / "vfalpha" / "core.py").unlink()
    report = verify_env(env.path, venv=POSIX_VENV)
    assert [(f.category, f.path) for f in report.findings] == [
        ("record_invalid", f"{SITE}/vfalpha-1.0.dist-info/RECORD"),
        ("missing", f"{SITE}/vfalpha/core.py"),
    ]
    assert "tooshort" in report.findings[0].detail
    assert "twelve" in report.findings[0].detail


def test_a_record_full_of_garbage_lists_ten_bad_lines_and_counts_the_rest(env: Env) -> None:
    env.add_rows(*(f"junk{i},md5,big" for i in range(25)))
    report = verify_env(env.path, venv=POSIX_VENV)
    details = [f.detail for f in report.findings if f.category == "record_invalid"]
    assert len(details) == MAX_INVALID_ROWS + 1
    assert details[-1] == "and 15 more lines that do not parse"


# -- never outside the env ------------------------------------------------------------------


def test_a_record_row_climbing_out_of_the_env_is_outside_env_and_never_read(
    env: Env, outside: Path, spy: Spy
) -> None:
    climb = os.path.relpath(outside, env.site)
    assert climb.startswith("../../../../")
    env.add_rows(
        row_for(climb, outside.read_bytes()),
        "../../../../../../../../../../etc/passwd,,",
        "/etc/passwd,,",
    )
    report = verify_env(env.path, hasher=spy, venv=POSIX_VENV)
    assert sorted((f.category, f.path) for f in report.findings) == sorted(
        [
            ("outside_env", climb),
            ("outside_env", "../../../../../../../../../../etc/passwd"),
            ("outside_env", "/etc/passwd"),
        ]
    )
    assert all(Path(path).is_relative_to(env.path) for path in spy.read)


def test_a_row_three_levels_up_from_site_packages_still_lands_inside_the_env(env: Env) -> None:
    env.add_rows("../../../etc/passwd,,")
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.path) == ("unrecorded", "etc/passwd")


def test_a_file_symlinked_outside_the_env_is_never_followed(
    env: Env, outside: Path, spy: Spy
) -> None:
    core = env.site / "vfalpha" / "core.py"
    outside.write_bytes(core.read_bytes())
    core.unlink()
    core.symlink_to(outside)
    finding = only(verify_env(env.path, hasher=spy, venv=POSIX_VENV))
    assert (finding.category, finding.path) == ("symlink_outside_env", f"{SITE}/vfalpha/core.py")
    assert str(outside) in finding.detail
    assert all(Path(path).is_relative_to(env.path) for path in spy.read)


def test_a_folder_symlinked_outside_the_env_is_never_followed(
    env: Env, tmp_path: Path, spy: Spy
) -> None:
    package = env.site / "vfcerts"
    elsewhere = tmp_path / "elsewhere"
    shutil.move(package, elsewhere)
    package.symlink_to(elsewhere)
    report = verify_env(env.path, hasher=spy, venv=POSIX_VENV)
    assert [(f.category, f.path) for f in report.findings] == [
        ("symlink_outside_env", f"{SITE}/vfcerts/__init__.py"),
        ("symlink_outside_env", f"{SITE}/vfcerts/cacert.pem"),
    ]
    assert all(Path(path).is_relative_to(env.path) for path in spy.read)


def test_a_record_symlinked_outside_the_env_is_not_read(env: Env, outside: Path) -> None:
    record = env.dist_info("vfcerts") / "RECORD"
    outside.write_text("vfcerts/__init__.py,,\n", encoding="utf-8")
    record.unlink()
    record.symlink_to(outside)
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.dist, finding.path) == (
        "symlink_outside_env",
        "vfcerts",
        f"{SITE}/vfcerts-1.0.dist-info/RECORD",
    )


def test_a_site_packages_folder_linked_outside_the_env_is_not_walked(
    env: Env, tmp_path: Path, spy: Spy
) -> None:
    elsewhere = tmp_path / "elsewhere-site"
    shutil.move(env.site, elsewhere)
    env.site.symlink_to(elsewhere)
    report = verify_env(env.path, hasher=spy, venv=POSIX_VENV)
    assert [(f.category, f.dist, f.path) for f in report.findings] == [
        ("symlink_outside_env", None, SITE)
    ]
    assert spy.read == []


def test_a_symlink_inside_the_env_is_followed_and_its_target_hashed(env: Env) -> None:
    core = env.site / "vfalpha" / "core.py"
    copy = env.site / "vfalpha" / "core_copy.txt"
    shutil.copy(core, copy)
    core.unlink()
    core.symlink_to("core_copy.txt")
    assert verify_env(env.path, venv=POSIX_VENV).ok


# -- unreadable -----------------------------------------------------------------------------


def test_a_symlink_loop_is_unreadable(env: Env) -> None:
    core = env.site / "vfalpha" / "core.py"
    core.unlink()
    core.symlink_to("core.py")
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.path, finding.detail) == (
        "unreadable",
        f"{SITE}/vfalpha/core.py",
        "a symlink loop",
    )


def test_a_directory_where_a_file_is_expected_is_unreadable(env: Env) -> None:
    core = env.site / "vfalpha" / "core.py"
    core.unlink()
    core.mkdir()
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.detail) == (
        "unreadable",
        "a directory where a file should be",
    )


def test_a_fifo_where_a_file_is_expected_is_unreadable_and_does_not_hang(env: Env) -> None:
    core = env.site / "vfalpha" / "core.py"
    core.unlink()
    os.mkfifo(core)
    finding = only(verify_env(env.path, venv=POSIX_VENV))
    assert (finding.category, finding.detail) == ("unreadable", "not a regular file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_a_file_without_read_permission_is_unreadable(env: Env) -> None:
    core = env.site / "vfalpha" / "core.py"
    core.chmod(0)
    try:
        finding = only(verify_env(env.path, venv=POSIX_VENV))
    finally:
        core.chmod(0o644)
    assert (finding.category, finding.path) == ("unreadable", f"{SITE}/vfalpha/core.py")


def test_a_file_that_fails_to_read_is_unreadable_not_a_crash(env: Env) -> None:
    target = str(env.site / "vfalpha" / "data.bin")

    def failing(path: str, expected: os.stat_result) -> FileHash:
        if path == target:
            raise PermissionError(13, "Permission denied", path)
        return sha256_file(path, expected)

    finding = only(verify_env(env.path, hasher=failing, venv=POSIX_VENV))
    assert (finding.category, finding.path, finding.detail) == (
        "unreadable",
        f"{SITE}/vfalpha/data.bin",
        "Permission denied",
    )


# -- verify_ignore --------------------------------------------------------------------------


def test_verify_ignore_turns_a_modified_file_into_an_allowed_modification(env: Env) -> None:
    (env.site / "vfcerts" / "cacert.pem").write_text(
        "the system CA bundle, longer\n", encoding="utf-8"
    )
    report = verify_env(env.path, ignore=["vfcerts/cacert.pem"], venv=POSIX_VENV)
    assert report.ok
    [allowed] = report.allowed
    assert allowed.pattern == "vfcerts/cacert.pem"
    assert (allowed.finding.category, allowed.finding.path) == (
        "size_mismatch",
        f"{SITE}/vfcerts/cacert.pem",
    )


def test_verify_ignore_allows_a_ca_bundle_linked_to_the_system_one(
    env: Env, outside: Path, spy: Spy
) -> None:
    pem = env.site / "vfcerts" / "cacert.pem"
    pem.unlink()
    pem.symlink_to(outside)
    report = verify_env(env.path, ignore=["**/cacert.pem"], hasher=spy, venv=POSIX_VENV)
    assert report.ok
    assert [a.finding.category for a in report.allowed] == ["symlink_outside_env"]
    assert str(outside) not in spy.read


def test_verify_ignore_lists_nothing_when_the_ignored_file_still_matches_record(
    env: Env,
) -> None:
    report = verify_env(env.path, ignore=["vfcerts/cacert.pem"], venv=POSIX_VENV)
    assert report.ok
    assert report.allowed == ()


def test_verify_ignore_never_hides_a_missing_file(env: Env) -> None:
    (env.site / "vfcerts" / "cacert.pem").unlink()
    finding = only(verify_env(env.path, ignore=["vfcerts/cacert.pem"], venv=POSIX_VENV))
    assert finding.category == "missing"


# -- Windows layout -------------------------------------------------------------------------


def test_a_windows_layout_is_verified_through_the_same_functions(tmp_path: Path) -> None:
    env = tmp_path / "winenv"
    site = env / "Lib" / "site-packages"
    (site / "pkg").mkdir(parents=True)
    (env / "Scripts").mkdir()
    module, script = b"X = 1\n", b"MZ fake launcher"
    (site / "pkg" / "__init__.py").write_bytes(module)
    (env / "Scripts" / "pkg.exe").write_bytes(script)
    dist_info = site / "pkg-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "RECORD").write_text(
        "\n".join(
            [
                row_for("pkg/__init__.py", module),
                row_for("..\\..\\Scripts\\pkg.exe", script),
                row_for("../../../outside.exe", b""),
                "pkg-1.0.dist-info/RECORD,,",
            ]
        ),
        encoding="utf-8",
    )
    report = verify_env(env, venv=WINDOWS_VENV)
    assert report.site_packages == ("Lib/site-packages",)
    assert [(f.category, f.path) for f in report.findings] == [
        ("outside_env", "../../../outside.exe")
    ]
    (env / "Scripts" / "pkg.exe").write_bytes(b"MZ fake launcheR")
    assert [f.category for f in verify_env(env, venv=WINDOWS_VENV).findings] == [
        "outside_env",
        "hash_mismatch",
    ]
    assert WINDOWS_VENV.interpreter(env).name == "python.exe"


# -- the hashing function -------------------------------------------------------------------


def test_hashing_a_file_reads_it_whole_across_chunk_boundaries(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    for size in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, len(BIG)):
        path.write_bytes(BIG[:size])
        result = sha256_file(str(path), path.stat())
        assert result == FileHash(record_digest(hashlib.sha256(BIG[:size]).digest()), size)


def test_hashing_refuses_a_file_replaced_since_it_was_stat_ed(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("one\n", encoding="utf-8")
    before = path.stat()
    replacement = tmp_path / "a.new"
    replacement.write_text("two\n", encoding="utf-8")  # a new inode while the old one lives
    replacement.replace(path)
    with pytest.raises(OSError, match="changed while it was being verified"):
        sha256_file(str(path), before)


def test_hashing_never_follows_a_final_symlink(tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("data\n", encoding="utf-8")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with pytest.raises(OSError):
        sha256_file(str(link), target.stat())


# -- the hash cache -------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A reconcile root for the hash cache, apart from the env."""
    folder = tmp_path / "root"
    folder.mkdir()
    return folder


@pytest.fixture
def aged(env: Env) -> Env:
    """The env once every file in it is more than a second old, so verify keeps its hashes."""
    newest = max(p.lstat().st_ctime_ns for p in env.path.rglob("*"))
    wait = newest + RACY_NS + 50_000_000 - time.time_ns()
    if wait > 0:
        time.sleep(wait / 1e9)
    return env


def env_cache(env: Env, root: Path) -> HashCache:
    real = os.path.realpath(env.path)
    return HashCache.load(cache_file(root, real), real)


def cached_run(env: Env, root: Path) -> VerifyReport:
    """One verify with the env's cache, saved after."""
    cache = env_cache(env, root)
    report = verify_env(env.path, cache=cache, venv=POSIX_VENV)
    cache.save()
    return report


def test_a_second_verify_with_the_cache_reads_no_file(aged: Env, root: Path, spy: Spy) -> None:
    first = cached_run(aged, root)
    second = verify_env(aged.path, cache=env_cache(aged, root), hasher=spy, venv=POSIX_VENV)
    assert first.ok and second.ok
    assert first.files_hashed > 0 and first.files_cached == 0
    assert (second.files_hashed, second.bytes_hashed, spy.read) == (0, 0, [])
    assert second.files_cached == first.files_hashed
    assert second.findings == first.findings
    assert second.rows_checked == first.rows_checked


def test_the_cache_changes_no_finding_even_for_an_edit_that_kept_size_and_mtime(
    aged: Env, root: Path
) -> None:
    cached_run(aged, root)
    core = aged.site / "vfalpha" / "core.py"
    before = core.stat()
    core.write_text("VALUE = 43\n", encoding="utf-8")
    os.utime(core, ns=(before.st_atime_ns, before.st_mtime_ns))
    (aged.site / "vfalpha" / "__init__.py").unlink()
    (aged.site / "vfcerts" / "cacert.pem").write_text("appended\n", encoding="utf-8")

    cache = env_cache(aged, root)
    with_cache = verify_env(aged.path, cache=cache, venv=POSIX_VENV)
    without = verify_env(aged.path, venv=POSIX_VENV)

    assert with_cache.findings == without.findings
    assert {(f.category, f.path.rsplit("/", 1)[1]) for f in with_cache.findings} == {
        ("hash_mismatch", "core.py"),
        ("missing", "__init__.py"),
        ("size_mismatch", "cacert.pem"),
    }
    assert with_cache.files_hashed == 1  # core.py alone: its ctime moved
    assert with_cache.files_cached == without.files_hashed - 1


def test_a_mismatch_remembered_by_the_cache_is_reported_again_without_reading(
    aged: Env, root: Path, spy: Spy
) -> None:
    data = aged.site / "vfalpha" / "data.bin"
    with data.open("r+b") as handle:
        handle.write(b"\x00")
    old = time.time_ns() - 10 * RACY_NS
    os.utime(data, ns=(old, old))
    time.sleep((RACY_NS + 50_000_000) / 1e9)  # its ctime is now
    cached_run(aged, root)
    again = verify_env(aged.path, cache=env_cache(aged, root), hasher=spy, venv=POSIX_VENV)
    assert [(f.category, f.path) for f in again.findings] == [
        ("hash_mismatch", f"{SITE}/vfalpha/data.bin")
    ]
    assert spy.read == []
    assert again.findings == verify_env(aged.path, venv=POSIX_VENV).findings


def test_deep_rehashes_every_file_and_refreshes_the_cache(aged: Env, root: Path, spy: Spy) -> None:
    first = cached_run(aged, root)
    cache = env_cache(aged, root)
    deep = verify_env(aged.path, cache=cache, deep=True, hasher=spy, venv=POSIX_VENV)
    cache.save()
    assert deep.files_cached == 0
    assert deep.files_hashed == len(spy.read) == first.files_hashed
    assert deep.bytes_hashed > 0
    after = verify_env(aged.path, cache=env_cache(aged, root), venv=POSIX_VENV)
    assert (after.files_hashed, after.files_cached) == (0, deep.files_hashed)


def test_a_just_built_env_is_hashed_again_until_its_files_are_a_second_old(
    env: Env, root: Path, spy: Spy
) -> None:
    oldest = min(p.lstat().st_ctime_ns for p in env.site.rglob("*"))
    if time.time_ns() - oldest > RACY_NS // 2:
        pytest.skip("building the env took so long that its files are no longer racy")
    first = cached_run(env, root)
    second = verify_env(env.path, cache=env_cache(env, root), hasher=spy, venv=POSIX_VENV)
    assert second.files_cached == 0
    assert second.files_hashed == first.files_hashed == len(spy.read)


def test_a_cache_of_another_env_is_refused(env: Env, root: Path) -> None:
    with pytest.raises(ValueError, match="hash cache is for"):
        verify_env(
            env.path,
            cache=HashCache.load(cache_file(root, "/elsewhere"), "/elsewhere"),
            venv=POSIX_VENV,
        )


def test_files_with_other_hard_links_are_counted(env: Env, tmp_path: Path) -> None:
    assert verify_env(env.path, venv=POSIX_VENV).linked_files == 0  # uv copied (UV_LINK_MODE=copy)
    os.link(env.site / "vfalpha" / "core.py", tmp_path / "shared-core.py")
    os.link(env.site / "vfcerts" / "cacert.pem", tmp_path / "shared-cacert.pem")
    report = verify_env(env.path, venv=POSIX_VENV)
    assert report.ok
    assert report.linked_files == 2


def test_seen_lists_the_records_and_files_the_walk_looked_at(env: Env) -> None:
    seen: list[str] = []
    report = verify_env(env.path, seen=seen, venv=POSIX_VENV)
    real = os.path.realpath(env.site)
    assert str(Path(real) / "vfalpha-1.0.dist-info" / "RECORD") in seen
    assert str(Path(real) / "vfalpha" / "core.py") in seen
    assert len(seen) >= report.rows_checked


# -- RECORDs from the cache -----------------------------------------------------------------


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The RECORDs verify parses (their env-relative paths), rather than take from the cache."""
    parsed: list[str] = []

    def counting(data: bytes | str, record_rel: str, site: str, *, windows: bool) -> object:
        parsed.append(record_rel)
        return resolve_record(data, record_rel, site, windows=windows)

    monkeypatch.setattr(walk, "resolve_record", counting)
    return parsed


def what_was_found(report: VerifyReport) -> object:
    """A report less how its files were checked (hashed or trusted from the cache)."""
    return dataclasses.replace(report, files_hashed=0, bytes_hashed=0, files_cached=0)


def test_an_unchanged_record_is_not_parsed_again(aged: Env, root: Path, parses: list[str]) -> None:
    aged.add_rows("vfalpha/gone.py,,", "vfalpha/odd.py,md5=x,1")
    time.sleep((RACY_NS + 50_000_000) / 1e9)
    first = cached_run(aged, root)
    assert len(parses) == 2
    parses.clear()
    second = cached_run(aged, root)
    deep = verify_env(aged.path, cache=env_cache(aged, root), deep=True, venv=POSIX_VENV)
    assert parses == []  # a deep run rereads the RECORDs, finds the same bytes
    assert what_was_found(first) == what_was_found(second) == what_was_found(deep)
    assert first.notes and first.findings


def test_a_record_touched_but_not_changed_is_found_by_its_content(
    aged: Env, root: Path, parses: list[str]
) -> None:
    cached_run(aged, root)
    parses.clear()
    os.utime(aged.dist_info() / "RECORD")
    assert cached_run(aged, root).ok
    assert parses == []


def test_a_record_changed_since_it_was_cached_is_parsed_again(
    aged: Env, root: Path, parses: list[str]
) -> None:
    assert cached_run(aged, root).ok
    parses.clear()
    aged.add_rows("vfalpha/gone.py,sha256=" + "A" * 43 + ",3", "../../../../../x,,")
    again = cached_run(aged, root)
    assert parses == [f"{SITE}/vfalpha-1.0.dist-info/RECORD"]
    assert sorted((f.category, f.path) for f in again.findings) == [
        ("missing", f"{SITE}/vfalpha/gone.py"),
        ("outside_env", "../../../../../x"),
    ]
    assert what_was_found(again) == what_was_found(verify_env(aged.path, venv=POSIX_VENV))


def test_a_record_reached_through_a_linked_dist_info_speaks_of_its_own_path(
    aged: Env, root: Path
) -> None:
    aged.add_rows("vfalpha/odd.py,sha256=tooshort,1", name="vfcerts")
    twin = aged.site / "vfcerts_twin-1.0.dist-info"
    twin.symlink_to("vfcerts-1.0.dist-info")
    time.sleep((RACY_NS + 50_000_000) / 1e9)
    cached_run(aged, root)
    report = cached_run(aged, root)
    assert what_was_found(report) == what_was_found(verify_env(aged.path, venv=POSIX_VENV))
    assert sorted(f.path for f in report.findings if f.category == "record_invalid") == [
        f"{SITE}/vfcerts-1.0.dist-info/RECORD",
        f"{SITE}/vfcerts_twin-1.0.dist-info/RECORD",
    ]


# -- spreading the work over processes and threads ------------------------------------------


@pytest.fixture
def broken(env: Env, outside: Path) -> Env:
    """The env with one of most kinds of finding, and an allowed modification."""
    (env.site / "vfalpha" / "core.py").write_text("VALUE = 43\n", encoding="utf-8")
    (env.site / "vfalpha" / "data.bin").write_bytes(BIG[:-1] + b"\x00")
    (env.site / "vfcerts" / "__init__.py").unlink()
    (env.path / "bin" / "vfalpha-cli").write_bytes(b"")
    pem = env.site / "vfcerts" / "cacert.pem"
    pem.unlink()
    pem.symlink_to(outside)
    loop = env.site / "vfalpha" / "__init__.py"
    loop.unlink()
    loop.symlink_to("__init__.py")
    return env


def everything(env: Env, workers: int, hasher: Hasher = sha256_file) -> object:
    """The report and the set of paths seen."""
    seen: list[str] = []
    report = verify_env(
        env.path, ["**/cacert.pem"], workers, seen=seen, hasher=hasher, venv=POSIX_VENV
    )
    return report, set(seen)


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every worker forked from now on (their pids), with no minimum cost to start them."""
    monkeypatch.setattr("reconciler.observe.workers.PARALLEL_MIN", 0)
    pids: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def test_checking_in_forked_workers_reports_exactly_what_one_process_reports(
    broken: Env, forks: list[int]
) -> None:
    alone = everything(broken, 1)
    assert forks == []
    assert everything(broken, 3) == alone
    assert len(forks) == 2
    report = verify_env(broken.path, ["**/cacert.pem"], 3, venv=POSIX_VENV)
    assert {f.category for f in report.findings} == {
        "hash_mismatch",
        "missing",
        "zero_byte",
        "unreadable",
    }
    assert [a.finding.category for a in report.allowed] == ["symlink_outside_env"]


def test_hashes_found_by_workers_fill_the_cache(aged: Env, root: Path, forks: list[int]) -> None:
    first = cached_run(aged, root)
    assert forks and first.files_hashed > 0
    forks.clear()
    again = verify_env(aged.path, cache=env_cache(aged, root), workers=3, venv=POSIX_VENV)
    assert (again.files_hashed, again.files_cached) == (0, first.files_hashed)
    forks.clear()
    deep = verify_env(aged.path, cache=env_cache(aged, root), deep=True, workers=3, venv=POSIX_VENV)
    assert deep.files_hashed == first.files_hashed
    assert len(forks) == 2


def test_checking_on_threads_reports_exactly_what_one_thread_reports(
    broken: Env, forks: list[int]
) -> None:
    threads: set[str] = set()

    def watched(path: str, expected: os.stat_result) -> FileHash:
        threads.add(threading.current_thread().name)
        return sha256_file(path, expected)

    alone = everything(broken, 1, watched)
    assert threads == {"MainThread"}
    assert everything(broken, 3, watched) == alone
    assert len(threads) == 3
    assert forks == []  # another hasher's effects must happen in this process


def test_a_worker_that_dies_has_its_share_checked_by_the_caller(
    broken: Env, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = everything(broken, 1)

    def die(self: object) -> object:
        os._exit(7)

    monkeypatch.setattr(Tally, "to_plain", die)
    assert everything(broken, 3) == alone
    assert len(forks) == 2


def test_an_error_in_the_caller_kills_and_reaps_every_worker(
    env: Env, forks: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = os.getpid()
    real_check = RowChecker.check

    def check(self: RowChecker, tally: Tally, items: object) -> None:
        if os.getpid() == caller:
            raise KeyboardInterrupt
        time.sleep(120)  # a worker that would outlive the caller's patience

    monkeypatch.setattr(RowChecker, "check", check)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        verify_env(env.path, workers=3, venv=POSIX_VENV)
    assert time.monotonic() - started < 60
    assert len(forks) == 2
    for pid in forks:
        with pytest.raises(ChildProcessError):  # already reaped
            os.waitpid(pid, os.WNOHANG)
    monkeypatch.setattr(RowChecker, "check", real_check)


def test_ctrl_c_stops_the_caller_and_its_workers_at_once(env: Env) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from reconciler.observe import walk as verify, workers
        from reconciler.observe.rows import RowChecker
        workers.PARALLEL_MIN = 0
        def check(self, tally, items):
            os.write(1, f"{{os.getpid()}}\\n".encode())
            time.sleep(120)
        RowChecker.check = check
        from reconciler.platform import POSIX_VENV
        verify.verify_env(Path({str(env.path)!r}), workers=3, venv=POSIX_VENV)
        """
    )
    with subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=Path(__file__).resolve().parent.parent,
    ) as process:
        assert process.stdout is not None
        pids = {int(process.stdout.readline()) for _ in range(3)}
        os.killpg(process.pid, signal.SIGINT)  # what a terminal sends the foreground group
        _, err = process.communicate(timeout=60)
    assert "KeyboardInterrupt" in err
    assert process.returncode != 0
    assert len(pids) == 3
    with pytest.raises(ProcessLookupError):  # nothing of that group is left running
        os.killpg(process.pid, 0)


def test_workers_write_nothing_to_the_callers_output(
    broken: Env, forks: list[int], capfd: pytest.CaptureFixture[str]
) -> None:
    sys.stdout.write("written before, not yet flushed\n")
    verify_env(broken.path, workers=3, venv=POSIX_VENV)
    sys.stdout.flush()
    out, err = capfd.readouterr()
    assert (out, err) == ("written before, not yet flushed\n", "")
    assert len(forks) == 2
