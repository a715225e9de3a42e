"""A JSON document nested far deeper than any reconcile writes (the decoder recurses per
level) is malformed content to every reader of a file, never an internal error: a cache entry
is ignored, a receipt reads as none, the bindings and the removal record are one sentence.
Each reader gets the same hostile bytes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.errors import ReconcileError
from reconciler.files import load_json
from reconciler.memo import replay, resolution, verdicts
from reconciler.observe.integrity import receipt_baseline
from reconciler.store import applylock, generations, layout, removals
from reconciler.store.bindings import read_state

DEEP = b"[" * 100_000 + b"]" * 100_000


def plant(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(DEEP)


def test_load_json_says_deep_nesting_is_not_json() -> None:
    with pytest.raises(ValueError, match="nested too deep"):
        load_json(DEEP)
    with pytest.raises(ValueError, match="nested too deep"):
        load_json(DEEP.decode())
    assert load_json(b'{"a": [1]}') == {"a": [1]}


def _gen(root: Path) -> Path:
    return root / layout.GENERATIONS / "serving" / "g0001"


def _which_memo(root: Path) -> Path:
    (root.parent / "envs.toml").write_text(f'[settings]\nroot = "{root.name}"\n')
    return root / layout.CACHE / resolution.FOLDER / (b"m".hex() + ".json")


def _verdict_memo(root: Path) -> Path:
    memo = verdicts.memo_file(root, str(_gen(root)), (), ())
    assert memo is not None
    return memo


def _plan_memo(root: Path) -> Path:
    memo = replay.memo_file(root, "k")
    assert memo is not None
    return memo


def _receipt(root: Path) -> Path:
    return layout.receipt_path(_gen(root))


def _which_answer(root: Path) -> object:
    return resolution.recall(str(root.parent / "envs.toml"), None, "m")


# (what, where the hostile file goes, the reader, what it gives for it)
IGNORED: list[tuple[str, Callable[[Path], Path], Callable[[Path], object], object]] = [
    ("receipt", _receipt, lambda r: generations.read_receipt(_gen(r)), None),
    ("receipt baseline", _receipt, lambda r: receipt_baseline(r, str(_gen(r))), ()),
    ("health verdict", _verdict_memo, lambda r: verdicts.recall(_verdict_memo(r)), None),
    ("stored plan", _plan_memo, lambda r: replay.replay(r, "k"), None),
    ("which answer", _which_memo, _which_answer, None),
    ("apply lock holder", applylock.info_path, applylock.read_holder, None),
]


@pytest.mark.parametrize(("what", "where", "read", "gives"), IGNORED, ids=[c[0] for c in IGNORED])
def test_a_deep_cache_or_receipt_is_read_as_none(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    what: str,
    where: Callable[[Path], Path],
    read: Callable[[Path], object],
    gives: object,
) -> None:
    monkeypatch.delenv(replay.DISABLE_ENV, raising=False)
    root = tmp_path / ".envs"
    (root / layout.STATE).mkdir(parents=True)
    plant(where(root))

    assert read(root) == gives


@pytest.mark.parametrize(
    ("name", "read", "sentence"),
    [
        ("bindings.json", read_state, "cannot read the applied bindings at"),
        (removals.NAME, removals.entries, "cannot read reconcile's record of removals at"),
    ],
)
def test_deep_state_is_one_sentence(
    tmp_path: Path, name: str, read: Callable[[Path], object], sentence: str
) -> None:
    plant(tmp_path / layout.STATE / name)

    with pytest.raises(ReconcileError, match=sentence) as caught:
        read(tmp_path)

    assert "nested too deep" in str(caught.value)
