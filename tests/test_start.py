"""The entry point reads only the plain `which` command lines itself (reconciler/cli/start.py):
everything else, and every answer not remembered, is the CLI's. Unit tests with the memo's
recall replaced by a recorder."""

from __future__ import annotations

import pytest

from reconciler.cli import start
from reconciler.memo import resolution

ANSWER = (
    "serving",
    "/r/.generations/serving/g0001/bin/python",
    "/r/.generations/serving/g0001",
    "g0001",
)


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None, str]]:
    calls: list[tuple[str, str | None, str]] = []

    def recall(manifest: str, root: str | None, model: str) -> resolution.Answer:
        calls.append((manifest, root, model))
        return ANSWER

    monkeypatch.setattr(resolution, "recall", recall)
    return calls


@pytest.mark.parametrize(
    ("words", "call"),
    [
        (["which", "chat"], ("envs.toml", None, "chat")),
        (["--manifest", "m.toml", "which", "chat"], ("m.toml", None, "chat")),
        (["which", "chat", "--root=/r", "-q", "--no-color"], ("envs.toml", "/r", "chat")),
        (["which", "--wait", "chat", "--wait-timeout", "2.5"], ("envs.toml", None, "chat")),
    ],
)
def test_a_plain_which_is_answered_from_the_memo(
    asked: list[tuple[str, str | None, str]], words: list[str], call: tuple[str, str | None, str]
) -> None:
    assert start._remembered_which(words) == ANSWER[1]
    assert asked == [call]


@pytest.mark.parametrize(
    "words",
    [
        [],
        ["run", "chat", "--", "python"],
        ["which"],
        ["which", "a", "b"],
        ["--wait", "which", "chat"],  # not an option of reconcile itself
        ["which", "chat", "--wait-timeout", "-1"],
        ["which", "chat", "--wait-timeout", "inf"],
        ["which", "chat", "--root"],
        ["which", "--man", "x", "chat"],  # argparse takes abbreviations: the CLI decides
        ["which", "chat", "-v"],
        ["which", "chat", "--help"],
        ["which", "--", "chat"],
        ["plan"],
    ],
)
def test_anything_else_is_left_to_the_cli(
    asked: list[tuple[str, str | None, str]], words: list[str]
) -> None:
    assert start._remembered_which(words) is None
    assert asked == []
