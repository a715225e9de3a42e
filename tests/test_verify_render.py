"""The integrity document and its rpm -V style text, from hand-made reports (pure)."""

from __future__ import annotations

import pytest

from reconciler.records import IntegrityFinding, VerifyReport
from reconciler.verify_render import render_text, verify_document
from reconciler.verifying import EnvCheck, EnvKind


def report(*findings: IntegrityFinding, linked: int = 0) -> VerifyReport:
    return VerifyReport(
        env_dir="/r/serving",
        site_packages=("lib/python3.11/site-packages",),
        findings=findings,
        allowed=(),
        dists=3,
        rows_checked=10,
        files_hashed=4,
        bytes_hashed=2048,
        files_cached=6,
        linked_files=linked,
    )


@pytest.mark.parametrize(
    ("kind", "link_mode", "advice"),
    [
        ("managed", "hardlink", 'use link_mode "auto" to give envs their own files'),
        ("managed", "auto", 'although link_mode is "auto"'),
        ("adopted", "auto", "reconcile never rebuilds an adopted env"),
    ],
)
def test_files_with_other_hard_links_get_advice_that_fits_the_env(
    kind: EnvKind, link_mode: str, advice: str
) -> None:
    check = EnvCheck("serving", kind, ".envs/serving", report(linked=12), None, link_mode)

    doc = verify_document([check], deep=False)

    (warning,) = doc["warnings"]
    assert warning.startswith("serving: 12 of its files have other hard links")
    assert advice in warning
    assert render_text(doc).splitlines()[-1] == f"warning: {warning}"


def test_findings_are_aligned_rpm_style_lines_before_the_summaries() -> None:
    zero = IntegrityFinding("zero_byte", "click", "lib/site/click/core.py", 39420, 0)
    gone = IntegrityFinding("missing", "attrs", "lib/site/attrs/__init__.py")
    checks = [
        EnvCheck("serving", "managed", ".envs/serving", report(zero, gone)),
        EnvCheck("tools", "managed", ".envs/tools", None, "not created yet"),
    ]

    text = render_text(verify_document(checks, deep=False))

    assert text.splitlines() == [
        "zero_byte  serving  click  lib/site/click/core.py      size 0, RECORD says 39,420",
        "missing    serving  attrs  lib/site/attrs/__init__.py",
        "",
        "serving: 2 problems in 2 of 3 distributions: 1 missing, 1 zero_byte (10 files "
        "checked: 4 hashed (2.0 KB), 6 unchanged since last hashed).",
        "tools: not checked: not created yet.",
    ]
