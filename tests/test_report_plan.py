"""Golden files for the three plan renderings, and the rules they must keep (SPEC 5).

The goldens live in tests/golden/. After an intended change of the output, rewrite them with
``RECONCILE_UPDATE_GOLDEN=1 python -m pytest tests/test_report_plan.py`` and review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.app import main
from reconciler.core.facts import EnvHealth, Finding
from reconciler.core.plan import Observed, Plan, build_plan
from reconciler.report.document import FORMAT_VERSION, plan_document
from reconciler.report.plan import (
    NO_CHANGES,
    render_json,
    render_markdown,
    render_text,
    summary_line,
)
from reconciler.spec.manifest import parse_manifest

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("RECONCILE_UPDATE_GOLDEN") == "1"

MANIFEST = parse_manifest(
    """\
[envs.new]
python = "3.11"

[envs.tools]
python = "3.12"

[envs.ok]
python = "3.11"

[envs.legacy]
adopt = "environments/legacy/.venv"

[models.m-new]
env = "new"

[models.m-moved]
env = "new"

[models.m-retired]
env = "ok"
""",
    "envs.toml",
)

HEALTHY = {key: EnvHealth(key, exists=True) for key in ("new", "tools", "ok", "legacy")}

FULL = Observed(
    health={
        **HEALTHY,
        "new": EnvHealth("new", exists=False, findings=(Finding("missing", ""),)),
        "tools": EnvHealth(
            "tools",
            exists=True,
            findings=(
                Finding("python_changed", "Python 3.11.7 installed, 3.12 declared"),
                Finding("env_moved", "made for /home/alice/proj/.envs/tools, now at /srv/envs/t"),
                Finding(
                    "base_interpreter_missing", r"the base interpreter folder C:\Py\3.12 is gone"
                ),
                Finding("packages_drifted", "extra: left|pad 1.0"),
            ),
        ),
        "legacy": EnvHealth(
            "legacy",
            exists=True,
            findings=(Finding("probe_failed", "import torch: /opt/legacy/.venv/bin/python died"),),
        ),
    },
    orphans={"old": True, "stray": False},
    bindings={"m-moved": "old", "m-gone": "old", "m-retired": "retired"},
    adopted=frozenset({"retired"}),
)

NO_CHANGE = Observed(
    health=HEALTHY,
    orphans={},
    bindings={"m-new": "new", "m-moved": "new", "m-retired": "ok"},
    adopted=frozenset({"legacy"}),
)


def document(observed: Observed) -> dict[str, Any]:
    """The plan document, with the tool version pinned so a release does not churn goldens."""
    plan = build_plan(MANIFEST, observed, {"new": 3, "tools": 12})
    doc = plan_document(plan, "envs.toml")
    doc["tool"]["version"] = "0.0.0"
    return doc


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(actual, encoding="utf-8", newline="\n")
    assert path.is_file(), f"{path} is missing: run with RECONCILE_UPDATE_GOLDEN=1 to write it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs; rerun with RECONCILE_UPDATE_GOLDEN=1 if intended"


RENDERERS = {
    "txt": lambda doc: render_text(doc).plain,
    "md": render_markdown,
    "json": render_json,
}
CASES = {"full": FULL, "no_change": NO_CHANGE}


@pytest.mark.parametrize("suffix", sorted(RENDERERS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_renders_exactly_as_its_golden_file(case: str, suffix: str) -> None:
    check_golden(f"plan_{case}.{suffix}", RENDERERS[suffix](document(CASES[case])))


def test_the_full_plan_has_every_action_details_and_warnings() -> None:
    doc = document(FULL)
    assert {s["action"] for s in doc["steps"]} == {
        "create",
        "replace",
        "delete",
        "rebind",
        "unbind",
        "forget",
    }
    assert any(s["details"] for s in doc["steps"])
    assert len(doc["warnings"]) == 2


def test_text_ends_with_the_summary_line_after_any_warning() -> None:
    text = render_text(document(FULL)).plain
    assert text.endswith(
        "\nPlan: 1 to create, 1 to replace, 1 to delete, 3 to rebind. "
        "Also 1 to unbind, 1 to forget.\n"
    )
    assert text.index("Warning: ") < text.index("Plan: ")


def test_text_of_a_plan_without_changes_ends_with_the_no_changes_line() -> None:
    assert render_text(document(NO_CHANGE)).plain == NO_CHANGES + "\n"
    warned = plan_document(Plan(steps=(), warnings=("careful",)), "envs.toml")
    assert render_text(warned).plain == f"Warning: careful\n\n{NO_CHANGES}\n"
    assert NO_CHANGES == "No changes. Environments match envs.toml."


@pytest.mark.parametrize(
    ("counts", "line"),
    [
        (
            {"create": 1, "replace": 2, "delete": 3, "rebind": 4, "unbind": 0, "forget": 0},
            "Plan: 1 to create, 2 to replace, 3 to delete, 4 to rebind.",
        ),
        (
            {"create": 0, "replace": 0, "delete": 0, "rebind": 1, "unbind": 2, "forget": 0},
            "Plan: 0 to create, 0 to replace, 0 to delete, 1 to rebind. Also 2 to unbind.",
        ),
        (
            {"create": 0, "replace": 0, "delete": 1, "rebind": 0, "unbind": 0, "forget": 1},
            "Plan: 0 to create, 0 to replace, 1 to delete, 0 to rebind. Also 1 to forget.",
        ),
    ],
    ids=["spec_line", "with_unbind", "with_forget"],
)
def test_summary_line_appends_unbind_and_forget_only_when_present(
    counts: dict[str, int], line: str
) -> None:
    assert summary_line(counts) == line


ABSOLUTE = re.compile(r"(?:^|[\s(=,:`])(?:/[\w.-]|[A-Za-z]:\\)")


def test_markdown_holds_no_absolute_path_even_when_details_do() -> None:
    doc = document(FULL)
    raw = json.dumps(doc)
    assert "/home/alice/proj" in raw
    assert "C:\\\\Py" in raw
    markdown = render_markdown(doc)
    assert ABSOLUTE.search(markdown) is None, ABSOLUTE.search(markdown)
    assert "made for .../tools, now at .../t" in markdown
    assert "the base interpreter folder .../3.12 is gone" in markdown
    assert "import torch: .../python died" in markdown


def test_markdown_escapes_table_pipes_and_has_no_timestamp() -> None:
    markdown = render_markdown(document(FULL))
    assert "extra: left\\|pad 1.0" in markdown
    assert re.search(r"\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}", markdown) is None
    assert render_markdown(document(FULL)) == markdown


def test_json_is_the_versioned_document_itself() -> None:
    doc = document(FULL)
    rendered = render_json(doc)
    assert json.loads(rendered) == doc
    assert doc["format_version"] == FORMAT_VERSION == "1"
    assert set(doc["steps"][0]) >= {"id", "action", "target", "reasons", "depends_on"}
    assert doc["summary"] == {
        "create": 1,
        "replace": 1,
        "delete": 1,
        "rebind": 3,
        "unbind": 1,
        "forget": 1,
    }
    assert "fingerprint" not in doc
    assert plan_document(Plan(()), "envs.toml", {"manifest_sha256": "x"})["fingerprint"] == {
        "manifest_sha256": "x"
    }


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("text", NO_CHANGES + "\n"),
        ("markdown", f"### reconcile plan for `envs.toml`\n\n**{NO_CHANGES}**\n"),
    ],
)
def test_cli_plan_prints_no_changes_for_a_manifest_without_envs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, expected: str
) -> None:
    manifest = tmp_path / "envs.toml"
    manifest.write_text("version = 1\n", encoding="utf-8")
    code = main(["--manifest", str(manifest), "--no-color", "plan", "--format", fmt])
    out, err = capsys.readouterr()
    assert (code, out, err) == (0, expected, "")
    code = main(["--manifest", str(manifest), "plan", "--format", "json", "--detailed-exitcode"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["has_changes"] is False
    assert not (tmp_path / ".envs").exists()
