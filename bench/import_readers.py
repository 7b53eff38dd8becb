"""Importing readers: rows per second of the batched importer against the per-row one it
replaced, on the same realistic CSV, side by side in one run.

    .venv/bin/python bench/import_readers.py [--rows 20000] [--old-rows 2000] [--pending]
        [--baseline REV] [--database-url postgresql://...]

The CSV (fixed seed): languages 55% en, 15% fr, 10% es, 10% ar, 5% ru, 5% zh; 40% of the
readers take everything, 60% pick 1-4 topics; about 2% bad rows (an invalid address, an
unknown topic, a status of "unsubscribed", a row with too many fields), 1% repeats of an
earlier row, and 1% addresses already on the list (one in three of them unsubscribed).

"old" is the importer as of --baseline (default: the last commit before the batched
importer), checked out with `git worktree` under /tmp and run by this same interpreter;
it takes 5-11 ms a row, so it imports the first --old-rows rows of the same file (its
rate does not depend on how many). Each run gets a fresh database (SQLite in a temporary
folder, or a new database on the --database-url server), is a child process, and imports
with --confirmed unless --pending (then readers are asked to confirm by email, which
queues one confirmation each).

Goal (issue 13): 20,000 rows in under 10 s.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "a3f0df4"  # per-row importer (one add_by_admin per row)
LANGUAGES = (("en", 55), ("fr", 15), ("es", 10), ("ar", 10), ("ru", 5), ("zh", 5))
TOPICS = (
    "sudan",
    "myanmar",
    "ukraine",
    "haiti",
    "mali",
    "dr-congo",
    "israel-opt",
    "syria",
    "genocide",
    "war-crimes",
    "ethiopia",
    "yemen",
    "afghanistan",
    "r2p",
)
EXISTING = 0.01

# Runs in a child process with the source tree to measure first on sys.path.
RUNNER = r"""
import json, sys, time
from datetime import UTC, datetime
from pathlib import Path

tree, url, csv_path, confirmed, existing = sys.argv[1:6]
sys.path.insert(0, tree)
from sqlalchemy import insert
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker
from mailer.migrate import upgrade_to_head
from mailer.models import Subscriber
from subscribers.importer import import_subscribers

settings = Settings(
    _env_file=None, var_dir=Path(csv_path).parent / "var", database_url=url,
    secret_key="bench-secret-key-not-for-production",
)
engine = make_engine(url, create=True)
upgrade_to_head(engine)
factory = make_sessionmaker(engine)
listed = json.loads(existing)
with factory() as session:
    if listed:
        session.execute(insert(Subscriber), [
            {"email": e, "status": s, "created_at": datetime.now(UTC)} for e, s in listed
        ])
    session.commit()
data = Path(csv_path).read_bytes()
started = time.perf_counter()
with factory() as session:
    report = import_subscribers(
        data, confirmed=confirmed == "1", source="bench.csv", settings=settings,
        now=datetime.now(UTC), session=session,
    )
    session.commit()
seconds = time.perf_counter() - started
engine.dispose()
print(json.dumps({"seconds": seconds, "accepted": report.accepted,
                  "rejected": len(report.rejected)}))
"""


def build_csv(rows: int, seed: int = 13) -> tuple[bytes, list[tuple[str, str]]]:
    """The file, and the (address, status) pairs already on the list before the import."""
    rng = random.Random(seed)
    languages = [code for code, weight in LANGUAGES for _ in range(weight)]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["email", "language", "topics"])
    listed: list[tuple[str, str]] = []
    written: list[list[str]] = []
    for n in range(rows):
        domain = rng.choice(("example.org", "mail.example.net", "un.example.int"))
        address = f"reader{n}.{rng.randrange(10**6)}@{domain}"
        topics = "" if rng.random() < 0.4 else " ".join(rng.sample(TOPICS, rng.randint(1, 4)))
        row = [address, rng.choice(languages), topics]
        roll = rng.random()
        if roll < 0.005:
            row[0] = f"not-an-address-{n}"
        elif roll < 0.01:
            row[2] = "atlantis"
        elif roll < 0.015:
            row.append("surplus")
        elif roll < 0.02:
            row[0] = f"{n}@@example.org"
        elif roll < 0.03 and written:
            row = list(rng.choice(written))
        elif roll < 0.03 + EXISTING:
            listed.append((address, "unsubscribed" if rng.random() < 1 / 3 else "active"))
        writer.writerow(row)
        written.append(row)
    return out.getvalue().encode(), listed


def fresh_database(folder: Path, postgres: str | None) -> str:
    if postgres is None:
        return f"sqlite:///{folder / f'{uuid.uuid4().hex[:8]}.sqlite3'}"
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(postgres)
    if admin.drivername == "postgresql":
        admin = admin.set(drivername="postgresql+psycopg")
    name = f"r2p_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return admin.set(database=name).render_as_string(hide_password=False)


def measure(
    tree: Path, url: str, csv_path: Path, *, confirmed: bool, listed: list[tuple[str, str]]
) -> dict[str, float]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            str(tree),
            url,
            str(csv_path),
            "1" if confirmed else "0",
            json.dumps(listed),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=csv_path.parent,
    )
    if done.returncode != 0:
        raise SystemExit(f"import in {tree} failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def baseline_tree(revision: str, folder: Path) -> Path:
    tree = folder / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), revision],
        check=True,
    )
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--old-rows", type=int, default=2000)
    parser.add_argument("--pending", action="store_true", help="import without --confirmed")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the old importer")
    parser.add_argument("--database-url", help="a PostgreSQL server URL (default: SQLite)")
    args = parser.parse_args()
    confirmed = not args.pending

    with tempfile.TemporaryDirectory(prefix="r2p-import-bench-") as tmp:
        folder = Path(tmp)
        data, listed = build_csv(args.rows)
        full = folder / "readers.csv"
        full.write_bytes(data)
        lines = data.split(b"\r\n")
        sample = folder / "readers-old.csv"
        sample.write_bytes(b"\r\n".join(lines[: args.old_rows + 1]) + b"\r\n")
        old_addresses = {line.split(b",")[0].decode() for line in lines[1 : args.old_rows + 1]}
        old_listed = [pair for pair in listed if pair[0] in old_addresses]

        tree = baseline_tree(args.baseline, folder)
        try:
            old = measure(
                tree,
                fresh_database(folder, args.database_url),
                sample,
                confirmed=confirmed,
                listed=old_listed,
            )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
            )
        new = measure(
            ROOT,
            fresh_database(folder, args.database_url),
            full,
            confirmed=confirmed,
            listed=listed,
        )

    backend = "PostgreSQL" if args.database_url else "SQLite"
    mode = "pending (confirmation mail each)" if args.pending else "--confirmed"
    print(f"import of readers, {backend}, {mode}")
    print(f"{'':5} {'rows':>7} {'accepted':>9} {'rejected':>9} {'seconds':>8} {'rows/s':>9}")
    rates = {}
    for name, result, rows in (("old", old, args.old_rows), ("new", new, args.rows)):
        rates[name] = rows / result["seconds"]
        print(
            f"{name:5} {rows:>7} {int(result['accepted']):>9} {int(result['rejected']):>9} "
            f"{result['seconds']:>8.2f} {rates[name]:>9.0f}"
        )
    print(f"new/old: {rates['new'] / rates['old']:.1f}x")
    print(f"{args.rows} rows in {new['seconds']:.2f} s (goal: under 10 s)")


if __name__ == "__main__":
    main()
