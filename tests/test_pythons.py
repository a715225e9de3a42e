"""Finding base interpreters: verified by running them, never trusted by name.

Real interpreters come from ``tests.helpers.find_python`` (tests skip cleanly without them).
Fakes (shell scripts standing in for uv or a broken interpreter) only test decisions; nothing
here downloads anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from reconciler.core.health import python_matches
from reconciler.core.pythons import PythonLookup, override_variable
from reconciler.errors import PythonNotFound
from reconciler.execute import uv as uv_argvs
from reconciler.execute.pythons import find_python
from reconciler.observe import pythonlookup, pythons
from reconciler.spec.manifest import PythonDownloads
from tests.helpers import require_python

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the fakes are POSIX shell scripts")


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    pythons.clear_cache()
    yield
    pythons.clear_cache()


def script(path: Path, body: str) -> Path:
    """An executable ``/bin/sh`` script at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body), encoding="utf-8")
    path.chmod(0o755)
    return path


def version_of(python: Path) -> str:
    done = subprocess.run(
        [str(python), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


class FakeUv:
    """A stand-in uv that logs ``$UV_PYTHON_DOWNLOADS argv...`` per call and runs ``body``."""

    def __init__(self, folder: Path, body: str) -> None:
        self.log = folder / "uv.log"
        self.path = script(
            folder / "fake-uv",
            f'printf "%s %s\\n" "$UV_PYTHON_DOWNLOADS" "$*" >> "{self.log}"\n'
            + textwrap.dedent(body),
        )

    @property
    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


FINDS_NOTHING = """\
echo "error: No interpreter found" >&2
exit 2
"""


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No interpreter anywhere but where a test puts one: an empty PATH folder and pyenv root."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.setattr(pythons, "SYSTEM_DIRS", ())
    return bin_dir


def fake_interpreter(path: Path, version: str) -> Path:
    """A script that answers the probe like a CPython ``version`` would."""
    return script(path, f'echo "@@reconcile-python@@{version}|cpython|0|{path}"\n')


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.11", "3.12"])
def test_finds_pyenv_python_although_the_shim_on_path_fails(
    version: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = require_python(version)
    if real.parent.parent.parent.name != "versions":
        pytest.skip(f"Python {version} on this machine does not come from pyenv")
    shims = tmp_path / "shims"
    script(
        shims / f"python{version}",
        f'echo "pyenv: python{version}: command not found" >&2\nexit 127\n',
    )
    monkeypatch.setenv("PATH", f"{shims}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYENV_ROOT", str(real.parents[3]))

    found = find_python(version, "never", windows=False)

    assert python_matches(version, found.version)
    assert Version(found.version) >= Version(version_of(real))
    assert found.path.parent != shims
    assert version_of(found.path) == found.version


@pytest.mark.slow
def test_exact_patch_version_matches_only_itself() -> None:
    real = require_python("3.12")
    exact = version_of(real)

    found = find_python(exact, "never", windows=False)

    assert found.version == exact
    with pytest.raises(PythonNotFound):
        find_python("3.12.999", "never", windows=False)


@pytest.mark.parametrize("downloads", ["never", "manual"])
def test_missing_version_raises_without_trying_to_download(
    downloads: PythonDownloads, tmp_path: Path
) -> None:
    uv = FakeUv(tmp_path, FINDS_NOTHING)

    with pytest.raises(PythonNotFound) as caught:
        find_python("3.99", downloads, windows=False, uv=str(uv.path))

    message = str(caught.value)
    assert message.startswith("Python 3.99 is not installed")
    assert f'python_downloads = "{downloads}"' in message
    assert "uv python install 3.99" in message
    assert "RECONCILE_PYTHON_3_99=/path/to/python3.99" in message
    assert caught.value.exit_code == 1
    assert caught.value.version == "3.99"
    assert uv.calls == ["never python find --system --no-project 3.99"]


@pytest.mark.slow
def test_missing_version_with_the_real_uv_and_downloads_never_raises() -> None:
    with pytest.raises(PythonNotFound, match=r"^Python 3\.99 is not installed"):
        find_python("3.99", "never", windows=False)


def test_override_variable_wins_over_every_other_candidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = require_python("3.11")
    chosen = tmp_path / "custom" / "python-of-my-choice"
    chosen.parent.mkdir()
    chosen.symlink_to(real)
    monkeypatch.setenv("RECONCILE_PYTHON_3_11", str(chosen))

    found = find_python("3.11", "never", windows=False)

    assert found.source == "override"
    assert found.path == chosen
    assert found.version == version_of(real)
    assert override_variable("3.11") == "RECONCILE_PYTHON_3_11"


def test_override_for_an_exact_version_uses_the_minor_variable_when_it_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    python = fake_interpreter(tmp_path / "py" / "python3.99", "3.99.4")
    monkeypatch.setenv("RECONCILE_PYTHON_3_99", str(python))
    uv = FakeUv(tmp_path, FINDS_NOTHING)

    assert find_python("3.99.4", "never", windows=False, uv=str(uv.path)).source == "override"
    with pytest.raises(PythonNotFound):
        find_python("3.99.5", "never", windows=False, uv=str(uv.path))


def test_override_pointing_at_the_wrong_version_is_an_error_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = fake_interpreter(tmp_path / "python3.12", "3.12.1")
    monkeypatch.setenv("RECONCILE_PYTHON_3_11", str(wrong))

    with pytest.raises(PythonNotFound) as caught:
        find_python(
            "3.11", "automatic", windows=False, uv=str(FakeUv(tmp_path, FINDS_NOTHING).path)
        )

    assert str(caught.value).startswith(f"RECONCILE_PYTHON_3_11={wrong} is not a working")
    assert "it is Python 3.12.1" in str(caught.value)


def test_broken_and_lying_candidates_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    real = require_python("3.11")
    monkeypatch.setattr(pythons, "PROBE_TIMEOUT", 1.0)
    sleep = shutil.which("sleep") or "/bin/sleep"
    # PATH: a failing shim, then an interpreter whose name says 3.11 but which is not.
    script(isolated / "python3.11", "exit 127\n")
    liar_dir = tmp_path / "liar"
    fake_interpreter(liar_dir / "python3.11", "3.12.1")
    monkeypatch.setenv("PATH", f"{isolated}{os.pathsep}{liar_dir}")
    # pyenv: newer folders that crash, babble or hang, and one real interpreter.
    versions = tmp_path / "pyenv" / "versions"
    script(versions / "3.11.99" / "bin" / "python3.11", "echo boom >&2\nexit 1\n")
    script(versions / "3.11.98" / "bin" / "python3.11", "echo 'Python 3.11.98'\n")
    script(versions / "3.11.97" / "bin" / "python3.11", f"exec {sleep} 30\n")
    good = versions / version_of(real) / "bin" / "python3.11"
    good.parent.mkdir(parents=True)
    good.symlink_to(real)
    # uv: points at a file that is not executable at all.
    not_python = tmp_path / "not-python"
    not_python.write_text("just text\n")
    uv = FakeUv(tmp_path, f'echo "{not_python}"\n')

    found = find_python("3.11", "never", windows=False, uv=str(uv.path))

    assert found.path == good
    assert found.source == "pyenv"
    assert found.version == version_of(real)


@pytest.mark.slow
def test_virtual_environments_are_not_base_interpreters(tmp_path: Path, isolated: Path) -> None:
    real = require_python("3.11")
    venv = tmp_path / "venv"
    subprocess.run([str(real), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    uv = FakeUv(tmp_path, f'echo "{venv / "bin" / "python3.11"}"\n')

    with pytest.raises(PythonNotFound):
        find_python("3.11", "never", windows=False, uv=str(uv.path))


def test_newest_matching_patch_wins_and_ties_go_to_the_earlier_source(
    tmp_path: Path, isolated: Path
) -> None:
    fake_interpreter(isolated / "python3.99", "3.99.1")
    fake_interpreter(tmp_path / "pyenv" / "versions" / "3.99.3" / "bin" / "python3.99", "3.99.3")
    from_uv = fake_interpreter(tmp_path / "managed" / "python3.99", "3.99.3")
    uv = FakeUv(tmp_path, f'echo "{from_uv}"\n')

    found = find_python("3.99", "never", windows=False, uv=str(uv.path))

    assert (found.version, found.source, found.path) == ("3.99.3", "uv", from_uv)


def test_results_are_cached_per_process(tmp_path: Path, isolated: Path) -> None:
    python = fake_interpreter(tmp_path / "managed" / "python3.99", "3.99.0")
    uv = FakeUv(tmp_path, f'echo "{python}"\n')

    first = find_python("3.99", "never", windows=False, uv=str(uv.path))
    second = find_python("3.99", "never", windows=False, uv=str(uv.path))

    assert first == second
    assert len(uv.calls) == 1


def test_automatic_downloads_install_with_uv_then_find_again(
    tmp_path: Path, isolated: Path
) -> None:
    installed = tmp_path / "installed"
    python = fake_interpreter(tmp_path / "managed" / "python3.99", "3.99.2")
    uv = FakeUv(
        tmp_path,
        f"""\
        case "$2" in
          install) : > "{installed}"; exit 0 ;;
          find) if [ -e "{installed}" ]; then echo "{python}"; exit 0; fi; exit 2 ;;
        esac
        exit 99
        """,
    )

    found = find_python("3.99", "automatic", windows=False, uv=str(uv.path))

    assert (found.path, found.version, found.source) == (python, "3.99.2", "uv")
    assert uv.calls == [
        "never python find --system --no-project 3.99",
        "automatic python install 3.99",
        "never python find --system --no-project 3.99",
    ]


def test_failed_download_raises_with_uvs_reason(tmp_path: Path, isolated: Path) -> None:
    uv = FakeUv(
        tmp_path,
        """\
        if [ "$2" = install ]; then
          echo "error: Failed to install cpython-3.99.0" >&2
          echo "  cause: dns error" >&2
        fi
        exit 2
        """,
    )

    with pytest.raises(PythonNotFound) as caught:
        find_python("3.99", "automatic", windows=False, uv=str(uv.path))

    assert str(caught.value).startswith("Python 3.99 is not installed and could not be downloaded:")
    assert caught.value.details() == (
        "`uv python install 3.99` failed: error: Failed to install cpython-3.99.0 (dns error)",
    )


def test_install_that_succeeds_without_a_usable_interpreter_still_raises(
    tmp_path: Path, isolated: Path
) -> None:
    uv = FakeUv(tmp_path, '[ "$2" = install ] && exit 0\nexit 2\n')

    with pytest.raises(PythonNotFound) as caught:
        find_python("3.99", "automatic", windows=False, uv=str(uv.path))

    assert "succeeded, but no working interpreter was found" in caught.value.details()[0]


def test_a_hanging_download_is_cut_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    monkeypatch.setattr(uv_argvs, "INSTALL_TIMEOUT", 1.0)
    sleep = shutil.which("sleep") or "/bin/sleep"
    uv = FakeUv(tmp_path, f'[ "$2" = install ] && exec {sleep} 30\nexit 2\n')

    with pytest.raises(PythonNotFound) as caught:
        find_python("3.99", "automatic", windows=False, uv=str(uv.path))

    assert "did not finish within 1 s" in caught.value.details()[0]


def test_a_version_that_is_not_x_y_or_x_y_z_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match=r"3\.11\.x"):
        find_python("3.11.x", "never", windows=False)


LISTS_DOWNLOADS = """\
case "$2" in
  list) echo '[{"version": "3.99.1", "implementation": "cpython"},
               {"version": "3.99.2", "implementation": "cpython"},
               {"version": "3.99.9", "implementation": "pypy"}]' ;;
  *) echo "error: No interpreter found" >&2; exit 2 ;;
esac
"""


def test_lookup_of_an_installed_python_names_it_and_lists_no_downloads(
    tmp_path: Path, isolated: Path
) -> None:
    python = fake_interpreter(tmp_path / "managed" / "python3.99", "3.99.0")
    uv = FakeUv(tmp_path, f'[ "$2" = find ] && echo "{python}"\nexit 0\n')

    found = pythonlookup.lookup("3.99", "automatic", windows=False, uv=str(uv.path))

    assert (found.found, found.path, found.download, found.error) == (
        "3.99.0",
        str(python),
        None,
        None,
    )
    assert [c for c in uv.calls if " list " in c] == []


def test_lookup_of_a_missing_python_asks_uvs_own_list_offline_for_the_newest_download(
    tmp_path: Path, isolated: Path
) -> None:
    uv = FakeUv(tmp_path, LISTS_DOWNLOADS)

    found = pythonlookup.lookup("3.99", "automatic", windows=False, uv=str(uv.path))

    assert (found.found, found.download) == (None, "3.99.2")
    listed = [c for c in uv.calls if " list " in c]
    assert listed == ["automatic python list --only-downloads --offline --output-format json 3.99"]


@pytest.mark.parametrize("downloads", ["never", "manual"])
def test_lookup_lists_no_downloads_when_none_is_allowed(
    downloads: PythonDownloads, tmp_path: Path, isolated: Path
) -> None:
    uv = FakeUv(tmp_path, LISTS_DOWNLOADS)

    found = pythonlookup.lookup("3.99", downloads, windows=False, uv=str(uv.path))

    assert (found.found, found.download, found.error) == (None, None, None)
    assert [c for c in uv.calls if " list " in c] == []


def test_lookup_when_uv_lists_nothing_or_fails_has_no_download(
    tmp_path: Path, isolated: Path
) -> None:
    empty = FakeUv(tmp_path / "empty", '[ "$2" = list ] && echo "[]" && exit 0\nexit 2\n')
    failing = FakeUv(tmp_path / "failing", "echo 'error: boom' >&2\nexit 2\n")

    assert (
        pythonlookup.lookup("3.99", "automatic", windows=False, uv=str(empty.path)).download is None
    )
    assert (
        pythonlookup.lookup("3.99", "automatic", windows=False, uv=str(failing.path)).download
        is None
    )


def test_lookup_turns_a_wrong_override_into_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = fake_interpreter(tmp_path / "python3.12", "3.12.1")
    monkeypatch.setenv("RECONCILE_PYTHON_3_11", str(wrong))

    found = pythonlookup.lookup(
        "3.11", "automatic", windows=False, uv=str(FakeUv(tmp_path, FINDS_NOTHING).path)
    )

    assert found.error is not None
    assert found.error.startswith(f"RECONCILE_PYTHON_3_11={wrong} is not a working Python 3.11")


def test_lookup_paths_cover_the_folders_searched_and_the_interpreter_found(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv-pythons"))
    python = fake_interpreter(tmp_path / "managed" / "python3.99", "3.99.0")

    paths = pythonlookup.lookup_paths(
        PythonLookup("3.99", found="3.99.0", path=str(python)), windows=False
    )

    assert str(isolated) in paths  # PATH's folders: a new pythonX.Y there changes them
    assert str(tmp_path / "pyenv" / "versions") in paths
    assert str(tmp_path / "uv-pythons") in paths
    assert str(python) in paths


def test_lookup_is_answered_without_uvs_slow_discovery_when_a_candidate_matches(
    tmp_path: Path, isolated: Path
) -> None:
    fake_interpreter(isolated / "python3.99", "3.99.1")
    newer = fake_interpreter(tmp_path / "managed" / "python3.99", "3.99.3")
    uv = FakeUv(tmp_path, f'[ "$2" = find ] && echo "{newer}"\nexit 0\n')

    planned = pythonlookup.lookup("3.99", "never", windows=False, uv=str(uv.path))
    calls = list(uv.calls)
    built = find_python("3.99", "never", windows=False, uv=str(uv.path))

    assert planned.found == "3.99.1"  # some 3.99 exists: all a plan needs to know
    assert calls == []
    assert (built.version, built.source) == ("3.99.3", "uv")  # a build searches fully


def test_a_failed_download_is_tried_once_per_process_and_the_env_is_named(
    tmp_path: Path, isolated: Path
) -> None:
    uv = FakeUv(tmp_path, '[ "$2" = install ] && echo "error: network" >&2\nexit 2\n')

    with pytest.raises(PythonNotFound) as first:
        find_python("3.99", "automatic", windows=False, uv=str(uv.path), env="tools")
    with pytest.raises(PythonNotFound) as second:
        find_python("3.99", "automatic", windows=False, uv=str(uv.path), env="web")

    assert [c for c in uv.calls if " install " in c] == ["automatic python install 3.99"]
    assert str(first.value).startswith("env tools needs Python 3.99, which is not installed")
    assert str(second.value).startswith("env web needs Python 3.99")
    assert second.value.details() == first.value.details()


def test_a_candidate_this_user_may_not_look_at_is_skipped_not_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A PATH folder the user may not enter (``/root/.cargo/bin`` for a service account) holds
    no Python for them: the search goes on (a plan run as that user used to stop there)."""
    closed = tmp_path / "closed" / "python3.11"
    real_is_file = Path.is_file

    def is_file(path: Path) -> bool:
        if path == closed:
            raise PermissionError(13, "Permission denied", str(path))
        return real_is_file(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    here = tmp_path / "python3.11"
    here.write_text("")
    candidates = iter([pythons._Candidate(closed, "path"), pythons._Candidate(here, "path")])

    assert [c.path for c in pythons._unique(candidates)] == [here]
