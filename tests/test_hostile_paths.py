"""Paths with odd characters, and files that are not what their name promises.

Every character a file system allows in a folder name either works (lock, plan, apply,
which and run on a real tiny env, then a plan with nothing to do) or is refused at plan time
in one sentence naming the path and the character. A file reconcile is told to read is read
through one reader that never blocks on a FIFO or a device and never reads past its cap.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconciler.core.moved import recorded_folder
from reconciler.errors import InputFileError
from reconciler.files import read_regular_file
from tests.helpers import require_python, uv
from tests.wheels import make_wheel

POSIX = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names and file types")


# --- the one reader of files reconcile is told to read ---------------------------------------


def test_read_regular_file_reads_a_file_within_its_cap(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"x" * 100)
    assert read_regular_file(path, 100, "lockfile") == b"x" * 100
    with pytest.raises(InputFileError, match=r"f\.txt is larger than 99 bytes"):
        read_regular_file(path, 99, "lockfile")


def test_read_regular_file_leaves_a_missing_file_to_its_caller(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_regular_file(tmp_path / "nope", 10, "lockfile")


@POSIX
def test_read_regular_file_refuses_a_fifo_at_once_even_with_a_writer_waiting(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "plan.json"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(InputFileError) as caught:
        read_regular_file(fifo, 1 << 20, "saved plan")
    assert time.monotonic() - started < 5
    assert str(caught.value) == (
        f"the saved plan {fifo} is a FIFO, not a regular file; name a file."
    )


@POSIX
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom"])
def test_read_regular_file_refuses_a_device(device: str) -> None:
    if not Path(device).exists():
        pytest.skip(f"{device} does not exist here")
    with pytest.raises(InputFileError, match="is a character device, not a regular file"):
        read_regular_file(Path(device), 1 << 20, "lockfile")


@POSIX
def test_read_regular_file_refuses_a_folder_and_a_socket(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="is a folder"):
        read_regular_file(tmp_path, 10, "lockfile")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "s"))
    try:
        with pytest.raises(InputFileError, match=r"cannot open the lockfile .*s \("):
            read_regular_file(tmp_path / "s", 10, "lockfile")
    finally:
        sock.close()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="no /proc")
def test_read_regular_file_caps_a_file_that_reports_no_size() -> None:
    # /proc files are regular files of size 0 whose reads return more: the cap still holds.
    with pytest.raises(InputFileError, match="is larger than 8 bytes"):
        read_regular_file(Path("/proc/self/status"), 8, "lockfile")


def test_read_regular_file_reads_through_a_link_to_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("ok", encoding="utf-8")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_regular_file(tmp_path / "link", 10, "lockfile") == b"ok"


def test_read_regular_file_does_not_wait_for_a_slow_writer(tmp_path: Path) -> None:
    """Opened without blocking: the reader has what is there when it looks, and is done."""
    path = tmp_path / "grow"
    path.write_bytes(b"a")
    done = threading.Event()

    def read() -> None:
        read_regular_file(path, 10, "lockfile")
        done.set()

    thread = threading.Thread(target=read)
    thread.start()
    thread.join(5)
    assert done.is_set()


# --- the location an env was made for, read back from its activation script ------------------

ODD = "'\"#%$\\;&`!*?[] \t\n~é环=,:{}()<>|"


@given(st.text(alphabet=st.sampled_from(ODD) | st.characters(codec="utf-8"), max_size=12))
@example("q'uote")
@example('d"q')
@example("nl\nx")
@example("$HOME")
@example("a b#c")
def test_the_recorded_venv_path_is_read_as_the_shell_reads_it(name: str) -> None:
    name = name.replace("\x00", "").replace("/", "")
    folder = f"/srv/{name}/v"
    uv_style = f"# comment\nVIRTUAL_ENV={shlex.quote(folder)}\nexport VIRTUAL_ENV\n"
    assert recorded_folder(uv_style, windows=False) == folder
    msys = (
        'if [ "${OSTYPE:-}" = "msys" ] ; then\n'
        f"    export VIRTUAL_ENV=$(cygpath {shlex.quote(folder)})\n"
        "else\n"
        f"    export VIRTUAL_ENV={shlex.quote(folder)}\n"
        "fi\n"
    )
    assert recorded_folder(msys, windows=False) == folder


def test_a_venv_activation_without_virtual_env_records_nothing() -> None:
    assert recorded_folder("echo hello\n", windows=False) is None
    assert recorded_folder("VIRTUAL_ENV='unterminated\n", windows=False) is None


# --- a real env in folders with odd names: it works, or is refused at plan time --------------

MANIFEST = """\
[settings]
root = {root}

[settings.sources]
find_links = ["wheels"]
no_index = true

[envs.small]
python = "3.11"
requirements = ["alpha==1.0"]
imports = ["alpha"]

[models.m]
env = "small"
"""


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        check=False,
        timeout=600,
    )


def toml_string(text: str) -> str:
    import json

    return json.dumps(text, ensure_ascii=False)


def project_in(parent: Path, folder_name: str, root: str) -> Path:
    folder = parent / folder_name
    folder.mkdir(parents=True)
    wheels = folder / "wheels"
    make_wheel(wheels, "alpha", "1.0", files={"alpha/__init__.py": "VALUE = 1\n"})
    (folder / "envs.toml").write_text(MANIFEST.format(root=toml_string(root)), encoding="utf-8")
    return folder


def assert_clean(done: subprocess.CompletedProcess[str], code: int = 0) -> None:
    said = done.stdout + done.stderr
    assert done.returncode == code, said
    assert "Traceback" not in said and "internal error" not in said, said


# Characters a POSIX file system allows in a name, beyond letters and digits. ":" (PATH's
# separator) has its own test: it is refused.
NAME_CHARS = " '\"#%$\\;&`!*?[]{}()<>|=,~@^+\t\né环ü\u200b"

SLOW = settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@POSIX
@SLOW
@given(chars=st.text(alphabet=st.sampled_from(NAME_CHARS), min_size=1, max_size=4))
@example(chars="'")
@example(chars='"')
@example(chars="#")
@example(chars="%41")
@example(chars="$HOME")
@example(chars="\\")
@example(chars=" ;&")
@example(chars="é环")
@example(chars="\n")
@example(chars="*?[!")
def test_an_env_works_in_a_project_and_root_whose_names_hold_odd_characters(
    tmp_path_factory: pytest.TempPathFactory, chars: str
) -> None:
    require_python("3.11")
    parent = tmp_path_factory.mktemp("odd")
    folder = project_in(parent, f"p{chars}x", f"r{chars}y")
    assert_clean(cli(folder, "lock"))
    assert_clean(cli(folder, "lock", "--check"))
    assert_clean(cli(folder, "plan", "--detailed-exitcode"), code=2)
    assert_clean(cli(folder, "apply", "--yes"))
    which = cli(folder, "which", "m")
    assert_clean(which)
    python = Path(which.stdout[: -len("\n")])
    assert python.is_file()
    assert str(python).startswith(str(folder / f"r{chars}y"))
    run = cli(folder, "run", "m", "--", "python", "-c", "import alpha, sys; print(sys.prefix)")
    assert_clean(run)
    assert run.stdout.startswith(str(folder / f"r{chars}y" / ".generations"))
    again = cli(folder, "plan", "--detailed-exitcode")
    assert_clean(again)  # nothing to do: no false env_moved for a quote in the path
    assert "No changes." in again.stdout
    assert_clean(cli(folder, "verify"))
    shutil.rmtree(parent)


@pytest.mark.slow
@POSIX
@pytest.mark.parametrize("where", ["project", "root"])
def test_a_root_holding_the_path_separator_is_refused_at_plan_apply_which_and_run(
    tmp_path: Path, where: str
) -> None:
    folder = project_in(
        tmp_path,
        "p:x" if where == "project" else "px",
        ".envs" if where == "project" else "r:y",
    )
    root = folder / (".envs" if where == "project" else "r:y")
    for args in (("plan",), ("apply", "--yes"), ("which", "m"), ("run", "m", "--", "true")):
        done = cli(folder, *args)
        assert_clean(done, code=1)
        assert not root.exists(), args
        if where == "root":  # refused as written in the manifest, as every path with ":"
            assert 'envs.toml:2: settings.root: "r:y" is relative to' in done.stderr, args
            continue
        assert done.stderr == (
            f'error: the root {root} holds ":", which separates the folders of PATH, so '
            "`reconcile run` could never put an env's bin folder there on PATH; use a path "
            'without ":" (settings.root or --root).\n'
        ), args
        assert not root.exists(), args


@pytest.mark.slow
@POSIX
@pytest.mark.parametrize("where", ["project", "root"])
def test_a_root_whose_name_is_not_utf8_is_refused_in_one_sentence(
    tmp_path: Path, where: str
) -> None:
    """uv takes only UTF-8 paths: a root named with a byte such as 0xff is refused at plan,
    apply, which and run, before anything is built, not deep inside uv."""
    odd = os.fsdecode(b"p\xffx")
    folder = project_in(tmp_path, odd if where == "project" else "px", ".envs")
    root = folder / ".envs" if where == "project" else tmp_path / os.fsdecode(b"r\xffy")
    given = () if where == "project" else ("--root", str(root))
    shown = os.fsencode(root).decode("utf-8", "backslashreplace")
    assert "\\xff" in shown
    if where == "root":
        assert_clean(cli(folder, "lock"))  # so a plan gets as far as the root
    for args in (("plan",), ("apply", "--yes"), ("which", "m"), ("run", "m", "--", "true")):
        done = cli(folder, *given, *args)
        assert_clean(done, code=1)
        assert done.stderr == (
            f"error: the root {shown} holds a name that is not valid UTF-8, and uv takes only "
            "UTF-8 paths; rename that folder or put the root elsewhere (settings.root or "
            "--root).\n"
        ), args
        assert not root.exists(), args


@pytest.mark.slow
@POSIX
def test_an_adopted_venv_in_a_folder_holding_the_path_separator_is_a_manifest_error(
    tmp_path: Path,
) -> None:
    python = require_python("3.11")
    folder = project_in(tmp_path, "px", ".envs")
    uv("venv", "--quiet", "--python", str(python), str(folder / "old:env"))
    with (folder / "envs.toml").open("a", encoding="utf-8") as handle:
        handle.write('\n[envs.old]\nadopt = "old:env"\n')
    done = cli(folder, "plan")
    assert_clean(done, code=1)
    # refused as written, before the folder is looked at: ":" is a stream on NTFS (and PATH's
    # separator here), so a manifest never names such a path
    assert 'envs.toml:17: envs.old.adopt: "old:env" holds ":"' in done.stderr


# --- git:REF: the lockfile of a revision is held to the same rules ---------------------------

GIT = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


SECRET = "SECRET-TOKEN-in-the-repository"  # noqa: S105  a marker to look for, not a password


@pytest.mark.slow
@GIT
@POSIX
@pytest.mark.parametrize(
    ("lockfile", "setup", "detail"),
    [
        (
            "../secret.txt",
            None,
            'envs.toml:4: envs.a.lockfile: "../secret.txt" leads out of the folder',
        ),
        (
            "lock.txt",
            "link-in-revision",
            "git:HEAD:sub/lock.txt is a link in that revision, not a regular file",
        ),
        ("lock.txt", "folder-in-revision", "git:HEAD:sub/lock.txt is a folder in that revision"),
    ],
    ids=["dotdot", "link", "folder"],
)
def test_diff_reads_no_file_of_a_revision_outside_the_manifest_folder(
    tmp_path: Path, lockfile: str, setup: str | None, detail: str
) -> None:
    repo = tmp_path / "repo"
    sub = repo / "sub"
    sub.mkdir(parents=True)
    (repo / "secret.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    (sub / "envs.toml").write_text(
        textwrap.dedent(
            f"""\
            [envs.a]
            python = "3.11"
            requirements = ["alpha==1.0"]
            lockfile = "{lockfile}"
            """
        ),
        encoding="utf-8",
    )
    if setup == "link-in-revision":
        (sub / "lock.txt").symlink_to("../secret.txt")
    elif setup == "folder-in-revision":
        (sub / "lock.txt").mkdir()
        (sub / "lock.txt" / "x").write_text(SECRET, encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    head = sub / "head.toml"
    head.write_text("", encoding="utf-8")
    # as BASE, a lockfile that cannot be read is only warned of (a bad manifest still fails)
    base = cli(sub, "diff", "git:HEAD", "head.toml")
    assert_clean(base, code=1 if setup is None else 0)
    done = cli(sub, "diff", "head.toml", "git:HEAD")  # HEAD's lockfiles must be read
    assert_clean(done, code=1)
    assert SECRET not in base.stdout + base.stderr + done.stdout + done.stderr
    assert detail in done.stderr


@pytest.mark.slow
@POSIX
def test_a_project_folder_holding_the_path_separator_works_with_a_root_elsewhere(
    tmp_path: Path,
) -> None:
    """Only the root's bin folders go on PATH: the manifest's own folder may hold ":"."""
    require_python("3.11")
    folder = project_in(tmp_path, "p:x", str(tmp_path / "root"))
    for args in (("lock",), ("apply", "--yes"), ("run", "m", "--", "python", "-c", "import alpha")):
        assert_clean(cli(folder, *args))
    again = cli(folder, "plan")
    assert_clean(again)
    assert "No changes." in again.stdout
