"""The memo of `which` (reconciler/memo/resolution.py) names exactly what a path reads: a
manifest or ``--root`` reached through ``link/..`` is the one the system opens (the link's
target's parent), not the one ``..`` removed as text names; and an answer is trusted only
when its inputs name what it was drawn from. Unit tests on plain files, no envs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from reconciler.memo import resolution

MANIFEST = '[settings]\nroot = ".envs"\n'


def later() -> int:
    """A run's start well after the files were written: the racy rule lets it remember."""
    return time.time_ns() + 10**10


def project(folder: Path, env: str) -> resolution.Answer:
    """A manifest, applied bindings and one generation with an interpreter file; the answer
    `which` would hand out for it."""
    folder.mkdir(parents=True)
    (folder / "envs.toml").write_text(MANIFEST)
    (folder / ".envs" / ".state").mkdir(parents=True)
    (folder / ".envs" / ".state" / "bindings.json").write_text("{}")
    gen = folder / ".envs" / ".generations" / env / "g0001"
    (gen / "bin").mkdir(parents=True)
    (gen / "bin" / "python").write_text("")
    return env, str(gen / "bin" / "python"), str(gen), "g0001"


def inputs_of(folder: Path, answer: resolution.Answer) -> list[str]:
    return [str(folder / ".envs" / ".state" / "bindings.json"), answer[2], answer[1]]


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[resolution.Answer, ...]:
    """Projects A and B, and ``A/link`` -> ``B/sub``: ``A/link/..`` is B."""
    a, b = project(tmp_path / "A", "a-env"), project(tmp_path / "B", "b-env")
    (tmp_path / "B" / "sub").mkdir()
    (tmp_path / "A" / "link").symlink_to(tmp_path / "B" / "sub")
    monkeypatch.chdir(tmp_path / "A")
    monkeypatch.delenv(resolution.DISABLE_ENV, raising=False)
    return a, b


def test_the_system_reads_link_dotdot_through_the_link(tmp_path: Path, two: object) -> None:
    assert resolution.as_read("link/../envs.toml") == str(tmp_path / "B" / "envs.toml")
    assert resolution.as_read("./x/../envs.toml") == str(tmp_path / "A" / "envs.toml")
    assert resolution.as_read("link/.") == str(tmp_path / "A" / "link")  # no `..`: as spelled


def test_an_answer_through_link_dotdot_is_kept_for_what_it_read(
    tmp_path: Path, two: tuple[resolution.Answer, ...]
) -> None:
    _, b = two
    stored = resolution.remember(
        Path("link/../envs.toml"), None, "m", b, inputs_of(tmp_path / "B", b), [], later()
    )

    assert stored
    assert list((tmp_path / "B" / ".envs" / ".cache" / "which").iterdir())
    assert not (tmp_path / "A" / ".envs" / ".cache").exists()
    assert resolution.recall("envs.toml", None, "m") is None  # A's manifest: not B's answer
    assert resolution.recall("link/../envs.toml", None, "m") == b
    assert resolution.recall(str(tmp_path / "B" / "envs.toml"), None, "m") == b


def test_a_root_through_link_dotdot_is_the_root_it_reads(
    tmp_path: Path, two: tuple[resolution.Answer, ...]
) -> None:
    a, _ = two
    resolution.remember(
        Path("envs.toml"), Path(".envs"), "m", a, inputs_of(tmp_path / "A", a), [], later()
    )

    assert resolution.recall("envs.toml", ".envs", "m") == a
    assert resolution.recall("envs.toml", "link/../.envs", "m") is None  # B's root


def test_an_answer_that_does_not_list_its_inputs_is_ignored(
    tmp_path: Path, two: tuple[resolution.Answer, ...]
) -> None:
    a, _ = two
    assert resolution.remember(
        Path("envs.toml"), None, "m", a, inputs_of(tmp_path / "A", a), [], later()
    )
    (memo,) = (tmp_path / "A" / ".envs" / ".cache" / "which").iterdir()
    document = json.loads(memo.read_text())
    assert resolution.recall("envs.toml", None, "m") == a

    planted = dict(document, answer=["a-env", "/bin/sh", a[2], "g0001"])
    memo.write_text(json.dumps(planted))
    assert resolution.recall("envs.toml", None, "m") is None  # not in the env handed out

    for left_out in (str(tmp_path / "A" / "envs.toml"), *inputs_of(tmp_path / "A", a)):
        inputs = [pair for pair in document["inputs"] if pair[0] != left_out]
        memo.write_text(json.dumps(dict(document, inputs=inputs)))
        assert resolution.recall("envs.toml", None, "m") is None, left_out
    memo.write_text(json.dumps(dict(document, inputs=[])))
    assert resolution.recall("envs.toml", None, "m") is None
