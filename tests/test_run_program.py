"""`reconcile run` starts the program the env's PATH names, found by reconcile itself: Windows'
CreateProcess looks in reconcile's own folder first, where ``python.exe`` is the Python
reconcile runs on, not the env's (issue #18). The system's own search stays for a name the
env's PATH does not hold, with the shells' exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler import runner
from reconciler.commands.run import run_in
from reconciler.commands.which import ResolvedEnv
from reconciler.errors import CommandNotStarted, UsageError

pytestmark = pytest.mark.skipif(os.name == "nt", reason="the programs are POSIX shell scripts")


def _program(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    path.chmod(0o755)
    return path


@pytest.fixture
def env(tmp_path: Path) -> ResolvedEnv:
    """An env laid out as on Windows: ``Scripts/python.exe`` (a script that runs here)."""
    env_dir = tmp_path / "envs" / ".generations" / "m" / "g0001"
    python = _program(env_dir / "Scripts" / "python.exe")
    return ResolvedEnv("m1", "m", python, env_dir, "env", healthy=True, generation="g0001")


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[str, ...], str | None]]:
    """The argv and the program each run would start, instead of starting it."""
    calls: list[tuple[tuple[str, ...], str | None]] = []

    def record(argv: tuple[str, ...], env: object, *, executable: str | None) -> int:
        calls.append((argv, executable))
        return 0

    monkeypatch.setattr(runner, "run_passthrough", record)
    return calls


def test_a_bare_name_starts_the_envs_program_found_on_the_envs_path(
    env: ResolvedEnv,
    started: list[tuple[tuple[str, ...], str | None]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As a parent's ``C:\\Python313\\python.exe`` would be started on Windows, a
    ``python.exe`` in the working folder or later on PATH must not be."""
    later = _program(tmp_path / "Python313" / "python.exe")
    _program(tmp_path / "cwd" / "python.exe")
    monkeypatch.chdir(tmp_path / "cwd")

    code = run_in(env, ["python.exe", "-c", "pass"], {"PATH": str(later.parent)}, windows=False)

    assert code == 0
    assert started == [(("python.exe", "-c", "pass"), str(env.python))]


def test_a_name_elsewhere_on_path_is_started_from_the_first_folder_that_holds_it(
    env: ResolvedEnv, started: list[tuple[tuple[str, ...], str | None]], tmp_path: Path
) -> None:
    first = _program(tmp_path / "a" / "tool")
    _program(tmp_path / "b" / "tool")
    (tmp_path / "a" / "notrun").write_text("", encoding="utf-8")  # not executable: skipped

    run_in(
        env,
        ["tool"],
        {"PATH": os.pathsep.join([str(first.parent), str(tmp_path / "b")])},
        windows=False,
    )
    run_in(env, ["./tool"], {"PATH": str(first.parent)}, windows=False)
    run_in(env, ["notrun"], {"PATH": str(first.parent)}, windows=False)

    assert started == [(("tool",), str(first)), (("./tool",), None), (("notrun",), None)]


def test_a_name_on_no_folder_of_path_is_still_127_and_a_bad_interpreter_126(
    env: ResolvedEnv, tmp_path: Path
) -> None:
    script = tmp_path / "bin" / "bad"
    script.parent.mkdir()
    script.write_text("#!/no/such/interpreter\n", encoding="utf-8")
    script.chmod(0o755)

    with pytest.raises(CommandNotStarted) as missing:
        run_in(env, ["no-such-program-here"], {"PATH": str(tmp_path)}, windows=False)
    with pytest.raises(CommandNotStarted) as bad:
        run_in(env, ["bad"], {"PATH": str(script.parent)}, windows=False)

    assert missing.value.exit_code == 127
    assert str(missing.value) == "no-such-program-here was not found in m's env nor on PATH."
    assert bad.value.exit_code == 126
    assert "the interpreter its first line (#!) names was not found" in str(bad.value)


def _batch(path: Path) -> Path:
    """A batch file; executable, so that ``shutil.which`` finds it on Linux as on Windows."""
    return _program(path)


def test_on_windows_a_batch_file_is_started_by_its_full_path(
    env: ResolvedEnv,
    started: list[tuple[tuple[str, ...], str | None]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """cmd.exe runs a batch file and looks its first word up again, in the working folder
    first: a bare ``hello.bat`` there would run instead of the env's (issue #18)."""
    ours = _batch(env.python.parent / "hello.bat")
    _batch(tmp_path / "cwd" / "hello.bat")
    monkeypatch.chdir(tmp_path / "cwd")

    run_in(env, ["hello.bat", "a b", "x1"], {"PATH": ""}, windows=True)
    run_in(env, ["python.exe", "a&b"], {"PATH": ""}, windows=True)  # not cmd.exe's to read

    assert started[0] == ((str(ours), "a b", "x1"), str(ours))
    assert started[1] == (("python.exe", "a&b"), str(env.python))


def test_on_windows_a_name_on_no_folder_of_path_is_not_searched_for_elsewhere(
    env: ResolvedEnv,
    started: list[tuple[tuple[str, ...], str | None]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows' own search looks in reconcile's folder and the working folder first."""
    _batch(tmp_path / "evil.bat")
    monkeypatch.chdir(tmp_path)

    with pytest.raises(CommandNotStarted) as missing:
        run_in(env, ["evil.bat"], {"PATH": ""}, windows=True)

    assert missing.value.exit_code == 127
    assert str(missing.value) == "evil.bat was not found in m's env nor on PATH."
    assert started == []


@pytest.mark.parametrize(
    "argument", ['"&echo INJECTED', "a|b", "<in", ">out", "^", "%PATH%", "a=b", "c;d", "e,f"]
)
def test_on_windows_an_argument_cmd_would_read_as_syntax_is_refused_for_a_batch_file(
    env: ResolvedEnv, started: list[tuple[tuple[str, ...], str | None]], argument: str
) -> None:
    _batch(env.python.parent / "hello.cmd")

    with pytest.raises(UsageError) as refused:
        run_in(env, ["hello.cmd", "fine", argument], {"PATH": ""}, windows=True)

    message = str(refused.value)
    assert refused.value.exit_code == 1
    assert f"the argument {argument} holds" in message
    assert "cmd /c" in message
    assert started == []


def test_on_windows_a_batch_file_whose_path_cmd_would_read_is_refused(
    tmp_path: Path, started: list[tuple[tuple[str, ...], str | None]]
) -> None:
    env_dir = tmp_path / "a&b" / "g0001"
    python = _program(env_dir / "Scripts" / "python.exe")
    env = ResolvedEnv("m1", "m", python, env_dir, "env", healthy=True, generation="g0001")
    tool = _batch(env_dir / "Scripts" / "tool.bat")

    with pytest.raises(UsageError) as refused:
        run_in(env, [str(tool)], {"PATH": ""}, windows=True)

    assert f"its path {tool} holds `&`," in str(refused.value)
    assert started == []


def test_on_posix_a_batch_name_and_any_argument_are_left_as_they_are(
    env: ResolvedEnv, started: list[tuple[tuple[str, ...], str | None]]
) -> None:
    ours = _batch(env.python.parent / "hello.bat")

    run_in(env, ["hello.bat", '"&echo x'], {"PATH": ""}, windows=False)

    assert started == [(("hello.bat", '"&echo x'), str(ours))]
