"""The JSON Schema of the plan document (docs/plan.schema.json), for the tests' checks, and a
count of the plan documents checked in this session."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "docs" / "plan.schema.json"


@cache
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def problems(document: Any) -> list[str]:
    """Where ``document`` breaks the schema, one line each (empty when it is valid)."""
    found = validator().iter_errors(document)
    return sorted(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in found)


def check_plan(document: Any) -> None:
    """Fail the test when ``document`` is not a valid plan document."""
    wrong = problems(document)
    assert not wrong, "plan document breaks docs/plan.schema.json:\n" + "\n".join(wrong)


PLANS_CHECKED: list[int] = [0]
"""How many plan documents the schema check has seen in this test session."""


def check_plans_of(args: tuple[str, ...], stdout: str, folder: Path) -> None:
    """Check the plan documents a successful ``reconcile plan`` or ``diff`` printed or saved."""
    words = list(args)
    if "--format" in words and words[words.index("--format") + 1] == "json" and stdout:
        check_plan(json.loads(stdout))
        PLANS_CHECKED[0] += 1
    if "--out" in words:
        saved = folder / words[words.index("--out") + 1]
        if saved.is_file():
            check_plan(json.loads(saved.read_text(encoding="utf-8")))
            PLANS_CHECKED[0] += 1
