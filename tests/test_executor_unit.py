"""Unit tests of the executor's scheduling: ``Applier`` with a fake builder, verifier, health
check, reporter and store (no uv, no venv, no file written).

Every fake appends to one shared log, so a test reads the order in which the executor built,
switched, bound and deleted.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.actions import Action
from reconciler.core.facts import Finding
from reconciler.core.integrity import RecordDefect
from reconciler.core.plan import Plan, Step
from reconciler.execute.builder import FileProblem
from reconciler.execute.executor import Applier, Interrupted
from reconciler.execute.targets import EnvTarget
from reconciler.execute.uv import BuildError, BuildRequest
from reconciler.platform import POSIX_VENV
from reconciler.spec.lockfile import Lockfile
from reconciler.spec.manifest import LoadedManifest, parse_manifest
from reconciler.store.bindings import AppliedState
from reconciler.store.generations import Generation, Removal

MANIFEST = """\
[envs.web]
python = "3.11"

[envs.api]
python = "3.12"

[models.m-web]
env = "web"

[models.m-api]
env = "api"

[envs.legacy]
adopt = "legacy/.venv"
delete = true
"""

WAIT = 5.0
"""Seconds a fake waits for another thread before the test fails (never reached when green)."""

Log = list[tuple[str, ...]]


class FakeStore:
    """Generations, links and bindings in memory; every write goes into ``log``."""

    def __init__(self, root: Path, log: Log, state: AppliedState | None = None) -> None:
        self.root = root
        self.log = log
        self.state = state or AppliedState()
        self.gens: dict[str, list[Generation]] = {}
        self.last: dict[str, int] = {}
        self.live: dict[str, str] = {}
        self.receipts: dict[Path, Mapping[str, Any]] = {}
        self.broken_ids: set[str] = set()
        """The generations ``broken`` reports as unable to start, set by a test."""
        self.adopted_problem: str | None = None
        """What ``adopted_delete_problem`` answers: the disk's verdict, set by a test."""
        self.switch_error: OSError | None = None
        """What ``switch`` raises, set by a test (a filesystem without junctions)."""

    def add_live(self, env_key: str) -> Generation:
        """An env reconcile built earlier: one complete generation, linked."""
        _, path = self.new_generation(env_key)
        self.write_receipt(path, {})
        self.live[env_key] = path.name
        self.log.clear()
        return self.gens[env_key][-1]

    def refuse_foreign(self, env_key: str) -> None:
        pass

    def new_generation(self, env_key: str) -> tuple[str, Path]:
        number = self.last.get(env_key, 0) + 1
        self.last[env_key] = number
        gen_id = f"g{number:04d}"
        path = self.generations_dir(env_key) / gen_id
        self.gens.setdefault(env_key, []).append(Generation(env_key, gen_id, path, False))
        self.log.append(("new", env_key, gen_id))
        return gen_id, path

    def write_receipt(self, gen_dir: Path, receipt: Mapping[str, Any]) -> None:
        key = gen_dir.parent.name
        others = [g for g in self.gens[key] if g.path != gen_dir]  # the builder made the folder
        self.gens[key] = [*others, Generation(key, gen_dir.name, gen_dir, True)]
        self.receipts[gen_dir] = receipt
        self.log.append(("receipt", key, gen_dir.name))

    def live_generation(self, env_key: str) -> Generation | None:
        found = [g for g in self.gens.get(env_key, []) if g.gen_id == self.live.get(env_key)]
        return found[0] if found else None

    def mark_live(self, gen_dir: Path) -> None:
        if self.receipts.get(gen_dir, {}).get("live_since", "") is None:
            self.receipts[gen_dir] = {**self.receipts[gen_dir], "live_since": "now"}

    def never_live(
        self, generations: Sequence[Generation], live: Generation | None
    ) -> frozenset[str]:
        return frozenset(
            g.gen_id
            for g in generations
            if g != live and self.receipts.get(g.path, {}).get("live_since", "") is None
        )

    def owned_generations(self, env_key: str) -> list[Generation]:
        return list(self.gens.get(env_key, []))

    def broken(self, generations: Sequence[Generation]) -> frozenset[str]:
        return frozenset(g.gen_id for g in generations if g.gen_id in self.broken_ids)

    def generations_dir(self, env_key: str) -> Path:
        return self.root / ".generations" / env_key

    def last_number(self, env_key: str) -> int:
        return self.last.get(env_key, 0)

    def switch(self, env_key: str, gen_dir: Path) -> None:
        assert any(g.path == gen_dir and g.complete for g in self.gens[env_key])
        if self.switch_error is not None:
            raise self.switch_error
        self.live[env_key] = gen_dir.name
        self.log.append(("switch", env_key, gen_dir.name))

    def has_link(self, env_key: str) -> bool:
        return env_key in self.live

    def occupied(self, env_key: str) -> bool:
        return self.has_link(env_key)

    def unlink_env(self, env_key: str) -> None:
        del self.live[env_key]
        self.log.append(("unlink", env_key))

    def delete_tree(self, path: Path) -> Removal:
        for key, gens in self.gens.items():
            kept = [g for g in gens if path not in (g.path, g.path.parent)]
            self.gens[key] = kept
        self.log.append(("delete", str(path.relative_to(self.root))))
        return Removal(removed=(str(path),))

    def delete_adopted(self, folder: Path) -> Removal:
        self.log.append(("delete_adopted", folder.relative_to(self.root.parent).as_posix()))
        return Removal(removed=(str(folder),))

    def adopted_delete_problem(
        self, loaded: LoadedManifest, env_key: str, state: AppliedState
    ) -> str | None:
        self.log.append(("asked", env_key, *sorted(state.adopted)))
        return self.adopted_problem

    def read_state(self) -> AppliedState:
        return self.state

    def write_state(self, state: AppliedState) -> None:
        self.state = state
        self.log.append(("bindings", *sorted(f"{m}={e}" for m, e in state.bindings.items())))


def until(condition: Callable[[], object]) -> None:
    """Wait (in a fake's thread) for another thread to get somewhere."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.002)


class FakeBuilder:
    """Records each build; told to fail one env's sync, or to hold it (``hold``) until
    ``release`` is set (then it fails, as a killed uv does, unless ``killed_fails`` is off:
    a uv that was just done); ``delay`` seconds of work per sync; ``hooks[(phase, env)]`` runs in
    that phase ("venv", "sync") of that env's build, to wait for another thread."""

    def __init__(self, log: Log, delay: float = 0.0) -> None:
        self.log = log
        self.delay = delay
        self.fail: set[str] = set()
        self.hold: set[str] = set()
        self.killed_fails = True
        self.started = threading.Event()
        self.release = threading.Event()
        self.together: threading.Barrier | None = None
        self.purged: list[tuple[str, tuple[str, ...]]] = []
        self.hooks: dict[tuple[str, str], Callable[[], object]] = {}

    def create_venv(self, request: BuildRequest) -> None:
        self.log.append(("venv", request.env_key, request.gen_dir.name))
        self.hooks.get(("venv", request.env_key), bool)()
        if self.together is not None:
            self.together.wait(WAIT)  # both builds are in here at once, or this breaks

    def sync(self, request: BuildRequest, refresh: Sequence[str] = ()) -> None:
        key = request.env_key
        self.log.append(("sync", key, request.gen_dir.name, *refresh))
        time.sleep(self.delay)
        self.hooks.get(("sync", key), bool)()
        if key in self.hold:
            self.started.set()
            if not self.release.wait(WAIT):
                raise AssertionError(f"{key}: the build was never stopped")
            if self.killed_fails:
                raise BuildError(f"uv sync for {key} was stopped")
            return
        if key in self.fail:
            raise BuildError(f"uv sync for {key} failed: no such package")

    def purge_cache(self, env_key: str, packages: Sequence[str]) -> None:
        self.purged.append((env_key, tuple(packages)))


class FakeVerifier:
    """No bad file, unless ``bad`` says which files of which env's next checks are bad."""

    def __init__(self) -> None:
        self.bad: dict[str, list[list[FileProblem]]] = {}

    def __call__(
        self, env_dir: Path, ignore: Sequence[str], baseline: Sequence[RecordDefect]
    ) -> Sequence[FileProblem]:
        queue = self.bad.get(env_dir.parent.name, [])
        return queue.pop(0) if queue else []


class RecordingReporter:
    """Keeps each step's last line."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, bool, str]] = []

    def phase(self, target: str, text: str) -> None:
        pass

    def finished(self, target: str, ok: bool, text: str) -> None:
        self.lines.append((target, ok, text))


def healthy(target: EnvTarget, gen_dir: Path) -> tuple[tuple[Finding, ...], str]:
    return (), f"{target.python_declared}.9"


class World:
    """A loaded manifest and every fake, wired into one ``Applier``."""

    def __init__(self, tmp_path: Path, state: AppliedState | None = None) -> None:
        manifest = parse_manifest(MANIFEST, "envs.toml")
        self.loaded = LoadedManifest(tmp_path / "envs.toml", MANIFEST, manifest, tmp_path / "root")
        self.log: Log = []
        self.store = FakeStore(self.loaded.root, self.log, state)
        self.builder = FakeBuilder(self.log)
        self.verifier = FakeVerifier()
        self.reporter = RecordingReporter()
        self.stopped: list[float] = []
        self.inspect = healthy

    def target(self, key: str) -> EnvTarget:
        spec = self.loaded.manifest.envs[key]
        assert spec.python is not None
        lockfile = self.loaded.lockfile_path(key)
        request = BuildRequest(
            key,
            Path(),
            Path("/nowhere/python"),
            lockfile,
            self.loaded.manifest.sources_for(key),
            self.loaded.base_dir,
            "copy",
            POSIX_VENV,
        )
        lock = Lockfile(f"{key}.txt", (), None, "0" * 64)
        return EnvTarget(key, request.python, spec.python, lock, lockfile, (), (), request, 0)

    def stop_processes(self, grace: float) -> None:
        """What killing uv does to the held build: its sync returns."""
        self.stopped.append(grace)
        self.builder.release.set()

    def applier(self, *builds: str) -> Applier:
        return Applier(
            self.loaded,
            {key: self.target(key) for key in builds},
            self.builder,
            self.verifier,
            self.reporter,
            stop_processes=self.stop_processes,
            store=self.store,
            inspect=self.inspect,
        )

    def saw(self, *event: str) -> bool:
        """Whether ``event`` (its first parts) is in the log already."""
        return any(e[: len(event)] == event for e in self.log)

    def index(self, *event: str) -> int:
        """Where ``event`` (its first parts) is in the log; fails when absent."""
        found = [i for i, e in enumerate(self.log) if e[: len(event)] == event]
        assert found, f"{event} not in {self.log}"
        return found[0]


def build(key: str, action: Action = "create") -> Step:
    return Step(f"env.{key}", "env", action, key, ("missing",))


def bind(model: str, to_env: str, from_env: str | None = None) -> Step:
    return Step(
        f"model.{model}",
        "model",
        "rebind",
        model,
        ("env_changed",),
        depends_on=(f"env.{to_env}",),
        from_env=from_env,
        to_env=to_env,
    )


def delete(key: str, after: Sequence[str]) -> Step:
    return Step(f"env.{key}", "env", "delete", key, ("not_declared",), tuple(after))


def delete_adopted(key: str) -> Step:
    return Step(f"env.{key}", "env", "delete", key, ("delete_requested",))


def ids(steps: Sequence[Step]) -> list[str]:
    return [s.id for s in steps]


# --- dependency order -------------------------------------------------------------------------


def test_a_model_is_bound_after_its_env_is_switched_and_an_env_deleted_after_its_models_left(
    tmp_path: Path,
) -> None:
    """The build takes a while, and the other steps are quick: only the dependencies keep
    the bind after the switch and the delete after the bind."""
    world = World(tmp_path, AppliedState(bindings={"m-web": "old"}))
    world.store.add_live("old")
    world.builder.delay = 0.2
    plan = Plan((build("web"), bind("m-web", "web", "old"), delete("old", ["model.m-web"])))

    report = world.applier("web").run(plan)

    assert ids(report.done) == ["env.web", "model.m-web", "env.old"]
    assert world.log == [
        ("new", "web", "g0001"),
        ("venv", "web", "g0001"),
        ("sync", "web", "g0001"),
        ("receipt", "web", "g0001"),
        ("switch", "web", "g0001"),
        ("bindings", "m-web=web"),
        ("unlink", "old"),
        ("delete", ".generations/old"),
    ]
    assert world.store.live == {"web": "g0001"}
    assert world.store.receipts[world.store.generations_dir("web") / "g0001"]["python"] == "3.11.9"
    assert world.reporter.lines[-1] == ("old", True, "deleted")


def test_independent_envs_are_built_at_the_same_time_and_both_switched(tmp_path: Path) -> None:
    world = World(tmp_path)
    world.builder.together = threading.Barrier(2)
    plan = Plan((build("api"), build("web"), bind("m-api", "api"), bind("m-web", "web")))

    report = world.applier("api", "web").run(plan)

    assert sorted(ids(report.done)) == ["env.api", "env.web", "model.m-api", "model.m-web"]
    assert world.store.live == {"api": "g0001", "web": "g0001"}
    for model, env in (("m-api", "api"), ("m-web", "web")):
        assert world.index("switch", env) < world.index("bindings", *_bound_with(world, model))
    assert world.store.state.bindings == {"m-api": "api", "m-web": "web"}


def _bound_with(world: World, model: str) -> tuple[str, ...]:
    """The first bindings write that has ``model`` bound (the other may or may not be yet)."""
    for event in world.log:
        if event[0] == "bindings" and any(b.startswith(f"{model}=") for b in event[1:]):
            return event[1:]
    raise AssertionError(f"{model} never bound: {world.log}")


def test_a_replaced_env_keeps_the_one_live_until_now_and_prunes_beyond_keep_generations(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    first = world.store.add_live("web")
    world.store.new_generation("web")  # a leftover, incomplete: always pruned
    world.log.clear()

    world.applier("web").run(Plan((build("web", "replace"),)))

    assert world.store.live == {"web": "g0003"}
    assert [g.gen_id for g in world.store.gens["web"]] == [first.gen_id, "g0003"]
    assert world.log[-1] == ("delete", ".generations/web/g0002")
    assert world.reporter.lines == [("web", True, "replaced generation g0003")]


def _kept_and_live(world: World) -> None:
    """web: g0001 kept (built as the manifest asks), g0002 live (what a rollback left)."""
    world.store.add_live("web")
    world.store.add_live("web")
    world.store.live["web"] = "g0001"  # rolled back: g0002 is kept


def switch_back(action: Action = "replace", *reasons: str) -> Step:
    return Step("env.web", "env", action, "web", reasons or ("lock_changed",), switch_back="g0002")


def test_a_step_with_a_kept_generation_switches_back_after_its_check_without_building(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    _kept_and_live(world)
    checked: list[str] = []

    def inspect(target: EnvTarget, gen_dir: Path) -> tuple[tuple[Finding, ...], str]:
        checked.append(gen_dir.name)
        return healthy(target, gen_dir)

    world.inspect = inspect

    world.applier("web").run(Plan((switch_back(),)))

    assert checked == ["g0002"]
    assert world.log == [("switch", "web", "g0002")]  # no new generation, no venv, no sync
    assert world.store.live == {"web": "g0002"}
    assert [g.gen_id for g in world.store.gens["web"]] == ["g0001", "g0002"]
    assert world.reporter.lines == [("web", True, "switched back to kept generation g0002")]


def test_a_kept_generation_that_fails_its_check_at_apply_time_is_not_used_a_new_one_is_built(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    _kept_and_live(world)
    world.verifier.bad["web"] = [[FileProblem("hash_mismatch", "alpha", "alpha/__init__.py")]]

    world.applier("web").run(Plan((switch_back(),)))

    assert world.saw("new", "web", "g0003") and world.saw("sync", "web", "g0003")
    assert world.store.live == {"web": "g0003"}
    assert world.reporter.lines == [("web", True, "replaced generation g0003")]


def test_a_requested_replace_builds_a_new_generation_even_with_a_kept_one_that_matches(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    _kept_and_live(world)

    world.applier("web").run(Plan((switch_back("replace", "replace_requested"),)))

    assert world.saw("sync", "web", "g0003")
    assert world.store.live == {"web": "g0003"}


def test_pruning_keeps_a_healthy_generation_over_a_broken_one_that_was_live(
    tmp_path: Path,
) -> None:
    """The issue's case: a rollback made g0001 live, its base Python went away; the next
    apply builds g0003 and must keep the healthy g0002, not the broken g0001."""
    world = World(tmp_path)
    _kept_and_live(world)
    world.store.broken_ids.add("g0001")

    world.applier("web").run(Plan((build("web", "replace"),)))

    assert [g.gen_id for g in world.store.gens["web"]] == ["g0002", "g0003"]
    assert ("delete", ".generations/web/g0001") in world.log


def test_a_new_generation_is_marked_live_after_its_switch_and_the_one_it_replaces_before(
    tmp_path: Path,
) -> None:
    """A kill between a switch and its mark leaves the live generation unmarked: it is
    marked before anything switches away from it, so it stays what rollback returns to."""
    world = World(tmp_path)
    first = world.store.add_live("web")
    world.store.receipts[first.path] = {"live_since": None}  # killed before its mark

    world.applier("web").run(Plan((build("web", "replace"),)))

    second = world.store.live_generation("web")
    assert second is not None and second.gen_id == "g0002"
    assert world.store.receipts[first.path] == {"live_since": "now"}
    assert world.store.receipts[second.path]["live_since"] == "now"
    assert world.store.never_live(world.store.gens["web"], second) == frozenset()


def test_a_switch_that_fails_removes_the_new_generation_which_never_went_live(
    tmp_path: Path,
) -> None:
    """The issue, under Wine: the switch failed after the receipt and the complete new
    generation stayed, then counted as "previous"."""
    world = World(tmp_path)
    world.store.add_live("web")
    world.store.switch_error = OSError(50, "Request not supported")

    report = world.applier("web").run(Plan((build("web", "replace"),)))

    ((step, why),) = report.failed
    assert step.id == "env.web" and "Request not supported" in why
    assert world.store.live == {"web": "g0001"}
    assert [g.gen_id for g in world.store.gens["web"]] == ["g0001"]
    assert world.log[-2:] == [("receipt", "web", "g0002"), ("delete", ".generations/web/g0002")]


def test_pruning_keeps_a_generation_that_went_live_over_one_that_never_did(
    tmp_path: Path,
) -> None:
    """g0002 was built, then the apply was killed before its switch: the next build g0003
    keeps g0001 (what ran before) and prunes g0002."""
    world = World(tmp_path)
    world.store.add_live("web")
    _, never = world.store.new_generation("web")
    world.store.write_receipt(never, {"live_since": None})
    world.log.clear()

    world.applier("web").run(Plan((build("web", "replace"),)))

    assert [g.gen_id for g in world.store.gens["web"]] == ["g0001", "g0003"]
    assert ("delete", ".generations/web/g0002") in world.log


# --- failures ---------------------------------------------------------------------------------


def test_a_failed_build_skips_its_models_and_the_independent_env_is_still_built_and_bound(
    tmp_path: Path,
) -> None:
    """Apply carries on (as Terraform does): api fails while web is being built; web is
    switched and its model bound, api's model is skipped naming api, and api's staging
    generation is removed."""
    world = World(tmp_path)
    world.builder.fail.add("api")
    applier = world.applier("api", "web")
    # api fails once web is in its build; web goes on once the failure is recorded
    world.builder.hooks["sync", "api"] = lambda: until(lambda: world.saw("venv", "web"))
    world.builder.hooks["sync", "web"] = lambda: until(lambda: applier.report.failed)
    plan = Plan((build("api"), build("web"), bind("m-api", "api"), bind("m-web", "web")))

    report = applier.run(plan)

    assert ids(report.done) == ["env.web", "model.m-web"]
    assert [(s.id, why) for s, why in report.failed] == [
        ("env.api", "uv sync for api failed: no such package")
    ]
    assert [(s.id, cause) for s, cause in report.skipped] == [("model.m-api", "env api")]
    assert world.store.live == {"web": "g0001"}
    assert world.store.state.bindings == {"m-web": "web"}
    assert world.store.gens["api"] == []
    assert ("api", False, "failed") in world.reporter.lines


def test_a_step_started_after_a_failure_runs_to_the_end(tmp_path: Path) -> None:
    """A failure cancels nothing: web, whose build is still to check its cancel points when
    api fails, and its model, which starts only after the failure, are both done."""
    world = World(tmp_path)
    world.builder.fail.add("api")
    applier = world.applier("api", "web")
    world.builder.hooks["venv", "web"] = lambda: until(lambda: applier.report.failed)
    plan = Plan((build("api"), build("web"), bind("m-web", "web")))

    report = applier.run(plan)

    assert ids(report.done) == ["env.web", "model.m-web"]
    assert world.index("sync", "api") < world.index("sync", "web")
    assert world.store.live == {"web": "g0001"}


def test_every_step_that_depends_on_a_failed_one_is_skipped_however_indirectly(
    tmp_path: Path,
) -> None:
    """api fails: the model moving onto it is never started, nor the delete of the env the
    model leaves (it waits for the model); both name api, the failure they wait for."""
    world = World(tmp_path, AppliedState(bindings={"m-api": "old"}))
    world.store.add_live("old")
    world.builder.fail.add("api")
    plan = Plan((build("api"), bind("m-api", "api", "old"), delete("old", ["model.m-api"])))
    applier = world.applier("api")

    report = applier.run(plan)

    assert report.done == []
    assert [(s.id, cause) for s, cause in report.skipped] == [
        ("model.m-api", "env api"),
        ("env.old", "env api"),
    ]
    assert world.store.live == {"old": "g0001"}
    assert world.store.state.bindings == {"m-api": "old"}
    assert world.log == [
        ("new", "api", "g0001"),
        ("venv", "api", "g0001"),
        ("sync", "api", "g0001"),
        ("delete", ".generations/api/g0001"),
    ]


def test_a_generation_that_fails_its_health_check_is_removed_and_the_live_one_stays(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    world.store.add_live("web")
    world.inspect = lambda target, gen_dir: ((Finding("probe_failed", "import six"),), "3.11.9")

    report = world.applier("web").run(Plan((build("web", "replace"),)))

    ((step, why),) = report.failed
    assert step.id == "env.web"
    assert "failed verification (probe_failed: import six)" in why
    assert world.store.live == {"web": "g0001"}
    assert [g.gen_id for g in world.store.gens["web"]] == ["g0001"]


def test_bad_files_from_the_cache_are_purged_and_the_env_rebuilt_once_before_the_switch(
    tmp_path: Path,
) -> None:
    world = World(tmp_path)
    bad = FileProblem("hash_mismatch", "six", "six.py")
    world.verifier.bad["web"] = [[bad]]

    world.applier("web").run(Plan((build("web"),)))

    assert world.builder.purged == [("web", ("six",))]
    assert world.log == [
        ("new", "web", "g0001"),
        ("venv", "web", "g0001"),
        ("sync", "web", "g0001"),
        ("delete", ".generations/web/g0001"),
        ("venv", "web", "g0001"),
        ("sync", "web", "g0001", "six"),
        ("receipt", "web", "g0001"),
        ("switch", "web", "g0001"),
    ]


# --- cancellation -----------------------------------------------------------------------------


@pytest.mark.parametrize("killed_fails", [True, False], ids=["uv-killed", "uv-was-done"])
def test_an_interrupt_during_a_build_stops_it_starts_nothing_more_and_switches_nothing(
    tmp_path: Path, killed_fails: bool
) -> None:
    """Ctrl-C lands in the main thread while a build runs: the executor stops the child
    processes (here: releases the held build, which fails as a killed uv does, or returns
    as a uv that was just done), every build stops at its next step, no further step
    starts, the staging generations are removed, and the live env stays as it was."""
    world = World(tmp_path, AppliedState(bindings={"m-web": "web"}))
    world.store.add_live("web")
    world.builder.hold.add("web")
    world.builder.killed_fails = killed_fails
    world.builder.hooks["venv", "api"] = lambda: until(lambda: world.stopped)
    applier = world.applier("api", "web")
    plan = Plan((build("api"), build("web", "replace"), bind("m-web", "web")))

    def interrupt_once_the_build_runs() -> None:
        if world.builder.started.wait(WAIT):  # Ctrl-C: SIGINT, to the main thread
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt_once_the_build_runs, daemon=True).start()
    with pytest.raises(Interrupted, match=r"^interrupted: in-flight builds were stopped"):
        applier.run(plan)

    assert world.stopped  # the children were told to stop
    assert applier.report.done == []
    assert [(s.id, cause) for s, cause in applier.report.skipped] == [("model.m-web", "")]
    assert sorted((s.id, why.split(":")[0]) for s, why in applier.report.failed) == [
        ("env.api", "stopped building api"),  # it was between two steps of its build
        ("env.web", "uv sync for web was stopped" if killed_fails else "stopped building web"),
    ]
    assert world.store.live == {"web": "g0001"}
    assert world.store.gens == {"api": [], "web": [world.store.live_generation("web")]}
    assert not [e for e in world.log if e[0] in ("receipt", "switch", "bindings")]
    assert ("delete", ".generations/web/g0002") in world.log


def test_an_interrupt_after_a_failed_step_still_stops_everything_at_once(
    tmp_path: Path,
) -> None:
    """Carrying on is for failed steps only: api failed and web goes on, then Ctrl-C stops
    web's build, nothing more starts and apply raises Interrupted (not a report)."""
    world = World(tmp_path)
    world.builder.fail.add("api")
    world.builder.hold.add("web")
    world.builder.hooks["sync", "web"] = lambda: until(lambda: applier.report.failed)
    applier = world.applier("api", "web")
    plan = Plan((build("api"), build("web"), bind("m-web", "web")))

    def interrupt_once_web_is_held() -> None:
        if world.builder.started.wait(WAIT):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    threading.Thread(target=interrupt_once_web_is_held, daemon=True).start()
    with pytest.raises(Interrupted, match=r"^interrupted: in-flight builds were stopped"):
        applier.run(plan)

    assert world.stopped
    assert applier.report.done == []
    assert [(s.id, why.split(":")[0]) for s, why in applier.report.failed] == [
        ("env.api", "uv sync for api failed"),
        ("env.web", "uv sync for web was stopped"),
    ]
    assert [(s.id, cause) for s, cause in applier.report.skipped] == [("model.m-web", "")]
    assert ("web", False, "stopped") in world.reporter.lines
    assert world.store.live == {}
    assert not [e for e in world.log if e[0] in ("receipt", "switch", "bindings")]


def test_an_adopted_env_marked_delete_is_asked_about_then_deleted_and_forgotten(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, AppliedState())
    world.store.state = AppliedState(adopted={"legacy": str(world.loaded.adopt_path("legacy"))})

    report = world.applier().run(Plan((delete_adopted("legacy"),)))

    assert not report.failed
    assert world.log == [
        ("asked", "legacy", "legacy"),
        ("delete_adopted", "legacy/.venv"),
        ("bindings",),
    ]
    assert "legacy" not in world.store.state.adopted


def test_an_adopted_env_the_disk_says_not_to_delete_fails_its_step_and_stays_adopted(
    tmp_path: Path,
) -> None:
    world = World(tmp_path, AppliedState())
    world.store.state = AppliedState(adopted={"legacy": str(world.loaded.adopt_path("legacy"))})
    world.store.adopted_problem = "it is in use by a model"

    report = world.applier().run(Plan((delete_adopted("legacy"),)))

    assert [(step.target, why) for step, why in report.failed] == [
        ("legacy", "not deleted: it is in use by a model")
    ]
    assert not world.saw("delete_adopted")
    assert "legacy" in world.store.state.adopted
