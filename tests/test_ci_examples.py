"""The CI, operations and fleet examples stay honest (docs/ci.md, docs/operations.md,
docs/fleet.md and the workflow files in docs/examples/).

- Every ``reconcile`` command line in the workflow files' ``run:``/``script:`` blocks and in
  those pages' code blocks (shell, YAML, systemd units, crontab lines, ``$ `` prompts) is
  parsed by the CLI's own parser, so a flag the CLI does not have fails here.
- The shell of the workflow steps runs with bash against a fake ``reconcile`` that exits
  0, 1 or 2, so the exit-code handling the pages describe is what the files do.
- The apply-on-merge job, the review job, the fleet's pull script and the cron check run end
  to end on a project with real git, the real uv and real applies; the systemd units pass
  ``systemd-analyze verify`` where it is installed.

The ``uses:`` steps of the workflows (checkout, upload-artifact, github-script) cannot run
here; GitHub and GitLab themselves were never involved.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

import reconciler.cli.verbs
from reconciler.cli.app import build_parser, main, parse_args
from reconciler.errors import ReconcileError
from tests.apply_helpers import SERVING, TOOLS
from tests.helpers import Project, require_python
from tests.plan_schema import check_plan

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
GITHUB = DOCS / "examples" / "github-actions.yml"
GITLAB = DOCS / "examples" / "gitlab-ci.yml"
WINDOWS = DOCS / "examples" / "github-actions-windows.yml"
PAGES = tuple(DOCS / name for name in ("ci.md", "operations.md", "fleet.md"))


# Programs the systemd units and crontab lines may start besides reconcile: shell builtins
# and standard tools the pages name. A typo (`reconcil`, `/opt/reconcile/reconcile`) fails.
KNOWN_PROGRAMS = frozenset({"cd", "echo", "/bin/sh", "systemctl", "mail"})
SHELL_KEYWORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "case", "esac", "!"}
)
WRAPPERS = frozenset({"exec", "command", "env", "nice", "nohup", "time"})
YAML_SHELL_KEYS = frozenset(
    {"run", "script", "before_script", "after_script", "cmd", "ansible.builtin.command"}
)


# --- where the commands are ----------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """A fenced code block of a page."""

    page: str
    lang: str
    text: str


_FENCE = re.compile(
    r"^(?P<indent>[ ]*)(?P<fence>`{3,})(?P<lang>[\w-]*)[^\n]*\n"
    r"(?P<body>.*?)^(?P=indent)(?P=fence)[ ]*$",
    re.M | re.S,
)


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [Block(page.name, m["lang"], textwrap.dedent(m["body"])) for m in _FENCE.finditer(text)]


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


def load_yaml(text: str) -> Any:
    return yaml.safe_load(text)


def yaml_shell_texts(node: Any, key: str = "") -> Iterator[str]:
    """The strings a YAML document hands to a shell: ``run``, ``script`` (GitHub, GitLab),
    ``cmd`` and ``ansible.builtin.command`` (Ansible). An action's inputs (``with:``, such
    as github-script's JavaScript) are not shell."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            if k != "with":
                yield from yaml_shell_texts(v, str(k))
    elif isinstance(node, list):
        for item in node:
            yield from yaml_shell_texts(item, key)
    elif isinstance(node, str) and key in YAML_SHELL_KEYS:
        yield node


def unit_name(block: Block) -> str | None:
    """``NAME`` of a systemd unit block that starts ``# /etc/systemd/system/NAME``."""
    first = block.text.splitlines()[0] if block.text else ""
    match = re.fullmatch(r"# /etc/systemd/system/(\S+)", first)
    return match[1] if match else None


def units() -> dict[str, str]:
    found = {unit_name(b): b.text for b in all_blocks() if b.lang == "ini"}
    assert None not in found, "every ini block names its unit: # /etc/systemd/system/NAME"
    return {name: text for name, text in found.items() if name is not None}


def unit_exec_lines(text: str) -> list[str]:
    """The command lines of a unit's ``ExecStart=`` (and friends), without ``-@:+!``."""
    lines = re.findall(r"^Exec\w+=(.*)$", text, flags=re.M)
    return [line.lstrip("-@:+!") for line in lines]


def crontab_commands(text: str) -> list[str]:
    """The shell command of each job line of a crontab (assignments and comments skipped);
    the five time fields must look like cron's."""
    commands = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#") or re.match(r"^\w+=", line):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not a crontab job line: {line}"
        for field in fields[:5]:
            assert re.fullmatch(r"[\d*/,-]+", field), f"bad time field {field!r} in {line}"
        commands.append(fields[5])
    return commands


def shell_texts() -> list[tuple[str, str]]:
    """Every piece of shell in the examples, with where it comes from."""
    found: list[tuple[str, str]] = []
    for path in (GITHUB, GITLAB, WINDOWS):
        doc = load_yaml(path.read_text(encoding="utf-8"))
        found += [(path.name, text) for text in yaml_shell_texts(doc)]
    for block in all_blocks():
        where = f"{block.page} ({block.lang} block)"
        if block.lang in ("sh", "bash"):
            found.append((where, block.text))
        elif block.lang == "yaml":
            found += [(where, text) for text in yaml_shell_texts(load_yaml(block.text))]
        elif block.lang == "ini":
            found += [(where, line) for line in unit_exec_lines(block.text)]
        elif block.lang == "crontab":
            found += [(where, command) for command in crontab_commands(block.text)]
        elif block.lang == "text":  # outputs: only the commands typed at a `$ ` prompt
            found += [(where, line[2:]) for line in block.text.splitlines() if line[:2] == "$ "]
    return found


# --- shell, just enough of it --------------------------------------------------------------


def _without_comments(text: str) -> str:
    """``text`` with shell comments removed, quotes respected."""
    out: list[str] = []
    quote, i = "", 0
    while i < len(text):
        char = text[i]
        if char == "\\" and quote != "'":
            out.append(text[i : i + 2])
            i += 2
            continue
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or text[i - 1].isspace()):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        out.append(char)
        i += 1
    return "".join(out)


def simple_commands(text: str) -> list[list[str]]:
    """The simple commands of a piece of shell, as words: split at newlines, ``;``, ``&&``,
    ``||``, pipes and parentheses; redirections (``> FILE``, ``2>&1``) and leading keywords
    (``then``, ``else``...) dropped. Enough for the examples, not a shell."""
    text = _without_comments(text.replace("\\\n", " "))
    text = re.sub(r"(?<=\s)\d+(?=[<>])", "", text)  # `2>&1`: the fd number is no word
    lexer = shlex.shlex(text, posix=True, punctuation_chars=";&|()<>\n")
    lexer.whitespace = " \t\r"
    lexer.whitespace_split = True
    commands: list[list[str]] = []
    words: list[str] = []
    tokens = iter(lexer)
    for token in tokens:
        if token and set(token) <= set(";&|()<>\n"):
            if "<" in token or ">" in token:
                next(tokens, None)  # the redirection's target
                continue
            commands.append(words)
            words = []
        else:
            words.append(token)
    commands.append(words)
    return [strip_prefix(c) for c in commands if strip_prefix(c)]


def strip_prefix(words: list[str]) -> list[str]:
    """Drop leading shell keywords, variable assignments and wrappers such as ``exec``."""
    i = 0
    while i < len(words) and (
        words[i] in SHELL_KEYWORDS
        or words[i] in WRAPPERS
        or re.fullmatch(r"[A-Za-z_]\w*=.*", words[i], flags=re.S)
    ):
        i += 1
    return words[i:]


def reconcile_args(words: list[str]) -> list[str] | None:
    """The arguments after ``reconcile`` (or ``python -m reconciler``), or None when the
    command is something else."""
    if not words:
        return None
    if Path(words[0]).name == "reconcile":
        return words[1:]
    if re.fullmatch(r"python[\d.]*", Path(words[0]).name) and words[1:3] == ["-m", "reconciler"]:
        return words[3:]
    return None


def reconcile_commands(text: str) -> list[list[str]]:
    found = [reconcile_args(words) for words in simple_commands(text)]
    return [args for args in found if args is not None]


def all_reconcile_commands() -> list[tuple[str, list[str]]]:
    return [(where, args) for where, text in shell_texts() for args in reconcile_commands(text)]


# --- the CLI's parser ----------------------------------------------------------------------


class _SpecParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise ValueError(message)


def _spec_parser() -> argparse.ArgumentParser:
    """SPEC 4's syntax of ``diff`` and ``status``, for a line that names one of them while
    the CLI's parser does not have it yet: both were being written together with this file."""
    parser = _SpecParser(prog="reconcile")
    commands = parser.add_subparsers(dest="command", required=True)
    diff = commands.add_parser("diff")
    diff.add_argument("base")
    diff.add_argument("head", nargs="?")
    diff.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    status = commands.add_parser("status")
    status.add_argument("--format", choices=("text", "json"), default="text")
    for each in (parser, diff, status):
        each.add_argument("--manifest", default=argparse.SUPPRESS)
        each.add_argument("--root", default=argparse.SUPPRESS)
        for flag in ("-v", "-q", "--no-color"):
            each.add_argument(flag, action="store_true", default=argparse.SUPPRESS)
    return parser


def command_of(args: list[str]) -> str | None:
    """The subcommand: the first word that is neither an option nor a global option's value."""
    words = iter(args)
    for word in words:
        if word in ("--manifest", "--root"):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _options(parser: argparse.ArgumentParser, command: str | None) -> set[str]:
    """Every option string of ``parser`` and of its subcommand ``command``."""
    found = set(parser._option_string_actions)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            found |= set(action.choices[command]._option_string_actions)
    return found


def parse(args: list[str]) -> argparse.Namespace:
    """Parse one reconcile command line as the CLI does; raise ValueError when it would not
    be accepted, or when it abbreviates an option (argparse would take ``--detailed``, but
    the pages spell options out)."""
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    known = set(subparsers.choices or ())
    command = command_of(args)
    parser = build_parser() if command in known else _spec_parser()
    options = _options(parser, command)
    for word in args[: args.index("--") if "--" in args else len(args)]:
        if word.startswith("--") and word.split("=", 1)[0] not in options:
            raise ValueError(f"{word.split('=', 1)[0]} is not an option of `{command}`")
    if command not in known:
        return parser.parse_args(args)
    try:
        return parse_args(args)
    except ReconcileError as error:
        raise ValueError(error.message) from None
    except SystemExit:  # --help, --version: not a command a job runs
        raise ValueError("exits before doing anything") from None


def namespaces(texts: list[str]) -> list[argparse.Namespace]:
    return [parse(args) for text in texts for args in reconcile_commands(text)]


# --- running the examples' shell -----------------------------------------------------------


def workflow() -> dict[str, Any]:
    doc = load_yaml(GITHUB.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def gitlab() -> dict[str, Any]:
    doc = load_yaml(GITLAB.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def step_running(job: Mapping[str, Any], words: str) -> dict[str, Any]:
    """The one step of a GitHub job whose ``run`` contains ``words``."""
    found = [s for s in job["steps"] if words in s.get("run", "")]
    assert len(found) == 1, f"expected one step running {words!r}, found {len(found)}"
    step: dict[str, Any] = found[0]
    return step


def script_item(job: Mapping[str, Any], words: str) -> str:
    """The one item of a GitLab job's ``script`` that contains ``words``."""
    found = [item for item in job["script"] if words in item]
    assert len(found) == 1, f"expected one script item with {words!r}, found {len(found)}"
    item: str = found[0]
    return item


def bin_with(folder: Path, body: str) -> Path:
    """A folder holding an executable ``reconcile`` with ``body`` (put it first on PATH)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "reconcile"
    script.write_text(body, encoding="utf-8")
    script.chmod(0o755)
    return folder


def real_reconcile(folder: Path) -> Path:
    """``reconcile`` as Project.cli runs it: this interpreter, ``-m reconciler``."""
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return bin_with(
        folder,
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(pythonpath)} exec {shlex.quote(sys.executable)} "
        '-m reconciler "$@"\n',
    )


FAKE = """#!/bin/sh
# A stand-in for reconcile: logs its arguments, prints some markdown, and exits with
# FAKE_EXIT for plan and diff (0 for anything else, such as apply).
echo "$*" >> "$FAKE_LOG"
echo "### fake plan"
case "$1" in plan|diff) exit "$FAKE_EXIT" ;; esac
"""


def bash(
    script: str, cwd: Path, env: Mapping[str, str], path: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``script`` as a GitHub ``shell: bash`` step does (``bash -eo pipefail``)."""
    full = {**os.environ, **env, "PATH": f"{path}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=full,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def outputs(file: Path) -> dict[str, str]:
    """What a step wrote to ``$GITHUB_OUTPUT`` (``name=value`` lines)."""
    if not file.is_file():
        return {}
    lines = file.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


_STEP_IF = re.compile(r"steps\.([\w-]+)\.outputs\.([\w-]+) == '([^']*)'")


def run_job(
    job: Mapping[str, Any], cwd: Path, env: Mapping[str, str], path: Path, temp: Path
) -> dict[str, dict[str, str]]:
    """Run a GitHub job's ``run`` steps in order as the runner would, with ``env`` standing
    for the job's env and the runner's variables. ``uses:`` steps and the step that installs
    reconcile are skipped (``path`` provides it); a step's ``if:`` may only compare a step
    output. Returns the outputs of each step with an id."""
    results: dict[str, dict[str, str]] = {}
    for index, step in enumerate(job["steps"]):
        if "uses" in step or "pip install" in step["run"]:
            continue
        condition = step.get("if")
        if condition is not None:
            match = _STEP_IF.fullmatch(condition)
            assert match, f"the test cannot evaluate `if: {condition}`"
            if results.get(match[1], {}).get(match[2]) != match[3]:
                continue
        output = temp / f"output-{index}"
        done = bash(step["run"], cwd, {**env, "GITHUB_OUTPUT": str(output)}, path)
        assert done.returncode == 0, f"step {step.get('name')!r} failed:\n{done.stderr}"
        if "id" in step:
            results[step["id"]] = outputs(output)
    return results


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(
        ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, f"git {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def commit_all(folder: Path, message: str) -> None:
    (folder / ".gitignore").write_text(".envs/\n", encoding="utf-8")
    git("add", "-A", cwd=folder)
    git("commit", "--quiet", "-m", message, cwd=folder)


def lock(project: Project) -> None:
    assert main(["--manifest", str(project.manifest), "--quiet", "lock"]) == 0


# --- the examples parse, and say what the issue asks for ---------------------------------


@pytest.mark.parametrize("path", [GITHUB, GITLAB, WINDOWS], ids=lambda p: p.name)
def test_each_example_workflow_file_is_valid_yaml_with_jobs_that_run_shell(path: Path) -> None:
    doc = load_yaml(path.read_text(encoding="utf-8"))
    jobs = doc.get("jobs") or {
        k: v for k, v in doc.items() if isinstance(v, dict) and "script" in v
    }
    assert jobs
    for name, job in jobs.items():
        assert list(yaml_shell_texts(job)), f"job {name} runs no shell"


def test_every_yaml_block_of_the_pages_parses() -> None:
    yaml_blocks = [b for b in all_blocks() if b.lang == "yaml"]
    assert len(yaml_blocks) >= 3
    for block in yaml_blocks:
        assert isinstance(load_yaml(block.text), (dict, list)), block.text


def test_every_reconcile_command_in_the_examples_is_accepted_by_the_cli() -> None:
    commands = all_reconcile_commands()
    wrong = []
    for where, args in commands:
        try:
            parse(args)
        except ValueError as error:
            wrong.append(f"{where}: reconcile {shlex.join(args)}: {error}")
    assert not wrong, "\n".join(wrong)
    sources = {where.split(" ")[0] for where, _ in commands}
    assert sources == {GITHUB.name, GITLAB.name, WINDOWS.name, *(p.name for p in PAGES)}


def test_the_command_finder_sees_through_shell_syntax() -> None:
    text = textwrap.dedent(
        """\
        set +e  # comment: reconcile plan --no-such-flag
        FOO=1 reconcile --manifest m.toml plan --out "$RUNNER_TEMP/plan.json" 2>&1 | tee x
        case $code in
          2) exec /opt/reconcile/bin/reconcile apply --yes "$plan" ;;
        esac
        cd /srv && reconcile verify --format json > v.json || echo "reconcile verify failed"
        python3 -m reconciler lock \\
          --check
        """
    )
    assert reconcile_commands(text) == [
        ["--manifest", "m.toml", "plan", "--out", "$RUNNER_TEMP/plan.json"],
        ["apply", "--yes", "$plan"],
        ["verify", "--format", "json"],
        ["lock", "--check"],
    ]


def inline_commands(page: Path) -> list[list[str]]:
    """The ``reconcile ...`` spans of a page's prose (code blocks removed)."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    spans = re.findall(r"(?<!`)`(reconcile [^`\n]+)`(?!`)", text)
    return [shlex.split(span)[1:] for span in spans]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_reconcile_command_in_the_prose_is_one_the_cli_has(page: Path) -> None:
    """``reconcile plan --detailed-exitcode`` in a sentence is parsed like a code block's;
    ``reconcile diff`` alone names the command, which must exist."""
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    commands = inline_commands(page)
    assert commands
    for args in commands:
        if len(args) == 1:
            assert args[0] in (subparsers.choices or {}), f"{page.name}: reconcile {args[0]}"
        else:
            parse(args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["plan", "--detailed-exit-code"], "not an option of `plan`"),
        (["plan", "--detailed"], "not an option of `plan`"),  # argparse alone would take it
        (["verify", "--format", "markdown"], "invalid choice"),
        (["apply", "--yes", "a.json", "b.json"], "unrecognized arguments"),
        (["deploy"], "invalid choice"),
    ],
)
def test_a_command_line_the_cli_would_refuse_or_that_abbreviates_fails_the_check(
    args: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        parse(args)


def test_the_workflow_reviews_pull_requests_with_lock_check_and_a_diff_comment() -> None:
    review = workflow()["jobs"]["review"]
    checkout = next(s for s in review["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0  # so that git:origin/main exists
    parsed = namespaces([s["run"] for s in review["steps"] if "run" in s])
    assert any(ns.command == "lock" and ns.check for ns in parsed)
    assert any(
        ns.command == "diff" and ns.base == "git:origin/main" and ns.format == "markdown"
        for ns in parsed
    )
    comment = next(s for s in review["steps"] if "github-script" in s.get("uses", ""))
    assert "<!-- reconcile diff -->" in comment["with"]["script"]
    assert "updateComment" in comment["with"]["script"]  # one comment, updated


def test_the_workflow_applies_a_saved_plan_on_a_self_hosted_runner_one_at_a_time() -> None:
    apply = workflow()["jobs"]["apply"]
    assert "self-hosted" in apply["runs-on"]
    assert apply["concurrency"]["group"]
    assert apply["concurrency"]["cancel-in-progress"] is False
    parsed = namespaces([s["run"] for s in apply["steps"] if "run" in s])
    plans = [ns for ns in parsed if ns.command == "plan"]
    applies = [ns for ns in parsed if ns.command == "apply"]
    assert len(plans) == 1 and plans[0].detailed_exitcode and plans[0].out is not None
    assert len(applies) == 1 and applies[0].yes and applies[0].lock_timeout > 600
    assert applies[0].planfile == plans[0].out


def test_no_workflow_step_pastes_an_expression_into_its_shell() -> None:
    """``${{ }}`` in a ``run:`` is pasted into the script before bash sees it (a PR title
    could inject commands); the steps read environment variables instead."""
    for job in workflow()["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", ""), step


def test_the_gitlab_example_has_the_same_two_jobs() -> None:
    doc = gitlab()
    review, apply = doc["reconcile-review"], doc["reconcile-apply"]
    assert "merge_request_event" in review["rules"][0]["if"]
    reviewed = namespaces(review["script"])
    assert any(ns.command == "lock" and ns.check for ns in reviewed)
    assert any(ns.command == "diff" and ns.format == "markdown" for ns in reviewed)
    assert apply["resource_group"]
    applied = namespaces(apply["script"])
    assert any(ns.command == "plan" and ns.detailed_exitcode and ns.out for ns in applied)
    assert any(ns.command == "apply" and ns.yes and ns.planfile for ns in applied)


def test_the_operations_and_fleet_pages_show_the_checks_the_issue_asks_for() -> None:
    def parsed(page: str) -> list[argparse.Namespace]:
        texts = [text for where, text in shell_texts() if where.startswith(page)]
        return namespaces(texts)

    ops = parsed("operations.md")
    assert any(ns.command == "verify" and ns.format == "json" for ns in ops)
    assert any(ns.command == "plan" and ns.detailed_exitcode for ns in ops)
    assert any(ns.command == "status" and ns.format == "json" for ns in ops)
    fleet = parsed("fleet.md")
    assert any(
        ns.command == "plan" and ns.detailed_exitcode and ns.format == "json" for ns in fleet
    )
    assert any(ns.command == "apply" and ns.yes for ns in fleet)


# --- systemd and cron ----------------------------------------------------------------------


def test_the_systemd_units_start_real_commands_and_name_units_that_exist() -> None:
    found = units()
    assert {
        "reconcile-verify.service",
        "reconcile-verify.timer",
        "reconcile-alert@.service",
        "reconcile-drift.service",
        "reconcile-drift.timer",
        "reconcile-pull.service",
        "reconcile-pull.timer",
    } <= set(found)
    scripts = {"/usr/local/bin/reconcile-pull"}  # fleet.md's pull script
    for name, text in found.items():
        if name.endswith(".timer"):
            assert name.removesuffix(".timer") + ".service" in found, name
            continue
        lines = unit_exec_lines(text)
        assert lines, f"{name} starts nothing"
        for line in lines:
            program = shlex.split(line)[0]
            assert program.startswith("/"), f"{name}: {program} is not an absolute path"
            assert program in scripts | KNOWN_PROGRAMS or Path(program).name == "reconcile"
            for words in simple_commands(line):
                inner = words[2] if words[:2] == ["/bin/sh", "-c"] else None
                for each in simple_commands(inner) if inner else [words]:
                    known = reconcile_args(each) is not None or each[0] in KNOWN_PROGRAMS
                    assert known or each[0] in scripts, f"{name}: {each[0]} is not known"
        for failure in re.findall(r"^OnFailure=(\S+)$", text, flags=re.M):
            template = re.sub(r"@.*\.service$", "@.service", failure)
            assert template in found, f"{name}: OnFailure={failure} names no unit of the pages"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """The units as written, with the programs they start made to exist at a temporary
    path (systemd-analyze checks that each ExecStart is executable)."""
    reconcile = real_reconcile(tmp_path / "bin") / "reconcile"
    pull = tmp_path / "reconcile-pull"
    pull.write_text("#!/bin/sh\n", encoding="utf-8")
    pull.chmod(0o755)
    folder = tmp_path / "units"
    folder.mkdir()
    for name, text in units().items():
        text = text.replace("/opt/reconcile/bin/reconcile", str(reconcile))
        text = text.replace("/usr/local/bin/reconcile-pull", str(pull))
        (folder / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", *sorted(str(p) for p in folder.iterdir())],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Unknown" not in done.stdout + done.stderr, done.stdout + done.stderr


def cron_command() -> str:
    """The daily check of a fleet's envs (operations.md), each crontab line of the docs
    checked to run only reconcile and known programs."""
    blocks = [b for b in all_blocks() if b.lang == "crontab"]
    for block in blocks:
        for line in crontab_commands(block.text):
            for words in simple_commands(line):
                assert reconcile_args(words) is not None or words[0] in KNOWN_PROGRAMS, words
    (block,) = [b for b in blocks if "/srv/models" in b.text]
    (command,) = crontab_commands(block.text)
    return command


def test_the_cron_check_is_silent_on_clean_envs_and_speaks_up_on_a_finding(
    project: Project, tmp_path: Path
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    assert main(["--manifest", str(project.manifest), "--quiet", "apply", "--yes"]) == 0
    state = tmp_path / "state"
    state.mkdir()
    reconcile = real_reconcile(tmp_path / "bin") / "reconcile"
    command = (
        cron_command()
        .replace("/srv/models", str(project.folder))
        .replace("/opt/reconcile/bin/reconcile", str(reconcile))
        .replace("/var/lib/reconcile", str(state))
    )

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, check=False, timeout=300
        )

    clean = run()
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
    assert json.loads((state / "verify.json").read_text())["summary"]["with_problems"] == 0

    module = next(project.root.glob("serving/lib/python3.*/site-packages/alpha/__init__.py"))
    module.write_bytes(b"")
    found = run()
    assert found.stdout.startswith("reconcile verify exited 2 on "), found
    report = json.loads((state / "verify.json").read_text())
    assert report["envs"][0]["counts"] == {"zero_byte": 1}


# --- the workflow's shell, with a fake reconcile -------------------------------------------


@pytest.mark.parametrize("code", [0, 1, 2])
def test_the_review_step_passes_on_diff_exit_0_and_2_and_fails_on_1(
    tmp_path: Path, code: int
) -> None:
    step = step_running(workflow()["jobs"]["review"], "reconcile diff")
    path = bin_with(tmp_path / "bin", FAKE)
    summary = tmp_path / "summary.md"
    env = {"FAKE_EXIT": str(code), "FAKE_LOG": str(tmp_path / "log")}
    done = bash(step["run"], tmp_path, {**env, "GITHUB_STEP_SUMMARY": str(summary)}, path)
    assert done.returncode == (1 if code == 1 else 0), done.stderr
    if code != 1:
        assert (tmp_path / "diff.md").read_text() == "### fake plan\n"  # what the comment posts
        assert summary.read_text() == "### fake plan\n"


@pytest.mark.parametrize("code", [0, 1, 2])
def test_the_plan_step_applies_only_on_exit_2_and_fails_on_1(tmp_path: Path, code: int) -> None:
    job = workflow()["jobs"]["apply"]
    plan = step_running(job, "reconcile plan")
    apply = step_running(job, "reconcile apply")
    assert apply["if"] == f"steps.{plan['id']}.outputs.changes == 'true'"
    path = bin_with(tmp_path / "bin", FAKE)
    output = tmp_path / "output"
    env = {
        "FAKE_EXIT": str(code),
        "FAKE_LOG": str(tmp_path / "log"),
        "DEPLOY": str(tmp_path),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
    }
    done = bash(plan["run"], tmp_path, env, path)
    assert done.returncode == (1 if code == 1 else 0), done.stderr
    expected = {0: {"changes": "false"}, 1: {}, 2: {"changes": "true"}}[code]
    assert outputs(output) == expected


@pytest.mark.parametrize("code", [0, 1, 2])
def test_the_gitlab_jobs_handle_exit_codes_the_same_way(tmp_path: Path, code: int) -> None:
    doc = gitlab()
    path = bin_with(tmp_path / "bin", FAKE)
    log = tmp_path / "log"
    env = {"FAKE_EXIT": str(code), "FAKE_LOG": str(log), "CI_PROJECT_DIR": str(tmp_path)}
    env["CI_MERGE_REQUEST_TARGET_BRANCH_NAME"] = "main"
    review = script_item(doc["reconcile-review"], "reconcile diff")
    assert bash(review, tmp_path, env, path).returncode == (1 if code == 1 else 0)
    log.unlink()
    apply = script_item(doc["reconcile-apply"], "reconcile plan")
    assert bash(apply, tmp_path, env, path).returncode == (1 if code == 1 else 0)
    ran = [line.split()[0] for line in log.read_text().splitlines()]
    assert ran == (["plan", "apply"] if code == 2 else ["plan"])


# --- end to end: real git, real applies ----------------------------------------------------


def test_the_apply_job_applies_a_merged_change_once_and_then_nothing(
    project: Project, tmp_path: Path
) -> None:
    """The job's steps after checkout and install, as the runner runs them: the host's
    copy of the manifest is moved to the commit in a shallow workspace (what
    actions/checkout makes), planned with --detailed-exitcode (exit 2: changes) and the
    saved plan applied (exit 0); a second run finds nothing to do and skips the apply."""
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    git("init", "--quiet", "-b", "main", cwd=project.folder)
    commit_all(project.folder, "serving")
    workspace = tmp_path / "workspace"
    git("clone", "--quiet", "--depth", "1", project.folder.as_uri(), str(workspace), cwd=tmp_path)
    deploy, temp = tmp_path / "srv-models", tmp_path / "runner-temp"
    temp.mkdir()
    job = workflow()["jobs"]["apply"]
    assert set(job["env"]) == {"DEPLOY"}
    env = {
        "DEPLOY": str(deploy),
        "GITHUB_WORKSPACE": str(workspace),
        "RUNNER_TEMP": str(temp),
        "GITHUB_STEP_SUMMARY": str(temp / "summary"),
    }
    path = real_reconcile(tmp_path / "bin")

    first = run_job(job, workspace, env, path, temp)
    assert first["plan"] == {"changes": "true"}
    check_plan(json.loads((temp / "plan.json").read_text()))
    assert (deploy / ".envs" / "serving").is_symlink()
    assert git("rev-parse", "HEAD", cwd=deploy) == git("rev-parse", "HEAD", cwd=project.folder)
    which = subprocess.run(
        [path / "reconcile", "which", "chat"],
        cwd=deploy,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert which.returncode == 0 and which.stdout.startswith(str(deploy / ".envs")), which

    again = run_job(job, workspace, env, path, temp)
    assert again["plan"] == {"changes": "false"}


MAIN = SERVING.replace("beta==1.0", "beta==2.0") + TOOLS
"""main in docs/ci.md's sample pull request; the change adds beta to tools and a model."""
CHANGED = MAIN.replace('["gamma==1.0"]', '["gamma==1.0", "beta==2.0"]')
CHANGED += '\n[models.translate]\nenv = "tools"\n'


def sample_comment() -> str:
    (block,) = [b for b in blocks(DOCS / "ci.md") if b.lang == "markdown"]
    return block.text


@pytest.mark.skipif(
    not hasattr(reconciler.cli.verbs, "cmd_diff"), reason="reconcile diff is not implemented yet"
)
def test_the_review_job_passes_and_writes_the_comment_that_ci_md_shows(
    project: Project, tmp_path: Path
) -> None:
    """The pull request of docs/ci.md: main committed (``origin/main``), the change made and
    locked in the working tree; ``diff`` exits 2, and the review job's steps pass and leave
    the markdown the comment step posts, byte for byte the sample on the page."""
    require_python("3.11")
    project.write(MAIN)
    lock(project)
    git("init", "--quiet", "-b", "main", cwd=project.folder)
    commit_all(project.folder, "main")
    git("update-ref", "refs/remotes/origin/main", "HEAD", cwd=project.folder)
    project.write(CHANGED)
    lock(project)

    done = project.cli("diff", "git:origin/main", "--format", "markdown")
    assert done.returncode == 2, done.stderr
    assert done.stdout == sample_comment(), "docs/ci.md shows another comment than diff prints"

    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    path = real_reconcile(tmp_path / "bin")
    run_job(workflow()["jobs"]["review"], project.folder, env, path, tmp_path)
    assert (project.folder / "diff.md").read_text() == done.stdout  # what the comment posts
    assert summary.read_text() == done.stdout


def pull_script() -> str:
    (block,) = [
        b for b in all_blocks() if b.lang == "sh" and "# /usr/local/bin/reconcile-pull" in b.text
    ]
    assert block.text.startswith("#!/bin/sh\n")
    return block.text


def test_the_fleet_pull_script_applies_what_was_pushed_and_then_nothing(
    project: Project, tmp_path: Path
) -> None:
    require_python("3.11")
    project.write(SERVING)
    lock(project)
    git("init", "--quiet", "-b", "main", cwd=project.folder)
    commit_all(project.folder, "serving")
    origin, host = tmp_path / "origin.git", tmp_path / "srv-models"
    git("clone", "--quiet", "--bare", str(project.folder), str(origin), cwd=tmp_path)
    git("clone", "--quiet", str(origin), str(host), cwd=tmp_path)
    project.write(SERVING + TOOLS)  # a change merged after the host was set up
    lock(project)
    commit_all(project.folder, "tools")
    git("push", "--quiet", str(origin), "main", cwd=project.folder)
    script = tmp_path / "reconcile-pull"
    script.write_text(pull_script(), encoding="utf-8")
    path = real_reconcile(tmp_path / "bin")

    def pull() -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DEPLOY": str(host), "PATH": f"{path}:{os.environ['PATH']}"}
        return subprocess.run(
            ["sh", str(script)], env=env, capture_output=True, text=True, check=False, timeout=600
        )

    applied = pull()
    assert applied.returncode == 0, applied.stderr
    assert "Apply complete: 2 created, 2 rebound." in applied.stdout
    assert (host / ".envs" / "tools").is_symlink()
    assert git("rev-parse", "HEAD", cwd=host) == git("rev-parse", "HEAD", cwd=project.folder)

    nothing = pull()
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout.startswith("No changes. Environments match envs.toml.\n")
    assert "Apply complete" not in nothing.stdout


# --- links ---------------------------------------------------------------------------------


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_the_pages_link_to_files_and_headings_that_exist() -> None:
    for page in (*PAGES, REPO / "README.md"):
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"\w+://", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            assert linked.exists(), f"{page.name}: {target}"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.*)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name}: {target}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert f"](docs/{page.name})" in readme


def test_the_windows_example_builds_verifies_and_runs_every_model_on_windows() -> None:
    doc = load_yaml(WINDOWS.read_text(encoding="utf-8"))
    assert doc["jobs"]["windows-check"]["runs-on"] == "windows-latest"
    assert doc["defaults"]["run"]["shell"] == "pwsh"
    verbs = [args for where, args in all_reconcile_commands() if where.startswith(WINDOWS.name)]
    words = [" ".join(a for a in args if not a.startswith(("$", '"'))) for args in verbs]
    for wanted in ("apply --yes", "verify --deep", "status --format json", "run", "lock --check"):
        assert any(wanted in w for w in words), (wanted, words)
