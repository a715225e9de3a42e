"""Pure: a plan as a versioned JSON document. Renderers and saved plans read only this."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler import __version__
from reconciler.core.actions import ACTIONS
from reconciler.core.plan import Plan, Step

FORMAT_VERSION = "1"


def _step(step: Step) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": step.id,
        "kind": step.kind,
        "action": step.action,
        "target": step.target,
        "reasons": list(step.reasons),
        "depends_on": list(step.depends_on),
        "details": list(step.details),
    }
    if step.kind == "env":
        doc["python"] = step.python
        doc["packages"] = step.packages
        if step.switch_back is not None:
            doc["switch_back"] = step.switch_back
    else:
        doc["from_env"] = step.from_env
        doc["to_env"] = step.to_env
    if step.python_download is not None:
        doc["python_download"] = step.python_download
    if step.blocked is not None:
        doc["blocked"] = step.blocked
    if step.changes:
        doc["changes"] = [
            {"package": c.name, "old": c.old, "new": c.new, "change": c.change, "direct": c.direct}
            for c in step.changes
        ]
    return doc


def summary(plan: Plan) -> dict[str, int]:
    return {action: plan.count(action) for action in ACTIONS}


def plan_document(
    plan: Plan, manifest_name: str, fingerprint: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The versioned plan document; ``fingerprint`` is added for saved plans only."""
    doc: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "tool": {"name": "reconcile", "version": __version__},
        "manifest": manifest_name,
        "has_changes": plan.has_changes,
        "steps": [_step(s) for s in plan.steps],
        "summary": summary(plan),
        "warnings": list(plan.warnings),
    }
    if fingerprint is not None:
        doc["fingerprint"] = dict(fingerprint)
    return doc


def diff_document(plan: Plan, manifest_name: str, base: str, head: str) -> dict[str, Any]:
    """The plan document of ``reconcile diff``: a plan, plus the two revisions it compares
    (``git:REF`` or a manifest path as given; never absolute)."""
    doc = plan_document(plan, manifest_name)
    doc["base"], doc["head"] = base, head
    return doc
