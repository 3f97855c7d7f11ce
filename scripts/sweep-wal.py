#!/usr/bin/env python3
"""What one step of the retention sweep writes, and what each part of the schema adds.

On copies of a seeded SQLite database (`MESSAGES=1000000 make bench-queries` builds
one), with its older half expired as `make bench-retention` does, runs STEPS steps of
the sweep's DELETE without checkpoints, and prints per step the WAL frames written and
the time taken: for the schema as it is, then with one part of it taken away or
changed. Each step is a transaction of the sweep's DELETE and the trigram index's merges
that every write transaction ends with; the slowest steps are those that merge most.
"As it is" needs a seed made by this version, whose trigram index does not merge by
itself.

Usage: scripts/sweep-wal.py [DATABASE] [STEPS]
  (default target/bench/seed-1000000.db, 200 steps of 250 rows)
It uses Python's own SQLite, whose version it prints: compare only figures from one run.
"""
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time

# The sweep's statement (src/store/sqlite/batch.rs) and its rows per step.
EXPIRE = (
    "DELETE FROM messages WHERE seq IN "
    "(SELECT seq FROM messages WHERE created_at < ?1 ORDER BY created_at LIMIT ?2)"
)
ROWS = 250
# The merges that end every write transaction (src/store/sqlite/batch.rs).
MERGE = "INSERT INTO messages_text (messages_text, rank) VALUES ('merge', 32)"
FRAME_HEADER = 24
WAL_HEADER = 32


def without_search_deletions(connection):
    """The delete trigger without its statement on the search index."""
    (sql,) = connection.execute(
        "SELECT sql FROM sqlite_schema WHERE name = 'messages_deleted'"
    ).fetchone()
    trimmed = re.sub(r"INSERT INTO messages_text[^;]*;", "", sql, flags=re.S)
    assert trimmed != sql, "the delete trigger no longer writes to messages_text"
    return ["DROP TRIGGER messages_deleted", trimmed]


# The variant whose steps do not end with MERGE: the index merges by itself, in bursts,
# as FTS5 does unless told not to.
MERGING_BY_ITSELF = "the search index merging by itself"

VARIANTS = [
    ("as it is", lambda c: []),
    (
        MERGING_BY_ITSELF,
        lambda c: ["INSERT INTO messages_text (messages_text, rank) VALUES ('automerge', 16)"],
    ),
    ("without the sender index", lambda c: ["DROP INDEX messages_by_day_sender_ts"]),
    (
        "the sender index led by the sender",
        lambda c: [
            "DROP INDEX messages_by_day_sender_ts",
            "CREATE INDEX messages_by_sender_ts "
            "ON messages (from_msisdn, ts_key, message_id, text_folded)",
        ],
    ),
    ("without the ts index", lambda c: ["DROP INDEX messages_by_ts"]),
    ("without the search index's deletions", without_search_deletions),
    ("without the delete trigger", lambda c: ["DROP TRIGGER messages_deleted"]),
]


def measure(seed, work, steps, name, changes):
    database = os.path.join(work, "sweep.db")
    for leftover in (database, database + "-wal", database + "-shm"):
        if os.path.exists(leftover):
            os.remove(leftover)
    shutil.copy(seed, database)
    connection = sqlite3.connect(database, isolation_level=None)
    (count,) = connection.execute("SELECT COUNT(*) FROM messages").fetchone()
    connection.execute(
        "UPDATE messages SET created_at = '2000-01-01T00:00:00.000000Z' "
        "WHERE seq IN (SELECT seq FROM messages ORDER BY created_at, message_id LIMIT ?)",
        (count // 2,),
    )
    for statement in changes(connection):
        connection.execute(statement)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    # As in the service, whose bundled SQLite leaves freed content in place; some
    # builds of Python's SQLite (Debian's) overwrite it, writing more pages a step.
    connection.execute("PRAGMA secure_delete = 0")
    connection.execute("PRAGMA wal_autocheckpoint = 0")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    merges = name != MERGING_BY_ITSELF
    took = []
    for _ in range(steps):
        started = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(EXPIRE, ("2001-01-01", ROWS))
        if merges:
            connection.execute(MERGE)
        connection.execute("COMMIT")
        took.append(time.perf_counter() - started)
    took.sort()
    (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    frames = (os.path.getsize(database + "-wal") - WAL_HEADER) / (page_size + FRAME_HEADER)
    connection.close()
    p99 = took[min(len(took) - 1, len(took) * 99 // 100)]
    return frames / steps, frames * page_size / (steps * ROWS), sum(took) / steps, p99, took[-1]


def main():
    seed = sys.argv[1] if len(sys.argv) > 1 else "target/bench/seed-1000000.db"
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    if not os.path.exists(seed):
        sys.exit(f"no {seed}: run 'MESSAGES=1000000 make bench-queries' once first")
    print(f"SQLite {sqlite3.sqlite_version}; {steps} steps of {ROWS} rows on a copy of {seed}")
    print(
        f"{'':40} {'frames/step':>12} {'WAL B/row':>10} {'ms/step':>8} {'p99 ms':>7} {'max ms':>7}"
    )
    with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(seed))) as work:
        for name, changes in VARIANTS:
            frames, row_bytes, mean, p99, slowest = measure(seed, work, steps, name, changes)
            print(
                f"{name:40} {frames:12.0f} {row_bytes:10,.0f} {mean * 1000:8.2f} "
                f"{p99 * 1000:7.2f} {slowest * 1000:7.2f}"
            )


if __name__ == "__main__":
    main()
