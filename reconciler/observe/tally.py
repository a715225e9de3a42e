"""The rows to check (``Item``) and what checking a share of them found (``Tally``):
findings, hash cache entries, counts."""

from __future__ import annotations

import typing
from typing import Any

from reconciler.core.integrity import IntegrityFinding
from reconciler.observe.hashcache import Entry
from reconciler.spec.record import RowCheck

Item = tuple[str, RowCheck]
"""A row to check and the canonical name of its distribution."""

PlainTally = tuple[
    list[tuple[tuple[Any, ...], "str | None"]],
    "list[Entry | None] | None",
    tuple[int, int, int, int],
    list[str],
]
"""A ``Tally`` as builtin values: what a worker process sends back."""


class Tally:
    """What checking one share of the rows found: findings (each with its RECORD path, which
    ``verify_ignore`` matches), hash cache entries for the files it hashed, and counts.

    Plain values throughout, so a worker process can send it back with ``marshal``.
    """

    def __init__(self, keep_entries: bool, started_ns: int) -> None:
        self.found: list[tuple[IntegrityFinding, str | None]] = []
        self.entries: list[Entry | None] | None = [] if keep_entries else None
        self.started_ns = started_ns
        self.files_hashed = 0
        self.bytes_hashed = 0
        self.files_cached = 0
        self.linked_files = 0
        self.seen: list[str] = []
        """Paths seen by a worker process (in-process, ``EnvFolder.seen`` gets them)."""

    def to_plain(self) -> PlainTally:
        found = [
            (
                (
                    f.category,
                    f.dist,
                    f.path,
                    f.expected_size,
                    f.actual_size,
                    f.expected_sha256,
                    f.actual_sha256,
                    f.detail,
                ),
                record_path,
            )
            for f, record_path in self.found
        ]
        counts = (self.files_hashed, self.bytes_hashed, self.files_cached, self.linked_files)
        return (found, self.entries, counts, self.seen)

    def add_plain(self, plain: object) -> None:
        """Add what a worker's ``to_plain`` sent."""
        found, entries, counts, seen = typing.cast("PlainTally", plain)
        self.found.extend((IntegrityFinding(*fields), where) for fields, where in found)
        if self.entries is not None and entries is not None:
            self.entries.extend(entries)
        self.add_counts(*counts)
        self.seen.extend(seen)

    def add(self, other: Tally) -> None:
        self.found.extend(other.found)
        if self.entries is not None and other.entries is not None:
            self.entries.extend(other.entries)
        self.add_counts(
            other.files_hashed, other.bytes_hashed, other.files_cached, other.linked_files
        )
        self.seen.extend(other.seen)

    def add_counts(self, hashed: int, read: int, cached: int, linked: int) -> None:
        self.files_hashed += hashed
        self.bytes_hashed += read
        self.files_cached += cached
        self.linked_files += linked


def mismatch(dist: str, row: RowCheck, size: int, actual: str) -> IntegrityFinding:
    """A ``hash_mismatch`` of the file of ``row`` (of ``dist``), of ``size`` bytes."""
    return IntegrityFinding(
        "hash_mismatch",
        dist,
        row[1],
        expected_size=row[3],
        actual_size=size,
        expected_sha256=row[2],
        actual_sha256=actual,
    )
