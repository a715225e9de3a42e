"""`verify` takes what it needs of an unchanged manifest from a memo, without validating it
again (reconciler/memo/verify.py): a real `reconcile` process each time, told apart by whether
it imported the manifest's validation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconciler.observe.integrity import VerifyScope, VerifyTarget
from tests.helpers import settle

pytestmark = pytest.mark.slow  # waits for files to settle; runs reconcile in subprocesses

_RUN = (
    "import sys\n"
    "from reconciler.cli.app import main\n"
    "code = main(sys.argv[1:])\n"
    "print('validated' if 'reconciler.spec.manifest' in sys.modules else 'memo', file=sys.stderr)\n"
    "sys.exit(code)\n"
)

MANIFEST = """\
    [settings]
    verify_ignore = ["certifi/cacert.pem"]

    [envs.legacy]
    adopt = "old/.venv"

    [envs.retired]
    adopt = "retired/.venv"
    delete = true
"""


class Verify:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(
        self, *args: str, stdin: str | None = None, **env: str
    ) -> tuple[int, str, str, str]:
        """Exit code, stdout, the last stderr line before the marker, and ``validated`` or
        ``memo``; ``stdin`` is fed to the command."""
        done = subprocess.run(
            [sys.executable, "-c", _RUN, "verify", *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.folder,
            env={**os.environ, **env},
            check=False,
            timeout=120,
        )
        assert "Traceback" not in done.stderr, done.stderr
        *errors, how = done.stderr.splitlines()
        return done.returncode, done.stdout, "\n".join(errors), how


@pytest.fixture
def verify(tmp_path: Path) -> Verify:
    (tmp_path / "envs.toml").write_text(textwrap.dedent(MANIFEST), encoding="utf-8")
    (tmp_path / ".envs").mkdir()
    settle()  # a manifest younger than a second is never remembered (the racy rule)
    return Verify(tmp_path)


def memos(folder: Path) -> list[Path]:
    return sorted((folder / ".envs" / ".cache" / "verify").glob("*.json"))


def test_an_unchanged_manifest_is_validated_once_and_then_taken_from_the_memo(
    verify: Verify,
) -> None:
    first = verify("--format", "json")
    second = verify("--format", "json")

    assert first[3] == "validated"
    assert second[3] == "memo"
    assert first[:3] == second[:3]
    assert first[0] == 2  # the adopted folder does not exist: env_missing
    doc = json.loads(second[1])
    assert [e["env"] for e in doc["envs"]] == ["legacy"]  # marked delete: not by default
    (missing,) = doc["envs"][0]["findings"]
    assert missing["category"] == "env_missing"
    assert "old/.venv does not exist" in missing["detail"]
    assert len(memos(verify.folder)) == 1


def test_an_env_named_is_checked_from_the_memo_and_an_unknown_one_gets_the_closest_key(
    verify: Verify,
) -> None:
    verify()
    named = verify("retired", "--format", "json")
    unknown = verify("legacyy")

    assert named[3] == unknown[3] == "memo"
    assert [e["env"] for e in json.loads(named[1])["envs"]] == ["retired"]
    assert unknown[0] == 1
    assert unknown[2] == (
        'error: verify: no env named legacyy in the manifest; did you mean "legacy"?'
    )


def test_an_edited_manifest_is_validated_again(verify: Verify) -> None:
    verify()
    manifest = verify.folder / "envs.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8") + '\n[envs.extra]\nadopt = "extra/.venv"\n',
        encoding="utf-8",
    )
    code, out, _, how = verify("--format", "json")

    assert how == "validated"
    assert [e["env"] for e in json.loads(out)["envs"]] == ["extra", "legacy"]
    assert code == 2


def test_a_manifest_with_errors_is_never_remembered(verify: Verify) -> None:
    manifest = verify.folder / "envs.toml"
    manifest.write_text('[envs.legacy]\nadopt = "old/.venv"\npythn = "3.11"\n', encoding="utf-8")
    settle()
    runs = [verify() for _ in range(2)]

    assert [run[3] for run in runs] == ["validated", "validated"]
    assert [run[0] for run in runs] == [1, 1]
    assert runs[0][2] == runs[1][2]
    assert "pythn" in runs[0][2]
    assert memos(verify.folder) == []


def test_another_root_or_the_opt_out_validates_afresh(verify: Verify) -> None:
    verify()
    (verify.folder / "other").mkdir()

    assert verify("--root", "other")[3] == "validated"
    assert verify("--root", "other")[3] == "memo"
    assert verify(RECONCILE_NO_PLAN_CACHE="1")[3] == "validated"
    assert verify()[3] == "memo"


def test_a_damaged_memo_is_ignored_and_replaced(verify: Verify) -> None:
    expected = verify("--format", "json")[:3]
    (memo,) = memos(verify.folder)
    for damage in ("", "{not json", json.dumps({"format": 1, "key": memo.stem, "inputs": []})):
        memo.write_text(damage, encoding="utf-8")
        assert verify("--format", "json")[:3] == expected
    assert verify("--format", "json")[3] == "memo"


def test_without_a_root_the_memo_is_kept_in_the_users_cache_and_no_root_is_created(
    verify: Verify,
) -> None:
    (verify.folder / ".envs").rmdir()
    runs = [verify()[3] for _ in range(2)]

    assert runs == ["validated", "memo"]
    assert not (verify.folder / ".envs").exists()
    user_cache = Path(os.environ["RECONCILE_CACHE_DIR"])
    assert len(list((user_cache / "verify").glob("*.json"))) == 1
    assert (user_cache / "verify").stat().st_mode & 0o777 == 0o700


def test_a_scope_survives_its_plain_form_and_anything_else_is_refused() -> None:
    scope = VerifyScope(
        "/r",
        (
            VerifyTarget("a", "adopted", "/x/.venv", ("certifi/cacert.pem",), "auto"),
            VerifyTarget("m", "managed", "/r/m", (), "hardlink"),
        ),
        frozenset({"a"}),
    )
    assert VerifyScope.from_plain(json.loads(json.dumps(scope.to_plain()))) == scope
    assert scope.declared == ("a", "m")
    for bad in (
        {},
        {"root": "/r", "targets": [["a", "elsewhere", "/x", [], "auto"]], "doomed": []},
        {"root": "/r", "targets": [["a", "adopted", 3, [], "auto"]], "doomed": []},
        {"root": 1, "targets": [], "doomed": []},
        {"root": "/r", "targets": [["a"]], "doomed": []},
    ):
        with pytest.raises((ValueError, KeyError, TypeError)):
            VerifyScope.from_plain(bad)


def test_a_manifest_read_from_a_pipe_is_read_whole_and_never_remembered(
    verify: Verify,
) -> None:
    text = (verify.folder / "envs.toml").read_text(encoding="utf-8")
    text = f"[settings]\nroot = {json.dumps(str(verify.folder / '.envs'))}\n" + text.replace(
        "[settings]\n", ""
    )
    runs = [verify("--manifest", "/dev/stdin", stdin=text) for _ in range(2)]

    for code, out, errors, how in runs:
        assert code == 2, errors  # the adopted folder does not exist
        assert "legacy" in out
        assert how == "validated"
    assert memos(verify.folder) == []
