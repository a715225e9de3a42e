"""RECORD parsing, path classification and ignore globs: pure functions, table-tested."""

from __future__ import annotations

import hashlib

import pytest
from packaging.utils import canonicalize_name

from reconciler.core.integrity import CATEGORIES, IntegrityFinding, VerifyReport
from reconciler.spec.ignore import glob_regex, ignore_matcher
from reconciler.spec.record import (
    EMPTY_SHA256,
    MAX_INVALID_ROWS,
    InvalidRecordRow,
    RecordChecks,
    RecordRow,
    dist_name,
    env_relative,
    is_bytecode,
    parse_record,
    record_digest,
    resolve_record,
    site_relative,
)

DIGEST = record_digest(hashlib.sha256(b"VERSION = '1.0'\n").digest())
SITE = "lib/python3.11/site-packages"


@pytest.mark.parametrize(
    ("elements", "expected"),
    [
        (
            ["alpha/__init__.py", f"sha256={DIGEST}", "16"],
            RecordRow("alpha/__init__.py", "sha256", DIGEST, 16),
        ),
        (
            ["alpha-1.0.dist-info/RECORD", "", ""],
            RecordRow("alpha-1.0.dist-info/RECORD", None, None, None),
        ),
        (["a/b.pyc", "", ""], RecordRow("a/b.pyc", None, None, None)),
        (["a.py", f"sha256={DIGEST}=", ""], RecordRow("a.py", "sha256", DIGEST, None)),
        (["a.py", f"SHA256={DIGEST}", "0"], RecordRow("a.py", "sha256", DIGEST, 0)),
        (["a,b.py", f"sha256={DIGEST}", "3"], RecordRow("a,b.py", "sha256", DIGEST, 3)),
        (
            ["../../../bin/tool", f"sha256={DIGEST}", "9"],
            RecordRow("../../../bin/tool", "sha256", DIGEST, 9),
        ),
    ],
)
def test_a_well_formed_row_parses_into_its_fields(elements: list[str], expected: RecordRow) -> None:
    assert RecordRow.from_elements(elements) == expected


def test_a_row_hashed_with_another_algorithm_is_kept_but_not_hash_verified() -> None:
    row = RecordRow.from_elements(["a.py", "md5=1B2M2Y8AsgTpgAmY7PhCfg", "0"])
    assert (row.algorithm, row.digest, row.size) == ("md5", "1B2M2Y8AsgTpgAmY7PhCfg", 0)
    assert row.sha256 is None
    assert row.note is not None
    assert "md5" in row.note
    assert "presence and size only" in row.note


@pytest.mark.parametrize(
    ("elements", "issues"),
    [
        (["a.py", "", ""][:2], ["expected 3 fields (path, hash, size), got 2"]),
        (["a.py", "", "", "x"], ["expected 3 fields (path, hash, size), got 4"]),
        (["", "", ""], ["the path is empty"]),
        (["a\0b", "", ""], ["the path contains a NUL character"]),
        (["a.py", "sha256", ""], ['the hash "sha256" is not written as algorithm=digest']),
        (["a.py", "=abc", ""], ['the hash "=abc" is not written as algorithm=digest']),
        (["a.py", "sha256=", ""], ['the hash "sha256=" is not written as algorithm=digest']),
        (
            ["a.py", "sha256=abc", ""],
            ['the sha256 digest "abc" is not 43 characters of urlsafe base64'],
        ),
        (
            ["a.py", "sha256=" + DIGEST.replace("_", "/").replace("-", "+") + "/", ""],
            [
                'the sha256 digest "'
                + DIGEST.replace("_", "/").replace("-", "+")
                + '/" is not 43 characters of urlsafe base64'
            ],
        ),
        (["a.py", "", "12kb"], ['the size "12kb" is not a whole number of bytes']),
        (["a.py", "", "-1"], ['the size "-1" is not a whole number of bytes']),
        (
            ["", "sha256=short", "big"],
            [
                "the path is empty",
                'the sha256 digest "short" is not 43 characters of urlsafe base64',
                'the size "big" is not a whole number of bytes',
            ],
        ),
    ],
)
def test_a_malformed_row_names_every_problem_at_once(
    elements: list[str], issues: list[str]
) -> None:
    with pytest.raises(InvalidRecordRow) as caught:
        RecordRow.from_elements(elements, line=7)
    assert list(caught.value.issues) == issues
    assert caught.value.line == 7
    assert str(caught.value).startswith("line 7: ")


def test_parsing_a_record_keeps_good_rows_and_reports_bad_lines_with_numbers() -> None:
    text = (
        f"alpha/__init__.py,sha256={DIGEST},16\r\n"
        "\n"
        "alpha/broken.py,sha256=nope,abc\n"
        '"alpha/quoted, name.py",,\n'
        '"alpha/bad"quote,,\n'
        "alpha-1.0.dist-info/RECORD,,\n"
    )
    parsed = parse_record(text)
    assert [row.path for row in parsed.rows] == [
        "alpha/__init__.py",
        "alpha/quoted, name.py",
        "alpha-1.0.dist-info/RECORD",
    ]
    assert [row.line for row in parsed.rows] == [1, 4, 6]
    assert [problem.line for problem in parsed.problems] == [3, 5]
    assert parsed.problems[0].issues == (
        'the sha256 digest "nope" is not 43 characters of urlsafe base64',
        'the size "abc" is not a whole number of bytes',
    )
    assert parsed.problems[1].issues[0].startswith("not a CSV row")


def test_bytes_that_are_not_utf8_spoil_only_their_own_row() -> None:
    data = f"alpha/ok.py,sha256={DIGEST},16\n".encode() + b"alpha/\xff.py,,\n"
    parsed = parse_record(data)
    assert [row.path for row in parsed.rows] == ["alpha/ok.py"]
    assert parsed.problems[0].line == 2
    assert parsed.problems[0].issues == ("the path is not valid UTF-8",)


def test_a_byte_order_mark_and_an_empty_record_parse_without_problems() -> None:
    assert parse_record("\ufeffa.py,,\n").rows == (RecordRow("a.py", None, None, None, 1),)
    assert parse_record(b"") == parse_record("\n\n")
    assert parse_record(b"").rows == ()


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("alpha/__pycache__/__init__.cpython-311.pyc", True),
        ("alpha/__pycache__/anything.txt", True),
        ("alpha/legacy.pyc", True),
        ("alpha/legacy.pyo", True),
        ("alpha\\__pycache__\\x.pyc", True),
        ("alpha/__init__.py", False),
        ("alpha/pycache/x.py", False),
        ("alpha/x.pyc.txt", False),
        ("alpha/__pycache__x/y.py", False),
    ],
)
def test_bytecode_paths_are_recognised(path: str, expected: bool) -> None:
    assert is_bytecode(path) is expected


@pytest.mark.parametrize(
    ("path", "site", "windows", "expected"),
    [
        ("alpha/__init__.py", SITE, False, f"{SITE}/alpha/__init__.py"),
        ("./alpha//x.py", SITE, False, f"{SITE}/alpha/x.py"),
        ("../../../bin/alpha-cli", SITE, False, "bin/alpha-cli"),
        ("../../../include/site/python3.11/a/a.h", SITE, False, "include/site/python3.11/a/a.h"),
        ("../../../etc/passwd", SITE, False, "etc/passwd"),
        ("../../../../etc/passwd", SITE, False, None),
        ("alpha/../../../../../x", SITE, False, None),
        ("/etc/passwd", SITE, False, None),
        ("\\etc\\passwd", SITE, False, None),
        ("..\\..\\..\\..\\x", SITE, False, f"{SITE}/..\\..\\..\\..\\x"),
        ("../../..", SITE, False, ""),
        ("../../Scripts/alpha-cli.exe", "Lib/site-packages", True, "Scripts/alpha-cli.exe"),
        ("..\\..\\Scripts\\alpha-cli.exe", "Lib\\site-packages", True, "Scripts/alpha-cli.exe"),
        ("../../../x", "Lib/site-packages", True, None),
        ("C:\\Windows\\system32\\x.dll", "Lib/site-packages", True, None),
        ("C:x.dll", "Lib/site-packages", True, None),
        ("C:x.dll", SITE, False, f"{SITE}/C:x.dll"),
    ],
)
def test_record_paths_resolve_inside_the_env_or_are_reported_as_escaping(
    path: str, site: str, windows: bool, expected: str | None
) -> None:
    assert env_relative(path, site, windows=windows) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("certifi/cacert.pem", "certifi/cacert.pem"),
        ("./certifi//cacert.pem", "certifi/cacert.pem"),
        ("certifi/../pip/x", "pip/x"),
        ("../../../bin/tool", None),
        ("/abs", None),
    ],
)
def test_paths_are_normalized_inside_site_packages_for_ignore_globs(
    path: str, expected: str | None
) -> None:
    assert site_relative(path, windows=False) == expected


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("certifi/cacert.pem", "certifi/cacert.pem", True),
        ("certifi/cacert.pem", "pip/_vendor/certifi/cacert.pem", False),
        ("**/cacert.pem", "pip/_vendor/certifi/cacert.pem", True),
        ("**/cacert.pem", "cacert.pem", True),
        ("**/certifi/cacert.pem", "certifi/cacert.pem", True),
        ("certifi/*.pem", "certifi/cacert.pem", True),
        ("certifi/*.pem", "certifi/sub/cacert.pem", False),
        ("*/cacert.pem", "pip/_vendor/certifi/cacert.pem", False),
        ("certifi/**", "certifi/sub/deep/file", True),
        ("certifi/**", "certifi2/file", False),
        ("certifi/cacert.pe?", "certifi/cacert.pem", True),
        ("certifi/cacert.pe?", "certifi/cacert.pe/", False),
        ("data/[ab].txt", "data/a.txt", True),
        ("data/[!ab].txt", "data/a.txt", False),
        ("data/[!ab].txt", "data/c.txt", True),
        ("data/[!ab].txt", "data//.txt", False),
        ("data/[]].txt", "data/].txt", True),
        ("data/[unclosed.txt", "data/[unclosed.txt", True),
        ("a+b/(x).txt", "a+b/(x).txt", True),
        ("a.b", "aXb", False),
        ("**", "anything/at/all", True),
    ],
)
def test_ignore_globs_match_like_gitignore_anchored_at_site_packages(
    pattern: str, path: str, matches: bool
) -> None:
    assert bool(glob_regex(pattern).fullmatch(path)) is matches


def test_the_ignore_matcher_names_the_first_pattern_that_matched() -> None:
    match = ignore_matcher(["certifi/cacert.pem", "**/cacert.pem"])
    assert match("certifi/cacert.pem") == "certifi/cacert.pem"
    assert match("pip/_vendor/certifi/cacert.pem") == "**/cacert.pem"
    assert match("certifi/core.py") is None
    assert ignore_matcher([])("anything") is None


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        ("alpha-1.0.dist-info", "alpha"),
        ("Alpha-2.0.dist-info", "alpha"),
        ("typing_extensions-4.12.2.dist-info", "typing-extensions"),
        ("zope.interface-6.0.dist-info", "zope-interface"),
        ("python-dateutil-2.8.2.dist-info", "python-dateutil"),
        ("noversion.dist-info", "noversion"),
    ],
)
def test_dist_info_folders_name_their_canonical_distribution(folder: str, name: str) -> None:
    assert dist_name(folder) == name


def test_the_empty_digest_is_the_record_digest_of_zero_bytes() -> None:
    assert record_digest(hashlib.sha256(b"").digest()) == EMPTY_SHA256


def test_a_report_counts_findings_per_category_in_a_fixed_order() -> None:
    findings = (
        IntegrityFinding("zero_byte", "a", "x"),
        IntegrityFinding("missing", "b", "y"),
        IntegrityFinding("missing", "a", "z"),
    )
    report = VerifyReport("env", (SITE,), findings, (), 2, 3, 0, 0)
    assert list(report.counts().items()) == [("missing", 2), ("zero_byte", 1)]
    assert report.corrupted_dists() == ("a", "b")
    assert not report.ok
    assert VerifyReport("env", (SITE,), (), (), 0, 0, 0, 0).ok
    assert set(report.counts()) <= set(CATEGORIES)


@pytest.mark.parametrize(
    "line",
    [
        f"alpha/__init__.py,sha256={DIGEST},16",
        f"alpha/__init__.py,SHA256={DIGEST},16",
        f"alpha/__init__.py,sha256={DIGEST}=,16",
        f"alpha/__init__.py,sha256={DIGEST},",
        f"alpha/__init__.py,sha256={DIGEST[:-1]}B,16",
        f"alpha/x y.py,sha256={DIGEST},0016",
        f"../../../bin/tool,sha256={DIGEST},9",
        f"a\0b,sha256={DIGEST},1",
        f"a\ufffdb,sha256={DIGEST},1",
        f",sha256={DIGEST},1",
        f"a,sha256={DIGEST},1,",
        "a.py,,",
    ],
)
def test_parsing_a_line_agrees_with_the_named_constructor(line: str) -> None:
    parsed = parse_record(line)
    try:
        expected = RecordRow.from_elements(line.split(","), line=1)
    except InvalidRecordRow as exc:
        assert parsed.rows == ()
        assert parsed.problems[0].issues == exc.issues
    else:
        assert parsed.rows == (expected,)
        assert parsed.problems == ()


# -- resolving a RECORD for the walk --------------------------------------------------------

RECORD_REL = f"{SITE}/alpha-1.0.dist-info/RECORD"


def test_resolving_a_record_keeps_each_file_once_with_where_it_lands_in_the_env() -> None:
    text = (
        f"alpha/__init__.py,sha256={DIGEST},16\r\n"
        "\n"
        f"alpha/./__init__.py,sha256={DIGEST},16\n"
        "alpha/__pycache__/__init__.cpython-311.pyc,,\n"
        "alpha/legacy.pyc,,12\n"
        f"../../../bin/alpha,sha256={DIGEST},9\n"
        "alpha/old.txt,md5=1B2M2Y8AsgTpgAmY7PhCfg,0\n"
        "alpha/new.txt,sha512=abc,3\n"
        "alpha-1.0.dist-info/RECORD,,\n"
    )
    checks = resolve_record(text, RECORD_REL, SITE, windows=False)
    assert checks.rows == (
        ("alpha/__init__.py", f"{SITE}/alpha/__init__.py", DIGEST, 16),
        ("../../../bin/alpha", "bin/alpha", DIGEST, 9),
        ("alpha/old.txt", f"{SITE}/alpha/old.txt", None, 0),
        ("alpha/new.txt", f"{SITE}/alpha/new.txt", None, 3),
        ("alpha-1.0.dist-info/RECORD", f"{SITE}/alpha-1.0.dist-info/RECORD", None, None),
    )
    assert checks.issues == ()
    assert checks.bytecode_rows == 2
    assert checks.other_algorithms == (("md5", 1), ("sha512", 1))


def test_resolving_a_record_turns_bad_and_escaping_rows_into_issues() -> None:
    lines = [f"../../../../etc/passwd,sha256={DIGEST},9", "/etc/shadow,,"]
    lines += [f"junk{i},md5,big" for i in range(MAX_INVALID_ROWS + 3)]
    checks = resolve_record("\n".join(lines), RECORD_REL, SITE, windows=False)
    assert checks.rows == ()
    assert checks.issues[:2] == (
        ("outside_env", "../../../../etc/passwd", "RECORD line 1 points outside the env; not read"),
        ("outside_env", "/etc/shadow", "RECORD line 2 points outside the env; not read"),
    )
    invalid = checks.issues[2:]
    assert [(category, path) for category, path, _ in invalid] == [
        ("record_invalid", RECORD_REL)
    ] * (MAX_INVALID_ROWS + 1)
    assert invalid[0][2].startswith("line 3: ")
    assert invalid[-1][2] == "and 3 more lines that do not parse"


def test_resolving_agrees_with_parsing_row_by_row() -> None:
    text = "\n".join(
        [
            f"alpha/a.py,sha256={DIGEST},16",
            f'"alpha/quoted, name.py",sha256={DIGEST},16',
            f"alpha/b.py,SHA256={DIGEST}=,",
            "alpha/broken.py,sha256=nope,abc",
            "alpha/c.py,,",
        ]
    )
    parsed = parse_record(text)
    checks = resolve_record(text, RECORD_REL, SITE, windows=False)
    assert [(row.path, row.sha256, row.size) for row in parsed.rows] == [
        (path, sha256, size) for path, _, sha256, size in checks.rows
    ]
    assert [f"line {p.line}: {'; '.join(p.issues)}" for p in parsed.problems] == [
        detail for _, _, detail in checks.issues
    ]


def test_resolved_checks_survive_their_plain_form_and_refuse_any_other_shape() -> None:
    checks = resolve_record(
        f"a.py,sha256={DIGEST},16\nb.py,md5=x,1\n/abs,,\n", RECORD_REL, SITE, windows=False
    )
    assert RecordChecks.from_plain(checks.to_plain()) == checks
    row = ("a.py", f"{SITE}/a.py", DIGEST, 16)
    malformed: list[object] = [
        None,
        [],
        (),
        ((row,), (), 0),
        ([row], (), 0, ()),
        ((row,), (), "0", ()),
        ((("a.py", f"{SITE}/a.py", DIGEST),), (), 0, ()),
        ((("a.py", f"{SITE}/a.py", DIGEST, "16"),), (), 0, ()),
        ((("a.py", None, DIGEST, 16),), (), 0, ()),
        ((row,), (("no_such_category", "a", "b"),), 0, ()),
        ((row,), (), 0, (("md5", "1"),)),
    ]
    for bad in malformed:
        assert RecordChecks.from_plain(bad) is None, bad


@pytest.mark.parametrize(
    "folder",
    [
        "Foo_Bar-1.0.dist-info",
        "foo.bar-2.dist-info",
        "FOO--bar__baz-3.dist-info",
        "zope.interface-6.0.dist-info",
        "nover.dist-info",
    ],
)
def test_dist_names_are_canonical_exactly_as_packaging_makes_them(folder: str) -> None:
    stem = folder.removesuffix(".dist-info")
    name = stem.rpartition("-")[0] or stem
    assert dist_name(folder) == canonicalize_name(name)
