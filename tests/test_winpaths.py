"""Windows path spellings (issue 18): ``\\\\?\\C:\\x``, ``\\\\.\\C:\\x``, ``/`` or ``\\``, any
case, are one folder, so the manifest's checks (inside the root, holds the root, the
manifest's folder) hold whatever the spelling; and the path shapes a manifest may not hold
(a stream ``a.txt::$DATA``, ``C:x``, ``\\x``) are refused naming the key, on every system."""

from __future__ import annotations

import ntpath
from pathlib import Path, PureWindowsPath
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import ManifestError
from reconciler.spec.manifest import LoadedManifest, parse_manifest
from reconciler.spec.winpaths import form_problem, plain, plain_path
from reconciler.store.layout import overlaps

NAMES = st.text(alphabet="abcXYZ019_-", min_size=1, max_size=6)
FOLDERS = st.lists(NAMES, min_size=0, max_size=4)


def _seen(spelled: str) -> PureWindowsPath:
    """What reconcile compares: the plain spelling, normalised as ``realpath`` does (``.``,
    ``..``, separators) and as Windows paths compare (case-insensitive)."""
    return PureWindowsPath(ntpath.normpath(str(plain_path(PureWindowsPath(spelled)))))


@st.composite
def spellings(draw: st.DrawFn, drive: str, parts: list[str]) -> str:
    """One of the spellings Windows reads as ``drive:\\parts``."""
    names = [draw(st.sampled_from([p, p.upper(), p.lower()])) for p in parts]
    prefix = draw(st.sampled_from(["", "\\\\?\\", "\\\\.\\", "//?/", "\\??\\"]))
    letter = draw(st.sampled_from([drive.upper(), drive.lower()]))
    sep = "\\" if prefix.startswith(("\\\\?", "\\??")) else draw(st.sampled_from(["\\", "/"]))
    if draw(st.booleans()) and names:  # a detour: ``x\..\`` or ``.\``
        at = draw(st.integers(0, len(names) - 1))
        names.insert(at, draw(st.sampled_from([".", f"{names[at]}x{sep}.."])))
    trailing = draw(st.sampled_from(["", sep]))
    return f"{prefix}{letter}:{sep}{sep.join(names)}{trailing}"


@st.composite
def unc_spellings(draw: st.DrawFn, parts: list[str]) -> str:
    server = "\\".join(["srv", "share", *parts])
    return draw(
        st.sampled_from([f"\\\\{server}", f"\\\\?\\UNC\\{server}", f"\\\\?\\unc\\{server}"])
    )


@given(st.data(), FOLDERS)
def test_every_spelling_of_a_windows_path_compares_equal_to_its_plain_form(
    data: st.DataObject, parts: list[str]
) -> None:
    spelled = data.draw(spellings("C", parts))
    assert _seen(spelled) == PureWindowsPath("C:\\", *parts)
    unc = data.draw(unc_spellings(parts))
    assert _seen(unc) == PureWindowsPath("\\\\srv\\share\\", *parts)


@given(st.data(), FOLDERS, FOLDERS)
def test_inside_and_holds_agree_with_the_plain_comparison_whatever_the_spelling(
    data: st.DataObject, root: list[str], other: list[str]
) -> None:
    """The root check (one folder is, holds or lies inside the other) answers for any two
    spellings as it does for the plain forms, so ``\\\\?\\`` cannot get past it."""
    inside = data.draw(st.booleans())
    folder = [*root, *other] if inside else other
    plain_answer = overlaps(PureWindowsPath("C:\\", *root), PureWindowsPath("C:\\", *folder))
    spelled_root = data.draw(spellings("C", root))
    spelled_folder = data.draw(spellings("c", folder))
    assert overlaps(_seen(spelled_root), _seen(spelled_folder)) == plain_answer


@pytest.mark.parametrize(
    "text",
    [
        "\\\\.\\PIPE\\x",
        "\\\\?\\Volume{0b1e2c3d-0000-0000-0000-000000000000}\\x",
        "\\\\?\\GLOBALROOT\\Device\\HarddiskVolume1\\x",
        "C:\\plain",
        "relative\\x",
    ],
)
def test_a_path_without_a_plain_spelling_or_already_plain_is_left_as_written(text: str) -> None:
    assert plain(text) == text


def test_a_posix_path_is_never_rewritten() -> None:
    assert plain_path(Path("/srv/\\\\?\\C:\\x")) == Path("/srv/\\\\?\\C:\\x")


def _loaded(body: str) -> LoadedManifest:
    """A manifest as reconcile on Windows holds it (its path a Windows path)."""
    manifest_path = cast(Path, PureWindowsPath("C:/h18/t3/envs.toml"))
    return LoadedManifest(manifest_path, body, parse_manifest(body, "envs.toml"))


def test_the_manifest_hands_out_plain_paths_so_an_adopted_generation_is_seen_inside_the_root() -> (
    None
):
    loaded = _loaded(
        "[settings]\nroot = 'envs'\n[envs.a]\n"
        "adopt = '\\\\?\\C:\\h18\\t3\\envs\\.generations\\other\\g0001'\n"
    )
    assert str(loaded.adopt_path("a")) == "C:\\h18\\t3\\envs\\.generations\\other\\g0001"
    assert overlaps(loaded.adopt_path("a"), loaded.root)


def test_a_root_spelled_with_the_extended_prefix_is_the_manifests_folder() -> None:
    loaded = _loaded("[settings]\nroot = '\\\\?\\C:\\h18\\t3'\n")
    assert loaded.root == loaded.base_dir
    assert str(loaded.root) == "C:\\h18\\t3"


REFUSED = {
    "adopt = 'C:h18\\victim'": (
        "envs.a.adopt",
        '"C:h18\\victim" is relative to the current folder of drive C:',
    ),
    "adopt = 'D:'": ("envs.a.adopt", "relative to the current folder of drive D:"),
    "adopt = '\\h18\\victim'": ("envs.a.adopt", "is relative to the current drive on Windows"),
    "adopt = 'venvs\\legacy:x'": ("envs.a.adopt", "an NTFS alternate data stream"),
    "adopt = '\\\\?\\GLOBALROOT\\Device\\x'": ("envs.a.adopt", "is a Windows device path"),
    "adopt = '\\\\.\\PIPE\\x'": ("envs.a.adopt", "is a Windows device path"),
}
MANAGED = {
    "lockfile = 'lockfiles\\shared.txt::$DATA'": (
        "envs.m.lockfile",
        '"lockfiles\\shared.txt::$DATA" holds ":"',
    ),
    "lockfile = 'envs.toml:x'": ("envs.m.lockfile", "alternate data stream"),
    "sources.find_links = ['wheels:x']": ("envs.m.sources.find_links[0]", 'holds ":"'),
    "sources.index_url = 'file:simple:x'": ("envs.m.sources.index_url", 'holds ":"'),
}


@pytest.mark.parametrize(("line", "expected"), sorted(REFUSED.items()))
def test_an_adopt_path_of_a_refused_shape_is_one_sentence_naming_the_key(
    line: str, expected: tuple[str, str]
) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(f"[envs.a]\n{line}\n", "envs.toml")
    text = "\n".join(caught.value.details())
    assert f"envs.toml:2: {expected[0]}: " in text and expected[1] in text
    assert len(caught.value.problems) == 1


@pytest.mark.parametrize(("line", "expected"), sorted(MANAGED.items()))
def test_a_managed_env_path_holding_a_stream_is_refused_naming_the_key(
    line: str, expected: tuple[str, str]
) -> None:
    body = f"[envs.m]\npython = '3.11'\n{line}\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(body, "envs.toml")
    text = "\n".join(caught.value.details())
    assert f"{expected[0]}: " in text and expected[1] in text


@pytest.mark.parametrize("root", ["envs:2", "C:envs", "\\envs", "C:\\h18\\envs:$DATA"])
def test_a_root_of_a_refused_shape_is_refused_in_settings_root(root: str) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(f"[settings]\nroot = '{root}'\n", "envs.toml")
    assert "envs.toml:2: settings.root: " in "\n".join(caught.value.details())


def test_a_requirement_naming_a_stream_of_a_local_file_is_refused() -> None:
    body = "[envs.m]\npython = '3.11'\nrequirements = ['x @ file:wheels/x.whl:s']\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(body, "envs.toml")
    assert 'envs.m.requirements[0]: "wheels/x.whl:s" holds ":"' in caught.value.details()[0]


@pytest.mark.parametrize(
    "value",
    [
        "C:\\h18\\victim",
        "c:/h18/victim",
        "\\\\?\\C:\\h18\\victim",
        "\\\\?\\UNC\\srv\\share\\v",
        "\\\\srv\\share\\v",
        "/srv/venvs/legacy",
        "environments/a/.venv",
        "..\\legacy",
    ],
)
def test_plain_absolute_and_relative_paths_are_accepted(value: str) -> None:
    assert form_problem(value) is None


# --- a name ending in a dot or a space (hostile finding, round 2) ---------------------------


@given(FOLDERS, NAMES, st.sampled_from([".", " ", "..", ". ", " ."]), FOLDERS)
def test_a_name_ending_in_a_dot_or_a_space_is_refused_anywhere_in_a_path(
    before: list[str], name: str, tail: str, after: list[str]
) -> None:
    """Windows drops a trailing dot or space from ordinary paths and keeps it in ``\\\\?\\``
    ones, which removal uses: ``C:\\x\\vc3.`` was checked as ``vc3`` and deleted as ``vc3.``."""
    for separator in ("\\", "/"):
        value = separator.join(["C:", *before, name + tail, *after])
        problem = form_problem(value)
        assert problem is not None and f'("{name + tail}")' in problem, (value, problem)


@pytest.mark.parametrize("value", ["a..b", ".venv", "x/./y", "../x", "C:\\a\\.\\b", "..\\.."])
def test_dots_that_are_no_trailing_dot_are_accepted(value: str) -> None:
    assert form_problem(value) is None


def test_an_adopted_folder_ending_in_a_dot_is_refused_naming_the_key() -> None:
    body = "[envs.legacy]\nadopt = 'C:\\h18b\\vc3.'\ndelete = true\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(body, "envs.toml")
    assert 'envs.legacy.adopt: "C:\\h18b\\vc3." has a name ending in a dot' in "\n".join(
        caught.value.details()
    )


def test_removal_never_takes_a_long_path_whose_short_form_names_another_folder() -> None:
    from reconciler.errors import ReconcileError
    from reconciler.store.junctions import extended

    assert extended(PureWindowsPath("C:\\envs\\.generations\\a\\g0001")).startswith("\\\\?\\C:")
    for path in ("C:\\h18b\\vc3.", "C:\\h18b\\ENVS.\\x", "C:\\h18b\\vc3 "):
        with pytest.raises(ReconcileError, match="has a name ending in a"):
            extended(PureWindowsPath(path))
