"""Table tests of what `reconcile diff` tells a reviewer about each package change: whether
it is one of the env's own requirements (direct) or pulled in by another package
(transitive), and how the text, markdown and JSON show it (issue 17)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from reconciler.core.diffplan import diff_plan
from reconciler.report.document import diff_document
from reconciler.report.plan import COLLAPSE_AFTER, render_json, render_markdown, render_text
from reconciler.spec.lockdiff import PackageChange, mark_direct, requirement_names
from tests.diff_helpers import lock, side

# --- the decision -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requirement", "name"),
    [
        ("Foo_Bar==1.0", "foo-bar"),
        ("foo.bar>=1", "foo-bar"),
        ("FOO-BAR", "foo-bar"),
        ("torch[cuda,extra]==2.4.0", "torch"),
        ('pywin32>=300; sys_platform == "win32"', "pywin32"),
        ("local @ https://example.invalid/local-1.0-py3-none-any.whl", "local"),
    ],
)
def test_a_requirement_names_its_package_by_canonical_name(requirement: str, name: str) -> None:
    assert requirement_names([requirement]) == {name}


def test_removed_packages_are_judged_against_base_and_the_others_against_head() -> None:
    changes = (
        PackageChange("asked-then", "1.0", None, "removed"),
        PackageChange("asked-now", None, "1.0", "added"),
        PackageChange("pulled-in", "1.0", "2.0", "upgraded"),
        PackageChange("was-asked", "1.0", "2.0", "upgraded"),
    )
    marked = mark_direct(changes, ["Asked_Then", "was-asked==1.0"], ["asked.now[x]"])
    assert [(c.name, c.direct) for c in marked] == [
        ("asked-then", True),  # BASE asked for it; HEAD no longer has it
        ("asked-now", True),
        ("pulled-in", False),
        ("was-asked", False),  # BASE asked for it, HEAD only needs it for another package
    ]


def test_a_package_removed_that_only_head_asks_for_is_transitive() -> None:
    (change,) = mark_direct([PackageChange("gone", "1.0", None, "removed")], [], ["gone"])
    assert not change.direct


def test_a_requirement_absent_from_the_lockfile_marks_nothing() -> None:
    """A requirement whose marker holds on no platform locked for is not pinned at all."""
    base = side('[envs.x]\npython = "3.11"\nrequirements = ["six"]\n', {"x": lock("six==1.16.0")})
    head = side(
        '[envs.x]\npython = "3.11"\n'
        'requirements = ["six", "pywin32; sys_platform == \'win32\'", "Six_Helper[fast]>=1"]\n',
        {"x": lock("six==1.17.0", "six-helper==1.0", "fast-dep==0.1")},
    )
    (step,) = diff_plan(base, head).steps
    assert [(c.name, c.change, c.direct) for c in step.changes] == [
        ("fast-dep", "added", False),  # what an extra brings is still transitive
        ("six", "upgraded", True),
        ("six-helper", "added", True),
    ]


def test_a_new_env_marks_its_requirements_among_every_package_added() -> None:
    head = side(
        '[envs.vision]\npython = "3.11"\nrequirements = ["Pillow==10.4.0"]\n',
        {"vision": lock("pillow==10.4.0", "olefile==0.47")},
    )
    (step,) = diff_plan(side("", {}), head).steps
    assert step.action == "create"
    assert [(c.name, c.direct) for c in step.changes] == [("olefile", False), ("pillow", True)]


# --- rendering --------------------------------------------------------------------------------

BASE = '[envs.serving]\npython = "3.11"\nrequirements = ["torch==2.3.1", "gone==1.0"]\n'
BASE_LOCK = lock("torch==2.3.1", "filelock==3.0", "gone==1.0", "sympy==1.12")
HEAD = '[envs.serving]\npython = "3.11"\nrequirements = ["torch==2.4.0", "numpy"]\n'
HEAD_LOCK_PINS = ("torch==2.4.0", "filelock==3.1", "numpy==2.0.0", "sympy==1.13")
HEAD_LOCK = lock(*HEAD_LOCK_PINS)


def document(head_lock: Any = HEAD_LOCK) -> dict[str, Any]:
    plan = diff_plan(side(BASE, {"serving": BASE_LOCK}), side(HEAD, {"serving": head_lock}))
    return diff_document(plan, "envs.toml", "git:main", "envs.toml")


def test_markdown_shows_a_short_package_table_open_with_direct_changes_first() -> None:
    text = render_markdown(document())
    table = text[text.index("#### Package changes (5 in 1 env)") :]
    assert "<details>" not in table.split("<details><summary>Details")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert rows == [
        "| `gone` | 1.0 |  | removed | direct |",
        "| `numpy` |  | 2.0.0 | added | direct |",
        "| `torch` | 2.3.1 | 2.4.0 | upgraded | direct |",
        "| `filelock` | 3.0 | 3.1 | upgraded | transitive |",
        "| `sympy` | 1.12 | 1.13 | upgraded | transitive |",
    ]
    assert "| package | old | new | change | requirement |" in table


@pytest.mark.parametrize(
    ("extra", "folded"), [(COLLAPSE_AFTER - 5, False), (COLLAPSE_AFTER - 4, True)]
)
def test_markdown_folds_a_package_table_only_past_collapse_after_rows(
    extra: int, folded: bool
) -> None:
    pins = [f"dep{n:02}==1.0" for n in range(extra)]
    text = render_markdown(document(lock(*HEAD_LOCK_PINS, *pins)))
    rows = 5 + extra  # COLLAPSE_AFTER rows stay open, one more is folded
    summary = f"<details><summary>Show the {rows} package changes (3 direct)</summary>"
    assert (summary in text) is folded
    visible = re.sub(r"<details>.*?</details>", "", text, flags=re.DOTALL)
    assert ("| `torch` | 2.3.1 | 2.4.0 | upgraded | direct |" in visible) is not folded


def test_text_lists_direct_changes_first_and_marks_every_one() -> None:
    text = render_text(document()).plain
    assert (
        "        - gone 1.0 (direct)\n"
        "        + numpy 2.0.0 (direct)\n"
        "        ~ torch 2.3.1 -> 2.4.0 (direct)\n"
        "        ~ filelock 3.0 -> 3.1 (transitive)\n"
        "        ~ sympy 1.12 -> 1.13 (transitive)\n"
    ) in text


def test_json_carries_direct_on_every_change_in_name_order() -> None:
    (step,) = json.loads(render_json(document()))["steps"]
    assert [(c["package"], c["direct"]) for c in step["changes"]] == [
        ("filelock", False),
        ("gone", True),
        ("numpy", True),
        ("sympy", False),
        ("torch", True),
    ]


def test_the_counts_left_in_a_shortened_comment_say_how_many_are_direct() -> None:
    body = "".join(
        f'[envs.e{i:03}]\npython = "3.11"\nrequirements = ["p0"]\n\n' for i in range(300)
    )
    locks = {f"e{i:03}": lock(*(f"p{n}==1.{i}" for n in range(120))) for i in range(300)}
    text = render_markdown(diff_document(diff_plan(side("", {}), side(body, locks)), "e", "a", "b"))
    assert "- `e000` (create): 120 added (1 direct)" in text
