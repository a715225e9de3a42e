"""The JSON Schema of the plan document (docs/plan.schema.json), for the tests' checks."""

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
