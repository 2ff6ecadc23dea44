# ruff: noqa: S608 -- spliced: table names from the store's own catalog (quoted), int()-cast run ids, our own paths as escaped literals
"""The dashboard's read model: versioned Parquet folders published after each build.

Why: DuckDB allows one writing process, and a read-only opener cannot open a file
that a writer holds. The dashboard must keep serving while ``ingest`` and ``build``
write the store, and must never show half a build. A full copy of the store per build
cost about 3x the store on disk; this read model costs a fraction of it:

- :func:`publish` (the writer, after its commit, holding the job lock) writes
  ``<db>.snapshots/<build_id>-<UTC timestamp>/`` with one Parquet file per table the
  dashboard reads (:func:`exported_tables`) and per ``dash_*`` table of the read model
  (:data:`spreadtrace.store.dashboard_queries.READ_MODEL`), plus ``manifest.json``
  listing each file with a content fingerprint (row count and the sum of row hashes,
  with the column types), and ``views``: tables kept in ONE copy are served as views
  (projections) of it, so nothing is on disk twice: ``cascades`` and
  ``cascade_scores`` over ``dash_cascade_rows``, ``post_cascades`` over
  ``dash_node_rows`` (:data:`~spreadtrace.store.dashboard_queries.VIEWED_TABLES`).
  Columns no page reads (:data:`UNREAD_COLUMNS`) and build-internal tables
  (:data:`NOT_EXPORTED`) are left out.
- A file whose fingerprint equals the previous version's is HARD-LINKED from it, not
  rewritten: an unchanged table costs no bytes and no write. ``posts`` (append-only,
  the biggest input; kept as ``dash_post_rows`` with each post's search number) and
  the search index derived from it are written as one part per ingest run, so a
  build after an ingest writes only the new run's parts. A
  ``dash_*`` table whose inputs are all unchanged is linked without being computed.
- The big tables that change a little per build (the synced store tables of
  :data:`~spreadtrace.store.sync.SYNC_KEYS`, and the read-model tables of
  :data:`~spreadtrace.store.dashboard_queries.READ_MODEL_KEYS`) are kept as a BASE file
  (hard-linked from the version that wrote it) plus the rows new or changed since that
  base and the keys (groups) of the base rows they replace or that are gone; readers
  see ``base WHERE key NOT IN dead UNION ALL changed`` (:func:`_delta_sql`, manifest
  ``deltas``). The changes are found from the store's build ids (:data:`_CHANGES`: a
  derived row keeps the build that last changed it), the profiles' from their ingest
  runs (the manifest records the newest run it saw, ``ingest_run``), and a table's
  from the changes found for the tables it derives from (``dash_accounts`` from
  the scores', clusters' and origins'), so only the changed rows are computed; a
  narrow table derived from a wide one (``dash_account_keys``: what the account
  search carries) compares those rows with the previous version's, so the tables
  derived from it (the search index) follow only the groups whose own rows moved;
  a store table is then checked against the store (row count), and a table whose
  changes are unknown (first publish, restored store, erasure, other SQL) is compared
  by row hash. Those store tables are
  fingerprinted by a stamp (:data:`STAMPED`), not by hashing every row. The base is
  rewritten (compacted) when the changes pass :data:`DELTA_SHARE` of it, and by an
  erasure (``force_prune``): no file of the remaining version may hide an erased row.
- The version is written under ``.tmp-<name>``, fsynced, renamed, and then the
  pointer file ``LATEST`` is atomically replaced. A crash anywhere before that leaves
  the previous version served; the next publish removes the leftovers.
- Readers (:class:`SnapshotReader`) open an in-memory DuckDB with one view per
  manifest table over the version's Parquet files (same names, so the dashboard's
  SQL does not change), hold a shared ``flock`` on the version's ``.readers`` file
  while it is open, and switch when the pointer changes (one ``os.stat`` per request).
- Old versions are removed by :func:`publish` as soon as no reader holds them (a dead
  reader's lock goes with its process), or :data:`GRACE` after they were superseded
  (an idle reader switches before its next query); :func:`publish` with ``force_prune`` (erasure)
  removes them even when held, since an erased account must vanish from every version.

Files are never modified in place (a new file is always written under a new path), so
a hard link shared by several versions is immutable.

Example:

>>> import tempfile, os
>>> from spreadtrace.store import SCHEMA_VERSION, Store
>>> d = tempfile.mkdtemp()
>>> with Store.open(os.path.join(d, "s.duckdb")) as store:
...     path = publish(store)
>>> latest(os.path.join(d, "s.duckdb")) == path
True
>>> reader = SnapshotReader(os.path.join(d, "s.duckdb"))
>>> with reader.lease() as (con, snapshot_id):
...     version = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
>>> version == str(SCHEMA_VERSION)
True
>>> reader.close()
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from spreadtrace.durable import fsync_dir, fsync_file
from spreadtrace.errors import StoreError
from spreadtrace.store.sync import SYNC_KEYS

if TYPE_CHECKING:
    from types import ModuleType

    from spreadtrace.store import Store

__all__ = [
    "publish",
    "latest",
    "latest_build_id",
    "snapshot_dir",
    "exported_tables",
    "open_version",
    "SnapshotReader",
    "PublishStats",
    "remove_other_versions",
    "KEEP",
    "NOT_EXPORTED",
    "UNREAD_COLUMNS",
]

KEEP = 1
"""How many versions :func:`publish` keeps besides those a reader still holds."""

GRACE = 3600.0
"""Seconds after which a superseded version is removed even if a reader still holds it:
an idle dashboard process moves to the newest version before its next query anyway,
so only a request running for an hour on it could notice."""

POINTER = "LATEST"
MANIFEST = "manifest.json"
READERS = ".readers"
FORMAT = 3
"""Manifest format; a version in another format is never linked from. 2: views
(``views``: name -> SQL over the version's tables) serve tables kept in one copy.
3: ``deltas``: tables kept as a base file plus the rows changed since (:func:`_delta_sql`)."""

DELTA_SHARE = 0.25
"""A table kept as base + changes is compacted (its base rewritten whole) when its
rows changed since the base exceed this share of the base's rows: reads stay near one
scan and the disk bounded (base plus at most this share). A build after 1% new reposts
rewrites ~14% of ``post_cascades`` (whole touched cascades, at 200k posts), so a
smaller share would compact after every such build."""

DELTA_MIN_ROWS = 20_000
"""Tables of fewer rows are rewritten whole (a rewrite costs milliseconds; a base plus
changes would only slow their reads)."""

NOT_EXPORTED = frozenset(
    {
        # input history, job log, erasure log (and raw rejected lines stay off it)
        *("account_snapshots", "follows", "rejects", "jobs", "erasures"),
        # build internals the dashboard reads no row of (items it does read: a
        # narrative's page lists them)
        *("narrative_origin_items", "url_keys", "media_matches"),
        # the accounts stage's incremental state (store/accounts_state.py)
        *("account_features", "coordination_shares", "coordination_hits"),
        "account_score_parts",
        # the items stage's incremental text state (store/text_state.py): LSH band keys
        # per text, the biggest table of a built store and read by no page
        *("text_norms", "text_pairs"),
        # the narratives grouping's state (store/narrative_state.py)
        *("narrative_keys", "narrative_map"),
        # the item origins' state (store/origin_state.py)
        "item_origin_parts",
        # what incremental builds deleted and inserted, for the reports' changes sets
        "row_changes",
    }
)
"""Store tables the dashboard never reads: left out of the read model, which keeps it
small. A page that starts reading one must take it off this list."""

PARTITIONED = "posts"
"""The append-only input written as one part per ingest run."""

_POST_ROWS = "dash_post_rows"
"""Where the snapshot keeps ``posts`` (a view of it), with each post's search number."""

# Tables looked up by short lists of ids (search results, a page's own row): written in
# id order with small row groups, so `WHERE id IN (...)` reads a few groups (zone maps).
# Store tables named here are exported in that order (the read-model SQL sorts its own).
_LOOKUP_ORDER = {_POST_ROWS: "post_id", "narratives": "narrative_id", "accounts": "account_id"}
_SMALL_GROUPS = {
    _POST_ROWS: 10_240,
    "narratives": 10_240,
    "accounts": 10_240,
    "dash_post_index": 2_048,  # narrow: a lookup of 100 ids reads ~200k rows, not 1M
    "dash_cascade_keys": 2_048,
    "dash_account_keys": 2_048,
    "dash_account_grams": 10_240,  # in gram order: a rare gram's rows are a group or two
    "dash_account_gram_counts": 10_240,
}

UNREAD_COLUMNS = {"account_scores": ("features",), "items": ("first_post_id",)}
"""Columns of exported tables that no page reads (the accounts' feature JSON, the
items' first post): left out of their files."""

_PARQUET = "FORMAT parquet, COMPRESSION zstd, PARQUET_VERSION V2"
"""How every file is written. Parquet 2 encodings (delta for sorted numbers such as the
search index's post numbers, byte-stream split) are 5-10% smaller than Parquet 1's;
zstd level 9 would save another 5-8% but cost 1.5-2.5x the write time (the 5M posts
part: 20 s instead of 9), so the default level stays."""

PUBLISH_MEMORY = 1536 * 2**20
"""Bytes DuckDB may use while publishing (lowered from the store's limit, restored
after): the sorts of the posts, the search index (28M rows at 5M posts) and the
cascades spill to disk beyond it instead of growing the writer's memory, which the
build's other stages need (a 5M publish peaked at 4.2 GB without it). 1.5 GB, not 2:
the first publish of the 1.28M real-shaped store ran out of memory at 2 GB ("failed to
pin block", every block pinned) and finished at 1.5 GB, as did the 5M synthetic one
(bench/RESULTS.md, session close): DuckDB's spilling is not monotonic in its limit."""


_NAME = re.compile(r"^\d{6,}-\d{8}T\d{12}Z$")
_WORD = re.compile(r"[a-z_][a-z0-9_]*")


def _queries() -> ModuleType:
    """The dashboard's queries module (the read model's SQL), imported on first use.

    Why not at the top: it imports polars, and every scheduled run imports this module
    to compare the latest version with the store's build (:func:`latest_build_id`),
    which a run with nothing new does without any of the read model (~0.3 s of CPU of
    its start)."""
    from spreadtrace.store import dashboard_queries

    return dashboard_queries


def snapshot_dir(db_path: str | os.PathLike[str]) -> Path:
    """The directory holding the published versions of the store at ``db_path``."""
    return Path(f"{os.fspath(db_path)}.snapshots")


@dataclass
class PublishStats:
    """What one publish did: files written (new bytes) and files hard-linked."""

    written: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    bytes_written: int = 0
    removed: int = 0
    by_hash: list[str] = field(default_factory=list)
    """Tables whose changes were found by comparing every row's hash (not by build id)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Per file: seconds spent on its fingerprint and its write (or link)."""


def publish(
    store: Store, *, keep: int = KEEP, force_prune: bool = False, stats: PublishStats | None = None
) -> Path | None:
    """Publish the store's committed state as a new read-model version; return its folder.

    Call it from the writer, after its transaction committed (never inside one).
    ``force_prune`` removes every older version even while a reader holds it (erasure).
    ``stats``, when given, is filled with the files written and linked.
    Returns None for an in-memory store (nothing can read it from outside the process).
    """
    if store.path == ":memory:":
        return None
    if store.read_only:
        raise StoreError("a snapshot is published by the writer; this store is open read-only")
    from spreadtrace.store import storage_errors

    # A full disk or a read-only folder: one line (StorageError); the temp folder is
    # removed and the pointer still names the previous, complete version.
    with storage_errors(f"cannot write the dashboard snapshot of {store.path}"):
        return _publish(store, max(keep, 1), force_prune, stats or PublishStats())


def _publish(store: Store, keep: int, force_prune: bool, stats: PublishStats) -> Path:
    con = store.con
    folder = snapshot_dir(store.path)
    folder.mkdir(parents=True, exist_ok=True)
    # Only the job-lock holder publishes, so any temp folder here is a crashed publish's.
    for stale in [*folder.glob(".tmp-*"), *folder.glob(".del-*")]:
        _remove_path(stale)
    prev = latest(store.path)
    prev_files = _manifest(prev)["files"] if prev is not None else {}
    build_id = con.execute("SELECT coalesce(max(build_id), 0) FROM builds").fetchall()[0][0]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{int(build_id):06d}-{stamp}"
    tmp = folder / f".tmp-{name}"
    final = folder / name
    tmp.mkdir()
    try:
        prev_manifest = _manifest(prev) if prev is not None else {}
        prev_build = prev_manifest.get("build_id")
        writer = _VersionWriter(
            con, tmp, prev, prev_files, stats, prev_manifest.get("deltas", {}), force_prune,
            # build ids tell changes only going forward, and only in the store that
            # made the previous version: not in one restored from an older backup
            # (lower build ids) and rebuilt since (same build id, another start)
            prev_build if prev_build is not None and int(prev_build) <= int(build_id)
            and prev_manifest.get("build_started") == _build_started(con, int(prev_build))
            else None,
            _known_run(con, prev_manifest.get("ingest_run")),
            prev_manifest.get("erasure") != _last_erasure(con),
        )  # fmt: skip
        with _memory_capped(con, PUBLISH_MEMORY):
            con.execute("BEGIN TRANSACTION")  # one consistent read; temp views vanish on rollback
            try:
                writer.write_all()
            finally:
                con.execute("ROLLBACK")
        _pause_hook("publish")
        (tmp / READERS).touch()
        manifest = writer.manifest(build_id) | {
            "build_started": _build_started(con, build_id),
            "ingest_run": writer.ingest_run,
            "erasure": _last_erasure(con),
        }
        _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=1))
        for sub in {(tmp / rel).parent for rel in writer.files} | {tmp}:
            fsync_dir(sub)  # the new names (files and links) survive a power cut
    except BaseException:
        _remove_path(tmp)
        raise
    os.replace(tmp, final)
    fsync_dir(folder)
    _write_pointer(folder, name)
    stats.removed = _prune(folder, keep=keep, current=name, force=force_prune)
    return final


def _last_run(con: duckdb.DuckDBPyConnection) -> list[Any]:
    """The store's newest ingest run and when it started (``[0, None]`` without one):
    a manifest records it, so the next publish knows which runs are new."""
    rows = con.execute(
        "SELECT ingest_run_id, started_at::VARCHAR FROM ingest_runs "
        "ORDER BY ingest_run_id DESC LIMIT 1"
    ).fetchall()
    return [0, None] if not rows else [int(rows[0][0]), str(rows[0][1])]


def _last_erasure(con: duckdb.DuckDBPyConnection) -> list[Any]:
    """The store's newest erasure and when it was made (``[0, None]`` without one): a
    manifest records it, so the next publish knows whether rows were erased since."""
    rows = con.execute(
        "SELECT erasure_id, erased_at::VARCHAR FROM erasures ORDER BY erasure_id DESC LIMIT 1"
    ).fetchall()
    return [0, None] if not rows else [int(rows[0][0]), str(rows[0][1])]


def _known_run(con: duckdb.DuckDBPyConnection, recorded: Any) -> int | None:
    """The ingest run a previous version recorded (:func:`_last_run`), if this store
    holds it with the same start (None: the runs after it are unknown).

    Why the start: a store restored from an older backup numbers its next runs again
    from the backup's sequence, so a run id alone could name another file's run."""
    if not isinstance(recorded, list) or len(recorded) != 2 or not isinstance(recorded[0], int):
        return None
    run, started = recorded
    if run == 0 and started is None:
        return 0  # no run then: every run now is new
    rows = con.execute(
        "SELECT started_at::VARCHAR FROM ingest_runs WHERE ingest_run_id = ?", [run]
    ).fetchall()
    return run if rows and str(rows[0][0]) == started else None


def _build_started(con: duckdb.DuckDBPyConnection, build_id: int) -> str | None:
    """When build ``build_id`` started (None if the store has no such build): with
    the id, it names one build of one store's history (a manifest records it)."""
    rows = con.execute(
        "SELECT started_at::VARCHAR FROM builds WHERE build_id = ?", [int(build_id)]
    ).fetchall()
    return None if not rows else str(rows[0][0])


@dataclass(frozen=True)
class _Changes:
    """Where the groups of a table's rows that changed since the previous version are
    found, so that only their rows are computed.

    Why: the derived tables keep the build id of the build that last changed a row
    (:mod:`spreadtrace.store.sync`; the cascades stage rewrites touched cascades only),
    so the rows newer than the previous version's build are the change."""

    group: tuple[str, ...]
    """Columns of the table (and of every input) the changes are found by."""
    built: tuple[str, ...] = ()
    """Store tables (with ``build_id``) whose newer rows' groups changed."""
    derived: tuple[str, ...] = ()
    """Tables of this version published before, whose changed groups are these."""
    primary: tuple[str, ...] = ()
    """Store tables holding every group of the table: a previous group in none is gone."""
    new_posts: bool = False
    """The posts of the ingest runs written into this version are new groups, and the
    posts gone from the previous version's (retention) changed ones."""
    inputs: tuple[str, ...] = ()
    """Tables the SQL reads by group: read restricted to the changed groups."""
    ingested: tuple[str, ...] = ()
    """Store tables (with ``ingest_run_id``, set by every write of a row) whose rows
    written by ingest runs after the previous version's are changed groups: the
    profiles (``accounts``), which carry no build id."""
    erased: tuple[str, ...] = ()
    """Store tables holding every group whose rows only an erasure deletes: as
    ``primary``, but looked for only when an erasure was recorded since the previous
    version (the anti-join reads every row of the previous version: ~1.5 s for the
    15.5M rows of the account index of the 1.28M real-shaped store)."""
    compare: bool = False
    """The rows of the groups found as above are computed and compared with the previous
    version's (count and sum of row hashes per group), and only the groups that differ
    are changed, here and for the tables derived from this one: for a narrow table
    whose inputs change for many groups while its own rows change for few (the
    account search's columns, when a day boundary moves every account's scores)."""
    unknown_after_erasure: bool = False
    """Compared whole (row hashes) when an erasure was recorded since the previous
    version: an erasure deletes profiles and masks names in other profiles in place,
    which neither a build id nor an ingest run shows."""


_CHANGES: dict[str, _Changes] = {
    "dash_cascade_rows": _Changes(
        ("cascade_id",),
        built=("cascades", "cascade_scores"),
        primary=("cascades", "cascade_scores"),
        inputs=("cascades", "cascade_scores"),
    ),
    "dash_node_rows": _Changes(
        ("post_id",),
        built=("post_cascades",),
        primary=("post_cascades",),
        new_posts=True,
        inputs=("post_cascades", "posts"),
    ),
    "dash_post_index": _Changes(
        ("post_id",),
        built=("post_cascades",),
        derived=("post_narratives",),
        new_posts=True,
        inputs=(_POST_ROWS, "post_cascades", "post_narratives"),
    ),
    "dash_cascade_keys": _Changes(
        ("cascade_id",), derived=("dash_cascade_rows",), inputs=("dash_cascade_rows",)
    ),
    "dash_narrative_terms": _Changes(
        ("narrative_id",), derived=("narratives",), inputs=("narratives",)
    ),
    # an account's dashboard row: its scores, its profile's handle, its cluster and
    # origin (the stages' changed accounts, as the store tables' publish found them:
    # an account whose scores row is gone is among account_scores' changes)
    "dash_accounts": _Changes(
        ("account_id",),
        derived=("account_scores", "coordination_clusters", "account_origin"),
        ingested=("accounts",),
        inputs=("account_scores", "accounts", "coordination_clusters", "account_origin"),
        unknown_after_erasure=True,
    ),
    # what an account hit shows (post count, bot state): compared, so that a build
    # that rescored every account (a new day moves every rate) changes the few
    # accounts whose count or state moved, and the index below follows only those
    "dash_account_keys": _Changes(
        ("account_id",), derived=("dash_accounts",), inputs=("dash_accounts",), compare=True
    ),
    # the account search's index: an account's rows change with its profile (handle,
    # display name: a new snapshot) or with what a hit shows (its dash_account_keys row)
    "dash_account_grams": _Changes(
        ("account_id",),
        derived=("dash_account_keys",),
        ingested=("accounts",),
        erased=("accounts",),
        inputs=("accounts", "dash_account_keys"),
    ),
}
"""How the changed rows of the big read-model tables are found (the synced store tables:
by their own key and build id); the others are compared whole (row hashes), and the
groups whose rows that comparison found changed are known to the tables derived from
them (:meth:`_VersionWriter._keep_hashed_changes`)."""


STAMPED = frozenset({*SYNC_KEYS, "cascades", "cascade_scores", "post_cascades"})
"""Store tables whose every write sets ``build_id`` to the build that made it (the
synced tables, :mod:`spreadtrace.store.sync`; the cascades stage's tables): their
fingerprint is a stamp (row count, newest build id and that build's start), not a hash
of every row.

Why: hashing every row of every big table (and, for the synced ones, hashing the
store's and the version's rows again to check them) was about a sixth of the publish's
CPU after a 1% build at 1M posts, and it grows with the store, not the change. Under the rule above, a row inserted or updated
after the previous version carries a newer build id, and a row deleted lowers the
count, so the stamp changes whenever the rows do; the build's start tells a store
restored from an older backup and rebuilt to the same build id from the one that was
published. The rule is what the delta path already relies on to find changed rows;
tests/test_snapshot_delta.py checks it (incremental versions equal a fresh publish
over random batch sequences, and a store restored from a backup). An erasure's
publish (``force_prune``, which rewrites every file anyway) hashes them."""

# The alias a table's rows are hashed by: hash(alias) is the whole row only while no
# column has the alias's name (a column "t" made hash(t) that column alone, so a table
# with one was fingerprinted by it and a stale file could be linked again).
_ROW = "_st_fingerprint_row"


class _VersionWriter:
    """Writes one version's files into ``tmp``, linking those unchanged since ``prev``."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tmp: Path,
        prev: Path | None,
        prev_files: dict[str, str],
        stats: PublishStats,
        prev_deltas: dict[str, Any] | None = None,
        compact: bool = False,
        prev_build: int | None = None,
        prev_run: int | None = None,
        erased: bool = True,
    ) -> None:
        self.con, self.tmp, self.prev, self.prev_files, self.stats = (
            con,
            tmp,
            prev,
            prev_files,
            stats,
        )
        self.prev_deltas = prev_deltas or {}
        self.compact = compact  # erasure: no base may keep a row that a delta hides
        self.deltas: dict[str, dict[str, Any]] = {}
        self.prev_build = prev_build
        self.prev_run = prev_run  # the newest ingest run the previous version saw
        self.ingest_run: list[Any] = [0, None]
        self.erased = erased  # an erasure since the previous version (or unknown)
        self.changed: dict[str, str | None] = {}  # table -> temp table of its changed groups
        self.new_runs: list[int] = []  # ingest runs whose posts part was written
        self.files: dict[str, str] = {}  # relative path -> fingerprint
        self.tables: dict[str, list[str]] = {}  # table -> its files
        self.table_fp: dict[str, str] = {}
        self._started = time.perf_counter()

    def write_all(self) -> None:
        self.ingest_run = _last_run(self.con)
        self._write_posts()
        for table in exported_tables(self.con):
            fp = self._table_fingerprint(table)
            unread = UNREAD_COLUMNS.get(table, ())
            cols = f"* EXCLUDE ({', '.join(unread)})" if unread else "*"
            fp = _digest(fp, f"columns {cols}") if unread else fp
            sql = f'SELECT {cols} FROM "{table}"'
            if table in SYNC_KEYS:
                order = _LOOKUP_ORDER.get(table)
                self._delta(table, fp, sql, SYNC_KEYS[table], f'"{order}"' if order else None)
            else:
                self._file(table, f"{table}.parquet", fp, sql)
            self._finish_table(table, view=False)
        # served as views of the read model: fingerprinted (the read model's inputs),
        # never written
        self.columns: dict[str, list[str]] = {}
        for table in _queries().VIEWED_TABLES:
            if table not in self.table_fp:
                self.table_fp[table] = self._table_fingerprint(table)
            self.columns[table] = self._column_names(table)
        self._write_read_model()

    # -- fingerprints ---------------------------------------------------------------

    def _columns(self, table: str) -> str:
        row = self.con.execute(
            "SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_index) "
            "FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ?",
            [table],
        ).fetchall()[0]
        return str(row[0])

    def _column_names(self, table: str) -> list[str]:
        rows = self.con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ? ORDER BY column_index",
            [table],
        ).fetchall()
        return [r[0] for r in rows]

    def _table_fingerprint(self, table: str) -> str:
        """A store table's fingerprint: its stamp if it is :data:`STAMPED` (and this
        is no erasure's publish), else the hash of every row."""
        if table not in STAMPED or self.compact or "build_id" not in self._column_names(table):
            return self._fingerprint(f'FROM "{table}" {_ROW}', table)
        sql = f'SELECT count(*), max(build_id) FROM main."{table}"'
        n, last = self.con.execute(sql).fetchall()[0]
        started = None if last is None else _build_started(self.con, int(last))
        return _digest(self._columns(table), "stamp", str(n), str(last), str(started))

    def _fingerprint(self, from_clause: str, table: str) -> str:
        n, total = self.con.execute(
            f"SELECT count(*), coalesce(sum(hash({_ROW})::HUGEINT), 0)::VARCHAR {from_clause}"
        ).fetchall()[0]
        return _digest(self._columns(table), str(n), str(total))

    # -- files ------------------------------------------------------------------------

    def _file(self, table: str, rel: str, fp: str, sql: str | None) -> bool:
        """Link ``rel`` from the previous version when its fingerprint is unchanged,
        else write it from ``sql``; then expose it to later read-model SQL. True if
        linked."""
        target = self.tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        # the layout of lookup tables (id order, small row groups; _LOOKUP_ORDER): a file
        # written in another layout is not reused
        order, rows = _LOOKUP_ORDER.get(table), _SMALL_GROUPS.get(table)
        if order or rows:
            fp = _digest(fp, f"by {order}", f"groups of {rows}")
        if order and sql is not None:
            sql = f'{sql} ORDER BY "{order}"'
        groups = f", ROW_GROUP_SIZE {rows}" if rows else ""
        linked = False
        if self.prev is not None and self.prev_files.get(rel) == fp:
            try:
                os.link(self.prev / rel, target)
                linked = True
            except FileNotFoundError:
                pass  # the previous version lost the file: write it
        if linked:
            self.stats.linked.append(rel)
        else:
            assert sql is not None
            self.con.execute(f"COPY ({sql}) TO {_literal(target)} ({_PARQUET}{groups})")
            fsync_file(target)
            self.stats.written.append(rel)
            self.stats.bytes_written += target.stat().st_size
        self.files[rel] = fp
        self.tables.setdefault(table, []).append(rel)
        now = time.perf_counter()  # since the previous file: its fingerprint and its write
        self.stats.seconds[rel] = now - self._started
        self._started = now
        return linked

    def _finish_table(self, table: str, *, view: bool) -> None:
        rels = sorted(self.tables.get(table, []))
        self.tables[table] = rels
        self.table_fp[table] = _digest(*(f"{r}={self.files[r]}" for r in rels))
        if view:  # later read-model SQL reads this table from the version being written
            delta = self.deltas.get(table)
            source = (
                _delta_sql(self.tmp, delta)
                if delta is not None
                else f"SELECT * FROM read_parquet({_list_literal([self.tmp / r for r in rels])})"
            )
            self.con.execute(f'CREATE OR REPLACE TEMP VIEW "{table}" AS {source}')

    # -- tables kept as a base plus the rows changed since ----------------------------

    def _delta(
        self, table: str, fp: str, sql: str, key: tuple[str, ...], order: str | None
    ) -> None:
        """Write ``table`` (the rows of ``sql``, unique by ``key``) as the previous
        version's base file, hard-linked, plus the rows new or changed since that base
        and the keys of the base rows they replace or that are gone (:func:`_delta_sql`);
        rewrite the base instead when those exceed :data:`DELTA_SHARE` of it.

        Why: after a small build most rows of the big tables are unchanged; writing them
        again was most of a publish. The changed rows are found from the store's build
        ids (:data:`_CHANGES`: only they are computed), or else by one hash join of all
        the new rows with the base's."""
        rows = _SMALL_GROUPS.get(table)
        # the SQL too: rows computed by other SQL (a new release) are not merged by key
        layout = _digest(",".join(key), f"by {order}", f"groups of {rows}", _unordered(sql))
        prev = self.prev_deltas.get(table)
        if self.prev is not None and prev is not None and prev.get("layout") != layout:
            prev = None
        if prev is not None and self.prev is not None:
            clean = not prev.get("delta") and not prev.get("dead")
            if (
                prev.get("fp") == fp
                and (clean or not self.compact)
                and self._link_delta(table, prev)
            ):
                self.changed[table] = None  # nothing changed since the previous version
                return
        groups = f", ROW_GROUP_SIZE {rows}" if rows else ""
        ordered = f" ORDER BY {order}" if order else ""
        comparable = (
            prev is not None
            and self.prev is not None
            and not self.compact
            and all((self.prev / r).exists() for r in _delta_rels(prev))
        )
        done = False
        if comparable:
            assert prev is not None
            # a small table is rewritten whole, but the groups it changed are still
            # found (cheaply: few rows) for the tables derived from it
            small = int(prev.get("rows", 0)) < DELTA_MIN_ROWS
            changes = _CHANGES.get(table) or (
                _Changes(key, built=(table,), primary=(table,), inputs=(table,))
                if table in SYNC_KEYS
                else None
            )
            try:
                by_hash = changes is None or not self._known(changes)
                if changes is not None and not by_hash:
                    done = self._delta_by_build(table, fp, sql, key, layout, prev, changes, ordered, groups, small=small)  # fmt: skip
                    if done and table in SYNC_KEYS and not self._same_rows(table, sql):
                        # a row changed without its build id: compare by hash instead
                        self._forget(table)
                        done, by_hash = False, True
                if by_hash and not small:
                    self.stats.by_hash.append(table)
                    done = self._delta_by_hash(table, fp, sql, key, layout, prev, ordered, groups)
                    if done:
                        self._keep_hashed_changes(table, key, prev)
            finally:
                for temp in ("_st_new", "_st_old", "_st_changed", "_st_dead", "_st_fresh"):
                    self.con.execute(f"DROP TABLE IF EXISTS {temp}")
        if not done:
            base_rel = f"{table}.parquet"
            n = self._copy(f"SELECT * FROM ({_unordered(sql)}){ordered}", base_rel, groups)
            group = _CHANGES[table].group if table in _CHANGES else key
            self._record_delta(table, fp, layout, key, [base_rel], n, None, None, group=group)

    def _same_rows(self, table: str, sql: str) -> bool:
        """Whether the version holds as many rows of ``table`` as the store: a cheap
        check (counts read no values) that the changes found from build ids left no
        row out or twice. In-place changes without a build id are excluded by the rule
        of :data:`STAMPED`, not checked here (a hash of every row cost a scan of the
        store and of the version per table, on every publish)."""
        want = self.con.execute(f"SELECT count(*) FROM ({_unordered(sql)})").fetchall()[0]
        got = self.con.execute(f"SELECT count(*) FROM ({_delta_sql(self.tmp, self.deltas[table])})")
        return bool(want == got.fetchall()[0])

    def _forget(self, table: str) -> None:
        """Undo :meth:`_record_delta` of ``table`` in the version being written."""
        entry = self.deltas.pop(table)
        self.changed.pop(table, None)
        for rel in _delta_rels(entry):
            (self.tmp / rel).unlink(missing_ok=True)
            self.files.pop(rel, None)
        self.tables.pop(table, None)

    def _known(self, changes: _Changes) -> bool:
        """Whether the changes of every table ``changes`` derives from are known."""
        return (
            self.prev_build is not None
            and (self.prev_run is not None or not changes.ingested)
            and not (self.erased and changes.unknown_after_erasure)
            and all(t in self.changed for t in changes.derived)
        )

    def _keep_hashed_changes(self, table: str, key: tuple[str, ...], prev: dict[str, Any]) -> None:
        """Keep the keys of ``table`` whose rows may differ from the previous version's,
        after :meth:`_delta_by_hash` found its rows changed since the base: the tables
        derived from it then compute those groups only (:attr:`_Changes.derived`).

        Why these keys: a key in none of the base's replaced or added keys, now or in
        the previous version, has the base's row (or none) in both versions. A superset
        of the change since the previous version, bounded by the changes since the base
        (:data:`DELTA_SHARE`)."""
        assert self.prev is not None
        k = ", ".join(f'"{c}"' for c in key)
        parts = [f"SELECT {k} FROM _st_changed", f"SELECT {k} FROM _st_dead"]
        parts += [
            f"SELECT {k} FROM read_parquet({_literal(self.prev / prev[r])})"
            for r in ("delta", "dead")
            if prev.get(r)
        ]
        cand = f"_st_c_{table}"
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {cand} AS {' UNION '.join(parts)}")
        self.changed[table] = cand

    def _delta_by_build(
        self,
        table: str,
        fp: str,
        sql: str,
        key: tuple[str, ...],
        layout: str,
        prev: dict[str, Any],
        changes: _Changes,
        ordered: str,
        groups: str,
        *,
        small: bool = False,
    ) -> bool:
        """The changed groups (:class:`_Changes`) since the previous version, their rows
        computed alone, merged into the previous version's changes; False to rewrite
        (always for a ``small`` table, once its changed groups are known)."""
        assert self.prev is not None and self.prev_build is not None
        con = self.con
        g = ", ".join(f'"{c}"' for c in changes.group)
        same_group = list(prev.get("group") or prev["key"]) == list(changes.group)
        if not same_group and (changes.compare or not small):
            return False  # the previous changes hide other groups: not carried over
        parts = [f'SELECT {g} FROM main."{t}" WHERE build_id > {int(self.prev_build)}'
                 for t in changes.built]  # fmt: skip
        parts += [f"SELECT {g} FROM {self.changed[t]}" for t in changes.derived if self.changed[t]]
        if changes.ingested:
            assert self.prev_run is not None
            parts += [f'SELECT {g} FROM main."{t}" WHERE ingest_run_id > {int(self.prev_run)}'
                      for t in changes.ingested]  # fmt: skip
        if changes.new_posts and self.new_runs:
            runs = ", ".join(str(int(r)) for r in self.new_runs)
            parts.append(f'SELECT {g} FROM "{_POST_ROWS}" WHERE ingest_run_id IN ({runs})')
        # posts gone (retention, erasure) from the previous version's parts not linked
        gone = [
            self.prev / r
            for r in self.prev_files
            if r.startswith(f"{PARTITIONED}/") and self.files.get(r) != self.prev_files[r]
        ]
        if changes.new_posts and gone:
            parts.append(
                f"SELECT {g} FROM read_parquet({_list_literal(gone)}) _g "
                f'ANTI JOIN main."{PARTITIONED}" _k USING ({g})'
            )
        primary = (*changes.primary, *(changes.erased if self.erased else ()))
        if primary:
            current = " UNION ALL ".join(f'SELECT {g} FROM main."{t}"' for t in primary)
            parts.append(
                f"SELECT {g} FROM ({_delta_sql(self.prev, prev)}) _p "
                f"ANTI JOIN ({current}) _c USING ({g})"
            )
        cand = f"_st_c_{table}"
        union = " UNION ALL ".join(parts) or f"SELECT {g} FROM ({_delta_sql(self.prev, prev)}) WHERE FALSE"  # fmt: skip
        con.execute(f"CREATE OR REPLACE TEMP TABLE {cand} AS SELECT DISTINCT * FROM ({union})")
        self.changed[table] = cand
        n_cand = con.execute(f"SELECT count(*) FROM {cand}").fetchall()[0][0]
        limit = DELTA_SHARE * int(prev["rows"])
        if small and not changes.compare:
            return False
        if n_cand > limit and not changes.compare:
            return False
        restricted = sql
        for t in changes.inputs:
            pattern = re.compile(rf'\b(FROM|JOIN)\s+"?{t}"?(?=[\s)]|$)', re.IGNORECASE)
            restricted, n = pattern.subn(rf"\1 _st_in_{t}", restricted)
            if not n:
                raise StoreError(f"{table}: its SQL does not read {t}")
            con.execute(
                f'CREATE OR REPLACE TEMP VIEW _st_in_{t} AS SELECT * FROM "{t}" '
                f"SEMI JOIN {cand} USING ({g})"
            )
        base_files = _list_literal([self.prev / r for r in prev["base"]])
        fresh = _unordered(restricted)
        if changes.compare:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _st_fresh AS {fresh}")
            if self._described("_st_fresh") != self._described(f"read_parquet({base_files})"):
                return False
            self._keep_differing(cand, g, prev)
            n_cand = con.execute(f"SELECT count(*) FROM {cand}").fetchall()[0][0]
            if small or not same_group or n_cand > limit:
                return False
            fresh = f"SELECT * FROM _st_fresh SEMI JOIN {cand} USING ({g})"
        old = ""
        if prev.get("delta"):
            old = (
                f" UNION ALL SELECT _d.* FROM read_parquet({_literal(self.prev / prev['delta'])}) "
                f"_d ANTI JOIN {cand} USING ({g})"
            )
        con.execute(f"CREATE OR REPLACE TEMP TABLE _st_changed AS SELECT * FROM ({fresh}){old}")
        for t in changes.inputs:
            con.execute(f"DROP VIEW IF EXISTS _st_in_{t}")
        dead_old = ""
        if prev.get("dead"):
            dead_old = f" UNION SELECT {g} FROM read_parquet({_literal(self.prev / prev['dead'])})"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _st_dead AS SELECT {g} FROM {cand}{dead_old}")
        if self._described("_st_changed") != self._described(f"read_parquet({base_files})"):
            return False
        return self._write_changes(table, fp, key, changes.group, layout, prev, ordered, groups, limit)  # fmt: skip

    def _keep_differing(self, cand: str, g: str, prev: dict[str, Any]) -> None:
        """Keep in ``cand`` only the groups whose rows in ``_st_fresh`` (computed for
        ``cand``) differ from the previous version's: another count of rows or another
        sum of row hashes (:attr:`_Changes.compare`).

        Why against the previous version, not the base: a group left out keeps the
        previous version's rows (its changed rows carried over, its dead key kept)."""
        assert self.prev is not None
        sums = f"count(*) AS _st_n, sum(hash({_ROW})::HUGEINT) AS _st_h"
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE {cand} AS SELECT {g} FROM "
            f"(SELECT {g}, {sums} FROM _st_fresh {_ROW} GROUP BY ALL) _a FULL JOIN "
            f"(SELECT {g}, {sums} FROM (SELECT * FROM ({_delta_sql(self.prev, prev)}) "
            f"SEMI JOIN {cand} USING ({g})) {_ROW} GROUP BY ALL) _b USING ({g}) "
            "WHERE _a._st_n IS DISTINCT FROM _b._st_n OR _a._st_h IS DISTINCT FROM _b._st_h"
        )

    def _delta_by_hash(
        self,
        table: str,
        fp: str,
        sql: str,
        key: tuple[str, ...],
        layout: str,
        prev: dict[str, Any],
        ordered: str,
        groups: str,
    ) -> bool:
        """The rows of ``sql`` whose key and row hash are not in the base, and the base's
        keys not in ``sql`` with the same hash; False to rewrite."""
        assert self.prev is not None
        if list(prev.get("group") or prev["key"]) != list(key):
            return False  # the previous changes hide whole groups: not comparable by key
        con, keys = self.con, ", ".join(f'"{k}"' for k in key)
        on = " AND ".join(f'n."{k}" = o."{k}"' for k in [*key, "_st_h"])
        base_files = _list_literal([self.prev / r for r in prev["base"]])
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _st_new AS SELECT {_ROW}.*, hash({_ROW}) AS _st_h "
            f"FROM ({_unordered(sql)}) {_ROW}"
        )
        if self._described("_st_new", exclude="_st_h") != self._described(
            f"read_parquet({base_files})"
        ):
            return False
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _st_old AS SELECT {keys}, "
            f"hash({_ROW}) AS _st_h FROM read_parquet({base_files}) {_ROW}"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _st_changed AS SELECT n.* EXCLUDE (_st_h) "
            f"FROM _st_new n ANTI JOIN _st_old o ON {on}"
        )
        okeys = ", ".join(f'o."{k}"' for k in key)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _st_dead AS SELECT {okeys} "
            f"FROM _st_old o ANTI JOIN _st_new n ON {on}"
        )
        limit = DELTA_SHARE * int(prev["rows"])
        return self._write_changes(table, fp, key, key, layout, prev, ordered, groups, limit)

    def _write_changes(
        self,
        table: str,
        fp: str,
        key: tuple[str, ...],
        group: tuple[str, ...],
        layout: str,
        prev: dict[str, Any],
        ordered: str,
        groups: str,
        limit: float,
    ) -> bool:
        """Link the base and write ``_st_changed`` and ``_st_dead`` beside it, unless
        they exceed ``limit`` rows (False: the base is rewritten)."""
        assert self.prev is not None
        changed = self.con.execute("SELECT count(*) FROM _st_changed").fetchall()[0][0]
        dead = self.con.execute("SELECT count(*) FROM _st_dead").fetchall()[0][0]
        if changed > limit:
            return False
        for rel in prev["base"]:
            self._link(self.prev / rel, self.tmp / rel)
        delta_rel = dead_rel = None
        if changed:
            delta_rel = f"{table}.delta.parquet"
            self._copy(f"SELECT * FROM _st_changed{ordered}", delta_rel, groups)
        if dead:
            dead_rel = f"{table}.dead.parquet"
            g = ", ".join(f'"{c}"' for c in group)
            self._copy(f"SELECT * FROM _st_dead ORDER BY {g}", dead_rel, "")
        self._record_delta(
            table, fp, layout, key, list(prev["base"]), int(prev["rows"]), delta_rel, dead_rel,
            group=group, delta_rows=int(changed), dead_rows=int(dead),
        )  # fmt: skip
        return True

    def _described(self, source: str, exclude: str | None = None) -> list[tuple[str, str]]:
        rows = self.con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        return [(str(r[0]), str(r[1])) for r in rows if r[0] != exclude]

    def _copy(self, sql: str, rel: str, groups: str) -> int:
        target = self.tmp / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        n = self.con.execute(f"COPY ({sql}) TO {_literal(target)} ({_PARQUET}{groups})").fetchall()
        fsync_file(target)
        self.stats.written.append(rel)
        self.stats.bytes_written += target.stat().st_size
        return int(n[0][0]) if n else 0

    def _link(self, source: Path, target: Path) -> None:
        os.link(source, target)
        self.stats.linked.append(target.name)

    def _link_delta(self, table: str, prev: dict[str, Any]) -> bool:
        """Hard-link the previous version's files of ``table`` (unchanged); False if one
        is missing (it is then written)."""
        assert self.prev is not None
        linked: list[Path] = []
        try:
            for rel in _delta_rels(prev):
                os.link(self.prev / rel, self.tmp / rel)
                linked.append(self.tmp / rel)
        except FileNotFoundError:
            for path in linked:
                path.unlink(missing_ok=True)
            return False
        self.stats.linked.extend(_delta_rels(prev))
        self._record_delta(
            table, prev["fp"], prev["layout"], tuple(prev["key"]), list(prev["base"]),
            int(prev["rows"]), prev.get("delta"), prev.get("dead"),
            group=tuple(prev.get("group") or prev["key"]),
            delta_rows=int(prev.get("delta_rows", 0)), dead_rows=int(prev.get("dead_rows", 0)),
        )  # fmt: skip
        return True

    def _record_delta(
        self,
        table: str,
        fp: str,
        layout: str,
        key: tuple[str, ...],
        base: list[str],
        rows: int,
        delta: str | None,
        dead: str | None,
        *,
        group: tuple[str, ...] | None = None,
        delta_rows: int = 0,
        dead_rows: int = 0,
    ) -> None:
        entry = {"fp": fp, "layout": layout, "key": list(key), "base": base, "rows": rows,
                 "group": list(group or key), "delta": delta, "dead": dead,
                 "delta_rows": delta_rows, "dead_rows": dead_rows}  # fmt: skip
        self.deltas[table] = entry
        for rel in _delta_rels(entry):
            # never equal to a whole file's fingerprint: a later publish that writes the
            # table as one file does not link this base (which may hold replaced rows)
            self.files[rel] = _digest(fp, "delta", rel)
            self.tables.setdefault(table, []).append(rel)
        now = time.perf_counter()
        self.stats.seconds[f"{table}.parquet"] = now - self._started
        self._started = now

    def _write_posts(self) -> None:
        """``posts`` as ``dash_post_rows`` (with each post's search ``doc`` number), one
        part per ingest run, and the search index of each part beside it: a new run
        writes its own parts only."""
        runs = self.con.execute(
            f"SELECT {_ROW}.ingest_run_id, count(*), "
            f"coalesce(sum(hash({_ROW})::HUGEINT), 0)::VARCHAR "
            f'FROM "{PARTITIONED}" {_ROW} GROUP BY 1 ORDER BY 1'
        ).fetchall()
        columns = self._columns(PARTITIONED)
        read_model, post_doc = _queries().READ_MODEL, _queries().POST_DOC
        terms_sql, docs_sql = read_model["dash_search_terms"], read_model["dash_search_docs"]
        run_fps = []
        for run_id, n, total in runs or [(None, 0, "0")]:
            key = "empty" if run_id is None else f"run-{int(run_id):09d}"
            where = "FALSE" if run_id is None else f"ingest_run_id = {int(run_id)}"
            fp = _digest(columns, str(n), str(total), post_doc)
            run_fps.append(fp)
            posts_rel = f"{PARTITIONED}/{key}.parquet"
            sql = f'SELECT *, {post_doc} AS doc FROM "{PARTITIONED}" WHERE {where}'
            if not self._file(_POST_ROWS, posts_rel, fp, sql) and run_id is not None:
                self.new_runs.append(int(run_id))
            self._temp_view(_POST_ROWS, posts_rel)
            terms_rel = f"dash_search_terms/{key}.parquet"
            terms_fp = _digest(terms_sql, fp)
            self._file("dash_search_terms", terms_rel, terms_fp, terms_sql)
            self._temp_view("dash_search_terms", terms_rel)
            docs_rel = f"dash_search_docs/{key}.parquet"
            self._file("dash_search_docs", docs_rel, _digest(docs_sql, terms_fp), docs_sql)
        self._finish_table(_POST_ROWS, view=True)
        self._finish_table("dash_search_terms", view=True)
        self._finish_table("dash_search_docs", view=True)
        self.table_fp[PARTITIONED] = _digest(*run_fps)  # the read model's input

    def _temp_view(self, table: str, rel: str) -> None:
        self.con.execute(
            f'CREATE OR REPLACE TEMP VIEW "{table}" AS SELECT * FROM '
            f"read_parquet({_literal(self.tmp / rel)})"
        )

    def _write_read_model(self) -> None:
        read_model, keys = _queries().READ_MODEL, _queries().READ_MODEL_KEYS
        known = set(self.tables) | set(self.table_fp) | set(read_model)
        for name, sql in read_model.items():
            if name in self.tables:  # written with posts, per ingest run
                continue
            deps = sorted(w for w in set(_WORD.findall(sql.lower())) if w in known and w != name)
            fp = _digest(sql, *(f"{d}={self.table_fp.get(d, '?')}" for d in deps))
            if name in keys:
                key, order = keys[name]
                self._delta(name, fp, sql, key, order)
            else:
                self._file(name, f"{name}.parquet", fp, sql)
            self._finish_table(name, view=True)

    def manifest(self, build_id: int) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "build_id": int(build_id),
            "tables": self.tables,
            "views": {**_queries().READ_VIEWS, **_queries().store_views(self.columns)},
            "files": self.files,
            "deltas": self.deltas,
        }


def _delta_rels(entry: dict[str, Any]) -> list[str]:
    """The files of a table kept as base + changes: its base, changed rows, dead keys."""
    return [*entry["base"], *(r for r in (entry.get("delta"), entry.get("dead")) if r)]


def _delta_sql(folder: Path, entry: dict[str, Any]) -> str:
    """The rows of a table kept as base + changes (a manifest's ``deltas`` entry): the
    base's rows whose key is not dead, and the changed rows (dead keys include every
    changed row's key, so each key appears once)."""
    group = entry.get("group") or entry["key"]
    keys = ", ".join(f'"{k}"' for k in group)
    if not all(_WORD.fullmatch(k) for k in group):
        raise StoreError(f"{folder / MANIFEST} names a bad key: {group!r}")
    base = f"read_parquet({_list_literal([folder / r for r in entry['base']])})"
    sql = f"SELECT * FROM {base}"
    if entry.get("dead"):
        dead = f"read_parquet({_literal(folder / entry['dead'])})"
        sql = f"SELECT _b.* FROM {base} _b ANTI JOIN {dead} _x USING ({keys})"
    if entry.get("delta"):
        sql += f" UNION ALL SELECT * FROM read_parquet({_literal(folder / entry['delta'])})"
    return sql


_ORDER_BY = re.compile(r"\s+ORDER\s+BY\s[^()]*$", re.IGNORECASE)


def _unordered(sql: str) -> str:
    """``sql`` without its final ORDER BY (a comparison needs no sort).

    >>> _unordered("SELECT a FROM t ORDER BY a DESC, 1  ")
    'SELECT a FROM t'
    >>> _unordered("SELECT list(a ORDER BY a) FROM t")
    'SELECT list(a ORDER BY a) FROM t'
    """
    return _ORDER_BY.sub("", sql.rstrip())


def exported_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The store's tables that go into the read model: all but :data:`NOT_EXPORTED`."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND NOT temporary ORDER BY table_name"
    ).fetchall()
    skip = NOT_EXPORTED | set(_queries().VIEWED_TABLES)
    return [r[0] for r in rows if r[0] not in skip and not r[0].startswith("dash_")]


_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
          "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}  # fmt: skip


def _bytes(setting: str, *, restore: bool = False) -> int | None:
    """DuckDB's memory setting as bytes, None if unknown. DuckDB shows the limit cut to
    one decimal ("18.7 GiB" for 18.79), so ``restore`` adds half a step: a limit read
    back and set again does not shrink a little on every publish.

    >>> _bytes("1.5 GiB"), _bytes("500MB"), _bytes("bogus")
    (1610612736, 500000000, None)
    >>> _bytes("1.5 GiB", restore=True) == int(1.55 * 2**30)
    True
    """
    m = re.fullmatch(r"\s*([0-9.]+)\s*([a-zA-Z]*)\s*", setting)
    unit = _UNITS.get(m.group(2).lower()) if m else None
    if m is None or unit is None:
        return None
    return int((float(m.group(1)) + (0.05 if restore and unit > 1 else 0)) * unit)


@contextmanager
def _memory_capped(con: duckdb.DuckDBPyConnection, cap: int) -> Iterator[None]:
    """Lower DuckDB's memory limit to ``cap`` bytes for the block (never raise it)."""
    before = str(con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])
    current, restore = _bytes(before), _bytes(before, restore=True)
    if current is None or restore is None or current <= cap:
        yield
        return
    con.execute(f"SET memory_limit = '{int(cap)}B'")
    try:
        yield
    finally:
        con.execute(f"SET memory_limit = '{int(restore)}B'")


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _literal(path: Path | str) -> str:
    return "'" + os.fspath(path).replace("'", "''") + "'"


def _list_literal(paths: list[Path]) -> str:
    return "[" + ", ".join(_literal(p) for p in paths) + "]"


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _write_pointer(folder: Path, name: str) -> None:
    tmp = folder / f".tmp-{POINTER}"
    _write_synced(tmp, name + "\n")
    os.replace(tmp, folder / POINTER)
    fsync_dir(folder)


def _pause_hook(step: str) -> None:
    """Crash-test hook (as in :mod:`spreadtrace.jobs`): sleep at ``step`` when asked."""
    if os.environ.get("SPREADTRACE_TEST_PAUSE_AT") == step:
        Path(f"{os.environ.get('SPREADTRACE_TEST_PAUSE_FLAG', '/dev/null')}").touch()
        time.sleep(float(os.environ.get("SPREADTRACE_TEST_PAUSE_SECONDS", "60")))


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if _NAME.match(p.name) and p.is_dir())


def _prune(folder: Path, *, keep: int, current: str, force: bool) -> int:
    """Remove old versions no reader holds (all old ones with ``force``, and held ones
    superseded more than :data:`GRACE` seconds ago); return how many were removed."""
    names = _versions(folder)
    now = datetime.now(UTC)
    removed = 0
    for i, old in enumerate(names[:-keep] if keep else names):
        if old == current:
            continue
        superseded = _stamp(names[i + 1]) if i + 1 < len(names) else now
        stale = (now - superseded).total_seconds() > GRACE
        if _remove_version(folder / old, force=force or stale):
            removed += 1
    return removed


def _stamp(name: str) -> datetime:
    return datetime.strptime(name.split("-", 1)[1], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)


def _remove_version(path: Path, *, force: bool) -> bool:
    """Rename the version out of readers' sight, then delete it, unless a reader holds
    it (a shared flock on its ``.readers`` file) and ``force`` is off."""
    try:
        fd = os.open(path / READERS, os.O_RDWR)
    except FileNotFoundError:
        fd = None
    try:
        if fd is not None and not force:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a reader is still on it; the next publish retries
        gone = path.with_name(f".del-{path.name}")
        os.replace(path, gone)
    finally:
        if fd is not None:
            os.close(fd)
    shutil.rmtree(gone, ignore_errors=True)
    return True


def remove_other_versions(db_path: str | os.PathLike[str], keep: Path | None) -> int:
    """Delete every version but ``keep``, held by a reader or not (erasure); return how many."""
    folder = snapshot_dir(db_path)
    if keep is None or not folder.is_dir():
        return 0
    removed = 0
    for name in _versions(folder):
        if name != keep.name and _remove_version(folder / name, force=True):
            removed += 1
    return removed


def latest_build_id(db_path: str | os.PathLike[str]) -> int | None:
    """The build id of the newest published version (from its name), or None."""
    path = latest(db_path)
    return None if path is None else int(path.name.split("-", 1)[0])


def latest(db_path: str | os.PathLike[str]) -> Path | None:
    """The newest published version (a folder) of the store at ``db_path``, or None
    (also when it is in another manifest :data:`FORMAT`: this code cannot serve it, and
    ``serve`` then publishes a new one instead of showing no data until the next build)."""
    folder = snapshot_dir(db_path)
    try:
        name = (folder / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    if not _NAME.match(name):
        raise StoreError(f"{folder / POINTER} does not name a snapshot: {name[:80]!r}")
    path = folder / name
    return path if _manifest(path)["tables"] else None


def _manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"files": {}, "tables": {}}
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {"files": {}, "tables": {}}
    return data


def open_version(path: Path) -> tuple[duckdb.DuckDBPyConnection, int] | None:
    """An in-memory DuckDB with a view per table of the version at ``path``, and the
    file descriptor of the shared lock that keeps the version from being pruned
    (close it with the connection). None when the version was removed meanwhile."""
    try:
        fd = os.open(path / READERS, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits out a publisher removing it right now
        manifest = _manifest(path)
        if not (path / MANIFEST).exists() or not manifest["tables"]:
            os.close(fd)
            return None
        con = duckdb.connect(":memory:")
        con.execute("SET TimeZone = 'UTC'")
        # GLOBAL: the cursors each request uses (one per lease) keep the Parquet footers
        # cached too, so a lookup does not re-read the metadata of every file
        con.execute("SET GLOBAL parquet_metadata_cache = true")
        deltas = manifest.get("deltas", {})
        for table, rels in manifest["tables"].items():
            if not _WORD.fullmatch(table):
                raise StoreError(f"{path / MANIFEST} names a bad table: {table[:80]!r}")
            files = [path / r for r in rels]
            source = (
                _delta_sql(path, deltas[table])
                if table in deltas
                else f"SELECT * FROM read_parquet({_list_literal(files)})"
            )
            con.execute(f'CREATE VIEW "{table}" AS {source}')
        for view, sql in manifest.get("views", {}).items():  # over the tables above
            if not _WORD.fullmatch(view) or view in manifest["tables"]:
                raise StoreError(f"{path / MANIFEST} names a bad view: {view[:80]!r}")
            con.execute(f'CREATE VIEW "{view}" AS {sql}')
    except BaseException:
        os.close(fd)
        raise
    return con, fd


@dataclass
class _Generation:
    """One open version and the number of requests currently reading it."""

    path: Path
    con: duckdb.DuckDBPyConnection
    lock_fd: int
    users: int = 0
    retired: bool = False

    @property
    def snapshot_id(self) -> str:
        return self.path.name

    def close(self) -> None:
        self.con.close()
        os.close(self.lock_fd)  # releases the shared lock: the version may now be pruned


@dataclass
class SnapshotReader:
    """Read-only access to the newest version, switching when a newer one is published.

    Thread-safe: each :meth:`lease` gets its own DuckDB cursor. A superseded version
    is closed (and its lock released) once the last request using it finishes.
    """

    db_path: str
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _current: _Generation | None = field(default=None, repr=False)
    _pointer_stat: tuple[int, int, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.db_path = os.fspath(self.db_path)

    def _pointer_changed(self) -> bool:
        try:
            st = os.stat(snapshot_dir(self.db_path) / POINTER)
        except FileNotFoundError:
            return self._current is None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self._pointer_stat and self._current is not None:
            return False
        self._pointer_stat = key
        return True

    def _open_latest(self) -> _Generation | None:
        for _ in range(5):  # a publish may remove the version between pointer and lock
            path = latest(self.db_path)
            if path is None:
                return None
            if self._current is not None and path == self._current.path:
                return self._current
            try:
                opened = open_version(path)
            except duckdb.Error as exc:
                raise StoreError(f"cannot open snapshot {path}: {exc}") from None
            if opened is not None:
                return _Generation(path, *opened)
        return None

    def refresh(self) -> str | None:
        """Switch to the newest version if the pointer moved; return the current id."""
        with self._lock:
            if self._pointer_changed():
                gen = self._open_latest()
                if gen is not None and gen is not self._current:
                    old, self._current = self._current, gen
                    if old is not None:
                        old.retired = True
                        if old.users == 0:
                            old.close()
            return None if self._current is None else self._current.snapshot_id

    @contextmanager
    def lease(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
        """A cursor on the newest version and its id, for the length of one request."""
        self.refresh()
        with self._lock:
            gen = self._current
            if gen is None:
                raise StoreError(
                    f"no snapshot of {self.db_path} yet: run `spreadtrace build` "
                    "(each build publishes one)"
                )
            gen.users += 1
            cur = gen.con.cursor()
        try:
            cur.execute("SET TimeZone = 'UTC'")
            yield cur, gen.snapshot_id
        finally:
            cur.close()
            with self._lock:
                gen.users -= 1
                if gen.retired and gen.users == 0:
                    gen.close()

    @property
    def snapshot_id(self) -> str | None:
        """The id (folder name) of the version currently served, after a refresh."""
        return self.refresh()

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._current.retired = True
                if self._current.users == 0:
                    self._current.close()
                self._current = None
