"""Table tests of envs.toml parsing (SPEC 3): every error names file, line and key path.

The parser is pure (``parse_manifest``); the CLI cases call ``reconciler.cli.app.main`` in-process
and check that a bad manifest is one clear sentence, exit code 1, and nothing on disk.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.cli.app import main
from reconciler.errors import ManifestError, ManifestNotFound, Problem
from reconciler.observe.inputs import load_manifest
from reconciler.spec.manifest import parse_manifest
from reconciler.spec.problems import format_key_path

LABEL = "conf/envs.toml"

GOOD = """\
version = 1

[settings]
root = ".envs"
keep_generations = 3
link_mode = "copy"
python_downloads = "never"
verify_ignore = ["certifi/cacert.pem"]

[settings.sources]
index_url = "https://example.invalid/simple"
find_links = ["wheels"]

[envs.tools]
python = "3.12.1"
requirements = ["tabulate==0.9.0", "six==1.16.0 ; python_version >= '3'"]
imports = ["tabulate", "six.moves"]
lockfile = "locks/tools.txt"

[envs.tools.sources]
no_index = true

[envs.legacy]
adopt = "environments/old/.venv"
imports = ["torch"]

[models."llama-3-8b"]
env = "tools"
fallback = "legacy"
"""


def problems_of(text: str) -> tuple[Problem, ...]:
    """The problems parse_manifest reports for ``text`` (the test fails if it parses)."""
    with pytest.raises(ManifestError) as caught:
        parse_manifest(textwrap.dedent(text), LABEL)
    return caught.value.problems


@dataclass(frozen=True)
class Case:
    """One broken manifest and the (line, key path, message fragment) of every problem."""

    id: str
    text: str
    expected: tuple[tuple[int, str, str], ...]


CASES = [
    # unknown keys, at every level, with a did-you-mean
    Case(
        "unknown_root_key",
        """\
        [setings]
        root = "x"
        """,
        ((1, "setings", 'unknown key "setings"; did you mean "settings"?'),),
    ),
    Case(
        "unknown_root_key_alias",
        """\
        [enviroments.tools]
        python = "3.11"
        """,
        ((1, "enviroments", 'did you mean "envs"?'),),
    ),
    Case(
        "unknown_settings_key",
        """\
        [settings]
        root = ".envs"
        keep_generation = 2
        """,
        ((3, "settings.keep_generation", 'did you mean "keep_generations"?'),),
    ),
    Case(
        "unknown_settings_sources_key",
        """\
        [settings.sources]
        no_index = true
        index-url = "https://example.invalid"
        """,
        ((3, "settings.sources.index-url", 'did you mean "index_url"?'),),
    ),
    Case(
        "unknown_env_key",
        """\
        [envs.tools]
        pythn = "3.11"
        """,
        (
            (1, "envs.tools.python", 'a managed env needs "python"'),
            (2, "envs.tools.pythn", 'unknown key "pythn"; did you mean "python"?'),
        ),
    ),
    Case(
        "unknown_env_sources_key",
        """\
        [envs.tools]
        python = "3.11"

        [envs.tools.sources]
        find_link = ["wheels"]
        """,
        ((5, "envs.tools.sources.find_link", 'did you mean "find_links"?'),),
    ),
    Case(
        "unknown_model_key",
        """\
        [envs.tools]
        python = "3.11"

        [models.m]
        env = "tools"
        fallbak = "tools"
        """,
        ((6, "models.m.fallbak", 'did you mean "fallback"?'),),
    ),
    Case(
        "unknown_key_without_close_match_lists_the_allowed_ones",
        """\
        [settings]
        colour = "red"
        """,
        ((2, "settings.colour", "allowed keys: keep_generations, link_mode, lockfiles,"),),
    ),
    Case(
        "unknown_key_in_inline_table",
        """\
        [envs]
        tools = { python = "3.11", requirement = ["a==1"] }
        """,
        ((2, "envs.tools.requirement", 'did you mean "requirements"?'),),
    ),
    # wrong types
    Case(
        "keep_generations_is_a_string",
        """\
        [settings]
        keep_generations = "2"
        """,
        ((2, "settings.keep_generations", 'expected an integer, got string "2"'),),
    ),
    Case(
        "no_index_is_a_string",
        """\
        [settings.sources]
        no_index = "yes"
        """,
        ((2, "settings.sources.no_index", 'expected a boolean (true or false), got string "yes"'),),
    ),
    Case(
        "requirements_is_a_string",
        """\
        [envs.tools]
        python = "3.11"
        requirements = "x"
        """,
        ((3, "envs.tools.requirements", 'expected an array, got string "x"'),),
    ),
    Case(
        "python_is_a_float",
        """\
        [envs.tools]
        python = 3.11
        """,
        ((2, "envs.tools.python", "expected a string, got float 3.11"),),
    ),
    Case(
        "envs_is_an_integer",
        "envs = 3\n",
        ((1, "envs", "expected a table, got integer 3"),),
    ),
    Case(
        "models_is_an_array",
        "models = []\n",
        ((1, "models", "expected a table, got an array"),),
    ),
    Case(
        "an_env_is_not_a_table",
        """\
        [envs]
        tools = "3.11"
        """,
        ((2, "envs.tools", 'expected a table, got string "3.11"'),),
    ),
    # values
    Case(
        "bad_requirement_string_is_located_at_its_array",
        """\
        [envs.tools]
        python = "3.11"
        requirements = [
            "ok==1.0",
            "not a requirement!!",
        ]
        """,
        ((3, "envs.tools.requirements[1]", '"not a requirement!!" is not a valid PEP 508'),),
    ),
    Case(
        "python_version_without_minor",
        """\
        [envs.tools]
        python = "3"
        """,
        ((2, "envs.tools.python", 'expected a Python version "X.Y" or "X.Y.Z", got "3"'),),
    ),
    Case(
        "python_version_with_words",
        """\
        [envs.tools]
        python = "3.11-dev"
        """,
        ((2, "envs.tools.python", 'got "3.11-dev"'),),
    ),
    Case(
        "import_that_is_not_a_module_name",
        """\
        [envs.tools]
        python = "3.11"
        imports = ["torch", "no-dashes"]
        """,
        ((3, "envs.tools.imports[1]", '"no-dashes" is not an importable module name'),),
    ),
    Case(
        "verify_ignore_that_leaves_site_packages",
        """\
        [settings]
        verify_ignore = ["../outside/*"]
        """,
        ((2, "settings.verify_ignore[0]", "must be a glob relative to site-packages"),),
    ),
    Case(
        "version_2",
        "version = 2\n",
        ((1, "version", "expected 1, got integer 2"),),
    ),
    Case(
        "link_mode_invalid",
        """\
        [settings]
        link_mode = "symlink"
        """,
        ((2, "settings.link_mode", "expected 'auto', 'copy', 'clone' or 'hardlink'"),),
    ),
    Case(
        "python_downloads_invalid",
        """\
        [settings]
        python_downloads = "always"
        """,
        ((2, "settings.python_downloads", "expected 'automatic', 'manual' or 'never'"),),
    ),
    Case(
        "keep_generations_zero",
        """\
        [settings]
        keep_generations = 0
        """,
        ((2, "settings.keep_generations", "must be at least 1, got integer 0"),),
    ),
    # names
    Case(
        "env_name_with_a_path_separator",
        """\
        [envs."a/b"]
        python = "3.11"
        """,
        ((1, 'envs."a/b"', '"a/b" is not a valid name'),),
    ),
    Case(
        "env_name_with_a_backslash",
        """\
        [envs.'a\\b']
        python = "3.11"
        """,
        ((1, 'envs."a\\\\b"', "is not a valid name"),),
    ),
    Case(
        "env_name_with_dot_dot",
        """\
        [envs."a..b"]
        python = "3.11"
        """,
        ((1, 'envs."a..b"', '"a..b" is not a valid name'),),
    ),
    Case(
        "env_name_starting_with_a_dot",
        """\
        [envs.".hidden"]
        python = "3.11"
        """,
        ((1, 'envs.".hidden"', "starting with a letter or digit"),),
    ),
    Case(
        "env_name_of_65_characters",
        f"""\
        [envs.{"e" * 65}]
        python = "3.11"
        """,
        ((1, f"envs.{'e' * 65}", "use 1-64 letters"),),
    ),
    Case(
        "model_name_with_a_path_separator",
        """\
        [envs.tools]
        python = "3.11"

        [models."../etc"]
        env = "tools"
        """,
        ((4, 'models."../etc"', "is not a valid name"),),
    ),
    # cross-field rules
    Case(
        "model_names_an_undeclared_env",
        """\
        [envs.tools]
        python = "3.11"

        [models.m]
        env = "tols"
        """,
        ((5, "models.m.env", 'names undeclared env "tols"; did you mean "tools"?'),),
    ),
    Case(
        "model_names_an_undeclared_env_far_from_any",
        """\
        [envs.tools]
        python = "3.11"

        [models.m]
        env = "serving"
        """,
        ((5, "models.m.env", 'names undeclared env "serving"; declare it under [envs]'),),
    ),
    Case(
        "fallback_names_an_undeclared_env",
        """\
        [envs.tools]
        python = "3.11"

        [models.m]
        env = "tools"
        fallback = "legacy"
        """,
        ((6, "models.m.fallback", 'names undeclared env "legacy"'),),
    ),
    Case(
        "model_without_env",
        """\
        [envs.tools]
        python = "3.11"

        [models.m]
        fallback = "tools"
        """,
        ((4, "models.m.env", "missing required key"),),
    ),
    Case(
        "adopt_together_with_requirements",
        """\
        [envs.old]
        adopt = "environments/old/.venv"
        requirements = ["torch==2.3.1"]
        """,
        ((3, "envs.old.requirements", 'an adopted env cannot have "requirements"'),),
    ),
    Case(
        "adopt_together_with_a_lockfile",
        """\
        [envs.old]
        adopt = "environments/old/.venv"
        lockfile = "old.txt"
        """,
        ((3, "envs.old.lockfile", 'an adopted env cannot have "lockfile"'),),
    ),
    Case(
        "managed_env_without_python",
        """\
        [envs.tools]
        requirements = ["a==1"]
        """,
        ((1, "envs.tools.python", 'a managed env needs "python" ("X.Y" or "X.Y.Z")'),),
    ),
    Case(
        "managed_env_declared_with_dotted_keys_without_python",
        """\
        envs.tools.requirements = ["a==1"]
        """,
        ((1, "envs.tools.python", 'a managed env needs "python"'),),
    ),
    Case(
        "fallback_equal_to_env",
        """\
        [envs.tools]
        python = "3.11"

        [models.m]
        env = "tools"
        fallback = "tools"
        """,
        ((6, "models.m.fallback", "a fallback loop (m -> tools -> tools); name a different"),),
    ),
    Case(
        "delete_on_a_managed_env",
        """\
        [envs.tools]
        python = "3.11"
        delete = true
        """,
        ((3, "envs.tools.delete", "only an adopted env can be deleted this way"),),
    ),
    Case(
        "model_bound_to_an_env_marked_for_deletion",
        """\
        [envs.old]
        adopt = "old/.venv"
        delete = true

        [envs.new]
        python = "3.11"

        [models.m]
        env = "new"
        fallback = "old"
        """,
        (
            (
                10,
                "models.m.fallback",
                'names env "old", which is marked delete = true; name another env first',
            ),
        ),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_manifest_error_names_the_line_key_path_and_problem(case: Case) -> None:
    problems = problems_of(case.text)
    assert [(p.line, p.key_path) for p in problems] == [(ln, key) for ln, key, _ in case.expected]
    for problem, (line, key, fragment) in zip(problems, case.expected, strict=True):
        assert fragment in problem.message
        assert problem.render(LABEL) == f"{LABEL}:{line}: {key}: {problem.message}"


def test_the_bundled_style_manifest_parses_with_every_field() -> None:
    manifest = parse_manifest(GOOD, LABEL)
    assert manifest.settings.keep_generations == 3
    assert manifest.settings.link_mode == "copy"
    assert manifest.settings.sources.find_links == ("wheels",)
    assert list(manifest.managed_envs()) == ["tools"]
    assert list(manifest.adopted_envs()) == ["legacy"]
    assert manifest.envs["tools"].python == "3.12.1"
    assert manifest.sources_for("tools").no_index is True
    assert manifest.sources_for("legacy") == manifest.settings.sources
    assert manifest.verify_ignore_for("tools") == ("certifi/cacert.pem",)
    assert manifest.models["llama-3-8b"].fallback == "legacy"


def test_an_empty_manifest_is_valid_and_uses_the_defaults() -> None:
    manifest = parse_manifest("", LABEL)
    assert manifest.version == 1
    assert manifest.settings.root == ".envs"
    assert manifest.settings.keep_generations == 2
    assert manifest.envs == {}
    assert manifest.models == {}


def test_every_problem_in_the_file_is_reported_at_once_in_line_order() -> None:
    text = """\
    version = 2

    [settings]
    keep_generations = "2"
    link_mode = "fast"

    [envs.tools]
    pyhton = "3.11"
    requirements = ["a >>> 1"]

    [envs.old]
    adopt = "old/.venv"
    requirements = ["a==1"]

    [models.m]
    env = "tool"
    """
    with pytest.raises(ManifestError) as caught:
        parse_manifest(textwrap.dedent(text), LABEL)
    error = caught.value
    assert [(p.line, p.key_path) for p in error.problems] == [
        (1, "version"),
        (4, "settings.keep_generations"),
        (5, "settings.link_mode"),
        (7, "envs.tools.python"),
        (8, "envs.tools.pyhton"),
        (9, "envs.tools.requirements[0]"),
        (13, "envs.old.requirements"),
        (16, "models.m.env"),
    ]
    assert error.message == f"{LABEL} has 8 problems; fix them and run the command again."
    assert error.details()[-1] == (
        f'{LABEL}:16: models.m.env: names undeclared env "tool"; did you mean "tools"?'
    )


def test_one_problem_is_worded_in_the_singular() -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest("version = 3\n", LABEL)
    assert caught.value.message == f"{LABEL} has 1 problem; fix it and run the command again."
    assert caught.value.details() == (f"{LABEL}:1: version: expected 1, got integer 3",)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("[b\n", 1),
        ("version = 1\n\n[envs.tools]\npython = \n", 4),
        # tomlkit gives no line for a key defined twice; the stdlib parser (3.11+) finds it
        (
            '[envs.tools]\npython = "3.11"\npython = "3.12"\n',
            3 if sys.version_info >= (3, 11) else None,
        ),
        ('[settings]\nroot = "unterminated\n', 2),
        ('[envs.tools]\npython = "3.11"\n\n[envs.tools]\n', 4),
    ],
    ids=["unclosed_header", "missing_value", "duplicate_key", "unterminated_string", "table_twice"],
)
def test_invalid_toml_reports_its_line(text: str, line: int | None) -> None:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, LABEL)
    (problem,) = caught.value.problems
    assert problem.line == line
    assert problem.key_path == ""
    assert problem.message.startswith("not valid TOML: ")
    where = f"{LABEL}:{line}" if line else LABEL
    assert problem.render(LABEL).startswith(f"{where}: not valid TOML: ")


@pytest.mark.parametrize(
    ("loc", "rendered"),
    [
        (("envs", "tools", "python"), "envs.tools.python"),
        (("envs", "my.env", "python"), 'envs."my.env".python'),
        (("envs", "tools", "requirements", 2), "envs.tools.requirements[2]"),
        (("models", "llama-3-8b", "env"), "models.llama-3-8b.env"),
        ((), ""),
    ],
)
def test_key_paths_are_written_the_way_toml_spells_them(
    loc: tuple[str | int, ...], rendered: str
) -> None:
    assert format_key_path(loc) == rendered


def test_a_problem_without_a_line_names_only_the_file() -> None:
    assert Problem(None, "", "not UTF-8").render("envs.toml") == "envs.toml: not UTF-8"
    assert Problem(3, "envs.a", "bad").render("envs.toml") == "envs.toml:3: envs.a: bad"


def test_load_manifest_resolves_paths_relative_to_the_manifest_folder(tmp_path: Path) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(GOOD, encoding="utf-8")
    loaded = load_manifest(path)
    assert loaded.root == tmp_path / ".envs"
    assert loaded.lockfile_path("tools") == tmp_path / "locks" / "tools.txt"
    assert loaded.adopt_path("legacy") == tmp_path / "environments" / "old" / ".venv"
    assert load_manifest(path, root_override=tmp_path / "elsewhere").root == tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="tools is not adopted"):
        loaded.adopt_path("tools")


# --- the CLI: a bad manifest is one sentence, exit 1, no traceback, nothing created ----------


def run_plan(manifest: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--manifest", str(manifest), "plan"])
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(
    folder: Path, before: set[Path], code: int, out: str, err: str, sentence: str
) -> None:
    assert code == 1
    assert out == ""
    assert "Traceback" not in err
    last = err.rstrip("\n").splitlines()[-1]
    assert last.startswith("error: ")
    assert sentence in err
    assert set(folder.rglob("*")) == before, "a refused manifest must not create anything"
    assert not (folder / ".envs").exists()


def test_cli_reports_a_missing_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "envs.toml"
    code, out, err = run_plan(manifest, capsys)
    assert_refused(tmp_path, set(), code, out, err, f"error: no manifest at {manifest}: ")
    assert err.count("\n") == 1


def test_cli_reports_a_manifest_that_is_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "envs.toml"
    manifest.mkdir()
    before = set(tmp_path.rglob("*"))
    code, out, err = run_plan(manifest, capsys)
    assert_refused(tmp_path, before, code, out, err, f"error: {manifest} is a folder, not a ")
    assert err.count("\n") == 1


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can read a chmod 000 file"
)
def test_cli_reports_an_unreadable_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "envs.toml"
    manifest.write_text(GOOD, encoding="utf-8")
    manifest.chmod(0)
    try:
        before = set(tmp_path.rglob("*"))
        code, out, err = run_plan(manifest, capsys)
    finally:
        manifest.chmod(0o644)
    assert_refused(tmp_path, before, code, out, err, f"error: cannot read {manifest}: permission")


def test_cli_reports_a_permission_error_as_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same refusal as above, faked, so that it is checked when the tests run as root."""
    manifest = tmp_path / "envs.toml"
    manifest.write_text(GOOD, encoding="utf-8")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    before = set(tmp_path.rglob("*"))
    code, out, err = run_plan(manifest, capsys)
    assert_refused(
        tmp_path,
        before,
        code,
        out,
        err,
        f"error: cannot read {manifest}: permission denied; fix its permissions",
    )


def test_load_manifest_turns_other_os_errors_into_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(self: Path) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(Path, "read_bytes", fail)
    with pytest.raises(ManifestNotFound, match=r"cannot read .*envs\.toml: Input/output error\."):
        load_manifest(tmp_path / "envs.toml")


def test_cli_reports_a_manifest_that_is_not_utf8(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "envs.toml"
    manifest.write_bytes(b"version = 1\n# caf\xe9\n")
    before = set(tmp_path.rglob("*"))
    code, out, err = run_plan(manifest, capsys)
    assert_refused(tmp_path, before, code, out, err, f"{manifest}: not UTF-8 text (byte 17)")
    assert err.splitlines()[-1] == (
        f"error: {manifest} has 1 problem; fix it and run the command again."
    )


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("envs = 3\n", "1: envs: expected a table, got integer 3"),
        ("models = []\n", "1: models: expected a table, got an array"),
        ("settings = true\n", "1: settings: expected a table, got boolean True"),
        ("[b\n", "1: not valid TOML: "),
    ],
    ids=["envs_integer", "models_array", "settings_boolean", "not_toml"],
)
def test_cli_reports_valid_toml_of_the_wrong_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, detail: str
) -> None:
    manifest = tmp_path / "envs.toml"
    manifest.write_text(text, encoding="utf-8")
    before = set(tmp_path.rglob("*"))
    code, out, err = run_plan(manifest, capsys)
    assert_refused(tmp_path, before, code, out, err, f"{manifest}:{detail}")
    assert err.splitlines() == [
        err.splitlines()[0],
        f"error: {manifest} has 1 problem; fix it and run the command again.",
    ]


# --- every path the manifest names: inside its folder, a regular file, never echoed ----------

SECRET = "SECRET-TOKEN-do-not-print"  # noqa: S105  a marker to look for, not a password

# no_index: were a check to fail, `lock` could never resolve, so never write anything.
MANAGED = """\
[envs.a]
python = "3.11"
requirements = ["alpha==1.0"]
{extra}
[envs.a.sources]
no_index = true

[models.m]
env = "a"
"""

# Every command that loads the manifest, as a user or the pull-request job runs it.
COMMANDS = (
    ("plan",),
    ("lock", "--check"),
    ("lock",),
    ("apply", "--yes"),
    ("verify",),
    ("status",),
    ("gc", "--dry-run"),
    ("which", "m"),
    ("run", "m", "--", "true"),
    ("diff", "{manifest}"),
)


def run_cli(
    manifest: Path, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    argv = [word.replace("{manifest}", str(manifest)) for word in command]
    code = main(["--manifest", str(manifest), *argv])
    out, err = capsys.readouterr()
    return code, out, err


@contextlib.contextmanager
def hang_guard(seconds: int = 60) -> Iterator[None]:
    """Fail, instead of hanging the test run, when a command blocks (a FIFO opened for
    reading waits for a writer forever)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise TimeoutError(f"the command hung for {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


OPENED: list[list[str]] = []
"""While a list is in here, every file opened in this process is appended to it."""


def _record_opens(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and OPENED and isinstance(args[0], (str, bytes, os.PathLike)):
        OPENED[-1].append(os.path.realpath(os.fsdecode(args[0])))


sys.addaudithook(_record_opens)  # cannot be removed: it records only while OPENED is set


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every file (real path) opened in this process inside the block."""
    OPENED.append([])
    try:
        yield OPENED[-1]
    finally:
        OPENED.pop()


FORBIDDEN = ("/proc/self/environ", "/etc/passwd")


def snapshot(folder: Path) -> dict[Path, tuple[int, int, int, int]]:
    """What is in ``folder``: each entry's inode, type, size and mtime (not atime: reading the
    manifest may move it)."""
    found = {}
    for path in folder.rglob("*"):
        info = path.lstat()
        found[path] = (info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns)
    return found


def refused_by_every_command(folder: Path, capsys: pytest.CaptureFixture[str], detail: str) -> None:
    """Each command: exit 1, the manifest problem ``detail`` named, no secret, no traceback,
    nothing created or changed in the folder."""
    manifest = folder / "envs.toml"
    before = snapshot(folder)
    for command in COMMANDS:
        with hang_guard(), opened_files() as opened:
            code, out, err = run_cli(manifest, command, capsys)
        said = out + err
        secrets = {os.path.realpath(p) for p in (*FORBIDDEN, folder.parent / "secret.txt")}
        assert not secrets.intersection(opened), (command, secrets.intersection(opened))
        assert code == 1, (command, said)
        assert SECRET not in said, (command, said)
        assert "internal error" not in said and "Traceback" not in said, (command, said)
        assert detail in err, (command, said)
        assert err.rstrip("\n").splitlines()[-1].startswith("error: "), (command, said)
        assert snapshot(folder) == before, command
        assert not (folder / ".envs").exists(), command


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the project folder that a manifest must never make reconcile show."""
    secret = tmp_path / "secret.txt"
    secret.write_text(f"{SECRET}\n", encoding="utf-8")
    return secret


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    return project


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ('lockfile = "{secret}"', ':4: envs.a.lockfile: "{secret}" leads out of the folder'),
        ('lockfile = "../secret.txt"', ':4: envs.a.lockfile: "../secret.txt" leads out of the'),
        ('lockfile = "sub/../../secret.txt"', ":4: envs.a.lockfile: "),
        ('lockfile = "/proc/self/environ"', ':4: envs.a.lockfile: "/proc/self/environ" leads out'),
        ('lockfile = "/etc/passwd"', ':4: envs.a.lockfile: "/etc/passwd" leads out of the'),
        ('lockfile = "C:\\\\secret.txt"', ":4: envs.a.lockfile: "),
        ('lockfile = "..\\\\secret.txt"', ":4: envs.a.lockfile: "),
    ],
    ids=["absolute", "dotdot", "dotdot-inside", "proc", "passwd", "windows-drive", "backslash"],
)
def test_a_lockfile_path_out_of_the_manifest_folder_is_refused_by_every_command(
    folder: Path, outside: Path, capsys: pytest.CaptureFixture[str], extra: str, detail: str
) -> None:
    manifest = folder / "envs.toml"
    manifest.write_text(MANAGED.format(extra=extra.replace("{secret}", str(outside))), "utf-8")
    refused_by_every_command(
        folder, capsys, f"{manifest}{detail.replace('{secret}', str(outside))}"
    )


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ('[settings]\nlockfiles = "/etc"\n', ':2: settings.lockfiles: "/etc" leads out'),
        ('[settings]\nlockfiles = "../x"\n', ':2: settings.lockfiles: "../x" leads out'),
        ('[settings.sources]\nfind_links = ["/tmp"]\n', ":2: settings.sources.find_links[0]: "),
        (
            '[envs.b]\npython = "3.11"\n[envs.b.sources]\nfind_links = ["w", "../w"]\n',
            ":4: envs.b.sources.find_links[1]: ",
        ),
    ],
    ids=["lockfiles-absolute", "lockfiles-dotdot", "find-links", "env-find-links"],
)
def test_every_path_key_is_held_inside_the_manifest_folder(
    folder: Path, capsys: pytest.CaptureFixture[str], body: str, detail: str
) -> None:
    manifest = folder / "envs.toml"
    manifest.write_text(body + "\n" + MANAGED.format(extra=""), "utf-8")
    refused_by_every_command(folder, capsys, f"{manifest}{detail}")


def test_find_links_urls_and_an_absolute_root_or_adopt_path_stay_allowed(tmp_path: Path) -> None:
    text = (
        '[settings]\nroot = "/srv/envs"\n[settings.sources]\n'
        'find_links = ["https://example.org/wheels", "wheels", "./w/../x", "file:w"]\n'
        '[envs.old]\nadopt = "/opt/old/.venv"\n'
    )
    manifest = parse_manifest(text, LABEL)
    assert manifest.settings.root == "/srv/envs"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            '[settings.sources]\nfind_links = ["file:///tmp/elsewhere"]\n',
            ':2: settings.sources.find_links[0]: "file:///tmp/elsewhere" leads out of the folder',
        ),
        (
            '[settings.sources]\nfind_links = ["FILE://localhost/tmp"]\n',
            ":2: settings.sources.find_links[0]: ",
        ),
        ('[settings.sources]\nfind_links = ["file://host/w"]\n', ":2: settings.sources."),
        ('[settings.sources]\nfind_links = ["file:../w"]\n', ":2: settings.sources."),
        (
            '[envs.b]\npython = "3.11"\nrequirements = ["gamma @ file:///tmp/x.whl"]\n',
            ':3: envs.b.requirements[0]: "gamma @ file:///tmp/x.whl" names a local file '
            "outside the folder of envs.toml",
        ),
        (
            '[envs.b]\npython = "3.11"\nrequirements = ["gamma @ /tmp/x.whl"]\n',
            ":3: envs.b.requirements[0]: ",
        ),
        (
            '[envs.b]\npython = "3.11"\nrequirements = ["gamma @ ../x.whl"]\n',
            ":3: envs.b.requirements[0]: ",
        ),
        (
            '[envs.b]\npython = "3.11"\nrequirements = ["gamma @ git+file:///tmp/repo"]\n',
            ":3: envs.b.requirements[0]: ",
        ),
    ],
    ids=[
        "file-url",
        "file-url-localhost",
        "file-url-host",
        "file-url-dotdot",
        "direct-file-url",
        "direct-path",
        "direct-dotdot",
        "direct-git-file",
    ],
)
def test_a_file_url_is_a_path_held_inside_the_manifest_folder(
    folder: Path, capsys: pytest.CaptureFixture[str], body: str, detail: str
) -> None:
    """A ``file:`` URL names a local file as surely as a path: in find_links and in a direct
    reference (``name @ file:...``) alike, it must stay inside the folder; https stays a URL."""
    manifest = folder / "envs.toml"
    manifest.write_text(body + "\n" + MANAGED.format(extra=""), "utf-8")
    refused_by_every_command(folder, capsys, f"{manifest}{detail}")


def test_a_direct_reference_to_an_https_url_stays_allowed() -> None:
    text = '[envs.b]\npython = "3.11"\nrequirements = ["gamma @ https://x.test/g-1.0.whl"]\n'
    assert parse_manifest(text, LABEL).envs["b"].requirements == (
        "gamma @ https://x.test/g-1.0.whl",
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
@pytest.mark.parametrize("what", ["wheel", "folder"])
def test_a_find_links_folder_holding_a_link_out_is_a_manifest_error(
    folder: Path,
    outside: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    what: str,
) -> None:
    """uv reads every entry of a find_links folder: one that leads out is refused, named."""
    (folder / "wheels").mkdir()
    (folder / "wheels" / "alpha-1.0-py3-none-any.whl").write_bytes(b"not read")
    target = outside if what == "wheel" else outside.parent
    (folder / "wheels" / "gamma-1.0-py3-none-any.whl").symlink_to(target)
    manifest = folder / "envs.toml"
    manifest.write_text('[settings.sources]\nfind_links = ["wheels"]\n' + MANAGED.format(extra=""))
    monkeypatch.chdir(folder)
    refused_by_every_command(
        folder,
        capsys,
        f"{manifest}:2: settings.sources.find_links[0]: wheels/gamma-1.0-py3-none-any.whl is, "
        "or goes through, a link that leads out of the manifest's folder",
    )


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links")
def test_a_direct_reference_through_a_link_out_is_a_manifest_error(
    folder: Path,
    outside: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (folder / "g.whl").symlink_to(outside)
    manifest = folder / "envs.toml"
    manifest.write_text(
        '[envs.b]\npython = "3.11"\nrequirements = ["gamma @ file:g.whl"]\n\n'
        + MANAGED.format(extra="")
    )
    monkeypatch.chdir(folder)
    refused_by_every_command(
        folder, capsys, f"{manifest}:3: envs.b.requirements[0]: g.whl is, or goes through, a link"
    )


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ('lockfile = "envs.toml"', ":4: envs.a.lockfile: the lockfile envs.toml is the manifest"),
        ('lockfile = "./sub/../envs.toml"', ":4: envs.a.lockfile: the lockfile "),
        (
            'lockfile = "lockfiles/b.txt"\n[envs.b]\npython = "3.11"',
            ":5: envs.b: the lockfile lockfiles/b.txt is env a's lockfile too",
        ),
        (
            'lockfile = "shared.txt"\n[envs.b]\npython = "3.11"\nlockfile = "./shared.txt"',
            ":7: envs.b.lockfile: the lockfile shared.txt is env a's lockfile too",
        ),
    ],
    ids=["manifest", "manifest-dotdot", "default-of-another", "shared"],
)
def test_a_lockfile_that_is_the_manifest_or_another_envs_is_a_manifest_error(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: str,
    detail: str,
) -> None:
    """`lock` would write over the manifest, or one env's lock over the other's."""
    (folder / "sub").mkdir()
    manifest = folder / "envs.toml"
    manifest.write_text(MANAGED.format(extra=extra), "utf-8")
    monkeypatch.chdir(folder)
    refused_by_every_command(folder, capsys, f"{manifest}{detail}")


@pytest.mark.parametrize(
    ("root", "what"),
    [
        ("/", "the file system's root"),
        (".", "the manifest's folder itself"),
        ("./sub/..", "the manifest's folder itself"),
        ("..", "a folder that holds the manifest's folder"),
        ("../..", "a folder that holds the manifest's folder"),
    ],
)
def test_a_root_that_is_not_a_folder_of_its_own_is_refused(
    folder: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    root: str,
    what: str,
) -> None:
    """apply would write .generations, .state, .lock and env links among the project's files
    (or into /), and every one of those would count as an orphan."""
    (folder / "sub").mkdir()
    manifest = folder / "envs.toml"
    manifest.write_text(f'[settings]\nroot = "{root}"\n\n' + MANAGED.format(extra=""), "utf-8")
    refused_by_every_command(folder, capsys, f"{manifest}:2: settings.root: the root ")
    _, _, err = run_cli(manifest, ("plan",), capsys)
    assert f" is {what}, where apply would mix its own files" in err
    monkeypatch.chdir(folder)  # a relative --root is relative to the working folder
    for given in (root, str(folder / root)):
        code = main(["--manifest", str(manifest), "--root", given, "plan"])
        out, err = capsys.readouterr()
        assert (code, out) == (1, ""), err
        assert err.startswith("error: the root ") and err.endswith(" (--root).\n"), err
        assert what in err and err.count("\n") == 1, err


def test_a_root_elsewhere_or_below_the_manifest_folder_stays_allowed(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    for root in (".envs", "sub/envs", str(tmp_path / "elsewhere"), "../sibling"):
        (project / "envs.toml").write_text(f'[settings]\nroot = "{root}"\n', "utf-8")
        assert load_manifest(project / "envs.toml").root == project / root


def link_out(folder: Path, outside: Path) -> str:
    (folder / "lock.txt").symlink_to(outside)
    return 'lockfile = "lock.txt"'


def link_folder_out(folder: Path, outside: Path) -> str:
    (outside.parent / "elsewhere").mkdir()
    (outside.parent / "elsewhere" / "a.txt").write_text(f"{SECRET}\n", "utf-8")
    (folder / "lockfiles").symlink_to(outside.parent / "elsewhere")
    return ""


def link_to_proc(folder: Path, outside: Path) -> str:
    (folder / "env.txt").symlink_to("/proc/self/environ")
    return 'lockfile = "env.txt"'


def fifo(folder: Path, outside: Path) -> str:
    os.mkfifo(folder / "lock.txt")
    return 'lockfile = "lock.txt"'


def default_fifo(folder: Path, outside: Path) -> str:
    (folder / "lockfiles").mkdir()
    os.mkfifo(folder / "lockfiles" / "a.txt")
    return ""


def socket_file(folder: Path, outside: Path) -> str:
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "lock.txt"))
    sock.close()
    return 'lockfile = "lock.txt"'


def a_folder(folder: Path, outside: Path) -> str:
    (folder / "lock.txt").mkdir()
    return 'lockfile = "lock.txt"'


def huge(folder: Path, outside: Path) -> str:
    with (folder / "lock.txt").open("wb") as handle:
        handle.truncate(17 << 20)  # sparse: costs no disk
    return 'lockfile = "lock.txt"'


def device(folder: Path, outside: Path) -> str:
    if os.geteuid() != 0:
        pytest.skip("only root can make a device node")
    os.mknod(folder / "lock.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero
    return 'lockfile = "lock.txt"'


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX links, FIFOs and devices")
@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (link_out, ":4: envs.a.lockfile: lock.txt is, or goes through, a link that leads out"),
        (
            link_folder_out,
            ": settings.lockfiles: lockfiles is, or goes through, a link that leads out",
        ),
        (link_to_proc, ":4: envs.a.lockfile: env.txt is, or goes through, a link that leads"),
        (fifo, ":4: envs.a.lockfile: lock.txt is a FIFO, not a regular file"),
        (default_fifo, ":1: envs.a: lockfiles/a.txt is a FIFO, not a regular file"),
        (socket_file, ":4: envs.a.lockfile: lock.txt is a socket, not a regular file"),
        (a_folder, ":4: envs.a.lockfile: lock.txt is a folder, not a file"),
        (huge, ":4: envs.a.lockfile: lock.txt is larger than 16 MiB"),
        (device, ":4: envs.a.lockfile: lock.txt is a character device, not a regular file"),
    ],
    ids=lambda v: getattr(v, "__name__", "detail"),
)
def test_a_lockfile_that_is_a_link_out_or_not_a_regular_file_is_refused_by_every_command(
    folder: Path,
    outside: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    make: object,
    detail: str,
) -> None:
    assert callable(make)
    extra = make(folder, outside)
    manifest = folder / "envs.toml"
    manifest.write_text(MANAGED.format(extra=extra), "utf-8")
    monkeypatch.chdir(folder)  # paths in messages are shown relative to here
    refused_by_every_command(folder, capsys, f"{manifest}{detail}")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[settings]\nroot = "a\\u0000b"\n', ":2: settings.root: "),
        ('[settings]\nlockfiles = "l\\u0000"\n', ":2: settings.lockfiles: "),
        ('[envs.old]\nadopt = "v\\u0000env"\n', ":2: envs.old.adopt: "),
        ('[settings.sources]\nfind_links = ["w\\u0000"]\n', ":2: settings.sources.find_links[0]: "),
        ('[envs.b]\npython = "3.11"\nlockfile = "x\\u0000.txt"\n', ":3: envs.b.lockfile: "),
    ],
    ids=["root", "lockfiles", "adopt", "find_links", "lockfile"],
)
def test_a_nul_in_any_path_is_the_same_manifest_error_for_every_command(
    folder: Path, capsys: pytest.CaptureFixture[str], body: str, key: str
) -> None:
    manifest = folder / "envs.toml"
    manifest.write_text(body + "\n" + MANAGED.format(extra=""), "utf-8")
    detail = f"{manifest}{key}"
    refused_by_every_command(folder, capsys, detail)
    _, _, err = run_cli(manifest, ("plan",), capsys)
    assert "holds a NUL character, which no file system allows in a path" in err


@pytest.mark.parametrize(
    "text",
    [
        "x = " + "[" * 500 + "]" * 500 + "\n",
        "x = " + "{ a = " * 500 + "1" + " }" * 500 + "\n",
        "[envs.a]\nrequirements = " + "[" * 99 + "]" * 99 + "\n",
        "[settings]\nroot = " + "[" * 1000 + "]" * 1000 + "\n",
    ],
    ids=["array-500", "inline-table-500", "array-99", "root-array-1000"],
)
def test_deeply_nested_values_are_a_manifest_error_for_every_command(
    folder: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    manifest = folder / "envs.toml"
    manifest.write_text(text, "utf-8")
    refused_by_every_command(folder, capsys, f"{manifest}")


def test_a_table_split_and_defined_again_is_a_manifest_error(tmp_path: Path) -> None:
    text = (
        '[envs.a]\npython = "3.11"\n[settings]\n[envs.b]\npython = "3.11"\n'
        '[envs.a]\npython = "3.12"\n'
    )
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, LABEL)
    assert "not valid TOML" in caught.value.details()[0]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_a_manifest_that_never_ends_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    with hang_guard():
        code, out, err = run_plan(Path("/dev/zero"), capsys)
    assert (code, out) == (1, "")
    assert err == (
        "error: /dev/zero is larger than 16 MiB, which no manifest is; pass --manifest with "
        "the path of envs.toml.\n"
    )


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[settings]\nroot = "{long}"\n', ":2: settings.root: "),
        ('[settings]\nroot = "x/{long}/y"\n', ":2: settings.root: "),
        ('[envs.old]\nadopt = "{long}"\n', ":2: envs.old.adopt: "),
        ('[settings]\nlockfiles = "{long}"\n', ":2: settings.lockfiles: "),
    ],
    ids=["root", "root-inner", "adopt", "lockfiles"],
)
def test_a_name_longer_than_any_file_system_allows_is_a_manifest_error_for_every_command(
    folder: Path, capsys: pytest.CaptureFixture[str], body: str, key: str
) -> None:
    manifest = folder / "envs.toml"
    body = body.replace("{long}", "é" * 128)  # 256 bytes in UTF-8
    manifest.write_text(body + "\n" + MANAGED.format(extra=""), "utf-8")
    refused_by_every_command(folder, capsys, f"{manifest}{key}")
    _, _, err = run_cli(manifest, ("plan",), capsys)
    assert "holds a name longer than 255 bytes (éééééééééééééééééééé...), which file " in err
