#!/usr/bin/env python
"""Pledge signing and "by the numbers" at scale, on SQLite and PostgreSQL.

Measures, per database, in one run:

1. Concurrent signing throughput through the real services (``signature_sign`` then
   ``signature_confirm_with_link``; each signature also writes its consent records and enqueues its
   email task in the database queue), with N writer processes, each signature a distinct email, over
   a fixed time, and checks that nothing is lost (every call that returned is in the database).
   The PEER, run by the same writers in the same run: the naive UK-petitions design, i.e. the same
   signing plus ``UPDATE bench_hot_counter SET n = n + 1 WHERE id = 1`` on one hot counter row in the
   same transaction. A CONTROL run does the same statement shape on a row of its own per writer (no
   contention), which separates the cost of the extra statement from the cost of the hot row.
   Rounds alternate (ours, naive, control, control, naive, ours) so drift hits every design alike.
   Then the database's own CEILING with the same writers: bare one-INSERT transactions, with and
   without the hot-counter UPDATE (no Django services), which shows where each design would top out
   if the Python side were free.
2. "By the numbers" at scale: bulk-loads --signatures confirmed signatures (provinces in proportion
   to population, realistic signer types and sectors, plus ~10% pending and ~1% withdrawn rows),
   times ``selectors.numbers_compute`` (the uncached GROUP BY; p50/p95) and ``numbers_for_pledge``
   (cached), reports the aggregate against the server's refresh window (NUMBERS_CACHE_SECONDS: the
   share of one core a process spends recomputing if it refreshes once per window), shows the plans
   of the statements the app really sends (the aggregate, the public list's first page), checks
   that ``public_names`` (the page's paginator count) equals the public list, that the recompute is
   single-flight within a process, which SQL the numbers page sends, and the statements and time of
   one sign + confirm alone. It then measures, through the real API view, the worst-case lag of a
   new confirmation and the staleness a reader can see: the figures' age (``updated_at``, stamped
   when the query starts) plus the max-age each response sends (Cache-Control; no setting is read
   for it), against the staleness budget (NUMBERS_STALENESS_SECONDS).
3. HTTP: the app under gunicorn (2 sync workers, DEBUG off, STATIC_ROOT in a scratch folder filled by
   ``manage.py collectstatic``) on the same scratch database; a bounded number of client threads
   hammer the numbers API, the numbers page, and as the ceiling a trivial Django endpoint on the same
   server (the /favicon.ico redirect; no database), for a bounded time. Every API response's age and
   max-age give the worst staleness a reader could see under load.

Scratch databases only: a SQLite file in a temporary folder and a PostgreSQL database named
``bench_pledges`` (dropped at the end). Prints one line of JSON with all figures last.

    .venv/bin/python bench/pledges.py                      # both databases, defaults
    .venv/bin/python bench/pledges.py --db postgres --signatures 100000 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import PG_ADMIN_URL, REPO, base_env, collect_static, log, pct, pg_admin, r

PG_DB_NAME = "bench_pledges"
PLEDGE_SLUG = "strategy-for-belonging"  # the seeded pledge (data migration)
UK_PEAK_PER_MIN = 2500  # UK petitions site peaks, 2016/2019 (from the project's design notes)

# Approximate Statistics Canada population estimates for 2024, in thousands.
POPULATION = {
    "ON": 16124, "QC": 9030, "BC": 5699, "AB": 4888, "MB": 1494, "SK": 1239, "NS": 1076,
    "NB": 854, "NL": 545, "PE": 177, "YT": 46, "NT": 45, "NU": 41,
}  # fmt: skip
SIGNER_TYPES = {"individual": 90, "association": 6, "organization": 4}
SECTORS = {
    "community": 25, "nonprofit": 25, "indigenous": 5, "government": 5, "education": 10,
    "health": 10, "faith": 8, "business": 8, "philanthropy": 2, "other": 2,
}  # fmt: skip
FRENCH_SHARE = {"QC": 0.78, "NB": 0.3}  # otherwise 5%

MAX_AGE_RE = re.compile(r"max-age=(\d+)")

ENDPOINTS = {
    "api": f"/api/v1/pledges/{PLEDGE_SLUG}/numbers",
    "page": f"/en/pledges/{PLEDGE_SLUG}/numbers/",
    "ceiling": "/favicon.ico",  # a RedirectView: the full middleware stack, no database
    "static": "/static/css/site.css",  # WhiteNoise answers before Django: context only
}


class Chooser:
    """Weighted choices from a seeded generator (cumulative weights computed once)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.provinces, self.province_w = list(POPULATION), list(POPULATION.values())
        self.types, self.type_w = list(SIGNER_TYPES), list(SIGNER_TYPES.values())
        self.sectors, self.sector_w = list(SECTORS), list(SECTORS.values())

    def province(self) -> str:
        return self.rng.choices(self.provinces, self.province_w)[0]

    def signer_type(self) -> str:
        return self.rng.choices(self.types, self.type_w)[0]

    def sector(self) -> str:
        return self.rng.choices(self.sectors, self.sector_w)[0]

    def language(self, province: str) -> str:
        return "fr" if self.rng.random() < FRENCH_SHARE.get(province, 0.05) else "en"


# --------------------------------------------------------------------------------------------
# Writers (one process each; Django is set up inside the process from the inherited environment)
# --------------------------------------------------------------------------------------------


def writer_main(conn, index: int) -> None:
    import django

    django.setup()
    from django.db import connection, transaction

    from belonging.pledges import services
    from belonging.pledges.models import Pledge

    choose = Chooser(random.Random(1000 + index))
    conn.send("ready")
    while True:
        command = conn.recv()
        if command is None:
            break
        mode, pledge_id, start_at, seconds, tag = command
        pledge = Pledge.objects.get(pk=pledge_id)
        counter_sql = (
            "UPDATE bench_hot_counter SET n = n + 1 WHERE id = 1"
            if mode in ("naive", "sql_naive")
            else f"UPDATE bench_hot_counter SET n = n + 1 WHERE id = {index + 2}"
        )
        insert_sql = (
            f"INSERT INTO pledges_signature ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
        )
        sqlite = connection.vendor == "sqlite"
        signed: list[int] = []
        confirmed: list[int] = []
        latencies: list[float] = []
        errors: Counter[str] = Counter()
        time.sleep(max(0.0, start_at - time.time()))
        deadline = start_at + seconds
        i = 0
        while time.time() < deadline:
            i += 1
            province = choose.province()
            signer_type = choose.signer_type()
            individual = signer_type == "individual"
            data = services.SignInput(
                name=f"Writer {index} Signer {i}",
                email=f"{tag}.w{index}.s{i}@bench{i % 97}.example.org",
                province=province,
                signer_type=signer_type,
                language=choose.language(province),
                postal_code="K1A 0A6",
                organization_name="" if individual else f"Group {index}-{i}",
                sector="" if individual else choose.sector(),
                show_name=choose.rng.random() < 0.4,
                follow_up=choose.rng.random() < 0.3,
            )
            t0 = time.perf_counter()
            stage = "sign"
            if mode.startswith("sql_"):
                # The database's own ceiling: one INSERT per transaction (plus the hot UPDATE).
                row = signature_row(choose, pledge_id, "confirmed", data.email, datetime.now(UTC))
                try:
                    with transaction.atomic(), connection.cursor() as cursor:
                        cursor.execute(insert_sql, to_sqlite(row) if sqlite else row)
                        if mode == "sql_naive":
                            cursor.execute(counter_sql)
                except Exception as exc:  # noqa: BLE001
                    errors[f"sql: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"] += 1
                    continue
                signed.append(0)
                confirmed.append(0)
                latencies.append(time.perf_counter() - t0)
                continue
            try:
                if mode == "ours":
                    signature = services.signature_sign(pledge=pledge, data=data)
                else:
                    with transaction.atomic():
                        signature = services.signature_sign(pledge=pledge, data=data)
                        with connection.cursor() as cursor:
                            cursor.execute(counter_sql)
                signed.append(signature.pk)
                stage = "confirm"
                services.signature_confirm_with_link(signature=signature)
                confirmed.append(signature.pk)
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                errors[f"{stage}: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"] += 1
                continue
            latencies.append(time.perf_counter() - t0)
        conn.send(
            {
                "signed": signed,
                "confirmed": confirmed,
                "latencies": latencies,
                "errors": dict(errors),
                "ended_at": time.time(),
            }
        )
    connection.close()


class Writers:
    def __init__(self, count: int) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.pipes = []
        self.procs = []
        for index in range(count):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=writer_main, args=(child, index), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            if pipe.recv() != "ready":
                raise RuntimeError("a writer failed to start")

    def run(self, mode: str, pledge_id: int, seconds: float, tag: str) -> dict:
        start_at = time.time() + 0.5
        for pipe in self.pipes:
            pipe.send((mode, pledge_id, start_at, seconds, tag))
        results = [pipe.recv() for pipe in self.pipes]
        elapsed = max(res["ended_at"] for res in results) - start_at
        errors: Counter[str] = Counter()
        for res in results:
            errors.update(res["errors"])
        return {
            "signed": [pk for res in results for pk in res["signed"]],
            "confirmed": [pk for res in results for pk in res["confirmed"]],
            "latencies": [lat for res in results for lat in res["latencies"]],
            "errors": errors,
            "elapsed": elapsed,
        }

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(None)
            except OSError:
                pass
        for proc in self.procs:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()


# --------------------------------------------------------------------------------------------
# Bulk load
# --------------------------------------------------------------------------------------------

COLUMNS = (
    "public_id", "pledge_id", "status", "name", "email", "email_normalized", "postal_code",
    "organization_name", "province", "signer_type", "sector", "language", "show_name", "follow_up",
    "code_hash", "code_attempts", "created_at", "expires_at", "confirmed_at", "withdrawn_at",
)  # fmt: skip


def signature_row(choose: Chooser, pledge_id: int, status: str, email: str, created: datetime) -> tuple:
    """One pledges_signature row in COLUMNS order, valid under every constraint of the model."""
    province = choose.province()
    signer_type = choose.signer_type()
    individual = signer_type == "individual"
    if status == "withdrawn":
        return (
            uuid.uuid4(), pledge_id, status, "", "", None, "", "", province, signer_type, "",
            choose.language(province), False, False, "", 0, created, created + timedelta(days=7),
            created + timedelta(minutes=3), created + timedelta(days=2),
        )  # fmt: skip
    return (
        uuid.uuid4(), pledge_id, status, "Bench Signer", email, email, "H2X 1Y4",
        "" if individual else "Bench Group", province, signer_type, "" if individual else choose.sector(),
        choose.language(province), choose.rng.random() < 0.4, choose.rng.random() < 0.3,
        "" if status == "confirmed" else "0" * 64, 0, created, created + timedelta(days=7),
        created + timedelta(minutes=3) if status == "confirmed" else None, None,
    )  # fmt: skip


def to_sqlite(row: tuple) -> tuple:
    """The same row as Django stores it in SQLite (hex UUID, naive UTC text datetimes, 0/1)."""
    out = list(row)
    out[0] = row[0].hex
    for k in (16, 17, 18, 19):
        if out[k] is not None:
            out[k] = out[k].replace(tzinfo=None).isoformat(" ")
    out[12], out[13] = int(row[12]), int(row[13])
    return tuple(out)


def bulk_rows(pledge_id: int, confirmed: int, seed: int = 7):
    """Rows for the bulk load: ``confirmed`` confirmed ones, plus ~10% pending and ~1% withdrawn."""
    rng = random.Random(seed)
    choose = Chooser(rng)
    now = datetime.now(UTC)
    pending = confirmed // 10
    withdrawn = confirmed // 100
    total = confirmed + pending + withdrawn
    # Interleave the statuses the way they arrive; counts are exact.
    statuses = ["confirmed"] * confirmed + ["pending"] * pending + ["withdrawn"] * withdrawn
    rng.shuffle(statuses)
    for i, status in enumerate(statuses):
        # One signature every 5 s over the past; pending ones within their 7 days.
        created = now - timedelta(seconds=(total - i) * 5.0 if status != "pending" else rng.uniform(0, 6 * 86400))
        yield signature_row(choose, pledge_id, status, f"bulk{i}@example.org", created)


def bulk_load(vendor: str, pledge_id: int, confirmed: int) -> float:
    """Insert the rows (COPY on PostgreSQL, executemany on SQLite); returns seconds."""
    from django.db import connection, transaction

    t0 = time.perf_counter()
    rows = bulk_rows(pledge_id, confirmed)
    if vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            sql = f"COPY pledges_signature ({', '.join(COLUMNS)}) FROM STDIN"
            with cursor.cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) pledges_signature")
    else:
        sql = f"INSERT INTO pledges_signature ({', '.join(COLUMNS)}) VALUES ({', '.join(['?'] * len(COLUMNS))})"
        connection.ensure_connection()
        raw = connection.connection  # the sqlite3 connection: executemany without Django's per-row work
        # A bigger page cache for this loading connection only (the app's connections keep the default).
        raw.execute("PRAGMA cache_size = -400000")
        batch: list[tuple] = []
        with transaction.atomic():
            for row in rows:
                batch.append(to_sqlite(row))
                if len(batch) >= 50_000:
                    raw.executemany(sql, batch)
                    batch.clear()
            if batch:
                raw.executemany(sql, batch)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        connection.close()  # later queries run on a connection as the app opens it
    return time.perf_counter() - t0


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str, timeout: float = 30.0) -> tuple[int, bytes, str]:
    """(status, body, Cache-Control header) of one GET on a new connection."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": "127.0.0.1"})
        response = conn.getresponse()
        return response.status, response.read(), response.getheader("Cache-Control", "")
    finally:
        conn.close()


def max_age_of(cache_control: str) -> int | None:
    """The max-age a response allows browsers and proxies (None when it sends none)."""
    match = MAX_AGE_RE.search(cache_control or "")
    return int(match.group(1)) if match else None


def reader_staleness(body: bytes, cache_control: str, requested: float, received: float) -> dict[str, float]:
    """How old the figures of one API response can be when a reader sees them, from the real response.

    The figures are stamped when their query starts (``updated_at`` in the JSON); a browser or proxy
    may show the response until its max-age (Cache-Control) has passed. A cache that follows RFC 9111
    (section 4.2.3) counts the response delay in the age, so the response stays fresh until
    request time + max-age: the reader sees figures up to (request time - updated_at) + max-age old
    (``staleness``). ``arrival_staleness`` starts the max-age clock on arrival instead, as a cache that
    ignored the delay would: it is larger by the time the response took to arrive.
    """
    updated = datetime.fromisoformat(json.loads(body)["updated_at"]).timestamp()
    max_age = max_age_of(cache_control) or 0
    return {
        "updated": updated,
        "age": received - updated,  # the figures' age on arrival
        "max_age": max_age,
        "staleness": requested - updated + max_age,
        "arrival_staleness": received - updated + max_age,
    }


def http_client_main(port: int, path: str, deadline: float, threads: int, queue) -> None:
    """One client process: ``threads`` threads, each a request after the other until the deadline."""
    import threading

    results: list[tuple] = []  # per thread: latencies, codes, failures, max-ages, ages, staleness x 2
    is_api = path.startswith("/api/")

    def loop() -> None:
        latencies: list[float] = []
        codes: Counter[int] = Counter()
        max_ages: Counter[int | None] = Counter()
        ages: list[float] = []
        stale: list[float] = []
        arrival_stale: list[float] = []
        failures = 0
        while time.time() < deadline:
            t0 = time.perf_counter()
            requested = time.time()
            try:
                status, body, cache_control = http_get(port, path)
            except OSError:
                failures += 1
                continue
            received = time.time()
            latencies.append(time.perf_counter() - t0)
            codes[status] += 1
            if status == 200 and "max-age" in cache_control:
                max_ages[max_age_of(cache_control)] += 1
            if is_api and status == 200:
                seen = reader_staleness(body, cache_control, requested, received)
                ages.append(seen["age"])
                stale.append(seen["staleness"])
                arrival_stale.append(seen["arrival_staleness"])
        results.append((latencies, codes, failures, max_ages, ages, stale, arrival_stale))

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    latencies = [lat for res in results for lat in res[0]]
    codes: Counter[int] = Counter()
    max_ages: Counter[int | None] = Counter()
    for res in results:
        codes.update(res[1])
        max_ages.update(res[3])
    queue.put(
        {
            "latencies": latencies,
            "codes": dict(codes),
            "failures": sum(res[2] for res in results),
            "max_ages": dict(max_ages),
            "ages": [a for res in results for a in res[4]],
            "staleness": [x for res in results for x in res[5]],
            "arrival_staleness": [x for res in results for x in res[6]],
        }
    )


def http_load(port: int, path: str, seconds: float, processes: int, threads: int) -> dict:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 1.0  # let the client processes start
    deadline = start + seconds
    procs = [
        ctx.Process(target=http_client_main, args=(port, path, deadline, threads, queue), daemon=True)
        for _ in range(processes)
    ]
    for proc in procs:
        proc.start()
    parts = [queue.get(timeout=seconds + 120) for _ in procs]
    for proc in procs:
        proc.join(timeout=10)
    latencies = [lat for part in parts for lat in part["latencies"]]
    codes: Counter[int] = Counter()
    max_ages: Counter[int | None] = Counter()
    for part in parts:
        codes.update({int(k): v for k, v in part["codes"].items()})
        max_ages.update(part["max_ages"])
    ages = [a for part in parts for a in part["ages"]]
    staleness = [x for part in parts for x in part["staleness"]]
    arrival_staleness = [x for part in parts for x in part["arrival_staleness"]]
    # Requests that finish just after the deadline are few (one per thread) and counted.
    return {
        "requests": len(latencies),
        "rps": len(latencies) / seconds,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
        "max_ms": max(latencies, default=0) * 1000,
        "codes": dict(codes),
        "failures": sum(part["failures"] for part in parts),
        "max_ages": dict(max_ages),  # max-age sent -> responses
        "ages": ages,  # API only: age of the figures when each response arrived (s)
        "staleness": staleness,  # API only: (request time - updated_at) + max-age (s)
        "arrival_staleness": arrival_staleness,  # API only: (arrival - updated_at) + max-age (s)
    }


class Server:
    """gunicorn serving the app on the scratch database; always stopped (its own process group)."""

    def __init__(self, workdir: Path, static_root: Path, workers: int) -> None:
        self.port = free_port()
        self.log_path = workdir / "gunicorn.log"
        env = dict(os.environ, STATIC_ROOT=str(static_root))  # collected there by collect_static()
        self.log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                str(REPO / ".venv" / "bin" / "gunicorn"), "belonging.wsgi", "--no-control-socket",
                "-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--chdir", str(REPO),
                "--log-level", "warning",
            ],  # fmt: skip
            cwd=REPO,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (workdir / "gunicorn.pid").write_text(str(self.proc.pid))
        try:
            self._wait_ready(timeout=60)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                status, _body, _cc = http_get(self.port, ENDPOINTS["ceiling"], timeout=5)
                if status < 500:
                    return
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"gunicorn did not answer:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log_file.close()


# --------------------------------------------------------------------------------------------
# One database, in its own process (settings are read from the environment at import)
# --------------------------------------------------------------------------------------------


def capture_sql(func) -> tuple[object, list[str]]:
    """Run ``func`` and return (its result, the SQL statements it sent on this thread's connection)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        result = func()
    return result, [q["sql"] for q in queries.captured_queries]


def explain(vendor: str, sql: str) -> str:
    """The plan of a statement the app really sent (captured with its parameters inlined)."""
    from django.db import connection

    head = "EXPLAIN (ANALYZE, BUFFERS) " if vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    with connection.cursor() as cursor:
        cursor.execute(head + sql)
        rows = cursor.fetchall()
    return "\n".join(str(row[0] if vendor == "postgresql" else row[-1]) for row in rows)


def sign_cost(pledge, count: int) -> dict:
    """One process alone (no contention): SQL statements, wall and CPU time per sign + confirm.

    The CPU time is this process's only: on SQLite it includes the database engine's work, on
    PostgreSQL the server's work is not in it.
    """
    from belonging.pledges import services

    def one(i: int) -> None:
        signature = services.signature_sign(
            pledge=pledge,
            data=services.SignInput(
                name=f"Cost {i}", email=f"cost{i}@bench-cost.example.org", province="ON",
                signer_type="individual", language="en", show_name=True, follow_up=False,
            ),
        )  # fmt: skip
        services.signature_confirm_with_link(signature=signature)

    one(0)  # warm up
    _, sqls = capture_sql(lambda: one(1))
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(2, count + 2):
        one(i)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    kinds = Counter(sql.split(None, 1)[0].upper() for sql in sqls)
    return {"statements": len(sqls), "kinds": kinds, "wall_ms": wall / count * 1000, "cpu_ms": cpu / count * 1000,
            "confirmed": count + 2}  # fmt: skip


def single_flight(pledge, readers: int) -> dict:
    """``readers`` threads ask for the numbers at the same instant, just after the fresh copy expired.

    Counts how many of them run the aggregate (single-flight: 1) and how long the others wait.
    The threads share this process's cache, as the threads of one web process would.
    """
    import threading

    from django.conf import settings
    from django.db import connections

    from belonging.pledges import selectors

    real = selectors.numbers_compute
    computed_by: list[int] = []

    def counting(p):
        computed_by.append(threading.get_ident())
        return real(p)

    first = selectors.numbers_for_pledge(pledge)
    # Wait until the fresh copy has expired (the last figures are still within the budget).
    time.sleep(max(0.0, settings.NUMBERS_CACHE_SECONDS - first.age_seconds()) + 0.05)
    barrier = threading.Barrier(readers)
    results: list[tuple[int, float, bool]] = []

    def reader() -> None:
        try:
            barrier.wait()
            t = time.perf_counter()
            numbers = selectors.numbers_for_pledge(pledge)
            results.append((threading.get_ident(), time.perf_counter() - t, numbers.updated_at > first.updated_at))
        finally:
            connections.close_all()  # this thread's connections only

    selectors.numbers_compute = counting
    try:
        pool = [threading.Thread(target=reader) for _ in range(readers)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    finally:
        selectors.numbers_compute = real
    waiting = [lat for ident, lat, _new in results if ident not in computed_by]
    computing = [lat for ident, lat, _new in results if ident in computed_by]
    return {
        "computes": len(computed_by),
        "served_last": sum(1 for _ident, _lat, new in results if not new),
        "waiting_max_ms": max(waiting, default=0) * 1000,
        "computing_max_ms": max(computing, default=0) * 1000,
    }


def api_probe(client, path: str) -> dict:
    """One GET of the numbers API through the whole app in this process; what a reader would see."""
    requested = time.time()
    response = client.get(path)
    received = time.time()
    assert response.status_code == 200, (response.status_code, response.content[:300])
    seen = reader_staleness(response.content, response.get("Cache-Control", ""), requested, received)
    return {"signatories": json.loads(response.content)["signatories"], "received": received, **seen}


def lag_probe(pledge, compute_s: float) -> dict:
    """The worst case for a new confirmation, read through the real API view (headers included).

    With the cache empty, one thread asks the API for the numbers (so the aggregate starts); halfway
    through that query this thread signs and confirms. The figures being computed cannot include it,
    and are then fresh for NUMBERS_CACHE_SECONDS from their start: the longest a confirmation can
    wait. The API is then polled until the confirmation shows. Every response gives the age of its
    figures and the max-age it sent; and any response whose figures started after the commit but
    lack the confirmation would break the freshness stamp (counted as ``stamp_violations``).
    """
    import threading

    from django.core.cache import cache
    from django.db import connections
    from django.test import Client

    from belonging.pledges import selectors, services

    path = ENDPOINTS["api"]
    client = Client(HTTP_HOST="127.0.0.1")
    before = selectors.numbers_compute(pledge).signatories
    cache.clear()
    responses: list[dict] = []

    def first() -> None:
        try:
            responses.append(api_probe(Client(HTTP_HOST="127.0.0.1"), path))
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(max(0.02, compute_s / 2))
    signature = services.signature_sign(
        pledge=pledge,
        data=services.SignInput(
            name="Late", email="late@example.org", province="NU", signer_type="individual", language="en"
        ),
    )
    services.signature_confirm_with_link(signature=signature)
    committed = time.time()  # the commit happened before this
    thread.join()
    deadline = committed + 60
    while True:
        res = api_probe(client, path)
        responses.append(res)
        if res["signatories"] > before or time.time() > deadline:
            break
        time.sleep(0.02)
    shown = res["signatories"] > before
    return {
        "lag_s": res["received"] - committed if shown else None,  # None: not shown within 60 s
        "during_query": responses[0]["updated"] < committed and responses[0]["signatories"] == before,
        "stamp_violations": sum(1 for x in responses if x["updated"] > committed and x["signatories"] == before),
        "worst_staleness_s": max(x["staleness"] for x in responses),
        "worst_arrival_staleness_s": max(x["arrival_staleness"] for x in responses),
        "max_ages": Counter(x["max_age"] for x in responses),
        "responses": len(responses),
        "confirmed": 1,
    }


def page_statements(path: str) -> list[str]:
    """The SQL of one numbers page request with the numbers in the cache (in this process)."""
    from django.test import Client

    from belonging.pledges import selectors
    from belonging.pledges.models import Pledge

    client = Client(HTTP_HOST="127.0.0.1")
    assert client.get(path).status_code == 200  # templates, translations and map loaded
    selectors.numbers_for_pledge(Pledge.objects.get(slug=PLEDGE_SLUG))  # fresh figures in the cache
    response, sqls = capture_sql(lambda: client.get(path))
    assert response.status_code == 200, response.status_code
    return sqls


def check_lost(pks_signed: list[int], pks_confirmed: list[int]) -> tuple[int, int]:
    """(signed calls that returned but are missing, confirmed calls that returned but are not confirmed)."""
    from belonging.pledges.models import Signature

    def present(pks: list[int], **filters: object) -> int:
        n = 0
        for k in range(0, len(pks), 900):
            n += Signature.objects.filter(pk__in=pks[k : k + 900], **filters).count()
        return n

    return (
        len(pks_signed) - present(pks_signed),
        len(pks_confirmed) - present(pks_confirmed, status=Signature.Status.CONFIRMED),
    )


def run_one_db(args: argparse.Namespace) -> dict:
    import django

    django.setup()
    from django.conf import settings
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection

    from belonging.pledges import selectors
    from belonging.pledges.models import Pledge, Signature

    vendor = connection.vendor
    prefix = "pg" if vendor == "postgresql" else "sqlite"
    n = args.signatures
    window = settings.NUMBERS_CACHE_SECONDS
    staleness = settings.NUMBERS_STALENESS_SECONDS
    # The max-age is not a setting: each response sends what is left of the budget for its figures,
    # so it is read from the responses themselves (the API probe below, and every API response under HTTP).
    extra_confirmed = 0  # confirmed by the probes below, outside the signing rounds
    out: dict[str, object] = {
        f"{prefix}_numbers_cache_s": window,
        f"{prefix}_numbers_staleness_budget_s": staleness,
    }
    workdir = Path(args.workdir)

    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    log(f"[{prefix}] migrated in {time.perf_counter() - t0:.1f} s")
    pledge = Pledge.objects.get(slug=PLEDGE_SLUG)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_hot_counter (id integer PRIMARY KEY, n bigint NOT NULL)")
        rows = ", ".join(f"({k}, 0)" for k in range(1, args.writers + 2))
        cursor.execute(f"INSERT INTO bench_hot_counter (id, n) VALUES {rows}")

    # 2. Bulk load, then "by the numbers" at that scale.
    seconds = bulk_load(vendor, pledge.pk, n)
    total_rows = Signature.objects.count()
    log(f"[{prefix}] bulk-loaded {total_rows:,} rows ({n:,} confirmed) in {seconds:.1f} s")
    out[f"{prefix}_bulk_load_rows_per_s"] = r(total_rows / seconds)

    for _ in range(2):
        selectors.numbers_compute(pledge)  # warm the cache of pages
    timings = []
    spent = time.perf_counter()
    for k in range(args.repeats):
        if k >= 5 and time.perf_counter() - spent > 20:  # slow databases: at least 5 runs, about 20 s
            break
        t = time.perf_counter()
        numbers = selectors.numbers_compute(pledge)
        timings.append(time.perf_counter() - t)
    assert numbers.signatories == n, (numbers.signatories, n)
    p50, p95 = pct(timings, 50), pct(timings, 95)
    out[f"{prefix}_numbers_p50_ms_at_{n}"] = r(p50 * 1000)
    out[f"{prefix}_numbers_p95_ms_at_{n}"] = r(p95 * 1000)
    out[f"{prefix}_numbers_share_of_refresh_window"] = r(p50 / window, 4)
    log(
        f"[{prefix}] numbers_compute at {n:,} confirmed: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
        f"({len(timings)} runs) = {p50 / window:.2%} of one core per process refreshing every {window} s"
    )
    # The public list's length now comes from the numbers (the page's paginator): check it.
    public_count = selectors.signatures_public_list(pledge).count()
    out[f"{prefix}_public_names_mismatch"] = numbers.public_names - public_count
    log(f"[{prefix}] public_names {numbers.public_names:,} vs the public list's COUNT(*) {public_count:,}")

    # The plans of the statements the app really sends (captured, not rebuilt here).
    _, sqls = capture_sql(lambda: selectors.numbers_compute(pledge))
    (aggregate_sql,) = sqls
    plan = explain(vendor, aggregate_sql)
    index_only = (
        "Index Only Scan using signature_counts" in plan
        if vendor == "postgresql"
        else "COVERING INDEX signature_counts" in plan
    )
    out[f"{prefix}_numbers_plan_index_only"] = index_only
    log(f"[{prefix}] the aggregate:\n    {aggregate_sql}\n  its plan:\n    " + "\n    ".join(plan.splitlines()))
    page_size = settings.PUBLIC_LIST_PAGE_SIZE
    _, sqls = capture_sql(lambda: list(selectors.signatures_public_list(pledge)[:page_size]))
    (list_sql,) = sqls
    plan = explain(vendor, list_sql)
    sorts = ("Sort" in plan) if vendor == "postgresql" else ("TEMP B-TREE" in plan)
    out[f"{prefix}_public_list_plan_uses_index"] = "signature_public_list" in plan and not sorts
    log(f"[{prefix}] the public list's first page:\n    {list_sql}\n  its plan:\n    " + "\n    ".join(plan.splitlines()))
    list_timings = []
    for _ in range(20):
        t = time.perf_counter()
        list(selectors.signatures_public_list(pledge)[:page_size])
        list_timings.append(time.perf_counter() - t)
    out[f"{prefix}_public_list_page1_p50_ms"] = r(pct(list_timings, 50) * 1000, 2)
    log(f"[{prefix}] the public list's first page ({page_size} names): p50 {pct(list_timings, 50) * 1000:.2f} ms")

    cache.clear()
    selectors.numbers_for_pledge(pledge)
    cached = []
    for _ in range(args.cached_calls):
        t = time.perf_counter()
        selectors.numbers_for_pledge(pledge)
        cached.append(time.perf_counter() - t)
    cached_p50 = pct(cached, 50)
    out[f"{prefix}_numbers_cached_p50_us"] = r(cached_p50 * 1e6, 2)
    out[f"{prefix}_numbers_cached_speedup"] = r(p50 / cached_p50, 0)
    log(f"[{prefix}] numbers_for_pledge (cached): p50 {cached_p50 * 1e6:.1f} µs, {p50 / cached_p50:,.0f}x the query")

    if window > 0:
        flight = single_flight(pledge, args.writers)
        out[f"{prefix}_numbers_computes_for_{args.writers}_concurrent_readers"] = flight["computes"]
        out[f"{prefix}_numbers_waiting_reader_max_ms"] = r(flight["waiting_max_ms"], 2)
        log(
            f"[{prefix}] single flight: {args.writers} threads asked at once after the fresh copy expired: "
            f"{flight['computes']} ran the aggregate ({flight['computing_max_ms']:.0f} ms), "
            f"{flight['served_last']} got the last figures at once (slowest {flight['waiting_max_ms']:.2f} ms)"
        )

    sqls = page_statements(ENDPOINTS["page"])
    counts = [sql for sql in sqls if "COUNT(" in sql.upper() and "GROUP BY" not in sql.upper()]
    out[f"{prefix}_page_statements_cached"] = len(sqls)
    out[f"{prefix}_page_count_queries"] = len(counts)
    log(
        f"[{prefix}] the numbers page with the numbers cached: {len(sqls)} SQL statements, "
        f"{len(counts)} COUNT(*) for the paginator"
        + "".join(f"\n    {sql[:160]}" for sql in sqls)
    )

    # One signer alone: statements and time per sign + confirm (no contention).
    cost = sign_cost(pledge, args.cost_signatures)
    extra_confirmed += cost["confirmed"]
    out[f"{prefix}_sign_statements"] = cost["statements"]
    out[f"{prefix}_sign_alone_ms"] = r(cost["wall_ms"], 2)
    out[f"{prefix}_sign_alone_cpu_ms"] = r(cost["cpu_ms"], 2)
    log(
        f"[{prefix}] one sign + confirm alone: {cost['statements']} SQL statements "
        f"({', '.join(f'{k} {v}' for k, v in cost['kinds'].most_common())}), {cost['wall_ms']:.2f} ms, "
        f"{cost['cpu_ms']:.2f} ms CPU in this process (mean of {args.cost_signatures})"
    )

    # Worst-case lag of a confirmation, and the staleness a reader can see, through the real API.
    probe = lag_probe(pledge, p50)
    extra_confirmed += probe["confirmed"]
    if probe["lag_s"] is None:
        raise RuntimeError("a confirmation did not show in the numbers within 60 s")
    out[f"{prefix}_numbers_worst_lag_s"] = r(probe["lag_s"], 2)
    out[f"{prefix}_numbers_stamp_violations"] = probe["stamp_violations"]
    out[f"{prefix}_probe_worst_reader_staleness_s"] = r(probe["worst_staleness_s"], 3)
    out[f"{prefix}_probe_worst_arrival_staleness_s"] = r(probe["worst_arrival_staleness_s"], 3)
    log(
        f"[{prefix}] a confirmation committed "
        + ("while the aggregate ran" if probe["during_query"] else "before the aggregate's snapshot (not the worst case)")
        + f" showed in the API after {probe['lag_s']:.2f} s (server cache {window} s + the aggregate); "
        f"{probe['responses']} responses sent max-age {dict(sorted(probe['max_ages'].items()))}, so a reader "
        f"could see figures up to {probe['worst_staleness_s']:.2f} s old (budget {staleness} s); "
        f"freshness stamp violations: {probe['stamp_violations']}"
    )

    # 1. Concurrent signing: ours, the naive hot counter, the uncontended control, and the database's
    # own ceiling (bare INSERTs, with and without the hot counter). All sign the same (big) pledge,
    # so they insert into the same indexes. ABBA order, so drift and noise hit every design alike.
    names = {
        "ours": "sign", "naive": "naive_sign", "control": "control_sign",
        "sql_ours": "sql_sign", "sql_naive": "sql_naive_sign",
    }  # fmt: skip
    acc = {
        mode: {"signed": [], "confirmed": [], "latencies": [], "errors": Counter(), "elapsed": 0.0} for mode in names
    }
    schedule = [(mode, args.seconds / 2) for mode in ("ours", "naive", "control", "control", "naive", "ours")]
    schedule += [(mode, args.sql_seconds / 2) for mode in ("sql_ours", "sql_naive", "sql_naive", "sql_ours")]
    writers = Writers(args.writers)
    try:
        for round_no, (mode, seconds) in enumerate(schedule):
            if seconds <= 0:
                continue
            res = writers.run(mode, pledge.pk, seconds, tag=f"{mode.replace('_', '')}{round_no}")
            for key in ("signed", "confirmed", "latencies"):
                acc[mode][key] += res[key]
            acc[mode]["errors"].update(res["errors"])
            acc[mode]["elapsed"] += res["elapsed"]
            log(
                f"[{prefix}] round {round_no + 1}/{len(schedule)} {mode:9}: "
                f"{len(res['confirmed']) / res['elapsed']:7.1f} signatures/s"
                + (f", {sum(res['errors'].values())} errors" if res["errors"] else "")
            )
    finally:
        writers.close()
    lost_total = 0
    errors_total = 0
    for mode, a in acc.items():
        if not a["elapsed"]:
            continue
        rate = len(a["confirmed"]) / a["elapsed"]
        lost = 0
        if not mode.startswith("sql_"):  # bare INSERTs are checked by the total below
            lost_signed, lost_confirmed = check_lost(a["signed"], a["confirmed"])
            lost = lost_signed + lost_confirmed
            out[f"{prefix}_{names[mode]}_lost"] = lost
        lost_total += lost
        errors = sum(a["errors"].values())
        errors_total += errors
        name = names[mode]
        out[f"{prefix}_{name}_per_s"] = r(rate)
        out[f"{prefix}_{name}_p50_ms"] = r(pct(a["latencies"], 50) * 1000)
        out[f"{prefix}_{name}_p99_ms"] = r(pct(a["latencies"], 99) * 1000)
        out[f"{prefix}_{name}_max_ms"] = r(max(a["latencies"], default=0) * 1000)  # vs SQLite's busy_timeout
        out[f"{prefix}_{name}_errors"] = errors
        log(
            f"[{prefix}] {mode:9}: {rate:7.1f} signatures/s (p50 {pct(a['latencies'], 50) * 1000:.1f} ms, "
            f"p99 {pct(a['latencies'], 99) * 1000:.1f} ms, max {max(a['latencies'], default=0) * 1000:.0f} ms), "
            f"{len(a['confirmed']):,} committed, lost {lost}, "
            f"errors {errors}"
        )
        for message, count in a["errors"].most_common(5):
            log(f"[{prefix}]     {count} x {message}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT n FROM bench_hot_counter WHERE id = 1")
        hot = cursor.fetchone()[0]
    naive_committed = len(acc["naive"]["signed"]) + len(acc["sql_naive"]["signed"])
    out[f"{prefix}_naive_counter_drift"] = hot - naive_committed

    def ratio(a: str, b: str) -> float | None:
        a, b = out.get(f"{prefix}_{a}_per_s"), out.get(f"{prefix}_{b}_per_s")
        return r(a / b, 3) if a and b else None

    out[f"{prefix}_ratio_to_naive"] = ratio("sign", "naive_sign")
    out[f"{prefix}_ratio_to_control"] = ratio("sign", "control_sign")
    out[f"{prefix}_sql_ratio_to_naive"] = ratio("sql_sign", "sql_naive_sign")
    out[f"{prefix}_sign_ratio_to_sql_ceiling"] = ratio("sign", "sql_sign")
    out[f"{prefix}_sign_ratio_to_uk_peak"] = r(out[f"{prefix}_sign_per_s"] / (UK_PEAK_PER_MIN / 60), 1)
    out[f"{prefix}_lost"] = lost_total
    out[f"{prefix}_failed_calls_all_designs"] = errors_total  # ours alone: {prefix}_sign_errors
    from django_tasks_db.models import DBTaskResult

    tasks = DBTaskResult.objects.count()
    log(
        f"[{prefix}] through the services: ours/naive = {out[f'{prefix}_ratio_to_naive']}, "
        f"ours/control = {out[f'{prefix}_ratio_to_control']}; bare SQL: ours/naive = "
        f"{out[f'{prefix}_sql_ratio_to_naive']}; services/bare SQL = {out[f'{prefix}_sign_ratio_to_sql_ceiling']}"
    )
    log(
        f"[{prefix}] hot counter {hot:,} vs {naive_committed:,} committed naive signatures; "
        f"{tasks:,} email tasks queued"
    )
    final_numbers = selectors.numbers_compute(pledge)
    final = final_numbers.signatories
    expected = n + extra_confirmed + sum(len(a["confirmed"]) for a in acc.values())
    if final != expected:
        log(f"[{prefix}] WARNING: numbers say {final:,} signatories, expected {expected:,}")
    out[f"{prefix}_numbers_total_mismatch"] = final - expected
    out[f"{prefix}_public_names_mismatch_after_signing"] = (
        final_numbers.public_names - selectors.signatures_public_list(pledge).count()
    )

    # 3. HTTP under gunicorn.
    if args.http_seconds > 0:
        connection.close()
        server = Server(workdir, Path(args.static_root), args.http_workers)
        try:
            for name, path in ENDPOINTS.items():
                status, body, _cc = http_get(server.port, path)
                expected_status = 301 if name == "ceiling" else 200
                if status != expected_status:
                    raise RuntimeError(f"GET {path} -> {status}: {body[:500]!r}\n{server.log_path.read_text()[-3000:]}")
                for _ in range(5):
                    http_get(server.port, path)
            for name, path in ENDPOINTS.items():
                res = http_load(server.port, path, args.http_seconds, args.http_clients, args.http_threads)
                out[f"{prefix}_{name}_rps"] = r(res["rps"])
                out[f"{prefix}_{name}_p50_ms"] = r(res["p50_ms"], 2)
                out[f"{prefix}_{name}_p99_ms"] = r(res["p99_ms"], 2)
                out[f"{prefix}_{name}_max_ms"] = r(res["max_ms"], 1)
                bad = {code: k for code, k in res["codes"].items() if code not in (200, 301)}
                out[f"{prefix}_{name}_bad_responses"] = sum(bad.values()) + res["failures"]
                log(
                    f"[{prefix}] GET {path}: {res['rps']:.1f} req/s, p50 {res['p50_ms']:.1f} ms, "
                    f"p99 {res['p99_ms']:.1f} ms, "
                    f"max {res['max_ms']:.0f} ms; statuses {res['codes']}"
                    + (f", {res['failures']} connection failures" if res["failures"] else "")
                )
                if res["max_ages"]:
                    out[f"{prefix}_{name}_max_age_s_sent"] = sorted(k for k in res["max_ages"] if k is not None)
                if res["staleness"]:
                    # What a reader can see: the figures' age when the response arrived + the max-age it sent.
                    worst = max(res["staleness"])
                    over = sum(1 for x in res["staleness"] if x > staleness)
                    worst_arrival = max(res["arrival_staleness"])
                    over_arrival = sum(1 for x in res["arrival_staleness"] if x > staleness)
                    out[f"{prefix}_{name}_figures_age_max_s"] = r(max(res["ages"]), 3)
                    out[f"{prefix}_{name}_worst_reader_staleness_s"] = r(worst, 3)
                    out[f"{prefix}_{name}_responses_over_budget"] = over
                    out[f"{prefix}_{name}_worst_arrival_staleness_s"] = r(worst_arrival, 3)
                    out[f"{prefix}_{name}_responses_over_budget_from_arrival"] = over_arrival
                    log(
                        f"[{prefix}]     max-age sent {dict(sorted(res['max_ages'].items()))}; figures up to "
                        f"{max(res['ages']):.3f} s old on arrival; a reader could see them up to {worst:.3f} s old "
                        f"(budget {staleness} s; {over} of {len(res['staleness'])} responses over it); counting "
                        f"max-age from arrival instead: {worst_arrival:.3f} s ({over_arrival} over)"
                    )
                elif res["max_ages"]:
                    log(f"[{prefix}]     max-age sent {dict(sorted(res['max_ages'].items()))}")
        finally:
            server.stop()
            log(f"[{prefix}] gunicorn stopped")
        for name in ("api", "page", "static"):
            out[f"{prefix}_{name}_ratio_to_ceiling"] = r(out[f"{prefix}_{name}_rps"] / out[f"{prefix}_ceiling_rps"], 3)
    # The worst staleness any reader could see in this run (the probe, and every API response under load).
    worst = max(out[f"{prefix}_probe_worst_reader_staleness_s"], out.get(f"{prefix}_api_worst_reader_staleness_s", 0))
    out[f"{prefix}_numbers_worst_reader_staleness_s"] = worst
    out[f"{prefix}_numbers_staleness_ratio_to_budget"] = r(worst / staleness, 3)
    log(f"[{prefix}] worst staleness a reader could see: {worst:.3f} s, {worst / staleness:.3f} of the {staleness} s budget")
    return out


# --------------------------------------------------------------------------------------------
# Orchestration: a scratch database per run, one child process per database
# --------------------------------------------------------------------------------------------


def kill_leftover_server(workdir: Path) -> None:
    pidfile = workdir / "gunicorn.pid"
    if not pidfile.exists():
        return
    pid = int(pidfile.read_text())
    try:
        os.killpg(pid, signal.SIGKILL)
        log(f"killed a leftover gunicorn (process group {pid})")
    except ProcessLookupError:
        pass


def run_db_child(db: str, args: argparse.Namespace, root: Path, static_root: Path) -> dict:
    workdir = root / db
    workdir.mkdir()
    env = dict(base_env(), STATIC_ROOT=str(static_root))  # the collected static files (DEBUG is off)
    if db == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{workdir / 'bench.sqlite3'}"
        signatures = args.sqlite_signatures if args.sqlite_signatures is not None else args.signatures
    else:
        base = PG_ADMIN_URL.rsplit("/", 1)[0]
        env["DATABASE_URL"] = f"{base}/{PG_DB_NAME}"
        signatures = args.signatures
        pg_admin(f"DROP DATABASE IF EXISTS {PG_DB_NAME} WITH (FORCE)")
        pg_admin(f"CREATE DATABASE {PG_DB_NAME}")
    result_path = workdir / "result.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--_child", "--workdir", str(workdir),
        "--result", str(result_path),
        "--static-root", str(static_root), "--signatures", str(signatures), "--writers", str(args.writers),
        "--seconds", str(args.seconds), "--sql-seconds", str(args.sql_seconds), "--repeats", str(args.repeats),
        "--cached-calls", str(args.cached_calls), "--cost-signatures", str(args.cost_signatures),
        "--http-seconds", str(args.http_seconds), "--http-clients", str(args.http_clients),
        "--http-threads", str(args.http_threads), "--http-workers", str(args.http_workers),
    ]  # fmt: skip
    try:
        proc = subprocess.run(command, cwd=REPO, env=env, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"the {db} run failed (exit status {proc.returncode})")
        return json.loads(result_path.read_text())
    finally:
        kill_leftover_server(workdir)
        if db == "postgres" and not args.keep:
            pg_admin(f"DROP DATABASE IF EXISTS {PG_DB_NAME} WITH (FORCE)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--signatures", type=int, default=1_000_000, help="confirmed signatures for the count query")
    parser.add_argument(
        "--sqlite-signatures", type=int, default=None, help="the same for SQLite (default: --signatures)"
    )
    parser.add_argument("--writers", type=int, default=8, help="concurrent writer processes (default 8)")
    parser.add_argument(
        "--seconds", type=float, default=20, help="signing time per design per database, over 2 rounds (default 20)"
    )
    parser.add_argument(
        "--sql-seconds", type=float, default=10, help="bare-SQL ceiling time per design per database (default 10)"
    )
    parser.add_argument("--repeats", type=int, default=15, help="timed runs of the uncached aggregate (default 15)")
    parser.add_argument("--cached-calls", type=int, default=20_000, help="timed calls of the cached numbers")
    parser.add_argument(
        "--cost-signatures", type=int, default=200, help="sign + confirm timed one at a time, alone (default 200)"
    )
    parser.add_argument("--http-seconds", type=float, default=8, help="load time per endpoint; 0 skips HTTP")
    parser.add_argument("--http-clients", type=int, default=2, help="client processes (default 2)")
    parser.add_argument("--http-threads", type=int, default=4, help="threads per client process (default 4)")
    parser.add_argument("--http-workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and folder")
    parser.add_argument("--_child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--static-root", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> int:
    args = parse_args()
    if args._child:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        out = run_one_db(args)
        Path(args.result).write_text(json.dumps(out))
        return 0

    started = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    root = Path(tempfile.mkdtemp(prefix="bench-pledges-"))
    figures: dict[str, object] = {}
    try:
        static_root = root / "static"
        collect_static(static_root, base_env())  # the page is rendered in the child process too
        databases = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        log(
            f"bench/pledges.py: {', '.join(databases)}; {args.writers} writers x {args.seconds:g} s per design; "
            f"{args.signatures:,} confirmed signatures"
            + (f" ({args.sqlite_signatures:,} on SQLite)" if args.sqlite_signatures is not None else "")
            + f"; HTTP {args.http_clients}x{args.http_threads} clients x {args.http_seconds:g} s per endpoint; "
            f"{os.cpu_count()} cores"
        )
        for db in databases:
            if db == "postgres":
                try:
                    pg_admin("SELECT 1")
                except Exception as exc:  # noqa: BLE001 - say why and go on with what can run
                    log(f"PostgreSQL skipped: cannot connect to {PG_ADMIN_URL}: {exc}")
                    figures["pg_skipped"] = True
                    continue
            figures.update(run_db_child(db, args, root, static_root))
    finally:
        if args.keep:
            log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    lost = sum(figures.get(f"{prefix}_lost", 0) for prefix in ("sqlite", "pg"))
    figures = {
        "lost": lost,
        "writers": args.writers,
        "uk_peak_sign_per_s": r(UK_PEAK_PER_MIN / 60),
        **figures,
        "cores": os.cpu_count(),
        # Other work on the machine skews absolute figures (ratios less so): the 1-minute load average.
        "load_avg_at_start": r(load_at_start, 2),
        "load_avg_at_end": r(os.getloadavg()[0], 2),
        "run_s": r(time.perf_counter() - started),
    }
    print(json.dumps(figures), flush=True)
    return 0 if lost == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
