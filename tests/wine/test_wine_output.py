"""Issue #18 on the real Windows CPython under Wine: a project in a folder whose name has an
emoji, output piped (the ANSI code page, cp1252, as on Windows): every command prints, `which`
refuses a path it cannot write and writes UTF-8 under ``PYTHONIOENCODING=utf-8``; and `run` of
a batch file starts the env's own, never a same-named one in the working folder, and refuses an
argument cmd.exe would read as commands."""

from __future__ import annotations

import uuid

import pytest

from tests.wine.conftest import WinProject
from tests.wine.lab import RECONCILE, Lab

pytestmark = pytest.mark.slow

TOOL = """
[envs.tools]
python = "3.13"
requirements = ["tool==1.0"]

[models.m]
env = "tools"
"""

BAT = "@echo hello from bat %*\r\n"


def test_an_emoji_folder_and_a_batch_file(lab: Lab) -> None:
    project = WinProject(lab, f"{uuid.uuid4().hex[:8]}-\u00fc\U0001f600 x")
    try:
        project.wheel(
            "tool", "1.0", files={"tool/__init__.py": "", "tool-1.0.data/scripts/hello.bat": BAT}
        )
        project.manifest(TOOL)
        for args in (("lock",), ("apply", "--yes"), ("status",), ("verify",), ("plan",)):
            ran = project.ok(*args)
            assert "internal error" not in ran.out + ran.err, str(ran)

        python = f"{project.dir}\\envs\\.generations\\tools\\g0001\\Scripts\\python.exe"
        refused = project.reconcile("which", "m")
        assert (refused.rc, refused.out) == (1, ""), str(refused)
        assert "cannot be written in this output's encoding (cp" in refused.err  # cp1252
        assert "PYTHONIOENCODING=utf-8" in refused.err
        for _ in range(2):  # the second answers from the memo
            utf8 = project.ok("which", "m", env={"PYTHONIOENCODING": "utf-8"})
            assert utf8.out == f"{python}\n", str(utf8)

        # a decoy in the working folder: cmd.exe would look `hello` up there first
        (project.path / "sub").mkdir()
        (project.path / "sub" / "hello.bat").write_bytes(b"@echo DECOY\r\n")
        (project.path / "sub" / "evil.bat").write_bytes(b"@echo DECOY\r\n")

        def run(*args: str) -> tuple[int, str, str]:
            ran = lab.run(
                RECONCILE,
                "--manifest",
                "..\\envs.toml",
                "run",
                "m",
                "--",
                *args,
                cwd=f"{project.dir}\\sub",
                env=project.env,
            )
            return ran.rc, ran.out, ran.err

        code, out, err = run("hello", "a", "b c")
        assert (code, out.strip()) == (0, 'hello from bat a "b c"'), err
        code, out, err = run("evil.bat")
        assert code == 127 and "DECOY" not in out, (out, err)
        code, out, err = run("hello", '"&echo INJECTED')
        assert code == 1 and "INJECTED" not in out, (out, err)
        assert "refusing to run the batch file" in err
        code, out, err = run("python", "-c", "import sys; print(sys.argv[1])", "a&b")
        assert (code, out.strip()) == (0, "a&b"), err
    finally:
        lab.remove(project.dir)
        lab.remove(project.cache)
