"""`reconcile verify` and the integrity part of every plan, end to end: the installed command,
the real uv, real venvs built by apply, files broken the way the incidents broke them (SPEC 6,
7.2, 7.3; issue 7).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.platform import POSIX_VENV
from reconciler.store import layout
from tests.apply_helpers import SERVING, TOOLS, gen_dir, link_of, relock, setup
from tests.helpers import Project, build_env, require_python, settle
from tests.wheels import make_wheel


def site(project: Project, env_key: str) -> Path:
    return next((project.root / env_key).resolve().glob("lib/python*/site-packages"))


def rel(project: Project, env_key: str, path: Path) -> str:
    return path.relative_to((project.root / env_key).resolve()).as_posix()


def verify(project: Project, *args: str) -> tuple[int, str, str]:
    done = project.cli("verify", *args)
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout, done.stderr


def verify_json(project: Project, *args: str) -> dict[str, Any]:
    done = project.cli("verify", "--format", "json", *args)
    assert done.returncode in (0, 2), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def envs_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["env"]: e for e in doc["envs"]}


def test_a_healthy_env_verifies_ok_and_the_second_run_trusts_the_hash_cache(
    project: Project,
) -> None:
    setup(project, SERVING)
    settle()

    code, out, err = verify(project)
    first = envs_of(verify_json(project, "--deep"))["serving"]
    again = envs_of(verify_json(project))["serving"]

    assert code == 0, err
    assert out.startswith("serving: OK, 2 distributions ("), out
    assert again["status"] == "ok"
    assert again["files_hashed"] == 0
    assert again["files_cached"] == first["files_hashed"] > 0
    assert (project.root / ".cache" / "hashes").is_dir()


def test_a_zero_byte_module_is_one_rpm_style_line_and_exit_2(project: Project) -> None:
    setup(project, SERVING)
    module = site(project, "serving") / "beta" / "__init__.py"
    size = module.stat().st_size
    module.write_bytes(b"")

    code, out, _ = verify(project)

    assert code == 2
    finding, blank, summary = out.splitlines()
    assert finding.split() == [
        "zero_byte",
        "serving",
        "beta",
        rel(project, "serving", module),
        "size",
        "0,",
        "RECORD",
        "says",
        f"{size:,}",
    ]
    assert blank == ""
    assert summary.startswith("serving: 1 problem in 1 of 2 distributions: 1 zero_byte (")


def test_a_missing_module_with_its_dist_info_intact_is_missing(project: Project) -> None:
    setup(project, SERVING)
    module = site(project, "serving") / "alpha" / "__init__.py"
    module.unlink()

    doc = verify_json(project)

    serving = envs_of(doc)["serving"]
    assert serving["status"] == "problems"
    assert serving["counts"] == {"missing": 1}
    (finding,) = serving["findings"]
    assert finding["dist"] == "alpha"
    assert finding["path"] == rel(project, "serving", module)
    assert doc["format_version"] == "1"
    assert doc["summary"] == {
        "envs": 1,
        "ok": 0,
        "with_problems": 1,
        "unchecked": 0,
        "findings": 1,
        "env_findings": 0,
    }


def test_verify_checks_only_the_named_envs(project: Project) -> None:
    setup(project, SERVING + TOOLS)
    (site(project, "serving") / "beta" / "__init__.py").write_bytes(b"")

    code, out, _ = verify(project, "tools")

    assert code == 0
    assert out == out.splitlines()[0] + "\n"
    assert out.startswith("tools: OK")


def test_an_unknown_env_is_one_sentence_with_the_closest_key(project: Project) -> None:
    setup(project, SERVING)

    code, out, err = verify(project, "servin")

    assert code == 1
    assert out == ""
    assert err == 'error: verify: no env named servin in the manifest; did you mean "serving"?\n'


def test_an_env_not_created_yet_is_env_missing_and_nothing_is_created(
    project: Project,
) -> None:
    require_python("3.11")
    relock(project, SERVING)

    code, out, _ = verify(project)

    assert code == 2
    assert out.splitlines() == [
        "env_missing  serving  -  .  not created yet; run `reconcile apply`",
        "",
        "serving: env missing: not created yet; run `reconcile apply`.",
    ]
    assert not project.root.exists()


def test_verify_ignore_makes_a_local_change_an_allowed_modification(project: Project) -> None:
    body = SERVING.replace(
        'imports = ["alpha", "beta"]', 'imports = ["alpha", "beta"]\nverify_ignore = ["beta/*.py"]'
    )
    setup(project, body)
    module = site(project, "serving") / "beta" / "__init__.py"
    module.write_text(module.read_text().replace("1.0", "6.6"))  # same size, other content

    code, out, _ = verify(project)
    verbose = project.cli("verify", "-v").stdout
    doc = envs_of(verify_json(project))["serving"]

    assert code == 0
    assert out.startswith("serving: OK, 2 distributions, 1 allowed modification (")
    assert verbose.splitlines()[0].split()[:3] == ["allowed", "serving", "beta"]
    assert 'hash_mismatch allowed by verify_ignore "beta/*.py"' in verbose
    assert doc["findings"] == []
    assert [a["pattern"] for a in doc["allowed"]] == ["beta/*.py"]


def test_deep_rehashes_what_the_default_trusts(project: Project) -> None:
    setup(project, SERVING)
    settle()
    verify(project)

    cached = envs_of(verify_json(project))["serving"]
    deep = envs_of(verify_json(project, "--deep"))["serving"]

    assert cached["bytes_hashed"] == 0
    assert deep["files_hashed"] > 0
    assert isinstance(deep["bytes_hashed"], int) and deep["bytes_hashed"] > 0


def test_a_change_that_keeps_size_and_mtime_is_still_found_without_deep(project: Project) -> None:
    setup(project, SERVING)
    verify(project)
    module = site(project, "serving") / "beta" / "__init__.py"
    before = module.stat()
    text = module.read_text()
    module.write_text(text.replace("1.0", "6.6"))  # same size
    os.utime(module, ns=(before.st_atime_ns, before.st_mtime_ns))

    code, out, _ = verify(project)

    assert code == 2
    assert out.startswith("hash_mismatch  serving  beta")


@pytest.mark.parametrize(("link_mode", "warned"), [("hardlink", True), ("copy", False)])
def test_verify_warns_when_files_share_inodes_with_the_package_cache(
    project: Project, link_mode: str, warned: bool
) -> None:
    setup(project, f'[settings]\nlink_mode = "{link_mode}"\n\n' + SERVING)

    code, out, _ = verify(project)

    assert code == 0
    warning = [line for line in out.splitlines() if line.startswith("warning: serving: ")]
    assert bool(warning) == warned
    if warned:
        assert 'link_mode = "hardlink"' in warning[0]


def test_plan_replaces_an_env_with_corrupted_files_and_apply_heals_it(project: Project) -> None:
    setup(project, SERVING)
    module = site(project, "serving") / "beta" / "__init__.py"
    module.write_bytes(b"")
    shown = rel(project, "serving", module)

    plan = json.loads(project.cli("plan", "--format", "json").stdout)
    applied = project.cli("apply", "--yes")

    (step,) = plan["steps"]
    assert (step["action"], step["reasons"]) == ("replace", ["files_corrupted"])
    assert step["details"] == [f"files_corrupted: zero_byte {shown} (beta)"]
    assert applied.returncode == 0, applied.stderr
    assert link_of(project, "serving") == ".generations/serving/g0002"
    assert verify(project)[0] == 0
    assert project.cli("plan", "--detailed-exitcode").returncode == 0


def test_plan_lists_ten_corrupted_files_and_counts_the_rest(project: Project) -> None:
    files = {f"many/part{i:02d}.py": f"PART = {i}\n" for i in range(13)}
    make_wheel(project.wheels, "many", "1.0", files=files)
    setup(project, SERVING.replace('"beta==1.0"]', '"beta==1.0", "many==1.0"]'))
    for name in files:
        (site(project, "serving") / name).write_bytes(b"")

    (step,) = json.loads(project.cli("plan", "--format", "json").stdout)["steps"]

    assert step["reasons"] == ["files_corrupted"]
    assert len(step["details"]) == 11
    assert (
        step["details"][0]
        == "files_corrupted: zero_byte "
        + rel(project, "serving", site(project, "serving") / "many" / "part00.py")
        + " (many)"
    )
    assert step["details"][-1] == "files_corrupted: and 3 more; see `reconcile verify`"


def test_the_poisoned_cache_incident_ends_with_every_env_verified_healthy(
    project: Project, private_uv_cache: Path
) -> None:
    """The incident: envs hardlinked to uv's cache; a file truncated in one env truncates the
    cache's copy, and every env built afterwards would get the broken file. apply verifies the
    new generations, purges exactly the bad package from the cache, rebuilds, and heals."""
    hardlinked = '[settings]\nlink_mode = "hardlink"\n\n'
    setup(project, hardlinked + SERVING)
    module = site(project, "serving") / "beta" / "__init__.py"
    assert module.stat().st_nlink > 1
    with module.open("r+b") as handle:  # truncate in place, through the hardlink
        handle.truncate(0)
    (cached,) = private_uv_cache.glob("archive-v0/*/beta/__init__.py")
    assert cached.stat().st_size == 0  # the cache is poisoned

    plan = json.loads(project.cli("plan", "--format", "json").stdout)
    relock(
        project,
        hardlinked
        + SERVING
        + TOOLS.replace('"gamma==1.0"', '"beta==1.0"').replace('["gamma"]', '["beta"]'),
    )
    applied = project.cli("apply", "--yes")

    (step,) = plan["steps"]
    assert step["reasons"] == ["files_corrupted"]
    assert applied.returncode == 0, applied.stderr
    assert "bad files from the cache; purging beta" in applied.stdout
    code, out, _ = verify(project)
    assert code == 0, out
    assert [line.split(":")[0] for line in out.splitlines() if ": OK" in line] == [
        "serving",
        "tools",
    ]
    for env_key in ("serving", "tools"):
        assert (site(project, env_key) / "beta" / "__init__.py").stat().st_size > 0
    fresh = list(private_uv_cache.glob("archive-v0/*/beta/__init__.py"))
    assert fresh and all(p.stat().st_size > 0 for p in fresh)
    assert project.cli("plan", "--detailed-exitcode").returncode == 0


def test_a_cache_that_cannot_be_written_never_fails_verify_or_plan(project: Project) -> None:
    setup(project, SERVING)
    cache = project.root / ".cache"
    shutil.rmtree(cache, ignore_errors=True)
    cache.write_text("not a folder")  # every write under it fails, as on a read-only root

    code, out, err = verify(project)
    plan = project.cli("plan", "--detailed-exitcode")

    assert code == 0, err
    assert out.startswith("serving: OK")
    assert plan.returncode == 0, plan.stderr
    assert cache.read_text() == "not a folder"


def test_quiet_prints_nothing_at_all_when_every_env_is_ok(project: Project) -> None:
    setup(project, SERVING)

    assert verify(project, "-q") == (0, "", "")


def test_quiet_prints_nothing_for_healthy_envs(project: Project) -> None:
    setup(project, SERVING + TOOLS)
    (site(project, "tools") / "gamma" / "__init__.py").unlink()

    code, out, _ = verify(project, "-q")

    assert code == 2
    lines = out.splitlines()
    assert lines[0].startswith("missing  tools  gamma  ")
    assert lines[-1].startswith("tools: 1 problem")
    assert not any(line.startswith("serving") for line in lines)


def test_link_mode_clone_never_silently_becomes_hardlinks(project: Project) -> None:
    """uv's clone falls back to hardlinks on ext4; SPEC 7.3 allows shared inodes only with
    link_mode = "hardlink", so an explicit "clone" where reflinks are missing is refused."""
    from reconciler.execute.uv import supports_reflink

    project.folder.joinpath(".envs", ".generations").mkdir(parents=True)
    reflinks = supports_reflink(project.folder / ".envs" / ".generations")
    require_python("3.11")
    relock(project, '[settings]\nlink_mode = "clone"\n\n' + SERVING)

    done = project.cli("apply", "--yes")

    if reflinks:
        assert done.returncode == 0, done.stderr
        assert (site(project, "serving") / "beta" / "__init__.py").stat().st_nlink == 1
    else:
        assert done.returncode == 1
        assert done.stderr.startswith('error: link_mode "clone" needs a filesystem with reflink')
        assert not (project.root / "serving").exists()


def test_an_adopted_env_is_verified_in_its_own_folder_and_reported_as_adopted(
    project: Project,
) -> None:
    setup(project, SERVING)
    legacy = project.folder / "environments" / "local_abc123" / ".venv"
    build_env(
        legacy,
        require_python("3.11"),
        project.folder / "lockfiles" / "serving.txt",
        project.wheels,
        receipt=False,
    )
    adopt = '\n[envs.legacy]\nadopt = "environments/local_abc123/.venv"\n'
    project.write(SERVING + adopt)
    (next(legacy.glob("lib/python*/site-packages")) / "alpha" / "__init__.py").unlink()

    doc = verify_json(project, "legacy")

    (env,) = doc["envs"]
    assert (env["env"], env["kind"], env["status"]) == ("legacy", "adopted", "problems")
    assert env["path"] == "environments/local_abc123/.venv"
    assert env["counts"] == {"missing": 1}


def test_gc_removes_the_hash_caches_of_generations_that_are_gone(project: Project) -> None:
    from reconciler.observe.hashcache import cache_file

    setup(project, SERVING)
    first = gen_dir(project, "serving", "g0001")
    first_cache = cache_file(project.root, os.path.realpath(first))
    settle()
    verify(project)
    assert first_cache.exists()
    (site(project, "serving") / "beta" / "__init__.py").write_bytes(b"")
    assert project.cli("apply", "--yes").returncode == 0  # g0002
    settle()
    verify(project)

    done = project.cli("gc", "--keep", "1")

    assert done.returncode == 0, done.stderr
    assert not first.exists()
    assert not first_cache.exists()
    second = gen_dir(project, "serving", "g0002")
    assert cache_file(project.root, os.path.realpath(second)).exists()


# -- env-level findings: an env that cannot start is never "OK" (SPEC 6) --------------------

ADOPTED = """
[envs.legacy]
adopt = "environments/legacy/.venv"

[models.old]
env = "legacy"
"""


def with_adopted(project: Project) -> Path:
    """``serving`` (managed, model ``chat``) and ``legacy`` (adopted, model ``old``), built
    and applied; the adopted folder is returned."""
    legacy = project.folder / "environments" / "legacy" / ".venv"
    relock(project, SERVING)
    build_env(
        legacy,
        require_python("3.11"),
        project.folder / "lockfiles" / "serving.txt",
        project.wheels,
        receipt=False,
    )
    project.write(SERVING + ADOPTED)
    applied = project.cli("apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    return legacy


def _not_executable(env: Path) -> None:
    python = POSIX_VENV.interpreter(env)
    python.unlink()
    python.write_text("#!/bin/sh\n")  # a plain file where the interpreter was: mode 0o644


def _empty_activate(env: Path) -> None:
    (env / "bin" / "activate").write_bytes(b"")  # there, but it activates nothing


def _empty_file(env: Path) -> None:
    python = POSIX_VENV.interpreter(env)
    python.unlink()
    python.write_bytes(b"")  # `: > bin/python; chmod +x`: executable, but no program at all
    python.chmod(0o755)


def _a_folder(env: Path) -> None:
    python = POSIX_VENV.interpreter(env)
    python.unlink()
    python.mkdir()


def _made_elsewhere(env: Path) -> None:
    """As a copy of a venv made at /old/place: its scripts name that folder."""
    activate = env / "bin" / "activate"
    text = activate.read_text(encoding="utf-8")
    activate.write_text(re.sub(r"(?m)^VIRTUAL_ENV=.*$", "VIRTUAL_ENV='/old/place'", text))


def _base_gone(env: Path) -> None:
    cfg = env / "pyvenv.cfg"
    lines = cfg.read_text(encoding="utf-8").splitlines()
    gone = "home = /nonexistent/reconcile-base-python/bin"
    cfg.write_text("\n".join(gone if ln.startswith("home") else ln for ln in lines) + "\n")


BREAKS: dict[str, tuple[Callable[[Path], None], str, str]] = {
    # how the env is broken -> (break it, the finding's category, its path)
    "interpreter deleted": (
        lambda env: POSIX_VENV.interpreter(env).unlink(),
        "interpreter_broken",
        "bin/python",
    ),
    "interpreter not executable": (_not_executable, "interpreter_broken", "bin/python"),
    "interpreter a folder": (_a_folder, "interpreter_broken", "bin/python"),
    "interpreter an empty file": (_empty_file, "interpreter_broken", "bin/python"),
    "pyvenv.cfg deleted": (
        lambda env: (env / "pyvenv.cfg").unlink(),
        "pyvenv_cfg_missing",
        "pyvenv.cfg",
    ),
    "base interpreter gone": (
        _base_gone,
        "base_interpreter_missing",
        "/nonexistent/reconcile-base-python/bin",
    ),
    "activate deleted": (
        lambda env: (env / "bin" / "activate").unlink(),
        "activation_missing",
        "bin/activate",
    ),
    "activate empty": (
        _empty_activate,
        "activation_missing",
        "bin/activate",
    ),
    "env folder deleted": (shutil.rmtree, "env_missing", "."),
    "made for another folder": (_made_elsewhere, "env_moved", "."),
}


@pytest.mark.parametrize("kind", ["managed", "adopted"])
@pytest.mark.parametrize("how", sorted(BREAKS))
def test_an_env_that_cannot_start_is_an_env_level_finding_first_and_exit_2(
    project: Project, kind: str, how: str
) -> None:
    """Whatever the memo of the manifest and the hash cache remember from an OK verify, an
    env that lost its interpreter, pyvenv.cfg, base interpreter, activation script or itself
    is reported first, with its own category, and verify exits 2; `which` refuses exactly the
    envs verify says cannot start."""
    legacy = with_adopted(project)
    env_key, model = ("serving", "chat") if kind == "managed" else ("legacy", "old")
    env = (project.root / "serving").resolve() if kind == "managed" else legacy
    other, other_site = (
        ("legacy", next(legacy.glob("lib/python*/site-packages")))
        if kind == "managed"
        else ("serving", site(project, "serving"))
    )
    (other_site / "beta" / "__init__.py").write_bytes(b"")  # a file finding in the other env
    breaks, category, path = BREAKS[how]
    settle()
    verify(project)  # the manifest's memo and the hash cache are stored ...
    assert verify(project, env_key)[0] == 0  # ... and the env was OK
    assert list((project.root / ".cache" / "verify").glob("*.json"))
    assert list((project.root / ".cache" / "hashes").iterdir())
    breaks(env)

    code, out, err = verify(project)
    doc = verify_json(project)
    which = project.cli("which", model)

    assert code == 2, out + err
    lines = out.splitlines()
    assert lines[0].split()[:4] == [category, env_key, "-", path], out
    assert lines[1].split()[:2] == ["zero_byte", other], out  # after it, whatever the order
    summary = (
        f"{env_key}: env missing: "
        if how == "env folder deleted"
        else f"{env_key}: env broken (1 {category})"
    )
    assert any(line.startswith(summary) for line in lines), out
    envs = envs_of(doc)
    assert envs[env_key]["status"] == "problems"
    first = envs[env_key]["findings"][0]
    assert (first["category"], first["path"], first["dist"]) == (category, path, None)
    assert next(iter(envs[env_key]["counts"])) == category
    assert doc["summary"]["env_findings"] == 1
    assert "internal error" not in err
    if category in ("activation_missing", "env_moved"):  # activating breaks; python runs
        assert which.returncode == 0, which.stderr
    else:
        assert which.returncode == 1, which.stdout


# -- paths the user may not read: findings or one sentence, never "internal error" ----------

NOBODY = ("--reuid=65534", "--regid=65534", "--clear-groups")


def as_nobody(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    """Run reconcile in the project folder as the unprivileged user ``nobody`` (root reads
    every file whatever its mode); skip when this machine cannot."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv (util-linux) to run reconcile as another user")
    for folder in (project.folder, *project.folder.parents):  # pytest's folders are 0o700
        if folder.stat().st_uid == 0 and folder.stat().st_mode & 0o001 == 0:
            folder.chmod(folder.stat().st_mode | 0o001)
    env = {**os.environ, "HOME": str(project.folder), "RECONCILE_NO_PLAN_CACHE": "1"}
    env.pop("UV_CACHE_DIR", None)  # the test's own, which nobody may not enter
    argv = [setpriv, *NOBODY, sys.executable, "-m", "reconciler", *args]
    probe = subprocess.run(
        [setpriv, *NOBODY, sys.executable, "-c", "import reconciler"],
        capture_output=True,
        cwd=project.folder,
        env=env,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip(f"nobody cannot run this reconcile: {probe.stderr.decode()[-300:]}")
    return subprocess.run(
        argv, capture_output=True, text=True, cwd=project.folder, env=env, check=False, timeout=600
    )


def _python_in_a_closed_folder(project: Project, legacy: Path) -> str:
    closed = project.folder / "closed"
    closed.mkdir()
    python = POSIX_VENV.interpreter(legacy)
    real = python.resolve()
    python.unlink()
    shutil.copy2(real, closed / "python")
    python.symlink_to(closed / "python")
    closed.chmod(0o700)
    return "legacy"


def _generation_closed(project: Project, legacy: Path) -> str:
    (project.root / "serving").resolve().chmod(0o000)
    return "serving"


def _generations_of_env_closed(project: Project, legacy: Path) -> str:
    (project.root / layout.GENERATIONS / "serving").chmod(0o000)
    return "serving"


CLOSED: dict[str, Callable[[Project, Path], str]] = {
    # what the user may not read -> the env it breaks
    "adopted bin/python links into a closed folder": _python_in_a_closed_folder,
    "the live generation is mode 000": _generation_closed,
    "the env's generations folder is mode 000": _generations_of_env_closed,
}


@pytest.mark.parametrize("command", ["verify", "plan", "status"])
@pytest.mark.parametrize("how", sorted(CLOSED))
def test_a_path_the_user_may_not_read_is_a_finding_never_an_internal_error(
    project: Project, how: str, command: str
) -> None:
    legacy = with_adopted(project)
    broken = CLOSED[how](project, legacy)

    done = as_nobody(project, command)

    assert "internal error" not in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    if command == "verify":
        assert done.returncode == 2, done.stderr
        (line,) = [
            line
            for line in done.stdout.splitlines()
            if line.split()[:2] == ["interpreter_broken", broken]
        ]
        assert line.endswith("the interpreter cannot be looked at (Permission denied)"), line
        if broken == "serving":  # its files cannot be listed either: said once, not a crash
            assert "serving: env broken (" in done.stdout
            assert "cannot be read (Permission denied)" in done.stdout
    elif command == "plan":
        assert done.returncode == 0, done.stderr
        assert "interpreter_broken" in done.stdout + done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert "interpreter_broken" in done.stdout, done.stdout
