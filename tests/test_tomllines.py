"""Table tests of tomllines: which line defines each TOML key path, for error messages."""

from __future__ import annotations

import textwrap

import pytest

from reconciler.spec.tomllines import key_lines, line_for

Lines = dict[tuple[str, ...], int]


def lines_of(text: str) -> Lines:
    return key_lines(textwrap.dedent(text))


CASES: list[tuple[str, str, Lines]] = [
    (
        "table_headers_and_keys",
        """\
        version = 1

        [settings]
        root = ".envs"

        [envs.tools]
        python = "3.11"
        """,
        {
            ("version",): 1,
            ("settings",): 3,
            ("settings", "root"): 4,
            ("envs",): 6,
            ("envs", "tools"): 6,
            ("envs", "tools", "python"): 7,
        },
    ),
    (
        "dotted_keys_at_the_root_and_under_a_table",
        """\
        settings.root = ".envs"
        [envs]
        tools.python = "3.11"
        tools . imports = ["a"]
        """,
        {
            ("settings",): 1,
            ("settings", "root"): 1,
            ("envs",): 2,
            ("envs", "tools"): 3,
            ("envs", "tools", "python"): 3,
            ("envs", "tools", "imports"): 4,
        },
    ),
    (
        "quoted_keys_in_headers_and_assignments",
        """\
        [models."llama-3.1-8b"]
        env = "tools"
        [envs.'my.env']
        "odd key" = 1
        'lit.key' = 2
        "esc\\"aped" = 3
        """,
        {
            ("models",): 1,
            ("models", "llama-3.1-8b"): 1,
            ("models", "llama-3.1-8b", "env"): 2,
            ("envs",): 3,
            ("envs", "my.env"): 3,
            ("envs", "my.env", "odd key"): 4,
            ("envs", "my.env", "lit.key"): 5,
            ("envs", "my.env", 'esc\\"aped'): 6,
        },
    ),
    (
        "headers_with_spaces_comments_and_arrays_of_tables",
        """\
        [ envs . tools ]  # the tools env
        python = "3.11"   # pinned
        [[extra]]
        name = "x"
        """,
        {
            ("envs",): 1,
            ("envs", "tools"): 1,
            ("envs", "tools", "python"): 2,
            ("extra",): 3,
            ("extra", "name"): 4,
        },
    ),
    (
        "multi_line_arrays_are_skipped",
        """\
        [envs.tools]
        requirements = [
            "a==1",
            "python = 3",
            "[envs.fake]",
        ]
        python = "3.11"
        """,
        {
            ("envs",): 1,
            ("envs", "tools"): 1,
            ("envs", "tools", "requirements"): 2,
            ("envs", "tools", "python"): 7,
        },
    ),
    (
        "nested_multi_line_arrays_are_skipped",
        """\
        matrix = [
            [1, 2],
            [
                3,
            ],
        ]
        after = 1
        """,
        {("matrix",): 1, ("after",): 7},
    ),
    (
        "a_bracket_in_a_comment_does_not_keep_an_array_open",
        """\
        requirements = [  # see [the docs
            "pkg[extra]==1.0",
        ]
        python = "3.11"
        """,
        {("requirements",): 1, ("python",): 4},
    ),
    (
        "a_bracket_in_a_string_does_not_close_an_array_early",
        """\
        verify_ignore = [
            "x]",
            '''
        fake = 1
            ''',
        ]
        python = "3.11"
        """,
        {("verify_ignore",): 1, ("python",): 7},
    ),
    (
        "a_bracket_in_a_string_does_not_keep_an_array_open",
        """\
        verify_ignore = [
            "[!x",  # ] [
        ]
        python = "3.11"
        """,
        {("verify_ignore",): 1, ("python",): 4},
    ),
    (
        "multi_line_basic_strings_are_skipped",
        '''\
        notes = """
        [envs.fake]
        python = "2.7"
        a \\""" b
        """
        real = 1
        ''',
        {("notes",): 1, ("real",): 6},
    ),
    (
        "multi_line_literal_strings_are_skipped",
        """\
        notes = '''
        [envs.fake]
        python = "2.7"
        '''
        real = 1
        """,
        {("notes",): 1, ("real",): 5},
    ),
    (
        "a_multi_line_string_may_end_with_extra_quotes",
        '''\
        notes = """
        text""""
        real = 1
        ''',
        {("notes",): 1, ("real",): 3},
    ),
    (
        "one_line_triple_quoted_strings_do_not_open_anything",
        '''\
        a = """one line"""
        b = \'\'\'also one\'\'\'
        c = "has \'\'\' inside"
        d = 1
        ''',
        {("a",): 1, ("b",): 2, ("c",): 3, ("d",): 4},
    ),
    (
        "a_multi_line_string_inside_a_multi_line_array",
        '''\
        items = [
            """
        ]
        fake = 1
        """,
        ]
        real = 1
        ''',
        {("items",): 1, ("real",): 7},
    ),
    (
        "comments_and_garbage_lines_define_nothing",
        """\
        # key = 1
        # [envs.fake]
        not a key line
        = 3
        [unclosed
        real = 1
        """,
        {("real",): 6},
    ),
    (
        "the_first_definition_wins",
        """\
        [envs.tools]
        python = "3.11"
        [envs.tools.sources]
        no_index = true
        """,
        {
            ("envs",): 1,
            ("envs", "tools"): 1,
            ("envs", "tools", "python"): 2,
            ("envs", "tools", "sources"): 3,
            ("envs", "tools", "sources", "no_index"): 4,
        },
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_key_lines_finds_the_line_of_every_key_and_nothing_else(text: str, expected: Lines) -> None:
    assert lines_of(text) == expected


def test_key_lines_counts_crlf_lines_like_lf_lines() -> None:
    text = '[envs.tools]\r\nrequirements = [\r\n  "a==1",\r\n]\r\npython = "3.11"\r\n'
    assert key_lines(text)[("envs", "tools", "python")] == 5


@pytest.mark.parametrize(
    ("path", "line"),
    [
        (("envs", "tools", "python"), 3),
        (("envs", "tools", "requirements", "1"), 4),
        (("envs", "tools", "sources", "index_url"), 2),
        (("envs", "other"), 1),
        (("models",), None),
        ((), None),
    ],
    ids=["exact", "array_item", "inside_inline_table", "undeclared_child", "absent", "empty"],
)
def test_line_for_falls_back_to_the_longest_located_prefix(
    path: tuple[str, ...], line: int | None
) -> None:
    lines = lines_of(
        """\
        [envs]
        tools.sources = { index_url = "https://example.invalid" }
        tools.python = "3.11"
        tools.requirements = ["a==1", "b==2"]
        """
    )
    assert line_for(lines, path) == line
