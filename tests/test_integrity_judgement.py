"""What the walk found, judged into a report: duplicates, the baseline of upstream RECORD
defects, verify_ignore globs, and the one corruption judgement of plan and `which` (pure)."""

from __future__ import annotations

from reconciler.core.health import corruption, corruption_phrase
from reconciler.core.integrity import (
    BASELINE_DETAIL,
    AllowedModification,
    IntegrityFinding,
    RecordDefect,
    VerifyReport,
    against_baseline,
    apply_baseline,
    duplicates,
    judge,
)
from reconciler.spec.record import RowCheck

SITE = "lib/python3.11/site-packages"
OLD = "A" * 42 + "A"
NEW = "B" * 42 + "A"


def row(name: str, sha256: str | None = OLD, size: int | None = 5) -> RowCheck:
    return (name, f"{SITE}/{name}", sha256, size)


def test_each_folder_of_a_name_installed_twice_names_the_others() -> None:
    owners = {
        "alpha": [f"{SITE}/alpha-1.0.dist-info", f"{SITE}/Alpha-2.0.dist-info"],
        "beta": [f"{SITE}/beta-1.0.dist-info"],
    }

    found = duplicates(owners)

    assert [(f.category, f.dist, f.path, f.detail) for f in found] == [
        ("duplicate_dist", "alpha", f"{SITE}/alpha-1.0.dist-info", "also Alpha-2.0.dist-info"),
        ("duplicate_dist", "alpha", f"{SITE}/Alpha-2.0.dist-info", "also alpha-1.0.dist-info"),
    ]


def test_a_baseline_row_is_checked_against_what_was_installed_while_record_still_agrees() -> None:
    defect = RecordDefect("alpha", f"{SITE}/data.bin", OLD, 5, NEW, 7)
    items = [("alpha", row("data.bin")), ("alpha", row("other.py"))]

    checked, applied = apply_baseline(items, [defect])

    assert checked == [("alpha", (*row("data.bin")[:2], NEW, 7)), ("alpha", row("other.py"))]
    assert applied == {f"{SITE}/data.bin": defect}
    assert items[0] == ("alpha", row("data.bin"))  # the input is left as it was


def test_a_baseline_row_that_record_now_says_otherwise_about_is_checked_against_record() -> None:
    defect = RecordDefect("alpha", f"{SITE}/data.bin", OLD, 5, NEW, 7)
    items = [("alpha", row("data.bin", size=6)), ("beta", row("data.bin"))]

    checked, applied = apply_baseline(items, [defect])

    assert (checked, applied) == (items, {})


def test_only_content_findings_under_an_ignore_glob_are_allowed() -> None:
    issue = IntegrityFinding("record_invalid", "alpha", f"{SITE}/alpha-1.0.dist-info/RECORD")
    changed = IntegrityFinding("hash_mismatch", "certifi", f"{SITE}/certifi/cacert.pem")
    missing = IntegrityFinding("missing", "certifi", f"{SITE}/certifi/core.py")
    other = IntegrityFinding("size_mismatch", "alpha", f"{SITE}/alpha/core.py")
    found = [
        (changed, "certifi/cacert.pem"),
        (missing, "certifi/core.py"),
        (other, "alpha/core.py"),
    ]

    findings, allowed = judge([issue], found, ["**/cacert.pem", "certifi/**"], windows=False)

    assert findings == [issue, missing, other]
    assert allowed == [AllowedModification(changed, "**/cacert.pem")]


def test_a_finding_about_a_baseline_row_says_so_and_an_intact_one_is_a_record_defect() -> None:
    changed = RecordDefect("alpha", f"{SITE}/data.bin", OLD, 5, NEW, 7)
    intact = RecordDefect("alpha", f"{SITE}/table.bin", OLD, 5, NEW, 7)
    finding = IntegrityFinding("hash_mismatch", "alpha", changed.path, detail="")

    findings, informed = against_baseline(
        [finding], [], {changed.path: changed, intact.path: intact}
    )

    assert [f.detail for f in findings] == [BASELINE_DETAIL]
    assert [(f.category, f.path, f.actual_sha256) for f in informed] == [
        ("record_defect", intact.path, NEW)
    ]


def test_plan_and_which_name_the_same_corrupted_files() -> None:
    findings = tuple(
        IntegrityFinding("missing", "alpha", f"{SITE}/alpha/m{n:02}.py") for n in range(12)
    )
    report = VerifyReport("env", (SITE,), findings, (), 1, 12, 0, 0)

    steps = [f.detail for f in corruption(report)]
    phrase = corruption_phrase(report)

    assert steps[0] == f"missing {SITE}/alpha/m00.py (alpha)"
    assert steps[-1] == "and 2 more; see `reconcile verify`"
    assert phrase == (
        "12 files are corrupted (missing alpha/m00.py, missing alpha/m01.py, "
        "missing alpha/m02.py and 9 more)"
    )
