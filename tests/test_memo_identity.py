"""The stat identities every memo rests on (reconciler/memo/identity.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import reconciler
from reconciler.memo.identity import RACY_NS, identities, identity, source_paths, unchanged


def test_every_source_file_of_every_subpackage_is_an_input() -> None:
    package = Path(reconciler.__file__).resolve().parent
    expected = {str(p) for p in package.rglob("*.py")}

    paths = source_paths()

    assert set(paths) == expected
    assert str(package / "core" / "plan.py") in paths
    assert str(package / "memo" / "identity.py") in paths


def test_a_change_to_an_input_is_seen(tmp_path: Path) -> None:
    path = tmp_path / "input.txt"
    path.write_text("one")
    old = time.time_ns() - 10 * RACY_NS
    os.utime(path, ns=(old, old))
    inputs = identities([str(path), str(tmp_path / "absent")], time.time_ns() + RACY_NS * 2)
    assert inputs is not None and unchanged(inputs)

    path.write_text("two")

    assert not unchanged(inputs)


def test_nothing_is_stored_from_an_input_newer_than_the_racy_limit(tmp_path: Path) -> None:
    path = tmp_path / "input.txt"
    path.write_text("one")

    assert identities([str(path)], time.time_ns()) is None
    assert identity(str(tmp_path / "absent")) is None
