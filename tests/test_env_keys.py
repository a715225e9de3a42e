"""Env keys name folders and files on every host (reconciler/spec/envkeys.py): a manifest
refuses, on every platform, keys that Windows cannot hold (device names, a trailing dot) and
two keys that are one name where case is ignored (Windows, macOS), each in one sentence with
its line; and a manifest that begins with a UTF-8 byte-order mark reads as without it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import ManifestError, Problem
from reconciler.memo.replay import root_of
from reconciler.observe.env import undeclared_entries
from reconciler.observe.inputs import load_manifest
from reconciler.spec.envkeys import DEVICE_NAMES, clashes, device_problem, folded
from reconciler.spec.manifest import parse_manifest
from reconciler.spec.rootline import settings_root

LABEL = "envs.toml"
BOM = "\ufeff"
QUICK = settings(max_examples=150, deadline=None)

# A key the key rule takes: 1-64 of [A-Za-z0-9._-], a letter or digit first, no "..", no
# trailing dot, no device name.
_KEY_BODY = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", max_size=10)
KEYS = st.builds(lambda head, body: head + body, st.sampled_from("abcdeXYZ019"), _KEY_BODY).filter(
    lambda key: device_problem(key) is None
)


def problems(text: str) -> tuple[Problem, ...]:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, LABEL)
    return caught.value.problems


def envs(*keys: str) -> str:
    """A manifest declaring a managed env under each key (quoted), one table each."""
    return "".join(f'[envs."{key}"]\npython = "3.12"\n\n' for key in keys)


@st.composite
def recased(draw: st.DrawFn, key: str) -> str:
    """``key`` with the case of some of its letters swapped, never ``key`` itself."""
    letters = [i for i, c in enumerate(key) if c.isalpha()]
    flips = draw(st.sets(st.sampled_from(letters), min_size=1))
    return "".join(c.swapcase() if i in flips else c for i, c in enumerate(key))


@st.composite
def case_pairs(draw: st.DrawFn) -> tuple[str, str]:
    key = draw(KEYS.filter(lambda k: any(c.isalpha() for c in k)))
    return key, draw(recased(key))


@QUICK
@given(case_pairs())
def test_keys_differing_only_in_case_are_one_sentence_naming_both_with_their_lines(
    pair: tuple[str, str],
) -> None:
    first, second = pair
    found = problems(envs(first, "other", second))
    assert len(found) == 1, found
    (problem,) = found
    assert problem.line == 7  # the later table's header
    assert problem.message.startswith(f'env "{second}" and env "{first}" (line 1) are one name')
    assert "rename one of them" in problem.message


@QUICK
@given(KEYS, st.text(". ", min_size=1, max_size=4))
def test_a_key_ending_in_dots_or_spaces_is_refused_on_its_own(key: str, tail: str) -> None:
    """Windows drops trailing dots and spaces: `shared.` is `shared` there. The key rule
    refuses such a key (a space is never a key's character), so no clash is reported too."""
    found = problems(envs(key, key + tail))
    assert [p.line for p in found] == [4], found
    assert "ends with a dot" in found[0].message or "is not a valid name" in found[0].message


@st.composite
def device_keys(draw: st.DrawFn) -> str:
    device = draw(st.sampled_from(sorted(DEVICE_NAMES)))
    cased = "".join(c.lower() if draw(st.booleans()) else c for c in device)
    extensions = draw(st.lists(st.sampled_from(["txt", "tar", "gz", "x", "1", "env"]), max_size=3))
    return ".".join([cased, *extensions])


@QUICK
@given(device_keys())
def test_device_names_with_any_case_and_extension_are_refused(key: str) -> None:
    (problem,) = problems(envs(key))
    device = key.split(".")[0].upper()
    assert problem.line == 1
    assert problem.message == (
        f'"{key}" is a device name on Windows ({device}, with any extension), so no folder '
        "can have it there; choose another name"
    )


@pytest.mark.parametrize(
    "key", ["console", "auxiliary", "nullable", "com10", "lpt", "com", "prn-x", "con_1", "a.con"]
)
def test_names_near_a_device_name_are_keys(key: str) -> None:
    assert device_problem(key) is None
    assert list(parse_manifest(envs(key), LABEL).envs) == [key]


def test_the_messages() -> None:
    text = envs("shared", "other", "Shared", "shared.", "con", "aux.txt")
    rendered = [p.render(LABEL) for p in problems(text)]
    assert rendered == [
        'envs.toml:7: envs.Shared: env "Shared" and env "shared" (line 1) are one name on '
        "Windows and macOS, which ignore case in file names, and would share one folder in the "
        "root; rename one of them",
        'envs.toml:10: envs."shared.": "shared." ends with a dot, which Windows drops from a '
        'file name (it would be "shared"); remove the dot',
        'envs.toml:13: envs.con: "con" is a device name on Windows (CON, with any extension), '
        "so no folder can have it there; choose another name",
        'envs.toml:16: envs."aux.txt": "aux.txt" is a device name on Windows (AUX, with any '
        "extension), so no folder can have it there; choose another name",
    ]


def test_a_clash_is_reported_on_the_later_line_whatever_the_order_of_the_tables() -> None:
    """tomlkit keeps a table defined under a dotted key where the text puts it; the later
    line is the one that gets the problem, and names the earlier one's."""
    text = 'envs.Tools = { python = "3.12" }\n\n[envs.tools]\npython = "3.12"\n'
    (problem,) = problems(text)
    assert (problem.line, problem.key_path) == (3, "envs.tools")
    assert 'env "tools" and env "Tools" (line 1)' in problem.message


def test_three_keys_of_one_name_are_two_problems_naming_the_first() -> None:
    found = problems(envs("ml", "ML", "Ml"))
    assert [(p.line, p.key_path) for p in found] == [(4, "envs.ML"), (7, "envs.Ml")]
    assert all('env "ml" (line 1)' in p.message for p in found)


def test_model_names_are_not_env_keys() -> None:
    """A model's name never names a file (bindings are JSON; the `which` memo hex-encodes
    it), so `con` and case variants stay valid model names."""
    text = envs("tools") + '[models.con]\nenv = "tools"\n[models.CON2]\nenv = "tools"\n'
    assert sorted(parse_manifest(text, LABEL).models) == ["CON2", "con"]


def test_clashes_and_folded() -> None:
    assert folded("Shared. .") == "shared"
    assert clashes(["a", "B", "A", "b", "c"]) == [("A", "a"), ("b", "B")]


# -- a UTF-8 byte-order mark ------------------------------------------------------------------

MANIFEST = textwrap.dedent(
    """\
    [settings]
    root = "where"

    [envs.tools]
    python = "3.12"
    requirements = ["alpha==1.0"]

    [models.chat]
    env = "tools"
    """
)


def test_a_bom_is_read_as_if_absent() -> None:
    assert parse_manifest(BOM + MANIFEST, LABEL) == parse_manifest(MANIFEST, LABEL)


def test_problems_of_a_bom_manifest_keep_their_lines() -> None:
    text = BOM + MANIFEST.replace('python = "3.12"', 'pythn = "3.12"')
    assert [(p.line, p.key_path) for p in problems(text)] == [
        (4, "envs.tools.python"),
        (5, "envs.tools.pythn"),
    ]


@pytest.mark.parametrize(
    "text", [MANIFEST, "[envs.a]\npython = '3.12'\n", "# a comment\n[settings]\nroot = 'r'\n"]
)
def test_the_fast_root_line_reads_a_bom_manifest_as_without(text: str) -> None:
    assert settings_root(BOM + text) == settings_root(text) is not None


def test_load_and_the_replay_root_read_a_bom_manifest_as_without(tmp_path: Path) -> None:
    plain, marked = tmp_path / "plain", tmp_path / "marked"
    for folder, prefix in ((plain, b""), (marked, BOM.encode())):
        folder.mkdir()
        (folder / "envs.toml").write_bytes(prefix + MANIFEST.encode())
    loaded = [load_manifest(folder / "envs.toml") for folder in (plain, marked)]
    assert loaded[0].manifest == loaded[1].manifest
    assert loaded[0].text == loaded[1].text  # what the plan's fingerprint hashes
    assert root_of(marked / "envs.toml", None) == marked / "where"


def test_a_utf16_manifest_is_named_so(tmp_path: Path) -> None:
    """Windows PowerShell 5.1's `>` writes UTF-16 with its own byte-order mark."""
    manifest = tmp_path / "envs.toml"
    manifest.write_bytes(MANIFEST.encode("utf-16"))
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest)
    assert caught.value.details() == (f"{manifest}: UTF-16 text; save it as UTF-8",)


# -- lockfiles that are one file where case is ignored -----------------------------------------


@QUICK
@given(case_pairs(), st.sampled_from(["", ".", "..", " ", ". "]), st.booleans())
def test_lockfiles_differing_in_case_or_trailing_dots_are_one_sentence(
    pair: tuple[str, str], tail: str, backslash: bool
) -> None:
    """`lockfiles/S2.txt` (env S2's default) and `lockfiles/s2.txt`, or `LOCKFILES\\S2.TXT.`,
    are two files on Linux and one on Windows and macOS: `lock` would write one over the
    other there."""
    key, other_case = pair
    separator = "\\" if backslash else "/"
    written = f"lockfiles{separator}{other_case}.txt{tail}"
    text = envs(key) + f"[envs.other]\npython = \"3.12\"\nlockfile = '{written}'\n"
    if tail:  # refused on its own: a name ending in a dot or a space (spec.winpaths)
        assert any("has a name ending in a" in p.message for p in problems(text))
        return
    (problem,) = problems(text)
    assert (problem.line, problem.key_path) == (6, "envs.other.lockfile")
    assert problem.message == (
        f"the lockfile {written} and env {key}'s lockfile lockfiles/{key}.txt (line 1) are one "
        "file on Windows and macOS, which ignore case in file names; name another file"
    )


def test_lockfiles_written_alike_are_left_to_the_check_on_disk() -> None:
    """The same file everywhere: `the lockfile ... is env X's lockfile too` (manifestpaths)."""
    text = envs("a") + '[envs.b]\npython = "3.12"\nlockfile = "lockfiles/./a.txt"\n'
    assert set(parse_manifest(text, LABEL).envs) == {"a", "b"}


def test_lockfiles_of_another_folder_and_adopted_envs_do_not_clash() -> None:
    text = (
        '[settings]\nlockfiles = "Locks"\n'
        + envs("a")
        + '[envs.b]\npython = "3.12"\nlockfile = "locks2/A.txt"\n'
        + '[envs.c]\nadopt = "venv"\n'
    )
    assert set(parse_manifest(text, LABEL).envs) == {"a", "b", "c"}
    (problem,) = problems(text.replace("locks2/A.txt", "LOCKS/A.TXT"))
    assert "env a's lockfile Locks/a.txt (line 3)" in problem.message


def test_a_root_entry_spelt_in_another_case_is_an_orphan_where_case_counts(tmp_path: Path) -> None:
    """On a case-sensitive file system `Shared` and `shared` are two entries: the one not
    declared is an orphan, as before. (Where case is ignored, the declared key finds the
    entry and it is not one: tests/wine/test_wine_manifest_names.py.)"""
    (tmp_path / "Shared").mkdir()
    (tmp_path / ".generations").mkdir()
    assert undeclared_entries(tmp_path, ["shared"]) == ("Shared",)
    assert undeclared_entries(tmp_path, ["Shared", "other"]) == ()
