"""`which`, `run` and `reconciler.resolve()` answered from the memo of the resolution
(reconciler/memo/resolution.py), with real applied envs and the real command: the answer
comes without loading the manifest or the health gate, and never outlives a change to
anything it was drawn from.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.store import layout
from tests.apply_helpers import apply, gen_dir, relock, setup
from tests.helpers import Project, settle

pytestmark = pytest.mark.slow  # applies envs and runs reconcile in subprocesses

SERVING = """\
[settings]
verify_ignore = ["*.pth"]

[envs.serving]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha"]

[envs.tools]
python = "3.11"
requirements = ["beta==1.0"]
imports = ["beta"]

[models.chat]
env = "serving"
"""

HEAVY = ("pydantic", "tomlkit", "rich", "networkx", "argparse", "reconciler.commands.gate")

# The command as `reconcile` runs it, then which of the heavy modules it imported.
_WHICH = (
    "import sys\n"
    "from reconciler.cli.start import main\n"
    "code = main(sys.argv[1:])\n"
    f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def which(project: Project, *args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of `reconcile which ...` (its last stderr line names the
    heavy modules it imported)."""
    done = subprocess.run(
        [sys.executable, "-c", _WHICH, "which", *args],
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=120,
    )
    return done.returncode, done.stdout.strip(), done.stderr.strip()


def answers(project: Project) -> list[Path]:
    folder = project.root / layout.CACHE / "which"
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def remembered(project: Project, *args: str) -> str:
    """Run `which chat` until its answer is stored (nothing it reads may be younger than the
    racy window), and return what it printed."""
    for _ in range(3):
        settle()
        code, out, err = which(project, "chat", *args)
        assert code == 0, err
        if answers(project):
            return out
    pytest.fail("no answer was ever stored")


def python_of(project: Project, env_key: str, gen_id: str = "g0001") -> str:
    return str(gen_dir(project, env_key, gen_id) / "bin" / "python")


def test_a_remembered_which_loads_no_manifest_model_nor_the_health_gate(project: Project) -> None:
    setup(project, SERVING)

    first = remembered(project)
    code, out, err = which(project, "chat")

    assert first == out == python_of(project, "serving")
    assert code == 0
    assert err == "[]"  # no pydantic, tomlkit, rich, networkx, argparse nor gate
    code, out, err = which(project, "--manifest", "envs.toml", "chat", "--wait-timeout", "1")
    assert (code, out, err) == (0, python_of(project, "serving"), "[]")


def test_resolve_answers_from_the_memo_too(project: Project) -> None:
    setup(project, SERVING)
    remembered(project)
    script = (
        "import sys, reconciler\n"
        "found = reconciler.resolve('chat', 'envs.toml')\n"
        "print(found.python, found.env_key, found.source, found.healthy, found.generation)\n"
        "print('pydantic' in sys.modules)\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=project.folder,
        check=False,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{python_of(project, 'serving')} serving env True g0001",
        "False",
    ]


def test_a_corrupted_file_is_seen_at_once_by_a_remembered_which(project: Project) -> None:
    setup(project, SERVING)
    remembered(project)
    site = next(gen_dir(project, "serving", "g0001").glob("lib/python*/site-packages"))

    (site / "alpha" / "__init__.py").write_bytes(b"")
    code, out, err = which(project, "chat")

    assert code == 1
    assert out == ""
    assert "zero_byte alpha/__init__.py" in err


def test_a_rebinding_apply_is_seen_at_once_by_a_remembered_which(project: Project) -> None:
    setup(project, SERVING)
    remembered(project)

    relock(project, SERVING.replace('env = "serving"', 'env = "tools"'))
    apply(project)
    code, out, _ = which(project, "chat")

    assert (code, out) == (0, python_of(project, "tools"))


def test_a_remembered_answer_is_not_used_through_a_link_at_state(project: Project) -> None:
    setup(project, SERVING)
    remembered(project)
    state = project.root / layout.STATE
    state.rename(project.folder / "elsewhere")
    state.symlink_to(project.folder / "elsewhere")

    code, out, err = which(project, "chat")

    assert (code, out) == (1, "")
    assert f"error: refusing to use {state}: it is a link" in err


def test_another_root_never_takes_the_answer_remembered_for_the_manifests(
    project: Project,
) -> None:
    setup(project, SERVING)
    remembered(project)
    other = project.folder / "other-root"
    other.mkdir()

    code, out, err = which(project, "--root", str(other), "chat")

    assert (code, out) == (1, "")
    assert "has no applied env yet" in err


# --- run: the exit codes of a shell ---------------------------------------------------------


def run(project: Project, *argv: str) -> subprocess.CompletedProcess[str]:
    return project.cli("run", "chat", "--", *argv)


def test_run_exits_127_when_the_program_is_not_found(project: Project) -> None:
    setup(project, SERVING)

    bare = run(project, "no-such-program-here")
    path = run(project, "./no-such-script")

    assert bare.returncode == 127
    assert bare.stderr.splitlines() == [
        "error: no-such-program-here was not found in serving's env nor on PATH."
    ]
    assert path.returncode == 127
    assert path.stderr.splitlines() == ["error: ./no-such-script was not found: check the path."]


def test_run_exits_126_when_the_program_is_found_but_not_executable(project: Project) -> None:
    setup(project, SERVING)
    script = project.folder / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n", encoding="utf-8")
    script.chmod(0o644)

    done = run(project, "./script.sh")

    assert done.returncode == 126
    assert done.stderr.splitlines() == [
        "error: cannot run ./script.sh: Permission denied; make it executable, or run it with "
        "its interpreter."
    ]


def test_run_exits_126_when_the_scripts_interpreter_is_missing(project: Project) -> None:
    """As bash says "bad interpreter": the script is there, what its #! names is not."""
    setup(project, SERVING)
    script = project.folder / "script.sh"
    script.write_text("#!/no/such/interpreter\necho hi\n", encoding="utf-8")
    script.chmod(0o755)

    done = run(project, "./script.sh")

    assert done.returncode == 126
    assert done.stderr.splitlines() == [
        "error: cannot run ./script.sh: the interpreter its first line (#!) names was not "
        "found; fix that line, or run it with its interpreter."
    ]


def test_which_through_link_dotdot_hands_out_an_interpreter_that_starts_the_venv(
    project: Project,
) -> None:
    setup(project, SERVING)
    (project.folder / "sub").mkdir()
    other = project.folder.parent / f"{project.folder.name}-other"
    other.mkdir()
    (other / "link").symlink_to(project.folder / "sub")  # other/link/.. is the project
    manifest = str(other / "link" / ".." / "envs.toml")

    for args in (("--manifest", manifest), ("--root", str(other / "link" / ".." / ".envs"))):
        settle()
        outputs = [which(project, *args, "chat")[1] for _ in range(2)]  # full, then remembered
        assert outputs == [python_of(project, "serving")] * 2
        prefix = subprocess.run(
            [outputs[0], "-c", "import sys; print(sys.prefix)"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        assert prefix == str(gen_dir(project, "serving", "g0001"))
