"""`apply` carries on past a failed env (as Terraform does): every step that does not depend
on the failure is done, the steps that do are skipped, and apply exits 1 naming both; the
next plan shows exactly what is left. Real uv, real venvs, a local wheelhouse."""

from __future__ import annotations

import json

import pytest

from reconciler.observe.inputs import load_manifest
from reconciler.spec.lockfile import GENERATED_PREFIX, inputs_line, lock_inputs, seal
from reconciler.store import layout
from tests.apply_helpers import error_lines, generations_of, link_of, plan_json
from tests.helpers import Project, require_python
from tests.wheels import wheel_sha256

pytestmark = pytest.mark.slow

GOOD = """
[envs.good]
python = "3.11"
requirements = ["gamma==1.0"]
imports = ["gamma"]

[models.m-good]
env = "good"
"""

BAD = """
[envs.bad]
python = "3.11"
requirements = ["beta==1.0"]
imports = ["beta", "no_such_module"]

[models.m-bad]
env = "bad"
"""

FAR = """
[envs.far]
python = "3.11"
requirements = ["beta==1.0"]

[envs.far.sources]
index_url = "http://127.0.0.1:9/simple"
no_index = false

[models.m-far]
env = "far"
"""


def _bindings(project: Project) -> dict[str, str]:
    path = layout.bindings_path(project.root)
    found: dict[str, str] = json.loads(path.read_text())["bindings"]
    return found


def _pending(project: Project) -> list[tuple[str, str]]:
    return [(s["id"], s["action"]) for s in plan_json(project)["steps"]]


def test_an_env_that_fails_its_build_leaves_the_other_env_built_and_its_model_bound(
    project: Project,
) -> None:
    require_python("3.11")
    project.write(GOOD + BAD)
    assert project.cli("lock").returncode == 0

    done = project.cli("apply", "--yes")

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    (error, *_) = error_lines(done.stderr)
    assert error.startswith("error: env bad failed: the new generation of bad failed verification")
    assert "no_such_module" in error
    assert [line for line in done.stderr.splitlines() if line.startswith("error:")] == [error]
    assert done.stdout.splitlines()[-1] == (
        "Apply failed: 1 failed (env bad), 1 skipped (model m-bad: it depends on env bad), "
        "2 done (1 created, 1 rebound). Fix what failed and apply again: `reconcile plan` "
        "shows what is left."
    )
    assert link_of(project, "good") == ".generations/good/g0001"
    assert not (project.root / "bad").exists()
    assert generations_of(project, "bad") == []
    assert _bindings(project) == {"m-good": "good"}
    assert project.cli("which", "m-good").returncode == 0
    assert _pending(project) == [("env.bad", "create"), ("model.m-bad", "rebind")]

    project.write(GOOD + BAD.replace(', "no_such_module"', ""))  # fixed: the rest converges
    again = project.cli("apply", "--yes")

    assert again.returncode == 0, again.stdout + again.stderr
    assert "Apply complete: 1 created, 1 rebound." in again.stdout
    assert link_of(project, "good") == ".generations/good/g0001"  # not rebuilt
    assert _bindings(project) == {"m-bad": "bad", "m-good": "good"}
    assert _pending(project) == []


def _lock_by_hand(project: Project, env_key: str, pins: dict[str, str]) -> None:
    """The lockfile `reconcile lock` would write for ``env_key``, whose index cannot be
    reached: the pins (name==version -> wheel) with their hashes, under its inputs line."""
    loaded = load_manifest(project.manifest)
    spec = loaded.manifest.envs[env_key]
    header = (
        f'{GENERATED_PREFIX}"{env_key}"; do not edit by hand.\n'
        f"{inputs_line(lock_inputs(spec, loaded.manifest.sources_for(env_key)))}\n"
    )
    body = "".join(
        f"{pin} \\\n    --hash=sha256:{wheel_sha256(project.wheels / wheel)}\n"
        for pin, wheel in pins.items()
    )
    path = loaded.lockfile_path(env_key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(seal(header + body), encoding="utf-8")


def test_an_unreachable_index_fails_its_env_in_one_sentence_and_the_other_env_is_applied(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # port 9 refuses at once; do not retry it
    require_python("3.11")
    project.write(GOOD + FAR)
    assert project.cli("lock", "good").returncode == 0
    _lock_by_hand(project, "far", {"beta==1.0": "beta-1.0-py3-none-any.whl"})
    assert _pending(project) == [
        ("env.far", "create"),
        ("env.good", "create"),
        ("model.m-far", "rebind"),
        ("model.m-good", "rebind"),
    ]

    done = project.cli("apply", "--yes")

    assert done.returncode == 1, done.stdout + done.stderr
    assert error_lines(done.stderr) == [
        "error: env far failed: cannot reach the package index while installing the lockfile "
        "for far (http://127.0.0.1:9/simple/beta/: Connection refused): check the network and "
        "the sources in envs.toml."
    ]
    assert link_of(project, "good") == ".generations/good/g0001"
    assert _bindings(project) == {"m-good": "good"}
    assert _pending(project) == [("env.far", "create"), ("model.m-far", "rebind")]
