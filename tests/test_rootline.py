"""The root a manifest names, told without a TOML parser (reconciler/spec/rootline.py): the
answer is the parser's, or none at all."""

from __future__ import annotations

import pytest

from reconciler.spec.rootline import settings_root

tomllib = pytest.importorskip("tomllib")

PLAIN = [
    ("", ".envs"),
    ("version = 1\n[envs.a]\npython = '3.11'\n", ".envs"),
    ("[settings]\nroot = 'x'\n", "x"),
    ('[settings]\nroot = "a b" # where envs live\n', "a b"),
    ('[settings]\nverify_ignore = ["a",\n  "root = 1",\n]\nroot = "r"\n', "r"),
    ('[envs.a]\nroot = "no"\n[settings]\n', ".envs"),
    ('[settings.sources]\nroot = "no"\n', ".envs"),
    ('[envs."a.b"]\n"k" = 1\n[settings]\nroot = "y"\n', "y"),
    ('a = [[1, 2],\n[3]]\n[settings]\nroot = "d"\n', "d"),
    ('x = "[settings]"\n[envs.a]\nrequirements = ["root = 1"]\n', ".envs"),
    ("# [settings]\n[settings]  # comment\nroot = 'c' # d\n", "c"),
    ('[models.m]\nenv = "e"\n[settings]\nroot = "../roots/r"\n', "../roots/r"),
    ('[settings]\r\nroot = "w"\r\n', "w"),
    ('[settings]\nlink_mode = "auto"\nverify_ignore = { a = "root" }\nroot = "t"\n', "t"),
]

NOT_PLAIN = [
    'settings.root = "z"\n',
    'settings = { root = "q" }\n',
    '[settings]\n"root" = "q"\n',
    '[settings]\nroot = "a\\\\b"\n',
    '[settings]\nnote = """\nroot = "1"\n"""\n',
    '[ "settings" ]\nroot = "q"\n',
    '[settings]\nroot = "a"\nroot = "b"\n',
    "[settings]\nroot = 3\n",
    "[[settings]]\nroot = 'q'\n",
    '[settings]\nroot = "a" "b"\n',
    '[settings]\nx = [\n"unclosed"\n',
]


@pytest.mark.parametrize(("text", "root"), PLAIN)
def test_a_plain_manifest_gives_the_root_the_toml_parser_reads(text: str, root: str) -> None:
    data = tomllib.loads(text)
    assert data.get("settings", {}).get("root", ".envs") == root
    assert settings_root(text) == root


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_anything_but_plain_toml_is_left_to_the_parser(text: str) -> None:
    assert settings_root(text) is None
