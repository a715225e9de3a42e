"""Unit tests of what plan does with an adopted env that broke (issue 16): which bad adopt
paths are manifest errors (never applied there) and which are reality (applied there, broken
since); the warning's text, its files listed and counted, its wrapping; the rebind detail."""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.adopted import adopted_warning, unusable
from reconciler.core.facts import EnvHealth, Finding
from reconciler.core.plan import Observed, build_plan
from reconciler.observe.adoption import adopt_problems
from reconciler.report.plan import WARNING_WIDTH, render_text
from reconciler.spec.manifest import LoadedManifest, parse_manifest

BODY = """\
[envs.legacy]
adopt = "venvs/legacy"

[models.m]
env = "legacy"
"""


def _loaded(tmp_path: Path, body: str = BODY) -> LoadedManifest:
    path = tmp_path / "envs.toml"
    path.write_text(body, encoding="utf-8")
    return LoadedManifest(path, body, parse_manifest(body, "envs.toml"), tmp_path / ".envs")


def _applied(tmp_path: Path, folder: str = "venvs/legacy") -> dict[str, str]:
    return {"legacy": os.path.normpath(tmp_path / folder)}


def test_a_vanished_or_broken_folder_applied_there_is_no_manifest_error(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path)
    assert adopt_problems(loaded, _applied(tmp_path)) == []  # gone
    (tmp_path / "venvs/legacy").mkdir(parents=True)
    assert adopt_problems(loaded, _applied(tmp_path)) == []  # no pyvenv.cfg


def test_a_bad_folder_never_applied_there_is_a_manifest_error(tmp_path: Path) -> None:
    loaded = _loaded(tmp_path)
    for applied in ({}, _applied(tmp_path, "venvs/elsewhere")):
        [problem] = adopt_problems(loaded, applied)
        assert (problem.line, problem.key_path) == (2, "envs.legacy.adopt")
        assert problem.message.endswith(
            "does not exist; fix the path, or remove the env from the manifest to forget it"
        )


def test_an_applied_folder_inside_the_root_or_another_env_stays_an_error(tmp_path: Path) -> None:
    inside = _loaded(tmp_path, BODY.replace("venvs/legacy", ".envs/legacy"))
    twin = _loaded(tmp_path, BODY + '\n[envs.twin]\nadopt = "venvs/legacy"\n')
    applied = {"legacy": os.path.normpath(tmp_path / ".envs/legacy")}
    twins = {**_applied(tmp_path), "twin": os.path.normpath(tmp_path / "venvs/legacy")}

    [problem] = adopt_problems(inside, applied)
    [clash] = adopt_problems(twin, twins)

    assert "is inside the root" in problem.message
    assert "is the same folder as env legacy's" in clash.message


def _files(count: int) -> EnvHealth:
    named = [
        Finding("files_corrupted", f"hash_mismatch lib/python3.11/site-packages/pkg/m{i}.py")
        for i in range(min(count, 10))
    ]
    more = [Finding("files_corrupted", f"and {count - 10} more; see `reconcile verify`")]
    return EnvHealth("legacy", True, tuple(named + (more if count > 10 else [])), count)


def test_the_warning_names_three_files_counts_the_rest_and_points_to_verify() -> None:
    warning = adopted_warning("legacy", "venvs/legacy", _files(40))

    assert warning.startswith(
        "adopted env legacy (venvs/legacy) is unhealthy: 40 files are corrupted "
        "(hash_mismatch lib/python3.11/site-packages/pkg/m0.py, "
    )
    assert "m2.py and 37 more)" in warning
    assert "m3.py" not in warning
    assert warning.endswith("`reconcile verify legacy` lists every finding.")
    assert len(warning) < 400


def test_one_corrupted_file_is_named_alone() -> None:
    warning = adopted_warning("legacy", "venvs/legacy", _files(1))
    assert "1 file is corrupted (hash_mismatch lib/python3.11/site-packages/pkg/m0.py)" in warning


def test_an_env_that_cannot_start_is_unusable_and_says_what_to_do() -> None:
    gone = EnvHealth("legacy", exists=False, findings=(Finding("missing", ""),))
    no_cfg = EnvHealth("legacy", True, (Finding("pyvenv_cfg_missing", "pyvenv.cfg is missing"),))
    probe = EnvHealth("legacy", True, (Finding("probe_failed", "import x: no"),))

    assert unusable(gone) and unusable(no_cfg) and not unusable(probe)
    assert "cannot be used: its folder does not exist. " in adopted_warning("legacy", "v", gone)
    assert "cannot be used: pyvenv.cfg is missing. " in adopted_warning("legacy", "v", no_cfg)
    assert "fix or recreate the venv" in adopted_warning("legacy", "v", no_cfg)
    assert "is unhealthy: import x: no. " in adopted_warning("legacy", "v", probe)


def _observed(health: EnvHealth, bindings: dict[str, str]) -> Observed:
    return Observed(
        health={"legacy": health, "work": EnvHealth("work", True)},
        orphans={},
        bindings=bindings,
        adopted=frozenset({"legacy"}),
    )


def test_a_model_moving_to_an_unusable_adopted_env_is_rebound_with_a_detail_saying_so(
    tmp_path: Path,
) -> None:
    body = BODY + '\n[envs.work]\npython = "3.11"\nrequirements = []\n'
    manifest = _loaded(tmp_path, body).manifest
    gone = EnvHealth("legacy", exists=False, findings=(Finding("missing", ""),))

    moved = build_plan(manifest, _observed(gone, {"m": "work"}), {})
    healthy = build_plan(manifest, _observed(EnvHealth("legacy", True), {"m": "work"}), {})

    [step] = moved.steps
    assert (step.id, step.to_env, step.reasons) == ("model.m", "legacy", ("env_changed",))
    assert step.details == (
        "legacy is an adopted env that cannot be used (see the warning): the model runs on "
        "its fallback, if any, until the venv is fixed",
    )
    assert healthy.steps[0].details == ()
    assert build_plan(manifest, _observed(gone, {"m": "legacy"}), {}).steps == ()


def test_text_wraps_a_long_warning_and_json_keeps_it_whole() -> None:
    warning = adopted_warning("legacy", "venvs/legacy", _files(40))
    doc = {"steps": [], "warnings": [warning], "summary": {}}

    lines = render_text(doc).plain.splitlines()

    assert lines[0].startswith("Warning: adopted env legacy")
    assert all(len(line) <= WARNING_WIDTH for line in lines)
    assert " ".join(" ".join(lines[:-2]).split()) == "Warning: " + warning
