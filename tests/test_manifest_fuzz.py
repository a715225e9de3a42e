"""Property tests: no manifest, however broken, gets past parse_manifest as anything but
ManifestError, and `reconcile plan` never answers one with a traceback.

Bounded (a few hundred examples, well under 20 s) so that they run on every ``just test``.
"""

from __future__ import annotations

import datetime
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.cli.app import main
from reconciler.errors import ManifestError
from reconciler.observe import env
from reconciler.runner import Command, Result
from reconciler.spec.manifest import Manifest, parse_manifest

BUNDLED = (Path(__file__).resolve().parents[1] / "envs.toml").read_text(encoding="utf-8")

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Keys of the real schema, so that random documents reach the validators, not only "unknown key".
VOCABULARY = (
    "version",
    "settings",
    "envs",
    "models",
    "root",
    "lockfiles",
    "keep_generations",
    "link_mode",
    "python_downloads",
    "verify_ignore",
    "sources",
    "index_url",
    "extra_index_urls",
    "find_links",
    "no_index",
    "python",
    "requirements",
    "imports",
    "adopt",
    "lockfile",
    "env",
    "fallback",
    "tools",
    "py311-serving",
)

keys = st.sampled_from(VOCABULARY) | st.text(max_size=12)
scalars = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(("3.11", "3.12.1", "3", "auto", "hardlink", "never", "a==1", "x/y", ".."))
    | st.dates()
    | st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 1, 1))
    | st.times()
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=5),
    max_leaves=20,
)
documents = st.dictionaries(keys, values, max_size=6)


# A document shaped like envs.toml whose every value may be right or wrong.
names = st.sampled_from(("tools", "serving", "py311-serving", "a..b", "x/y", "", "e" * 65)) | (
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,8}", fullmatch=True)
)
pythons = st.sampled_from(("3.11", "3.12.1", "3", "3.x")) | scalars
requirements = st.lists(
    st.sampled_from(("six==1.16.0", "attrs>=24", "torch[cuda]==2.3.1 ; sys_platform == 'linux'"))
    | st.text(max_size=15),
    max_size=3,
)
env_specs = st.fixed_dictionaries(
    {},
    optional={
        "python": pythons,
        "requirements": requirements | scalars,
        "imports": st.lists(st.sampled_from(("six", "a.b", "no-dash", "")), max_size=3),
        "adopt": st.sampled_from(("environments/old/.venv", "missing", "")) | scalars,
        "lockfile": st.sampled_from(("locks/x.txt", "")),
        "verify_ignore": st.lists(st.sampled_from(("x/*.pem", "../up", "/abs")), max_size=2),
        "sources": st.fixed_dictionaries({}, optional={"no_index": st.booleans() | scalars}),
    },
)
model_specs = st.fixed_dictionaries(
    {}, optional={"env": names | scalars, "fallback": names, "extra": scalars}
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "version": st.sampled_from((1, 2, "1")),
        "settings": st.fixed_dictionaries(
            {},
            optional={
                "root": st.sampled_from((".envs", "elsewhere", "")) | scalars,
                "keep_generations": st.integers(-1, 3) | scalars,
                "link_mode": st.sampled_from(("auto", "copy", "symlink")) | scalars,
                "verify_ignore": st.lists(st.sampled_from(("a/*", "../b")), max_size=2),
                "setings": scalars,
            },
        ),
        "envs": st.dictionaries(names, env_specs | scalars, max_size=3),
        "models": st.dictionaries(names, model_specs | scalars, max_size=3),
    },
)


valid_names = st.from_regex(r"[a-z][a-z0-9-]{0,6}", fullmatch=True)


@st.composite
def plausible(draw: st.DrawFn) -> dict[str, Any]:
    """A valid manifest (managed and adopted envs, models bound to them), corrupted at most once.

    Valid documents get past the schema into the cross-field rules and, in the CLI test, into
    planning: an adopted-only manifest plans successfully, a managed env lacks its lockfile.
    """
    env_names = draw(st.lists(valid_names, max_size=3, unique=True))
    envs: dict[str, Any] = {}
    for name in env_names:
        if draw(st.booleans()):
            envs[name] = {"adopt": draw(st.sampled_from(("environments/old/.venv", ".", "")))}
        else:
            envs[name] = {
                "python": draw(st.sampled_from(("3.11", "3.12.1"))),
                "requirements": draw(st.lists(st.sampled_from(("six==1.16.0", "a>=1")))),
            }
    models: dict[str, Any] = {}
    for model in draw(st.lists(valid_names, max_size=3, unique=True)) if env_names else []:
        models[model] = {"env": draw(st.sampled_from(env_names))}
    document: dict[str, Any] = {"version": 1, "envs": envs, "models": models}
    if draw(st.booleans()):
        tables = [document, envs, models, *envs.values(), *models.values()]
        table = draw(st.sampled_from(tables))
        table[draw(keys)] = draw(values)
    return document


def dumps(document: dict[str, Any]) -> str:
    return tomlkit.dumps(document)


@st.composite
def mutated_bundled(draw: st.DrawFn) -> str:
    """The bundled envs.toml with a few random edits: deletions, insertions, swapped lines."""
    text = BUNDLED
    for _ in range(draw(st.integers(1, 4))):
        edit = draw(st.sampled_from(("delete", "insert", "swap", "duplicate")))
        lines = text.splitlines(keepends=True)
        if edit == "delete":
            start = draw(st.integers(0, len(text)))
            text = text[:start] + text[start + draw(st.integers(1, 20)) :]
        elif edit == "insert":
            at = draw(st.integers(0, len(text)))
            piece = draw(st.sampled_from(('"', "[", "]", "=", "\n", "#", "[envs.x]\n")) | st.text())
            text = text[:at] + piece + text[at:]
        elif len(lines) >= 2:
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if edit == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            else:
                lines.insert(j, lines[i])
            text = "".join(lines)
    return text


manifests = (
    st.text(max_size=200)
    | documents.map(dumps)
    | shaped.map(dumps)
    | plausible().map(dumps)
    | mutated_bundled()
)


def parse_or_refuse(text: str) -> Manifest | None:
    """parse_manifest may return or raise ManifestError; anything else fails the property."""
    try:
        return parse_manifest(text, "envs.toml")
    except ManifestError as error:
        assert error.problems, "a ManifestError must list at least one problem"
        for line in error.details():
            assert line.startswith("envs.toml")
            assert "\n" not in line
        return None


@FUZZ
@given(st.text())
def test_random_text_is_a_manifest_or_a_manifest_error(text: str) -> None:
    parse_or_refuse(text)


@FUZZ
@given(documents | shaped | plausible())
def test_random_toml_documents_are_a_manifest_or_a_manifest_error(
    document: dict[str, Any],
) -> None:
    parse_or_refuse(dumps(document))


@FUZZ
@given(mutated_bundled())
def test_mutations_of_the_bundled_manifest_are_a_manifest_or_a_manifest_error(text: str) -> None:
    parse_or_refuse(text)


def test_the_bundled_manifest_parses() -> None:
    assert parse_or_refuse(BUNDLED) is not None


def no_process(command: Command) -> Result:
    """Observation may find an interpreter in a fuzzed adopt path; it must not run it here."""
    return Result(command.argv, 1, "", "not run by the fuzz test")


@pytest.fixture
def no_processes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(env, "attempt", no_process)
    yield


@FUZZ
@given(manifests)
def test_plan_never_answers_a_broken_manifest_with_a_traceback(
    no_processes: None, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "envs.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        code = main(["--manifest", str(path), "plan", "--format", "json"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "internal error" not in err, err
    assert code in (0, 1)
    if code == 1:
        assert err.splitlines()[-1].startswith("error: ")
        assert out == ""


# Path values a pull request could write: out of the folder, NUL, odd characters, links.
path_parts = st.sampled_from(
    ("..", ".", "", "/", "\\", "\x00", ":", "#", "'", '"', "C:", "//srv", "lockfiles", "x.txt")
)
path_values = st.lists(path_parts | st.text(max_size=4), min_size=1, max_size=5).map("".join)


@FUZZ
@given(
    key=st.sampled_from(("root", "lockfiles", "lockfile", "adopt", "find_links")),
    value=path_values,
    command=st.sampled_from(
        (("plan",), ("lock", "--check"), ("verify",), ("status",), ("gc", "--dry-run"))
    ),
)
def test_any_path_value_is_a_manifest_error_or_works_and_never_reads_outside(
    no_processes: None,
    capsys: pytest.CaptureFixture[str],
    key: str,
    value: str,
    command: tuple[str, ...],
) -> None:
    with tempfile.TemporaryDirectory() as parent:
        folder = Path(parent) / "project"
        folder.mkdir()
        secret = Path(parent) / "secret.txt"
        secret.write_text("SECRET-TOKEN\n", encoding="utf-8")
        (folder / "lockfiles").mkdir()
        (folder / "x.txt").symlink_to(secret)
        (folder / "lockfiles" / "a.txt").symlink_to(secret)
        quoted = json.dumps(value)
        settings_body = {
            "root": f"root = {quoted}",
            "lockfiles": f"lockfiles = {quoted}",
        }.get(key, "")
        env_body = {
            "lockfile": f"lockfile = {quoted}",
            "adopt": "",
        }.get(key, "")
        text = f"[settings]\n{settings_body}\n"
        if key == "find_links":
            text += f"[settings.sources]\nfind_links = [{quoted}]\nno_index = true\n"
        text += f'[envs.a]\npython = "3.11"\nrequirements = ["alpha==1.0"]\n{env_body}\n'
        if key == "adopt":
            text += f"[envs.b]\nadopt = {quoted}\n"
        path = folder / "envs.toml"
        path.write_text(text, encoding="utf-8")
        code = main(["--manifest", str(path), *command])
    out, err = capsys.readouterr()
    assert "SECRET-TOKEN" not in out + err
    assert "Traceback" not in out + err
    assert "internal error" not in err, err
    assert code in (0, 1, 2), err
