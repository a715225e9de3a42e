"""The Windows job: env keys Windows cannot hold apart or at all are manifest errors, and a
manifest saved by Windows PowerShell 5.1 (`Set-Content -Encoding UTF8`: a byte-order mark,
CRLF line ends) works as any other, run by the real Windows CPython under Wine."""

from __future__ import annotations

import pytest

from tests.wine.conftest import MANIFEST, WinProject
from tests.wine.test_wine_commands import SHARED

pytestmark = pytest.mark.slow

CLASHING = """
[envs.Shared]
python = "3.13"
requirements = ["alpha==2.0"]
lockfile = "lockfiles/S2.txt"

[envs.con]
python = "3.13"
lockfile = "lockfiles/c.txt"

[envs."aux.txt"]
python = "3.13"
lockfile = "lockfiles/a.txt"

[envs."shared."]
python = "3.13"
lockfile = "lockfiles/d.txt"
"""


def test_keys_windows_cannot_hold_are_refused_and_nothing_is_built(wproject: WinProject) -> None:
    wproject.manifest(SHARED + CLASHING)
    for command in (("lock",), ("plan",), ("apply", "--yes"), ("status",)):
        ran = wproject.reconcile(*command)
        assert ran.rc == 1, str(ran)
        assert 'envs.Shared: env "Shared" and env "shared" (line' in ran.err, str(ran)
        assert '"con" is a device name on Windows (CON, with any extension)' in ran.err
        assert '"aux.txt" is a device name on Windows (AUX, with any extension)' in ran.err
        assert '"shared." ends with a dot, which Windows drops' in ran.err
    assert not wproject.exists("envs")
    assert not wproject.exists("lockfiles")


def test_a_manifest_saved_by_powershell_5_works(wproject: WinProject) -> None:
    text = MANIFEST.format(keep=2) + SHARED
    (wproject.path / "envs.toml").write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())

    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    first = wproject.ok("which", "m1").out  # the fast path (the memo) may answer the second
    assert wproject.ok("which", "m1").out == first
    assert first.strip().endswith("\\.generations\\shared\\g0001\\Scripts\\python.exe")
    assert "No changes." in wproject.ok("plan").out


def test_a_key_renamed_in_case_only_never_deletes_its_own_env(wproject: WinProject) -> None:
    """`shared` renamed `Shared`: Windows finds the old link and generations under the new
    name, so they are that env's, never an undeclared env to delete."""
    wproject.manifest(SHARED)
    wproject.ok("lock")
    wproject.ok("apply", "--yes")
    wproject.manifest(SHARED.replace("shared", "Shared"))

    planned = wproject.reconcile("plan")
    assert planned.rc == 0, str(planned)
    assert 'env "shared"' not in planned.out, str(planned)
    assert "0 to delete" in planned.out, str(planned)
    wproject.reconcile("apply", "--yes")
    assert wproject.exists("envs\\.generations\\shared\\g0001\\Scripts\\python.exe")
