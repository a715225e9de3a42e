"""The one-platform setting (issue 17), pure: the table of uv's ``--python-platform`` names,
whether a machine runs what was locked for one, the manifest key in ``[settings]`` and per
env, and the lockfile header that records it (``platform=NAME``) with its staleness."""

from __future__ import annotations

import platform as stdlib_platform
import sys
import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.errors import ManifestError
from reconciler.observe.inputs import LockVerdict
from reconciler.observe.machine import this_machine
from reconciler.spec.lockfile import (
    inputs_line,
    lock_inputs,
    parse_lockfile,
    seal,
    stale_causes,
)
from reconciler.spec.manifest import EnvSpec, Manifest, Sources, parse_manifest
from reconciler.spec.platforms import (
    ALIASES,
    PLATFORMS,
    UNBUILDABLE,
    UNIVERSAL_HOSTS,
    Machine,
    canonical_machine,
    canonical_platform,
    foreign_sentence,
    marker_hosts,
    parse_glibc,
    platform_problem,
    runs_on,
    serves_universally,
    target,
    unserved_sentence,
)

# What `uv pip compile --help` (uv 0.13) lists for --python-platform.
UV_NAMES = [
    name
    for line in (
        "windows linux macos x86_64-pc-windows-msvc aarch64-pc-windows-msvc",
        "i686-pc-windows-msvc x86_64-unknown-linux-gnu aarch64-apple-darwin",
        "x86_64-apple-darwin aarch64-unknown-linux-gnu aarch64-unknown-linux-musl",
        "x86_64-unknown-linux-musl riscv64-unknown-linux x86_64-manylinux2014",
        "x86_64-manylinux_2_17 x86_64-manylinux_2_28 x86_64-manylinux_2_31",
        "x86_64-manylinux_2_32 x86_64-manylinux_2_33 x86_64-manylinux_2_34",
        "x86_64-manylinux_2_35 x86_64-manylinux_2_36 x86_64-manylinux_2_37",
        "x86_64-manylinux_2_38 x86_64-manylinux_2_39 x86_64-manylinux_2_40",
        "aarch64-manylinux2014 aarch64-manylinux_2_17 aarch64-manylinux_2_28",
        "aarch64-manylinux_2_31 aarch64-manylinux_2_32 aarch64-manylinux_2_33",
        "aarch64-manylinux_2_34 aarch64-manylinux_2_35 aarch64-manylinux_2_36",
        "aarch64-manylinux_2_37 aarch64-manylinux_2_38 aarch64-manylinux_2_39",
        "aarch64-manylinux_2_40 aarch64-linux-android x86_64-linux-android",
        "wasm32-pyodide2024 wasm32-pyodide2025 arm64-apple-ios arm64-apple-ios-simulator",
        "x86_64-apple-ios-simulator",
    )
    for name in line.split()
]

LINUX_X86 = Machine("linux", "x86_64", "glibc", (2, 36))
names = st.sampled_from(sorted(PLATFORMS))


# --- the table ---------------------------------------------------------------------------------


def test_every_name_uv_lists_is_either_in_the_table_or_refused_as_unbuildable() -> None:
    assert [n for n in UV_NAMES if n not in UNBUILDABLE] == list(PLATFORMS)
    assert set(UNBUILDABLE) <= set(UV_NAMES)


@given(names)
def test_every_platform_maps_to_a_system_a_machine_and_the_markers_python_reports(
    name: str,
) -> None:
    one = PLATFORMS[name]
    assert one.name == name and target(name) == one and platform_problem(name) is None
    markers = one.markers
    assert set(markers) == {"sys_platform", "platform_system", "os_name", "platform_machine"}
    assert (one.system, markers["sys_platform"], markers["os_name"]) in {
        ("linux", "linux", "posix"),
        ("macos", "darwin", "posix"),
        ("windows", "win32", "nt"),
    }
    assert canonical_machine(markers["platform_machine"]) == one.machine
    assert (one.libc is not None) == (one.system == "linux")
    assert (one.glibc is not None) == (one.libc == "glibc")


@pytest.mark.parametrize(
    ("name", "described", "machine"),
    [
        ("linux", "Linux x86_64, glibc >= 2.28", "x86_64"),
        ("x86_64-manylinux2014", "Linux x86_64, glibc >= 2.17", "x86_64"),
        ("aarch64-manylinux_2_40", "Linux aarch64, glibc >= 2.40", "aarch64"),
        ("aarch64-unknown-linux-musl", "Linux aarch64, musl", "aarch64"),
        ("riscv64-unknown-linux", "Linux riscv64, glibc >= 2.39", "riscv64"),
        ("macos", "macOS arm64", "arm64"),
        ("x86_64-apple-darwin", "macOS x86_64", "x86_64"),
        ("windows", "Windows x86_64", "AMD64"),
        ("aarch64-pc-windows-msvc", "Windows aarch64", "ARM64"),
        ("i686-pc-windows-msvc", "Windows i686", "x86"),
    ],
)
def test_a_platform_is_described_and_reports_its_machine_as_python_does_there(
    name: str, described: str, machine: str
) -> None:
    assert PLATFORMS[name].describe() == described
    assert PLATFORMS[name].markers["platform_machine"] == machine


@given(st.sampled_from(sorted(ALIASES)))
def test_uvs_wheel_tag_spelling_of_a_name_means_that_name(alias: str) -> None:
    name = canonical_platform(alias)
    assert name in PLATFORMS and platform_problem(alias) is None
    assert target(alias) == PLATFORMS[name]
    assert alias.endswith(PLATFORMS[name].machine) and alias.startswith("manylinux")
    assert canonical_platform(name) == name


def test_the_aliases_are_the_wheel_tags() -> None:
    assert ALIASES["manylinux_2_28_x86_64"] == "x86_64-manylinux_2_28"
    assert ALIASES["manylinux2014_aarch64"] == "aarch64-manylinux2014"


@pytest.mark.parametrize(
    ("written", "problem"),
    [
        ("Linux", '"Linux" is not a platform uv knows; did you mean "linux"?'),
        ("x86_64-manylinux_228", 'did you mean "x86_64-manylinux_2_28"?'),
        (
            "x86_64-manylinux_2_27",
            'for glibc 2.17, 2.28 and 2.31 to 2.40); did you mean "x86_64-manylinux_2_17"?',
        ),
        ("manylinux_2_30_aarch64", 'did you mean "aarch64-manylinux_2_28"?'),
        ("manylinux_2_28_x86", 'did you mean "manylinux_2_28_x86_64"?'),
        ("solaris", 'use one of uv\'s --python-platform names, such as "linux"'),
        ("arm64-apple-ios", '"arm64-apple-ios" is a platform of iOS, where reconcile cannot'),
        ("wasm32-pyodide2024", "a platform of Pyodide, where reconcile cannot build envs; name"),
        ("x86_64-linux-android", "a platform of Android"),
    ],
)
def test_a_name_that_is_no_platform_reconcile_builds_on_says_why(
    written: str, problem: str
) -> None:
    said = platform_problem(written)
    assert said is not None and problem in said


def test_the_universal_hosts_are_linux_macos_and_windows_on_two_machines_each() -> None:
    hosts = marker_hosts("3.11", None)
    assert [name for name, _ in hosts] == [
        "Linux (x86_64)",
        "Linux (aarch64)",
        "Darwin (arm64)",
        "Darwin (x86_64)",
        "Windows (AMD64)",
        "Windows (ARM64)",
    ]
    assert len(UNIVERSAL_HOSTS) == 6
    assert all(env["python_full_version"] == "3.11.0" for _, env in hosts)


def test_a_one_platform_lockfile_has_that_platform_as_its_only_host() -> None:
    [(name, env)] = marker_hosts("3.12.1", "aarch64-pc-windows-msvc")
    assert name == "Windows (ARM64)"
    assert env["sys_platform"] == "win32" and env["python_version"] == "3.12"


# --- this machine, and whether it runs what was locked for a platform --------------------------


@pytest.mark.parametrize(
    ("reported", "canonical"),
    [
        ("AMD64", "x86_64"),
        ("x86_64", "x86_64"),
        ("arm64", "aarch64"),
        ("ARM64", "aarch64"),
        ("aarch64", "aarch64"),
        ("i686", "i686"),
        ("x86", "i686"),
        ("riscv64", "riscv64"),
        ("ppc64le", "ppc64le"),
    ],
)
def test_a_machine_has_one_name_whatever_the_system_calls_it(reported: str, canonical: str) -> None:
    assert canonical_machine(reported) == canonical


@pytest.mark.parametrize(
    ("said", "version"),
    [
        ("glibc 2.36", (2, 36)),
        ("glibc 2.17", (2, 17)),
        ("glibc 2", None),
        ("musl", None),
        ("glibc x.y", None),
        ("", None),
    ],
)
def test_the_glibc_version_is_read_from_what_confstr_says(
    said: str, version: tuple[int, int] | None
) -> None:
    assert parse_glibc(said) == version


@pytest.mark.parametrize(
    ("name", "machine", "runs"),
    [
        ("x86_64-manylinux_2_28", LINUX_X86, True),
        ("linux", LINUX_X86, True),
        ("x86_64-manylinux_2_36", LINUX_X86, True),
        ("x86_64-manylinux_2_37", LINUX_X86, False),
        ("x86_64-manylinux2014", Machine("linux", "x86_64", "glibc", (2, 17)), True),
        ("x86_64-manylinux_2_28", Machine("linux", "x86_64", "glibc", (2, 17)), False),
        ("x86_64-manylinux_2_28", Machine("linux", "x86_64", "glibc", None), False),
        ("aarch64-manylinux_2_28", LINUX_X86, False),
        ("aarch64-manylinux_2_28", Machine("linux", "aarch64", "glibc", (2, 36)), True),
        ("x86_64-unknown-linux-musl", Machine("linux", "x86_64", "musl"), True),
        ("x86_64-unknown-linux-musl", LINUX_X86, False),
        ("x86_64-manylinux_2_28", Machine("linux", "x86_64", "musl"), False),
        ("x86_64-manylinux_2_28", Machine("linux", "x86_64"), False),
        ("windows", LINUX_X86, False),
        ("windows", Machine("windows", "x86_64"), True),
        ("aarch64-pc-windows-msvc", Machine("windows", "x86_64"), False),
        ("macos", Machine("macos", "aarch64"), True),
        ("x86_64-apple-darwin", Machine("macos", "aarch64"), False),
        ("linux", Machine("freebsd", "x86_64"), False),
    ],
)
def test_a_machine_runs_a_platform_of_its_system_machine_and_c_library(
    name: str, machine: Machine, runs: bool
) -> None:
    assert runs_on(PLATFORMS[name], machine) is runs


@given(names)
def test_a_platform_runs_on_the_machine_it_describes(name: str) -> None:
    one = PLATFORMS[name]
    assert runs_on(one, Machine(one.system, one.machine, one.libc, one.glibc))
    other = "x86_64" if one.machine != "x86_64" else "aarch64"
    assert not runs_on(one, Machine(one.system, other, one.libc, one.glibc))


def test_the_refusal_names_the_env_the_platform_and_this_machine() -> None:
    sentence = foreign_sentence(
        "gpu", PLATFORMS["x86_64-manylinux_2_28"], Machine("linux", "aarch64", "glibc", (2, 39))
    )
    assert sentence == (
        "env gpu is locked for x86_64-manylinux_2_28 (Linux x86_64, glibc >= 2.28) and this "
        "machine is Linux aarch64 (glibc 2.39): build it on such a machine, or change or "
        "remove its `platform` in envs.toml and run `reconcile lock gpu`."
    )
    assert Machine("linux", "x86_64").describe() == "Linux x86_64 (C library not recognised)"
    assert Machine("linux", "x86_64", "musl").describe() == "Linux x86_64 (musl)"
    assert Machine("macos", "aarch64").describe() == "macOS arm64"


@pytest.mark.skipif(sys.platform != "linux", reason="reads a Linux machine")
def test_this_machine_is_read_as_the_system_reports_it() -> None:
    machine = this_machine()
    assert machine.system == "linux"
    assert machine.machine == canonical_machine(stdlib_platform.machine())
    library, version = stdlib_platform.libc_ver()
    if library == "glibc":
        assert machine.libc == "glibc" and machine.glibc == parse_glibc(f"glibc {version}")


# --- the manifest key --------------------------------------------------------------------------


def _parse(body: str) -> Manifest:
    return parse_manifest(textwrap.dedent(body), "envs.toml")


def _problems(body: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        _parse(body)
    return [f"{p.line}: {p.key_path}: {p.message}" for p in caught.value.problems]


def test_an_env_is_locked_for_its_own_platform_else_the_settings_one_else_universally() -> None:
    manifest = _parse("""\
        [settings]
        platform = "x86_64-manylinux_2_28"

        [envs.gpu]
        python = "3.11"

        [envs.mac]
        python = "3.11"
        platform = "macos"

        [envs.old]
        adopt = "old/.venv"
        """)
    assert manifest.platform_for("gpu") == "x86_64-manylinux_2_28"
    assert manifest.platform_for("mac") == "macos"
    assert manifest.platform_for("old") is None
    assert _parse('[envs.any]\npython = "3.11"\n').platform_for("any") is None


def test_a_platform_spelt_as_a_wheel_tag_is_read_as_uvs_name() -> None:
    manifest = _parse('[envs.gpu]\npython = "3.11"\nplatform = "manylinux_2_28_x86_64"\n')
    assert manifest.platform_for("gpu") == "x86_64-manylinux_2_28"


def test_a_bad_platform_is_an_error_naming_the_line_and_key_with_a_did_you_mean() -> None:
    assert _problems("""\
        [settings]
        platform = "x86_64-manylinux_2_82"

        [envs.gpu]
        python = "3.11"
        platform = "Windows"

        [envs.phone]
        python = "3.11"
        platform = "arm64-apple-ios"

        [envs.num]
        python = "3.11"
        platform = 3
        """) == [
        '2: settings.platform: "x86_64-manylinux_2_82" is not a platform uv knows (its '
        "manylinux names are for glibc 2.17, 2.28 and 2.31 to 2.40); did you mean "
        '"x86_64-manylinux_2_40"?',
        '6: envs.gpu.platform: "Windows" is not a platform uv knows; did you mean "windows"?',
        '10: envs.phone.platform: "arm64-apple-ios" is a platform of iOS, where reconcile '
        "cannot build envs; name a Linux, macOS or Windows platform, such as "
        '"x86_64-manylinux_2_28"',
        "14: envs.num.platform: expected a string, got integer 3",
    ]


def test_an_adopted_env_cannot_have_a_platform() -> None:
    assert _problems("""\
        [envs.old]
        adopt = "old/.venv"
        platform = "linux"
        """) == [
        '3: envs.old.platform: an adopted env cannot have "platform"; remove it, or remove '
        '"adopt" to let reconcile build this env'
    ]


# --- the lockfile header -----------------------------------------------------------------------

SPEC = EnvSpec(python="3.11", requirements=("app==1.0",))
SOURCES = Sources()
HASH = "a" * 64


def _lockfile(python_platform: str | None, pins: str = f"app==1.0 --hash=sha256:{HASH}\n") -> str:
    header = inputs_line(lock_inputs(SPEC, SOURCES, python_platform))
    return seal(
        f'# Generated by `reconcile lock` for env "gpu"; do not edit by hand.\n{header}\n{pins}'
    )


def test_a_universal_header_records_no_platform_so_old_lockfiles_stay_fresh() -> None:
    assert "platform" not in lock_inputs(SPEC, SOURCES)
    assert lock_inputs(SPEC, SOURCES, None) == lock_inputs(SPEC, SOURCES)
    assert " platform=" not in _lockfile(None)


def test_a_one_platform_header_records_the_platform_by_name() -> None:
    text = _lockfile("x86_64-manylinux_2_28")
    assert " platform=x86_64-manylinux_2_28 " in text.splitlines()[1]
    lock = parse_lockfile(text, "lockfiles/gpu.txt")
    assert lock.inputs is not None and lock.inputs["platform"] == "x86_64-manylinux_2_28"
    assert stale_causes(lock, SPEC, SOURCES, "x86_64-manylinux_2_28") == ()


@pytest.mark.parametrize(
    ("locked_for", "wanted"),
    [(None, "linux"), ("linux", None), ("linux", "x86_64-manylinux_2_28"), ("macos", "windows")],
)
def test_a_lockfile_for_another_platform_is_stale_because_the_platform_changed(
    locked_for: str | None, wanted: str | None
) -> None:
    lock = parse_lockfile(_lockfile(locked_for), "lockfiles/gpu.txt")
    assert stale_causes(lock, SPEC, SOURCES, wanted) == ("platform changed",)


def test_a_one_platform_lockfile_is_checked_against_the_requirements_there_alone() -> None:
    spec = EnvSpec(python="3.11", requirements=("app==1.0", "winonly==1.0 ; os_name == 'nt'"))

    def causes(python_platform: str) -> tuple[str, ...]:
        header = inputs_line(lock_inputs(spec, SOURCES, python_platform))
        text = seal(f"# Generated by `reconcile lock`\n{header}\napp==1.0 --hash=sha256:{HASH}\n")
        return stale_causes(parse_lockfile(text, "gpu.txt"), spec, SOURCES, python_platform)

    assert causes("linux") == ()
    assert causes("windows") == ("requirement winonly==1.0 ; os_name == 'nt' is not pinned",)


def test_plan_refuses_a_lockfile_for_a_platform_this_machine_is_not_and_no_other() -> None:
    aarch64 = parse_lockfile(_lockfile("aarch64-manylinux_2_28"), "lockfiles/gpu.txt")
    refusal = LockVerdict("gpu", aarch64).elsewhere(LINUX_X86)
    assert refusal is not None and refusal.message.startswith(
        "env gpu is locked for aarch64-manylinux_2_28 (Linux aarch64, glibc >= 2.28) and this "
        "machine is Linux x86_64 (glibc 2.36)"
    )
    for fits in (None, "x86_64-manylinux_2_28", "linux"):
        lock = parse_lockfile(_lockfile(fits), "lockfiles/gpu.txt")
        assert LockVerdict("gpu", lock).elsewhere(LINUX_X86) is None
    assert LockVerdict("gpu", None).elsewhere(LINUX_X86) is None


def test_a_one_platform_lockfile_has_no_markers_so_every_pin_installs_here() -> None:
    lock = parse_lockfile(_lockfile("linux"), "lockfiles/gpu.txt")
    assert lock.for_env({"sys_platform": "win32"}) == {"app": "1.0"}


@pytest.mark.parametrize(
    ("machine", "served"),
    [
        (Machine("linux", "x86_64", "glibc", (2, 36)), True),
        (Machine("linux", "aarch64", "glibc", (2, 28)), True),
        (Machine("linux", "x86_64", "musl"), True),
        (Machine("macos", "aarch64"), True),
        (Machine("macos", "x86_64"), True),
        (Machine("windows", "x86_64"), True),
        (Machine("windows", "aarch64"), True),
        (Machine("linux", "ppc64le", "glibc", (2, 36)), False),
        (Machine("linux", "riscv64", "glibc", (2, 39)), False),
        (Machine("linux", "s390x", "glibc", (2, 36)), False),
        (Machine("windows", "i686"), False),
        (Machine("freebsd", "x86_64"), False),
    ],
)
def test_a_universal_lockfile_serves_the_six_hosts_its_markers_were_scoped_for(
    machine: Machine, served: bool
) -> None:
    """Markers of a universal lockfile are scoped to six hosts: on a seventh they could pick
    what uv excluded there, so plan refuses in one sentence naming the machine."""
    assert serves_universally(machine) is served
    said = unserved_sentence("gpu", machine)
    assert said.startswith("env gpu is locked for Linux, macOS and Windows on x86_64 and ARM")
    assert machine.describe() in said and "`reconcile lock gpu`" in said
