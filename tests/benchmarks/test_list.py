"""Triage list at 10,000, 100,000 and 1,000,000 reports against a baseline view, on PostgreSQL.

The reports are bulk-inserted in SQL (tests/benchmarks/bench_db.py, INSERT ... SELECT
generate_series), 10k then 90k then 900k more, with VACUUM ANALYZE after each step. At every size a
subprocess with the bench settings (DEBUG off, every middleware, collected static files) serves
requests in-process through Django's test client, logged in as the organization's owner, for the
first page of one app and a filtered page (status + priority): as a full load and as the htmx
fragment. The baseline (/bench/list-baseline, tests/benchmarks/bench_urls.py) runs the same
single indexed query, checked to be the same SQL, and renders the same rows in a bare table.

Targets: queries per request constant (across data sizes and page sizes 10/50/200) and at most
10; median server time at most 1.5 times the baseline's at every size; no growth with size beyond
the baseline's. The database is BENCH_DATABASE_URL (PostgreSQL) or a throwaway database created on
postgres://postgres@127.0.0.1:5432 and dropped at the end. Only `make bench` collects this.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_ingest import _bench_db, _manage

SIZES = (10_000, 100_000, 1_000_000)
PAGES = ("first", "filtered")
KINDS = ("list", "htmx")  # the full page, and the fragment htmx swaps in when a filter changes
MAX_QUERIES = 10
TARGET_RATIO = 1.5
# From 10k to a larger size the list may slow down by the baseline's factor times this, or by the
# baseline's milliseconds plus this: a machine that is busier during one step slows both alike.
GROWTH_FACTOR_TOLERANCE = 1.2
GROWTH_TOLERANCE_MS = 2.0

SERVER_URL = "postgresql://postgres@127.0.0.1:5432"
PAGE_QUERY = {"first": "", "filtered": "?status=new&priority=major"}


def _admin_connection() -> Any:
    import psycopg

    try:
        return psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.skip(f"the list benchmark needs PostgreSQL; {SERVER_URL} is not reachable: {error}")


@pytest.fixture(scope="module")
def database() -> Iterator[dict[str, Any]]:
    """BENCH_DATABASE_URL, or a fresh database on the local server that is dropped afterwards."""
    from psycopg import sql

    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        if not external.startswith(("postgres://", "postgresql://", "pgsql://")):
            pytest.skip(
                f"the list benchmark needs PostgreSQL; BENCH_DATABASE_URL is {external.split(':')[0]}"
            )
        yield {"url": external, "name": external.rsplit("/", 1)[-1], "external": True}
        return
    name = f"bugbridge_bench_list_{uuid.uuid4().hex[:12]}"
    with _admin_connection() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield {"url": f"{SERVER_URL}/{name}", "name": name, "external": False}
    finally:
        with _admin_connection() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def seeded(database: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Migrated, static files collected (the page's {% static %} needs the manifest with DEBUG off),
    one organization with an owner, four members and two apps."""
    tmp = Path(tempfile.mkdtemp(prefix="bugbridge-bench-list-"))
    (tmp / "static").mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.benchmarks.bench_settings",
        "BENCH_DATABASE_URL": database["url"],
        "BENCH_TMP_DIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    info: dict[str, Any] = {}
    try:
        _manage(env, "manage.py", "migrate", "--noinput", "-v", "0")
        _manage(env, "manage.py", "collectstatic", "--noinput", "-v", "0")
        info = _bench_db(env, "list-setup")
        yield {**info, "env": env}
    finally:
        if database["external"] and info:
            _bench_db(env, "list-cleanup", info["organization_id"])
        shutil.rmtree(tmp, ignore_errors=True)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "BELOW TARGET"


def test_list_against_baseline(database: dict[str, Any], seeded: dict[str, Any]) -> None:
    env = seeded["env"]
    began = time.perf_counter()
    grown: dict[int, dict[str, Any]] = {}
    measured: dict[int, dict[str, Any]] = {}
    for size in SIZES:
        grown[size] = _bench_db(
            env, "list-grow", seeded["organization_id"], seeded["app_id"], seeded["other_app_id"], size
        )
        assert grown[size]["reports"] == size
        measured[size] = _bench_db(
            env, "list-measure", seeded["owner_id"], seeded["app_id"], int(size == SIZES[-1])
        )
    elapsed = time.perf_counter() - began

    # --- the figures ----------------------------------------------------------------------------
    lines = [
        "",
        "",
        f"list benchmark: PostgreSQL database {database['name']}"
        f"{' (BENCH_DATABASE_URL)' if database['external'] else ' (throwaway)'}; in-process "
        "django.test.Client, bench settings, DEBUG off;",
        "  app /apps/<id>/reports/ (90 % of the reports), first page and filtered page "
        f"({PAGE_QUERY['filtered']}), 50 rows each;",
        "  median of 30 requests after 10 warm-up requests; baseline = /bench/list-baseline "
        "(same query, bare table),",
        "  requested with the same session (its 'base q' = session + user lookups by the middleware "
        "+ the one report query);",
        "  queries @10/50/200 = the list's queries with paginate's page size set to 10, 50, 200",
        "  seeding: "
        + ", ".join(
            f"{g['inserted']:,} rows in {g['insert_s']:.1f} s (+VACUUM ANALYZE {g['vacuum_s']:.1f} s)"
            for g in grown.values()
        )
        + f"; total benchmark {elapsed:.0f} s",
        "",
        f"  {'reports':>9}  {'page':<8} {'kind':<5} {'queries':>7} {'@10/50/200':>10} {'base q':>6}  "
        f"{'list ms':>8} {'baseline ms':>11} {'ratio':>6}  verdict",
    ]
    failures: list[str] = []
    query_counts: dict[tuple[str, str], set[int]] = {}
    for size in SIZES:
        for page in PAGES:
            base = measured[size][f"baseline:{page}"]
            if len(base["report_sql"]) != 1:
                failures.append(f"baseline {page} at {size:,} ran {len(base['report_sql'])} report queries")
            for kind in KINDS:
                entry = measured[size][f"{kind}:{page}"]
                counts = [entry["queries"][str(n)] for n in (10, 50, 200)]
                query_counts.setdefault((page, kind), set()).update(counts)
                ratio = entry["median_ms"] / base["median_ms"]
                entry["ratio"] = ratio
                ok = ratio <= TARGET_RATIO
                if not ok:
                    failures.append(f"{kind} {page} at {size:,}: {ratio:.2f} x the baseline")
                if entry["ids"] != base["ids"] or len(entry["ids"]) != 50:
                    failures.append(f"{kind} {page} at {size:,} does not show the baseline's 50 rows")
                if entry["report_sql"] != base["report_sql"]:
                    failures.append(f"{kind} {page} at {size:,}: the baseline's SQL differs from the list's")
                lines.append(
                    f"  {size:>9,}  {page:<8} {kind:<5} {counts[1]:>7} {'/'.join(map(str, counts)):>10} "
                    f"{base['queries']['50']:>6}  "
                    f"{entry['median_ms']:>8.2f} {base['median_ms']:>11.2f} {ratio:>6.2f}  {_verdict(ok)}"
                )

    lines += ["", "  queries per request (target: constant, at most 10):"]
    for (page, kind), counts in query_counts.items():
        ok = len(counts) == 1 and max(counts) <= MAX_QUERIES
        if not ok:
            failures.append(f"{kind} {page}: queries {sorted(counts)} (sizes x page sizes)")
        lines.append(f"    {kind:<5} {page:<8} {sorted(counts)}  {_verdict(ok)}")

    lines += [
        "",
        "  growth with size, list vs baseline (target: list factor <= baseline factor x "
        f"{GROWTH_FACTOR_TOLERANCE}, or list ms <= baseline ms + {GROWTH_TOLERANCE_MS}):",
    ]
    small = SIZES[0]
    for page in PAGES:
        base_small = measured[small][f"baseline:{page}"]["median_ms"]
        for kind in KINDS:
            list_small = measured[small][f"{kind}:{page}"]["median_ms"]
            for size in SIZES[1:]:
                list_ms = measured[size][f"{kind}:{page}"]["median_ms"]
                base_ms = measured[size][f"baseline:{page}"]["median_ms"]
                list_factor, base_factor = list_ms / list_small, base_ms / base_small
                list_growth, base_growth = list_ms - list_small, base_ms - base_small
                ok = (
                    list_factor <= max(base_factor, 1.0) * GROWTH_FACTOR_TOLERANCE
                    or list_growth <= max(base_growth, 0.0) + GROWTH_TOLERANCE_MS
                )
                if not ok:
                    failures.append(
                        f"{kind} {page} grew x{list_factor:.2f} ({list_growth:+.2f} ms) from {small:,} to "
                        f"{size:,}, the baseline x{base_factor:.2f} ({base_growth:+.2f} ms)"
                    )
                lines.append(
                    f"    {kind:<5} {page:<8} {small:,} -> {size:>9,}: list x{list_factor:.2f} "
                    f"({list_growth:+6.2f} ms), baseline x{base_factor:.2f} ({base_growth:+6.2f} ms)  "
                    f"{_verdict(ok)}"
                )

    lines += ["", f"  EXPLAIN ANALYZE of the list's report query at {SIZES[-1]:,} reports:"]
    for page in PAGES:
        plan = measured[SIZES[-1]][f"list:{page}"]["plan"]
        ok = "Seq Scan on bugs_bugreport" not in plan and "Index" in plan
        if not ok:
            failures.append(f"the {page} page's query does not use an index at {SIZES[-1]:,}")
        lines.append(f"  -- {page} page: {_verdict(ok)} (index scan, no Seq Scan on bugs_bugreport)")
        lines += [f"     {line}" for line in plan.splitlines()]

    verdict = "PASS" if not failures else "BELOW TARGET"
    lines += ["", f"  list benchmark: {verdict}"] + [f"    - {failure}" for failure in failures] + [""]
    print("\n".join(lines))
    assert not failures, "list benchmark below target:\n" + "\n".join(failures)
