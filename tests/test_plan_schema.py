"""docs/plan.schema.json: the JSON Schema of the plan document (format_version 1).

Every plan the suite makes is checked against it as it is made (tests/conftest.py: in-process
documents, and those `reconcile plan` prints or saves in Project.cli); here: the schema is a
valid Draft 2020-12 schema, the golden plans match it, and it does reject what is not a plan.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.app import main
from tests.apply_helpers import SERVING, relock, setup
from tests.helpers import Project
from tests.plan_schema import PLANS_CHECKED, SCHEMA_PATH, problems, validator

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    return document


def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_in_docs() -> None:
    assert SCHEMA_PATH.parent.name == "docs"
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert validator() is not None  # check_schema passed


@pytest.mark.parametrize("name", ["plan_full.json", "plan_no_change.json"])
def test_the_golden_plans_match_the_schema(name: str) -> None:
    assert problems(golden(name)) == []


CHANGE = {"package": "a", "old": None, "new": "1.0", "change": "added", "direct": True}
"""One package change of a diff step, as `reconcile diff` writes it."""


def test_a_diff_step_with_package_changes_matches_the_schema() -> None:
    doc = copy.deepcopy(golden("plan_full.json"))
    doc["steps"][0]["changes"] = [CHANGE, CHANGE | {"package": "b", "direct": False}]
    assert problems(doc) == []


def _broken(edit: str) -> dict[str, Any]:
    doc = copy.deepcopy(golden("plan_full.json"))
    first = doc["steps"][0]
    model = next(s for s in doc["steps"] if s["kind"] == "model")
    match edit:
        case "unknown_action":
            first["action"] = "upgrade"
        case "env_action_on_a_model":
            model["action"] = "create"
        case "no_reasons":
            first["reasons"] = []
        case "reason_not_snake_case":
            first["reasons"] = ["Files Corrupted"]
        case "absolute_manifest":
            doc["manifest"] = "/srv/models/envs.toml"
        case "summary_missing_forget":
            del doc["summary"]["forget"]
        case "other_format_version":
            doc["format_version"] = "2"
        case "model_field_on_an_env_step":
            first["to_env"] = "x"
        case "undocumented_field":
            doc["generated_at"] = "2026-11-23T00:00:00Z"
        case "change_without_direct":
            first["changes"] = [{"package": "a", "old": None, "new": "1.0", "change": "added"}]
        case "change_direct_not_a_boolean":
            first["changes"] = [CHANGE | {"direct": "yes"}]
        case "fingerprint_without_targets":
            doc["fingerprint"] = {"manifest_sha256": "0" * 64, "root": "/r", "lockfiles": {}}
        case _:
            raise AssertionError(f"no such edit: {edit}")
    return doc


@pytest.mark.parametrize(
    "edit",
    [
        "unknown_action",
        "env_action_on_a_model",
        "no_reasons",
        "reason_not_snake_case",
        "absolute_manifest",
        "summary_missing_forget",
        "other_format_version",
        "model_field_on_an_env_step",
        "undocumented_field",
        "fingerprint_without_targets",
        "change_without_direct",
        "change_direct_not_a_boolean",
    ],
)
def test_the_schema_rejects_what_is_not_a_plan(edit: str) -> None:
    assert problems(_broken(edit)) != []


def test_plans_the_command_prints_and_saves_are_checked(project: Project) -> None:
    setup(project, SERVING)
    relock(project, SERVING.replace('"beta==1.0"', '"beta==2.0"'))
    before = PLANS_CHECKED[0]

    printed = project.cli("plan", "--format", "json", "--detailed-exitcode")
    saved = project.cli("plan", "--out", "p.json")
    in_process = main(["--manifest", str(project.manifest), "plan", "--format", "json"])

    assert printed.returncode == 2 and saved.returncode == 0 and in_process == 0
    assert PLANS_CHECKED[0] == before + 3
    assert problems(json.loads((project.folder / "p.json").read_text(encoding="utf-8"))) == []
