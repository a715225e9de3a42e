"""Generation folders: ids, the switch, gc selection and removal, on real files."""

from __future__ import annotations

from pathlib import Path

from reconciler import generations, layout


def _complete(root: Path, env_key: str) -> Path:
    _, path = generations.next_generation_path(root, env_key)
    (path / "bin").mkdir(parents=True)
    generations.write_receipt(path, {"generation": path.name})
    return path


def test_generation_ids_are_never_reused_even_after_a_leftover_is_removed(tmp_path: Path) -> None:
    first = _complete(tmp_path, "env")
    gen_id, leftover = generations.next_generation_path(tmp_path, "env")
    leftover.mkdir()  # a killed build: no receipt
    generations.remove_leftovers(tmp_path, ["env"])
    assert not leftover.exists()
    next_id, _ = generations.next_generation_path(tmp_path, "env")
    assert (first.name, gen_id, next_id) == ("g0001", "g0002", "g0003")


def test_switch_replaces_the_link_and_rollback_target_is_the_newest_older_one(
    tmp_path: Path,
) -> None:
    one, two, three = (_complete(tmp_path, "env") for _ in range(3))
    generations.switch(tmp_path, "env", three)
    link = layout.env_link(tmp_path, "env")
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == three.resolve()
    previous = generations.previous_generation(tmp_path, "env")
    assert previous is not None and previous.path == two
    generations.switch(tmp_path, "env", one)
    assert generations.previous_generation(tmp_path, "env") is None
    assert not list(tmp_path.glob(".*.switch-*"))


def test_gc_keeps_the_live_one_and_the_newest_others_and_drops_incomplete_ones(
    tmp_path: Path,
) -> None:
    gens = [_complete(tmp_path, "env") for _ in range(4)]
    _, incomplete = generations.next_generation_path(tmp_path, "env")
    incomplete.mkdir()
    generations.switch(tmp_path, "env", gens[1])  # rolled back: live is not the newest
    listed = generations.list_generations(tmp_path, "env")
    live = generations.live_generation(tmp_path, "env")
    doomed = [g.gen_id for g in generations.collectable(listed, live, keep=2)]
    assert doomed == ["g0001", "g0003", "g0005"]  # kept: live g0002 and the newest other, g0004
    assert [g.gen_id for g in generations.collectable(listed, live, keep=1)] == [
        "g0001",
        "g0003",
        "g0004",
        "g0005",
    ]


def test_removal_refuses_paths_outside_the_root_and_never_follows_links(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me", encoding="utf-8")
    result = generations.delete_tree(root, outside)
    assert result.failed and (outside / "precious.txt").exists()
    gen = _complete(root, "env")
    (gen / "escape").symlink_to(outside, target_is_directory=True)
    result = generations.delete_tree(root, gen)
    assert not result.failed and not gen.exists()
    assert (outside / "precious.txt").read_text(encoding="utf-8") == "keep me"
    assert not any((root / layout.TRASH).iterdir())
