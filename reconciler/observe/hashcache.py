"""IO: a stat-keyed cache of file hashes for one env, so ``verify`` need not reread a file
that has not changed since it was last hashed.

A cache belongs to one env folder (its real path) and lives under the reconcile root at
``<root>/.cache/hashes/<first 24 hex digits of sha256(env real path)>``, or, for an env with
no root folder to keep it in (an adopted env of a manifest never applied, a venv named by its
path), in the user's cache folder, ``<user cache>/hashes/<the same name>``
(``store.cachedir.user_cache_folder``: created 0700, never used through a link or when
another user could write it). An entry maps a
file's identity, ``(st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns)``, to its path (relative
to the env) and the RECORD-style sha256 its content had. It is trusted only for that path and
while the identity matches exactly. ``ctime`` is the strong part of the key: ``os.utime`` can
put an old ``mtime`` back after an in-place edit, but any write, ``chmod`` or ``utime`` sets
``ctime`` to now. The path is there for file systems whose inode numbers are not stable
(FUSE mounts without ``use_ino``, CIFS with ``noserverino``, FAT), where after a remount
another file written in the same coarse tick could take an old identity. Keyed on the packed
identity and holding relative paths, the file stays small: it loads on every `verify`.

The racy rule (git's "racy clean" problem): timestamps are coarse (a jiffy on Linux, seconds
or two on some file systems), so a file written again in the same tick after it was hashed
would keep the identity that was hashed with older content. ``store`` therefore trusts a
hash only when the file's ``mtime`` and ``ctime`` are both more than a second older than the
moment the run started (``started_ns``, taken before the file was ``stat``'ed): any later
write gets a ``ctime`` at least that much newer, so the identity can no longer match. A file
changed within the last second is simply hashed again next time.

File format (version 3), all written by one ``os.replace`` of a temp file in the same folder,
so readers see an old or a new file, never a mix; concurrent writers: the last one wins::

    MAGIC                            b"reconcile-hashcache\\n"
    header                           struct "<HHI": format version, marshal version,
                                     length of the env path in bytes
    env path                         UTF-8 (surrogateescape), compared on load
    payload                          marshal of a pair: {identity: (path relative to the
                                     env, sha256)}, the identity packed as struct "<QQQqq":
                                     dev, ino, size, mtime_ns, ctime_ns (bytes load several
                                     times faster than five big ints); and {RECORD real
                                     path: (identity
                                     or b"" when racy, context, sha256 of its bytes as raw
                                     bytes, the resolved value)}
    checksum                         sha256 of everything above (32 bytes)

A file that is missing, truncated, half-written, corrupt, of another format or marshal
version, or of another env loads as an empty cache; nothing here ever fails a verify. The
checksum is verified before ``marshal`` sees a byte. It guards against accidents, not
against someone who can write the reconcile root (who could rewrite the env itself).

Stdlib only, and cheap to import: ``verify`` imports it on every run. A change to what a
RECORD resolves to (``records.resolve_record``) must bump ``FORMAT_VERSION``, so no cache
of the old code answers for the new one.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import marshal
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, TypeGuard

from reconciler.files import CACHE_LIMIT, racy, read_regular_bytes, write_atomic
from reconciler.store import layout

MAGIC = b"reconcile-hashcache\n"
FORMAT_VERSION = 3

_HEADER = struct.Struct("<HHI")
_IDENTITY = struct.Struct("<QQQqq")
_PACK = _IDENTITY.pack
_CHECKSUM_BYTES = 32
_KEY_HEX = 24

Entry = tuple[bytes, str, str]
"""A file's packed stat identity, its real path and the sha256 its content had
(``entry_for``)."""

_Known = tuple[str, str]
"""What the cache keeps for an identity: the file's path relative to the env, its sha256."""

RecordEntry = tuple[bytes, str, bytes, object]
"""A RECORD's packed identity (``b""``: racy, found by content only), its context, the
sha256 of its bytes and what it was resolved to."""


class StatLike(Protocol):
    """The part of a ``stat`` result the cache keys on (an ``os.stat_result`` has it)."""

    @property
    def st_dev(self) -> int: ...
    @property
    def st_ino(self) -> int: ...
    @property
    def st_size(self) -> int: ...
    @property
    def st_mtime_ns(self) -> int: ...
    @property
    def st_ctime_ns(self) -> int: ...


HASHES = "hashes"
"""The hash caches' folder in the root's cache folder."""


def cache_name(env_real: str) -> str:
    """The name of the hash cache file of the env whose real path is ``env_real``."""
    return hashlib.sha256(os.fsencode(env_real)).hexdigest()[:_KEY_HEX]


def cache_file(root: Path, env_real: str) -> Path:
    """Where the hash cache of the env whose real path is ``env_real`` lives under ``root``.
    Only a name: read or write it after ``cache_folder(root, HASHES)`` found the folder usable
    (never a link)."""
    return root / layout.CACHE / HASHES / cache_name(env_real)


def _identity(st: StatLike) -> bytes | None:
    """The packed identity, or ``None`` for a value out of 64-bit range (never cached)."""
    try:
        return _IDENTITY.pack(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    except struct.error:
        return None


def entry_for(real_path: str, st: StatLike, sha256: str, started_ns: int) -> Entry | None:
    """The entry that remembers a file's hash, or ``None`` when the file is racy: its mtime or
    ctime is not older than ``started_ns - RACY_NS`` (see ``HashCache.store``). Pure, so
    whoever hashed the file can make it."""
    identity = _identity(st)
    if racy(started_ns, st.st_mtime_ns, st.st_ctime_ns) or identity is None:
        return None
    return (identity, real_path, sha256)


class HashCache:
    """The cached hashes of one env's files: what the last run hashed or found unchanged.

    Not thread-safe: one thread looks up and stores (``verify_env`` does both in its walking
    thread). Entries not looked up with a hit or stored during this run are dropped on
    ``save``, so the cache holds exactly the files of the last run.
    """

    def __init__(
        self,
        path: Path,
        env_real: str,
        entries: dict[bytes, _Known],
        records: dict[str, RecordEntry] | None = None,
    ) -> None:
        self.path = path
        self.env_real = env_real
        self._prefix = env_real.rstrip(os.sep) + os.sep
        self._old = entries
        self._new: dict[bytes, _Known] = {}
        self._old_records: dict[str, RecordEntry] = records or {}
        self._new_records: dict[str, RecordEntry] = {}
        self._changed = False

    @classmethod
    def load(cls, path: Path, env_real: str) -> HashCache:
        """The cache stored at ``path`` for the env at ``env_real``; an empty one when the file
        is missing or unusable for any reason (never raises)."""
        try:
            data = read_regular_bytes(path, CACHE_LIMIT)
        except (OSError, ValueError):
            return cls(path, env_real, {})
        return cls(path, env_real, *_decode(data, env_real))

    def __len__(self) -> int:
        """How many entries the last run left (what ``lookup`` can answer from)."""
        return len(self._old)

    def _within(self, real_path: str) -> str:
        """``real_path`` relative to the env (as it is when inside it, which every file a
        RECORD row names is)."""
        prefix = self._prefix
        return real_path[len(prefix) :] if real_path.startswith(prefix) else real_path

    def lookup(self, real_path: str, st: StatLike) -> str | None:
        """The cached sha256 of the file at ``real_path``, or ``None`` unless that file was
        hashed with exactly the identity (device, inode, size, mtime_ns, ctime_ns) ``st``
        gives."""
        # _identity and _within inlined: this runs once per RECORD row of a cached verify
        try:
            identity = _PACK(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        except struct.error:  # out of 64-bit range: never cached
            return None
        known = self._old.get(identity)
        if known is None:
            return None
        prefix = self._prefix
        within = real_path[len(prefix) :] if real_path.startswith(prefix) else real_path
        if known[0] != within:
            return None
        self._new[identity] = known
        return known[1]

    def store(self, real_path: str, st: StatLike, sha256: str, started_ns: int) -> None:
        """Remember that the file ``st`` describes hashed to ``sha256``, unless it is racy.

        ``st`` must have been taken before the file was read and ``started_ns``
        (``time.time_ns()``) before ``st``. A file whose mtime or ctime is not older than
        ``started_ns - RACY_NS`` is not stored: it could still change without changing its
        identity (module docstring). It is then simply hashed again by the next run.
        """
        self.store_entries([entry_for(real_path, st, sha256, started_ns)])

    def store_entries(self, entries: Iterable[Entry | None]) -> None:
        """``store`` for many files at once, each entry made by ``entry_for`` (``None``: the
        file was racy, nothing is kept)."""
        old, new = self._old, self._new
        for entry in entries:
            if entry is None:
                continue
            identity, real_path, sha256 = entry
            known = (self._within(real_path), sha256)
            if not self._changed and old.get(identity) != known:
                self._changed = True
            new[identity] = known

    def record(self, real_path: str, st: StatLike, context: str) -> object | None:
        """What the RECORD at ``real_path`` was resolved to in ``context``, or ``None`` unless
        its identity is exactly the one ``st`` gives."""
        entry = self._old_records.get(real_path)
        if entry is None or entry[1] != context or entry[0] != _identity(st):
            return None
        self._new_records[real_path] = entry
        return entry[3]

    def record_by_content(self, real_path: str, context: str, sha256: bytes) -> object | None:
        """What the RECORD at ``real_path`` was resolved to in ``context`` when its bytes had
        this raw ``sha256``, or ``None``. A hit is kept only once ``store_record`` confirms it
        with the RECORD's current identity."""
        entry = self._old_records.get(real_path)
        if entry is None or entry[1] != context or entry[2] != sha256:
            return None
        return entry[3]

    def store_record(
        self,
        real_path: str,
        st: StatLike,
        context: str,
        sha256: bytes,
        resolved: object,
        started_ns: int,
    ) -> None:
        """Remember what the RECORD whose bytes had the raw ``sha256`` was resolved to.

        ``resolved`` must be made of what ``marshal`` writes. ``st`` must have been taken
        before the RECORD was read; a racy one (see ``store``) is kept by content only.
        """
        identity = _identity(st)
        if racy(started_ns, st.st_mtime_ns, st.st_ctime_ns) or identity is None:
            identity = b""
        entry = (identity, context, sha256, resolved)
        old = self._old_records.get(real_path)
        if old is None or old[:3] != entry[:3]:
            self._changed = True
        self._new_records[real_path] = entry

    def save(self) -> None:
        """Write what this run hashed or found unchanged, when that differs from what was
        loaded, atomically (a temp file in the same folder, then ``os.replace``).

        Creates ``<root>/.cache/hashes`` as needed but never the root itself: when the root
        is gone nothing is written (a folder in the user's cache was made before the load).
        Any ``OSError`` (a read-only root, a full disk) is ignored: the cache is an
        optimisation and must never fail a verify.
        """
        if (
            not self._changed
            and len(self._new) == len(self._old)
            and len(self._new_records) == len(self._old_records)
        ):
            return  # every entry kept was a hit, so the file already says exactly this
        folder = self.path.parent
        try:
            for level in (folder.parent, folder):
                with contextlib.suppress(FileExistsError):
                    level.mkdir()  # not parents=True: the root must already exist
            write_atomic(
                self.path, _encode(self._new, self._new_records, self.env_real), sync=False
            )
        except (OSError, ValueError):  # ValueError: a resolved value marshal cannot write
            return
        self._old, self._changed = dict(self._new), False
        self._old_records = dict(self._new_records)


def _encode(entries: dict[bytes, _Known], records: dict[str, RecordEntry], env_real: str) -> bytes:
    env = os.fsencode(env_real)
    body = b"".join(
        (
            MAGIC,
            _HEADER.pack(FORMAT_VERSION, marshal.version, len(env)),
            env,
            marshal.dumps((entries, records)),
        )
    )
    return body + hashlib.sha256(body).digest()


_Loaded = tuple[dict[bytes, _Known], dict[str, RecordEntry]]


def _decode(data: bytes, env_real: str) -> _Loaded:
    """The entries of a cache file, or empty ones when anything about it is off."""
    body, checksum = data[:-_CHECKSUM_BYTES], data[-_CHECKSUM_BYTES:]
    if not data.startswith(MAGIC) or hashlib.sha256(body).digest() != checksum:
        return {}, {}
    start = len(MAGIC) + _HEADER.size
    try:
        version, marshal_version, env_length = _HEADER.unpack_from(body, len(MAGIC))
    except struct.error:
        return {}, {}
    env = os.fsencode(env_real)
    if (
        version != FORMAT_VERSION
        or marshal_version != marshal.version
        or body[start : start + env_length] != env
        or env_length != len(env)
    ):
        return {}, {}
    # ~20,000 entries make ~80,000 objects: the cyclic collector would walk the heap dozens of
    # times while they are built and find nothing, since marshal makes no cycles here.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # checksum, versions and env verified above; marshal only builds the plain values
        payload = marshal.loads(body[start + env_length :])  # noqa: S302  our own file
    except Exception:  # a checksummed payload that still does not load: start empty
        return {}, {}
    finally:
        if gc_was_enabled:
            gc.enable()
    return payload if _well_formed(payload) else ({}, {})


def _well_formed(payload: object) -> TypeGuard[_Loaded]:
    """Whether a checksummed payload has the shape ``lookup`` and ``record`` rely on (cheap:
    a written file of this format always has it, so this only catches a bug or a hand-made
    file). What a RECORD resolved to is the caller's to check."""
    if type(payload) is not tuple or len(payload) != 2:
        return False
    entries, records = payload
    if type(entries) is not dict or type(records) is not dict:
        return False
    if not set(map(type, entries)) <= {bytes}:  # map runs in C: fast for 20,000 keys
        return False
    for value in entries.values():
        if type(value) is not tuple or len(value) != 2 or not set(map(type, value)) <= {str}:
            return False
    for key, value in records.items():
        if (
            type(key) is not str
            or type(value) is not tuple
            or len(value) != 4
            or type(value[0]) is not bytes
            or type(value[1]) is not str
            or type(value[2]) is not bytes
        ):
            return False
    return True
