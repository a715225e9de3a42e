"""An upstream wheel whose own RECORD is wrong (issue 14): its env is built, the defect is named,
and what was installed is the generation's baseline, so a later change is still found.

End to end with the real uv and a local wheelhouse; the rule that tells a defect from a
corrupted cache (``upstream_defects``) and the baseline check of ``verify_env`` are also
tested on their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.integrity import BASELINE_DETAIL, RecordDefect
from reconciler.execute.builder import FileProblem, upstream_defects
from reconciler.observe.walk import verify_env
from reconciler.platform import POSIX_VENV
from reconciler.store import layout
from tests.apply_helpers import gen_dir, generations_of, link_of, relock, setup
from tests.helpers import Project, build_env, require_python
from tests.wheels import make_wheel

FLAWED = """\
[envs.serving]
python = "3.11"
requirements = ["flawed==1.0"]
imports = ["flawed"]

[models.chat]
env = "serving"
"""

DATA = "flawed/data.txt"
CONTENT = b"the data the wheel really ships\n"


def flawed_wheel(folder: Path, how: Literal["sha256", "size"]) -> None:
    make_wheel(
        folder,
        "flawed",
        "1.0",
        files={"flawed/__init__.py": "VERSION = '1.0'\n", DATA: CONTENT},
        wrong_record={DATA: how},
    )


def site(project: Project, env_key: str = "serving") -> Path:
    return next((project.root / env_key).resolve().glob("lib/python*/site-packages"))


def data_rel(project: Project) -> str:
    live = (project.root / "serving").resolve()
    return (site(project) / DATA).relative_to(live).as_posix()


def receipt(project: Project, gen_id: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        layout.receipt_path(gen_dir(project, "serving", gen_id)).read_text()
    )
    return document


def record_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def verify_doc(project: Project) -> tuple[int, dict[str, Any]]:
    done = project.cli("verify", "--format", "json")
    assert "Traceback" not in done.stderr
    return done.returncode, json.loads(done.stdout)


# --- end to end ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["sha256", "size"])
def test_a_wheel_whose_own_record_is_wrong_is_applied_and_verify_names_the_upstream_defect(
    project: Project, how: Literal["sha256", "size"]
) -> None:
    require_python("3.11")
    flawed_wheel(project.wheels, how)
    project.write(FLAWED)
    project.lock()

    done = project.cli("apply", "--yes")

    assert done.returncode == 0, done.stderr
    assert "bad files from the cache; purging flawed" in done.stdout
    assert "upstream RECORD defect in flawed" in done.stdout
    assert "1 upstream RECORD defect kept as installed (record_defect: flawed" in done.stdout
    assert link_of(project, "serving") == ".generations/serving/g0001"
    path = data_rel(project)
    (kept,) = receipt(project, "g0001")["record_defects"]
    assert kept["dist"] == "flawed"
    assert kept["path"] == path
    assert (kept["sha256"], kept["size"]) == (record_digest(CONTENT), len(CONTENT))
    assert (kept["record_sha256"], kept["record_size"]) != (kept["sha256"], kept["size"])

    verbose = project.cli("verify", "-v")
    assert verbose.returncode == 0, verbose.stdout + verbose.stderr
    (line,) = [ln for ln in verbose.stdout.splitlines() if ln.startswith("record_defect")]
    assert line.split()[:4] == ["record_defect", "serving", "flawed", path]
    assert "upstream RECORD defect" in line
    assert ", 1 upstream RECORD defect (" in verbose.stdout
    quiet = project.cli("verify")
    assert quiet.returncode == 0
    assert "record_defect" not in quiet.stdout  # information, shown with -v only
    code, doc = verify_doc(project)
    (env,) = doc["envs"]
    assert (code, env["status"], env["findings"]) == (0, "ok", [])
    assert [d["category"] for d in env["record_defects"]] == ["record_defect"]
    assert project.cli("plan", "--detailed-exitcode").returncode == 0
    assert project.cli("which", "chat").returncode == 0


@pytest.mark.parametrize("how", ["sha256", "size"])
@pytest.mark.parametrize("change", ["same_size", "other_size"])
def test_a_change_to_a_file_with_an_upstream_record_defect_is_still_found_and_replaced(
    project: Project, how: Literal["sha256", "size"], change: str
) -> None:
    require_python("3.11")
    flawed_wheel(project.wheels, how)
    setup(project, FLAWED)
    path = data_rel(project)
    tampered = bytes(reversed(CONTENT)) if change == "same_size" else CONTENT + b"more\n"
    (site(project) / DATA).write_bytes(tampered)

    code, doc = verify_doc(project)
    text = project.cli("verify")
    plan = project.cli("plan", "--format", "json")

    assert code == 2
    (finding,) = doc["envs"][0]["findings"]
    category = "hash_mismatch" if change == "same_size" else "size_mismatch"
    assert (finding["category"], finding["dist"], finding["path"]) == (category, "flawed", path)
    # against the baseline (what reconcile installed), not against the wrong RECORD row
    assert finding["expected_size"] == len(CONTENT)
    assert BASELINE_DETAIL in finding["detail"]
    assert doc["envs"][0]["record_defects"] == []
    assert text.returncode == 2
    (line,) = [ln for ln in text.stdout.splitlines() if ln.startswith(category)]
    assert "what reconcile installed" in line
    (step,) = json.loads(plan.stdout)["steps"]
    assert (step["action"], step["reasons"]) == ("replace", ["files_corrupted"])
    assert any("record_defect" in d and path in d for d in step["details"])

    applied = project.cli("apply", "--yes")

    assert applied.returncode == 0, applied.stderr
    assert link_of(project, "serving") == ".generations/serving/g0002"
    assert (site(project) / DATA).read_bytes() == CONTENT
    assert project.cli("verify").returncode == 0
    assert project.cli("plan", "--detailed-exitcode").returncode == 0


def test_a_record_row_edited_after_the_build_is_checked_against_record_again(
    project: Project,
) -> None:
    """The baseline holds only while the row says what it said at build time: a RECORD
    edited to other values is checked as RECORD says, so an edit cannot widen what is
    accepted (here it names bytes the file does not have)."""
    require_python("3.11")
    flawed_wheel(project.wheels, "sha256")
    setup(project, FLAWED)
    record = next(site(project).glob("flawed-1.0.dist-info")) / "RECORD"
    lines = record.read_text().splitlines()
    lines = [
        f"{DATA},sha256={record_digest(b'x')},1" if ln.startswith(DATA + ",") else ln
        for ln in lines
    ]
    record.write_text("\n".join(lines) + "\n")

    code, doc = verify_doc(project)

    assert code == 2
    (finding,) = doc["envs"][0]["findings"]
    assert finding["category"] == "size_mismatch"
    assert finding["expected_size"] == 1
    assert BASELINE_DETAIL not in finding["detail"]


def test_an_adopted_env_has_no_baseline_and_its_defective_rows_stay_findings(
    project: Project,
) -> None:
    """Even with a receipt copied from a generation that accepted the defect: only what
    reconcile built under the root has a baseline."""
    require_python("3.11")
    flawed_wheel(project.wheels, "sha256")
    setup(project, FLAWED)
    path = data_rel(project)
    adopted = project.folder / "legacy"
    python = require_python("3.11")
    build_env(adopted, python, project.folder / "lockfiles" / "serving.txt", project.wheels)
    shutil.copy(layout.receipt_path(gen_dir(project, "serving", "g0001")), adopted)
    project.write(FLAWED + '\n[envs.legacy]\nadopt = "legacy"\n')

    done = project.cli("verify", "legacy")

    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = [ln for ln in done.stdout.splitlines() if ln.startswith("hash_mismatch")]
    assert line.split()[1:4] == ["legacy", "flawed", path]
    assert "differs from RECORD" in line
    assert project.cli("verify", "serving").returncode == 0


def test_a_defective_wheel_whose_cache_entry_is_also_corrupted_is_not_accepted_until_proven(
    project: Project, private_uv_cache: Path
) -> None:
    """A corrupted cache is never taken for an upstream defect: the file must be the same
    before and after the purge. Here the cache held other bytes than the wheel, so the
    first apply proves nothing and fails; the next one, from a clean cache, proves it."""
    require_python("3.11")
    flawed_wheel(project.wheels, "sha256")
    make_wheel(project.wheels, "carrier", "1.0")
    project.write(
        FLAWED.replace('["flawed==1.0"]', '["carrier==1.0"]').replace("flawed", "carrier")
    )
    project.lock()
    assert project.cli("apply", "--yes").returncode == 0
    # Put flawed into the cache, then corrupt its data file there.
    relock(project, FLAWED)
    (cached,) = private_uv_cache.glob("archive-v0/*/flawed/data.txt")
    cached.write_bytes(b"rotten\n")
    cached.chmod(0o644)

    first = project.cli("apply", "--yes")

    assert first.returncode == 1
    assert "bad files from the cache; purging flawed" in first.stdout
    assert "failed verification" in first.stderr
    assert generations_of(project, "serving") == ["g0001"]

    second = project.cli("apply", "--yes")

    assert second.returncode == 0, second.stderr
    assert "upstream RECORD defect in flawed" in second.stdout
    assert (site(project) / DATA).read_bytes() == CONTENT


# --- the rule and the check on their own ---------------------------------------------------

DEFECT = RecordDefect(
    "flawed", "lib/python3.11/site-packages/flawed/data.txt", "A" * 43, 3, "B" * 43, 4
)


def problem(defect: RecordDefect | None, category: str = "integrity") -> FileProblem:
    return FileProblem(category, "flawed", "hash_mismatch: x", defect)


def test_the_same_bytes_before_and_after_the_purge_prove_an_upstream_defect() -> None:
    assert upstream_defects([problem(DEFECT)], [problem(DEFECT)]) == (DEFECT,)


@given(
    sha256=st.sampled_from(["B" * 43, "C" * 43]),
    size=st.integers(0, 5),
    extra=st.sampled_from(["none", "missing", "health", "other_file"]),
)
def test_anything_but_the_same_bad_bytes_after_the_purge_proves_nothing(
    sha256: str, size: int, extra: str
) -> None:
    after_defect = RecordDefect(DEFECT.dist, DEFECT.path, "A" * 43, 3, sha256, size)
    after = [problem(after_defect)]
    if extra == "missing":
        after.append(problem(None))
    elif extra == "health":
        after.append(problem(None, "health"))
    elif extra == "other_file":
        after.append(problem(RecordDefect("flawed", "other.py", "A" * 43, 3, "B" * 43, 4)))
    proven = upstream_defects([problem(DEFECT)], after)
    if after_defect == DEFECT and extra == "none":
        assert proven == (DEFECT,)
    else:
        assert proven == ()


def test_nothing_wrong_after_the_purge_is_no_defect_at_all() -> None:
    """A corrupted cache healed by the purge: nothing to accept."""
    assert upstream_defects([problem(DEFECT)], []) == ()


def _env_with_defect(tmp_path: Path) -> tuple[Path, RecordDefect]:
    env = tmp_path / "env"
    site_dir = env / "lib" / "python3.11" / "site-packages"
    (site_dir / "flawed").mkdir(parents=True)
    (site_dir / "flawed" / "data.txt").write_bytes(CONTENT)
    dist_info = site_dir / "flawed-1.0.dist-info"
    dist_info.mkdir()
    wrong = record_digest(b"not " + CONTENT)
    (dist_info / "RECORD").write_text(
        f"flawed/data.txt,sha256={wrong},{len(CONTENT)}\nflawed-1.0.dist-info/RECORD,,\n"
    )
    path = "lib/python3.11/site-packages/flawed/data.txt"
    return env, RecordDefect(
        "flawed", path, wrong, len(CONTENT), record_digest(CONTENT), len(CONTENT)
    )


@pytest.mark.parametrize("deep", [False, True])
def test_verify_env_checks_a_baseline_row_against_what_was_installed(
    tmp_path: Path, deep: bool
) -> None:
    env, defect = _env_with_defect(tmp_path)

    without = verify_env(env, workers=1, venv=POSIX_VENV)
    accepted = verify_env(env, workers=1, baseline=[defect], deep=deep, venv=POSIX_VENV)
    other_dist = verify_env(
        env,
        workers=1,
        baseline=[RecordDefect("other", *list(vars(defect).values())[1:])],
        venv=POSIX_VENV,
    )

    assert [f.category for f in without.findings] == ["hash_mismatch"]
    assert accepted.findings == ()
    assert [(d.category, d.path) for d in accepted.record_defects] == [
        ("record_defect", defect.path)
    ]
    assert [f.category for f in other_dist.findings] == ["hash_mismatch"]
    (env / defect.path).write_bytes(bytes(reversed(CONTENT)))
    changed = verify_env(env, workers=1, baseline=[defect], deep=deep, venv=POSIX_VENV)
    (finding,) = changed.findings
    assert (finding.category, finding.expected_sha256) == ("hash_mismatch", defect.sha256)
    assert changed.record_defects == ()
