"""Docs stay in step with the code: generated reference, CLI commands, README quickstart."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.cli.app import build_parser
from reconciler.spec.docgen import generate

REPO = Path(__file__).resolve().parent.parent


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)  # type: ignore[arg-type]


def test_manifest_reference_is_generated_from_the_models() -> None:
    on_disk = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")
    assert on_disk == generate(), "docs/manifest.md is stale: run `just docs`"


def test_manifest_reference_lists_every_field_of_every_model() -> None:
    from reconciler.spec.manifest import EnvSpec, Manifest, ModelSpec, Settings, Sources

    text = generate()
    for model in (Manifest, Settings, Sources, EnvSpec, ModelSpec):
        for name in model.model_fields:
            assert f"| `{name}` |" in text


def test_cli_reference_documents_every_command_the_parser_has() -> None:
    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in _subcommands():
        assert f"## `reconcile {command}`" in text


def test_readme_quickstart_has_exactly_two_commands_and_ci_runs_the_test_one() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", quickstart, flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert "reconcile plan" in commands[0]
    test_command = commands[1].split("&&")[-1].strip()
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci


def _user_pages() -> list[Path]:
    """What users read: every page under docs/ and the README."""
    pages = [p for p in sorted((REPO / "docs").rglob("*")) if p.suffix in (".md", ".json", ".yml")]
    return [REPO / "README.md", *pages]


def test_no_docs_page_cites_the_spec() -> None:
    """Users have only the docs: a page that says "SPEC 7.6" points at nothing they can read."""
    citing = [
        f"{page.relative_to(REPO)}:{number}: {line.strip()}"
        for page in _user_pages()
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bSPEC\b", line)
    ]
    assert citing == []


def test_exit_code_2_means_the_same_in_cli_md_and_in_the_cli_module() -> None:
    """Every command that exits 2 (changes pending or problems found) is named by cli.md's
    exit-code table and by the docstring of the module that maps exit codes."""
    from reconciler.cli import app

    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| 2 |"))
    assert app.__doc__ is not None
    for command in ("plan --detailed-exitcode", "diff", "verify", "lock --check"):
        assert f"`{command}`" in row
        assert f"``{command}``" in app.__doc__


def test_cli_md_shows_the_digest_verify_reports_for_a_zero_byte_file() -> None:
    """docs/cli.md's verify JSON example: a ``zero_byte`` finding's ``actual_sha256`` is the
    RECORD-form digest of empty content, which is what verify reports (tests/test_verify.py)."""
    import base64
    import hashlib
    import json

    from reconciler.spec.record import EMPTY_SHA256

    text = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("## `reconcile verify`", 1)[1].split("\n## ", 1)[0]
    document = json.loads(re.findall(r"```json\n(.*?)```", section, flags=re.S)[0])
    finding = document["envs"][0]["findings"][0]
    empty = base64.urlsafe_b64encode(hashlib.sha256(b"").digest()).rstrip(b"=").decode()
    assert finding["category"] == "zero_byte"
    assert finding["actual_sha256"] == EMPTY_SHA256 == empty
    assert f"`{EMPTY_SHA256}`" in section


def test_apply_md_shows_the_root_as_the_code_lays_it_out() -> None:
    """docs/apply.md's on-disk layout names every file and folder the store modules name,
    and exactly the cache folders the code asks ``cache_folder`` for."""
    from reconciler.memo import resolution
    from reconciler.observe.hashcache import HASHES
    from reconciler.store import applylock, layout, removals

    text = (REPO / "docs" / "apply.md").read_text(encoding="utf-8")
    block = text.split("## On-disk layout", 1)[1].split("```", 2)[1]
    names = [layout.GENERATIONS, layout.STATE, layout.TRASH, layout.CACHE, layout.LOCK]
    names += [layout.RECEIPT_NAME, applylock.LOCK_INFO, removals.NAME]
    names += [layout.bindings_path(Path("root")).name]
    for name in names:
        assert name in block, name
    asked = {HASHES, resolution.FOLDER}
    for source in (REPO / "reconciler").rglob("*.py"):
        asked |= set(re.findall(r"cache_folder\(\s*root,\s*\"(\w+)\"", source.read_text()))
    assert set(re.findall(r"\.cache/(\w+)/", block)) == asked
