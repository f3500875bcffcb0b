#!/usr/bin/env python
"""Booking storm: many clients book the same released session through the HTTP API at once.

    .venv/bin/python bench/booking_storm.py --db sqlite|postgres [--clients 2000] [--capacity 1500]
        [--workers W] [--concurrency 64] [--contended] [--retry-share 0.1] [--direct-threads T]

What it does, each run in a fresh database (a temporary SMARTCARE_VAR_DIR, and for PostgreSQL the
database of --database-url, dropped and created again):

1. migrates and creates a minimal hospital: one department, one doctor, a schedule template and
   four dated sessions built with ``scheduling.services.build_session`` (the storm session, one
   for the direct measurement, one for the plain-SQL measurement and a probe session), each with
   ``--capacity`` places spread
   over ``--slots`` slots, ``--clients`` patients, and a channel identity
   (``channel-miniprogram-bench``, role channel) with an API token and a ``ChannelBinding`` to
   every patient. Audit stays on; only the login lockout (axes) is switched off. With PostgreSQL
   the server gets REDIS_URL (``--redis-url``), as the operator guide asks for several workers.
2. counts the SQL queries of one booking (through the Django test client, so with bearer
   authentication and the response, and through ``book_slot`` alone), of a replay with the same
   Idempotency-Key and of a refused booking (slot full).
3. starts ``smartcare serve --workers W`` (uvicorn) on 127.0.0.1 and waits for /healthz.
4. fires the storm: one patient per client, at most ``--concurrency`` requests in flight over
   HTTP/1.1 keep-alive (httpx.AsyncClient). A client POSTs /api/booking/appointments with its
   own Idempotency-Key; on 409 SCHED-001 (slot full) it tries another slot that may still have
   places, until it holds a booking or every slot is known to be full. A share of the clients
   (``--retry-share``) resend the same request with the same key, half of them at once (two
   identical requests in flight) and half after the answer, as a client whose response was lost
   would. ``--contended`` is the morning rush: most attempts aim at the ``--hot-slots`` earliest
   slots that may still have places, so a few rows take the load until they are full.
5. checks the database: confirmed, overbooked, lost and duplicated bookings (see ``verify``).
6. runs the same booking transaction without HTTP: ``book_slot`` called in-process from
   ``--direct-procs`` processes x ``--direct-threads`` threads against the direct session (same
   capacity, same patients, same retry-on-full logic), and verifies it the same way; with
   PostgreSQL also the same statements as plain SQL through psycopg (``db_sql_*``): what the
   database itself can do with this transaction.

During a PostgreSQL storm ``pg_stat_activity`` is sampled every 0.2 s: connections, lock waits by
statement (slot row, audit chain head) and transactions waiting for the application.
Progress goes to stderr; the last line of stdout is one JSON object with the results. The exit
status is 1 when ``overbooked``, ``lost`` or ``duplicates`` is not 0 (in the storm, the direct or
the SQL run), 2 when the benchmark itself could not run. Traffic goes to 127.0.0.1 only; every
loop is bounded in count and time, and the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/bench_booking"
# The operator guide asks for REDIS_URL with more than one web worker; a Redis database of its own.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
CHANNEL_USERNAME = "channel-miniprogram-bench"
ACTIVE = ("booked", "checked_in", "in_consultation")  # scheduling.choices.ACTIVE_STATUSES


def log(message: str) -> None:
    print(f"[storm {time.strftime('%H:%M:%S', time.gmtime())}Z] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (seconds), in milliseconds."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return round(ordered[index] * 1000, 2)


# --- Environment --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--database-url", default=DEFAULT_PG_URL, help="PostgreSQL only; dropped and created")
    parser.add_argument("--clients", type=int, default=2000, help="patients booking at once (M)")
    parser.add_argument("--capacity", type=int, default=1500, help="places released (K)")
    parser.add_argument("--slots", type=int, default=20, help="slots the places are spread over")
    parser.add_argument(
        "--workers",
        type=int,
        help="uvicorn workers (default: the cores, at most 4, on postgres; 1 on sqlite)",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument(
        "--contended", action="store_true", help="most clients want the earliest slots with places"
    )
    parser.add_argument("--hot-slots", type=int, default=2, help="how many earliest slots they aim at")
    parser.add_argument("--hot-share", type=float, default=0.9, help="share of attempts that aim at them")
    parser.add_argument(
        "--retry-share", type=float, default=0.1, help="clients that resend with the same key"
    )
    parser.add_argument(
        "--direct-procs", type=int, help="processes of the direct run (default 2 pg, 1 sqlite)"
    )
    parser.add_argument("--direct-threads", type=int, default=8, help="threads per direct process")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct measurement")
    parser.add_argument(
        "--direct-reconnect",
        action="store_true",
        help="the direct run opens a new connection for every booking, as a request under ASGI does",
    )
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--max-seconds", type=float, default=300, help="the storm stops starting clients then"
    )
    parser.add_argument("--request-timeout", type=float, default=30)
    parser.add_argument("--conn-max-age", help="SMARTCARE_DB_CONN_MAX_AGE for the server (default: unset)")
    parser.add_argument(
        "--pool-size", type=int, help="SMARTCARE_DB_POOL_SIZE for the server and the direct run (0: no pool)"
    )
    parser.add_argument("--web-threads", type=int, help="SMARTCARE_WEB_THREADS: request threads per worker")
    parser.add_argument(
        "--floor-requests",
        type=int,
        default=2000,
        help="GET /healthz requests after the storm, for the cost of a request without the booking (0: skip)",
    )
    parser.add_argument(
        "--redis-url",
        help="REDIS_URL for the server (cache and task queue); default for postgres: "
        f"{DEFAULT_REDIS_URL} (must be an empty Redis database: it is flushed at the end); "
        "'none' runs without Redis (tasks in the database)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="wait up to this many seconds for the machine to be idle (<30%% busy) before the storm",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--show-queries", action="store_true", help="print the SQL of one booking")
    parser.add_argument("--keep", action="store_true", help="keep the var dir and the database")
    parser.add_argument(
        "--setup-only", action="store_true", help="create the data, count queries, keep it all and stop"
    )
    args = parser.parse_args(argv)
    args.keep = args.keep or args.setup_only
    if args.workers is None:
        args.workers = min(4, os.cpu_count() or 1) if args.db == "postgres" else 1
    if args.redis_url is None:
        args.redis_url = DEFAULT_REDIS_URL if args.db == "postgres" else "none"
    if args.redis_url == "none":
        args.redis_url = ""
    if args.direct_procs is None:
        args.direct_procs = min(2, os.cpu_count() or 1) if args.db == "postgres" else 1
    if not 1 <= args.slots <= 200:
        parser.error("--slots must be 1..200")
    if args.capacity < args.slots:
        parser.error("--capacity must be at least --slots")
    if args.clients < 1 or args.concurrency < 1:
        parser.error("--clients and --concurrency must be positive")
    local = ("127.0.0.1", "localhost", "::1")
    if args.db == "postgres" and urlsplit(args.database_url).hostname not in local:
        parser.error("the benchmark only talks to a database on this machine")
    if args.redis_url and urlsplit(args.redis_url).hostname not in local:
        parser.error("the benchmark only talks to a Redis on this machine")
    return args


def prepare_environment(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    """The environment shared by this process, the server and the direct-run processes."""
    env = os.environ
    env["DJANGO_SETTINGS_MODULE"] = "smartcare.settings"
    env["SMARTCARE_VAR_DIR"] = str(var_dir)
    env["SMARTCARE_AXES_ENABLED"] = "0"  # login lockout; the API has no other rate limiting
    env["SMARTCARE_DEBUG"] = "0"
    env["SMARTCARE_LOG_LEVEL"] = "WARNING"
    for name in ("REDIS_URL", "SMARTCARE_TASKS_IMMEDIATE", "SMARTCARE_TESTING"):
        env.pop(name, None)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    if args.db == "postgres":
        env["DATABASE_URL"] = args.database_url
    else:
        env.pop("DATABASE_URL", None)
    if args.conn_max_age is not None:
        env["SMARTCARE_DB_CONN_MAX_AGE"] = str(args.conn_max_age)
    if args.pool_size is not None:
        env["SMARTCARE_DB_POOL_SIZE"] = str(args.pool_size)
    if args.web_threads is not None:
        env["SMARTCARE_WEB_THREADS"] = str(args.web_threads)
    return dict(env)


def recreate_pg_database(url: str, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    name = url.rstrip("/").rsplit("/", 1)[1].split("?")[0]
    admin = url.rstrip("/").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def redis_claim(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    if client.dbsize():
        raise RuntimeError(f"{url} is not empty: give --redis-url a Redis database of its own")
    client.close()


def redis_release(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def redis_connections_received(url: str) -> int:
    """Connections the whole Redis server has accepted so far (INFO stats)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_connections_received"])
    finally:
        client.close()


def machine_busy_pct(seconds: float = 1.0) -> float:
    busy0, total0 = _machine_cpu()
    time.sleep(seconds)
    busy1, total1 = _machine_cpu()
    return round(100 * (busy1 - busy0) / max(1e-9, total1 - total0), 1)


def wait_quiet(limit: float) -> float:
    """Wait (at most ``limit`` seconds) for the machine to be idle; the last busy share seen."""
    deadline = time.monotonic() + limit
    busy = machine_busy_pct()
    while busy >= 30 and time.monotonic() < deadline:
        busy = machine_busy_pct(2.0)
    return busy


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def django_setup() -> None:
    import django

    django.setup()


# --- Setup --------------------------------------------------------------------------------------


def create_world(args: argparse.Namespace) -> dict[str, Any]:
    """Migrate and create the hospital, sessions, patients, channel identity and token."""
    import datetime as dt

    from django.core.management import call_command
    from django.db import transaction

    from smartcare.accounts.choices import Role
    from smartcare.accounts.models import ApiToken, User
    from smartcare.audit.choices import AuditAction
    from smartcare.audit.services import record
    from smartcare.core import clock, context, crypto
    from smartcare.organization.choices import Sex, Title
    from smartcare.organization.models import (
        Campus,
        Department,
        Hospital,
        NationalDepartmentCode,
        Practitioner,
    )
    from smartcare.patients.models import ChannelBinding, Patient
    from smartcare.patients.resident_id import make_resident_id
    from smartcare.scheduling.choices import Period
    from smartcare.scheduling.models import ScheduleTemplate, Slot, VisitPreparation
    from smartcare.scheduling.services import build_session

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    log(f"migrated in {time.perf_counter() - started:.1f}s")

    with (
        transaction.atomic(),
        context.acting(context.RequestContext(channel="cli", request_id="bench-setup")),
    ):
        hospital = Hospital.objects.create(code="BENCH", name_zh="压测医院", name_en="Benchmark Hospital")
        campus = Campus.objects.create(hospital=hospital, code="MAIN", name_zh="总院", name_en="Main")
        entry = NationalDepartmentCode.objects.get(code="03.04")
        department = Department.objects.create(
            hospital=hospital,
            campus=campus,
            national_code=entry,
            name_zh=entry.name_zh,
            name_en=entry.name_en,
        )
        VisitPreparation.objects.create(
            department=department,
            text_zh="请携带身份证和医保卡。",
            text_en="Bring your ID card and insurance card.",
        )
        doctor_user = User.objects.create(username="bench-doctor", role=Role.DOCTOR, display_name="压测医生")
        doctor_user.set_unusable_password()
        doctor_user.save(update_fields=["password"])
        doctor = Practitioner.objects.create(
            user=doctor_user,
            department=department,
            title=Title.ATTENDING_PHYSICIAN,
            licence_number="BENCH0001",
        )
        slot_minutes = 15 if args.slots <= 56 else 5
        start = dt.datetime.combine(dt.date(2000, 1, 1), dt.time(7, 0))
        end = start + dt.timedelta(minutes=slot_minutes * args.slots)
        base, extra = divmod(args.capacity, args.slots)
        template = ScheduleTemplate.objects.create(
            department=department,
            practitioner=doctor,
            weekday=0,
            period=Period.MORNING,
            start_time=start.time(),
            end_time=end.time(),
            slot_minutes=slot_minutes,
            capacity_per_slot=base,
        )
        today = clock.today()
        sessions = {}
        for offset, name in ((1, "storm"), (2, "direct"), (3, "probe"), (4, "sql")):
            session = build_session(template, today + dt.timedelta(days=offset))
            assert session is not None and session.is_open, "the session must be open for booking"
            slots = list(session.slots.order_by("starts_at"))
            assert len(slots) == args.slots, (len(slots), args.slots)
            for index, slot in enumerate(slots):
                slot.capacity = base + (1 if index < extra else 0)
            Slot.objects.bulk_update(slots, ["capacity"])
            sessions[name] = {"id": session.pk, "slots": [s.pk for s in slots]}

        channel = User.objects.create(username=CHANNEL_USERNAME, role=Role.CHANNEL, display_name="压测小程序")
        channel.set_unusable_password()
        channel.save(update_fields=["password"])
        prefix, secret = ApiToken.new_secret()
        token = ApiToken.objects.create(
            user=channel, name="booking storm", prefix=prefix, token_hash=ApiToken.hash(secret)
        )
        record(
            None,
            AuditAction.TOKEN,
            obj=token,
            actor_username="cli",
            detail={"event": "created", "for_user": channel.username},
        )

        patients = []
        for i in range(args.clients + 2):  # two more for the probe
            sex = Sex.MALE if i % 2 else Sex.FEMALE
            birth = dt.date(1950, 1, 1) + dt.timedelta(days=i // 400)
            national_id = make_resident_id(
                "310104", birth, (i % 400) * 2 + (1 if sex == Sex.MALE else 0), sex
            )
            phone = f"139{i:08d}"
            patients.append(
                Patient(
                    medical_record_number=f"BENCH{i:07d}",
                    name=f"压测患者{i}",
                    sex=sex,
                    birth_date=birth,
                    national_id=national_id,
                    national_id_hash=crypto.blind_index(national_id),
                    phone=phone,
                    phone_hash=crypto.blind_index(phone),
                )
            )
        Patient.objects.bulk_create(patients, batch_size=500)
        patient_ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
        ChannelBinding.objects.bulk_create(
            [
                ChannelBinding(channel_user=channel, patient_id=pid, external_id=f"mp-{pid}")
                for pid in patient_ids
            ],
            batch_size=1000,
        )
    log(
        f"created {len(patient_ids)} patients bound to {CHANNEL_USERNAME}, {args.slots} slots x "
        f"{base}{'+1' if extra else ''} places per session, in {time.perf_counter() - started:.1f}s"
    )
    return {
        "token": secret,
        "channel_user_id": channel.pk,
        "patients": patient_ids[: args.clients],
        "probe_patients": patient_ids[args.clients :],
        "sessions": sessions,
    }


def _query_kind(sql: str) -> str:
    import re

    words = sql.split()
    verb = words[0].upper() if words else "?"
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"):
        return verb
    match = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
    table = match.group(1) if match else "?"
    suffix = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else ""
    return f"{verb} {table}{suffix}"


def count_queries(world: dict[str, Any], show: bool) -> dict[str, Any]:
    """SQL statements of one booking through HTTP (test client) and through book_slot alone."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from smartcare.accounts.models import User
    from smartcare.core import context
    from smartcare.scheduling.models import Slot
    from smartcare.scheduling.services import book_slot

    slots = world["sessions"]["probe"]["slots"]
    p_http, p_service = world["probe_patients"]
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['token']}"}
    url = "/api/booking/appointments"

    def post(patient: int, slot: int, key: str) -> tuple[int, list[dict[str, str]]]:
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                url,
                data={"patient_id": patient, "slot_id": slot},
                content_type="application/json",
                HTTP_IDEMPOTENCY_KEY=key,
                **headers,
            )
        return response.status_code, list(captured.captured_queries)

    status, http_queries = post(p_http, slots[0], "probe-http")
    assert status == 201, status
    status_replay, replay_queries = post(p_http, slots[0], "probe-http")
    assert status_replay == 200, status_replay
    full = Slot.objects.get(pk=slots[2])
    Slot.objects.filter(pk=full.pk).update(booked=full.capacity)
    status_full, full_queries = post(p_service, slots[2], "probe-full")
    assert status_full == 409, status_full
    channel = User.objects.get(pk=world["channel_user_id"])
    acting = context.acting(context.RequestContext(channel="api", client_address="127.0.0.1"))
    with acting, CaptureQueriesContext(connection) as captured:
        book_slot(
            channel, patient_id=p_service, slot_id=slots[1], channel="mini_program", idempotency_key="probe"
        )
    service_queries = list(captured.captured_queries)

    def kinds(queries: list[dict[str, str]]) -> dict[str, int]:
        return dict(Counter(_query_kind(q["sql"]) for q in queries))

    result = {
        "http_booking": len(http_queries),
        "service_booking": len(service_queries),
        "http_replay": len(replay_queries),
        "http_slot_full": len(full_queries),
        "http_booking_kinds": kinds(http_queries),
    }
    log(
        f"queries: booking over HTTP {result['http_booking']}, book_slot alone {result['service_booking']}, "
        f"replay {result['http_replay']}, slot full {result['http_slot_full']}"
    )
    for kind, n in sorted(result["http_booking_kinds"].items(), key=lambda kv: -kv[1]):
        log(f"    {n:2d} x {kind}")
    if show:
        for i, q in enumerate(http_queries, 1):
            log(f"  {i:2d} {q['time']}s {q['sql'][:220]}")
    return result


# --- Server -------------------------------------------------------------------------------------


class Server:
    def __init__(self, args: argparse.Namespace, env: dict[str, str], var_dir: Path):
        self.port = args.port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = var_dir / "server.log"
        executable = str(Path(sys.executable).with_name("smartcare"))
        command = [executable, "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(args.workers), "--log-level", "warning"]
        self._log = open(self.log_path, "wb")  # noqa: SIM115  (closed in stop)
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log(f"server: {' '.join(command[1:])} (pid {self.process.pid})")

    def wait_ready(self, seconds: float = 300) -> None:
        import httpx

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"the server did not answer /healthz in {seconds}s:\n{self.tail()}")

    def cpu_seconds(self) -> float:
        """CPU time of the server's process group (the uvicorn parent and its workers)."""
        return _group_cpu(self.process.pid)

    def error_summary(self, limit: int = 5) -> list[str]:
        """The most frequent exception lines of the server log."""
        counts: Counter[str] = Counter()
        with contextlib.suppress(OSError):
            for line in self.log_path.read_text(errors="replace").splitlines():
                head = line.split(":", 1)[0]
                if head.endswith(("Error", "Exception")) and " " not in head and not line.startswith(" "):
                    counts[line[:240]] += 1
        return [f"{n} x {line}" for line, n in counts.most_common(limit)]

    def tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def _group_cpu(pgid: int) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            raw = Path(f"/proc/{entry}/stat").read_text()
            rest = raw[raw.rindex(")") + 2 :].split()
            if int(rest[2]) == pgid:
                total += int(rest[11]) + int(rest[12])
    return total / ticks


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    return (total - idle) / ticks, total / ticks


class PgSampler:
    """Samples the benchmark database's backends every 0.2 s during the storm: connections (most
    at once, sessions opened), and what the active ones are doing (the statement they wait in or
    run, by kind), so that lock queues (the audit chain head, a slot row) show."""

    STATEMENTS = (
        ("audit head lock", "audit_audithead"),
        ("slot update", 'UPDATE "scheduling_slot"'),
        ("appointment insert", 'INSERT INTO "scheduling_appointment"'),
        ("care relationship", "accounts_carerelationship"),
        ("audit event insert", "audit_auditevent"),
        ("commit", "COMMIT"),
    )

    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.stop_event = threading.Event()
        self.max_connections = 0
        self.samples = 0
        self.waiting: Counter[str] = Counter()  # backend-samples waiting on a lock, by statement
        self.active: Counter[str] = Counter()  # backend-samples active (running or waiting)
        self.states: Counter[str] = Counter()  # backend-samples by state and wait event
        # Backend-samples inside a transaction, waiting for the application's next statement,
        # by the last statement sent: locks taken before it are held while Python works.
        self.idle_in_transaction: Counter[str] = Counter()
        self.sessions_before = self._sessions()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sessions(self) -> int:
        row = self.conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0

    def _kind(self, query: str) -> str:
        for label, marker in self.STATEMENTS:
            if marker in query:
                return label
        return "other"

    def _run(self) -> None:
        for _ in range(10_000):  # bounded: 0.2 s apart, at most ~33 minutes
            if self.stop_event.wait(0.2):
                return
            rows = self.conn.execute(
                "SELECT state, wait_event_type, wait_event, left(query, 200) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
            self.samples += 1
            self.max_connections = max(self.max_connections, len(rows))
            for state, wait_type, wait_event, query in rows:
                self.states[f"{state}{f' ({wait_type}:{wait_event})' if wait_type else ''}"] += 1
                if state == "idle in transaction":
                    self.idle_in_transaction[self._kind(query or "")] += 1
                if state != "active":
                    continue
                kind = self._kind(query or "")
                self.active[kind] += 1
                if wait_type == "Lock":
                    self.waiting[kind] += 1

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> dict[str, Any]:
        self.stop_event.set()
        self.thread.join(timeout=5)
        time.sleep(0.2)  # pg_stat_database is updated when a backend reports
        opened = self._sessions() - self.sessions_before
        self.conn.close()
        n = max(1, self.samples)
        return {
            "pg_max_connections": self.max_connections,
            "pg_sessions_opened": opened,
            # Average number of backends, per sample, waiting on a lock / active, by statement.
            "pg_lock_waiters_avg": {k: round(v / n, 2) for k, v in self.waiting.most_common()},
            "pg_active_avg": {k: round(v / n, 2) for k, v in self.active.most_common()},
            "pg_backend_states_avg": {k: round(v / n, 2) for k, v in self.states.most_common(8)},
            "pg_idle_in_transaction_avg": {
                f"after {k}": round(v / n, 2) for k, v in self.idle_in_transaction.most_common()
            },
        }


# --- The storm ----------------------------------------------------------------------------------


class SlotBoard:
    """What the clients have learned: slots answered "full" are not tried again.

    Random mode picks any slot that may have places. Contended mode is the morning rush: with
    probability ``hot_share`` a client wants one of the ``hot`` earliest slots that may still have
    places, so the same few rows take the load until they are full, then the next ones."""

    def __init__(self, slots: list[int], hot: int, hot_share: float, contended: bool, rng: random.Random):
        self.slots = list(slots)  # in time order
        self.hot = max(1, hot)
        self.hot_share = hot_share
        self.contended = contended
        self.full: set[int] = set()
        self.rng = rng

    def pick(self, tried: set[int]) -> int | None:
        open_slots = [s for s in self.slots if s not in self.full and s not in tried]
        if not open_slots:
            return None
        if self.contended and self.rng.random() < self.hot_share:
            return self.rng.choice(open_slots[: self.hot])
        return self.rng.choice(open_slots)


class RawHttp:
    """A minimal HTTP/1.1 client on asyncio streams, for the load generator.

    httpx cost 5 to 12 ms of CPU per request here, as much as the server's booking: measured on
    the same 2 cores, the load generator would take half the machine from the server. This
    client does only what the storm needs (keep-alive connections, JSON bodies, Content-Length or
    chunked answers) at about 0.3 ms per request. Connections are pooled: a request takes an idle
    one or opens one (at most ``limit`` at once)."""

    class Error(Exception):
        pass

    def __init__(self, url: str, headers: dict[str, str], limit: int, timeout: float):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.base = "".join(
            f"{k}: {v}\r\n" for k, v in {"Host": f"{self.host}:{self.port}", **headers}.items()
        )
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self.slots = asyncio.Semaphore(limit)
        self.timeout = timeout

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\n{self.base}Content-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items()) + "\r\n"
        async with self.slots:
            for attempt in (1, 2):
                reused = bool(self.idle)
                conn = self.idle.pop() if reused else await asyncio.open_connection(self.host, self.port)
                try:
                    status, data, keep = await asyncio.wait_for(
                        self._exchange(conn, head.encode() + payload), self.timeout
                    )
                except asyncio.IncompleteReadError as error:
                    conn[1].close()
                    # The server closed an idle keep-alive connection just as it was reused (as
                    # httpx does, try once more on a new one; the request had not been read).
                    if reused and attempt == 1 and not error.partial:
                        continue
                    raise RawHttp.Error(type(error).__name__) from error
                except (TimeoutError, OSError, ValueError) as error:
                    conn[1].close()
                    raise RawHttp.Error(type(error).__name__) from error
                if keep:
                    self.idle.append(conn)
                else:
                    conn[1].close()
                return status, data
            raise RawHttp.Error("unreachable")

    @staticmethod
    async def _exchange(
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], message: bytes
    ) -> tuple[int, bytes, bool]:
        reader, writer = conn
        writer.write(message)
        status = int((await reader.readuntil(b"\r\n")).split(b" ", 2)[1])
        length, chunked, keep = 0, False, True
        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                keep = b"close" not in value.lower()
        if not chunked:
            return status, await reader.readexactly(length), keep
        parts = []
        for _ in range(100_000):  # bounded
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, b"".join(parts), keep

    def close(self) -> None:
        for _reader, writer in self.idle:
            writer.close()
        self.idle.clear()


async def storm(
    args: argparse.Namespace, url: str, token: str, patients: list[int], slots: list[int]
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    board = SlotBoard(slots, args.hot_slots, args.hot_share, args.contended, rng)
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    acks: dict[int, dict[str, Any]] = {}  # patient -> {"appointment", "slot", "key"}
    key_results: dict[str, set[int]] = {}  # idempotency key -> appointment ids answered
    key_created: Counter[str] = Counter()  # idempotency key -> 201 answers
    anomalies: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    run = uuid.uuid4().hex[:8]
    deadline = time.monotonic() + args.max_seconds
    retriers = set(rng.sample(range(len(patients)), int(len(patients) * args.retry_share)))
    http = RawHttp(url, {"Authorization": f"Bearer {token}"}, args.concurrency * 2, args.request_timeout)
    try:

        async def send(patient: int, slot: int, key: str) -> tuple[int, dict[str, Any]]:
            started = time.perf_counter()
            try:
                status, data = await http.request(
                    "POST",
                    "/api/booking/appointments",
                    {"patient_id": patient, "slot_id": slot},
                    {"Idempotency-Key": key},
                )
            except RawHttp.Error as error:
                latencies.append(time.perf_counter() - started)
                statuses[f"error:{error}"] += 1
                return 0, {}
            latencies.append(time.perf_counter() - started)
            try:
                body = json.loads(data) if data else {}
            except ValueError:
                body = {}
            code = body.get("code", "") if status >= 400 else ""
            statuses[f"{status}{' ' + code if code else ''}"] += 1
            if status in (200, 201):
                key_results.setdefault(key, set()).add(int(body["id"]))
                if status == 201:
                    key_created[key] += 1
            return status, body

        async def client(index: int) -> None:
            patient = patients[index]
            tried: set[int] = set()
            retrier = index in retriers
            for attempt in range(len(slots) + 5):  # bounded: a slot is tried at most once
                if time.monotonic() > deadline:
                    outcomes["deadline"] += 1
                    return
                slot = board.pick(tried)
                if slot is None:
                    outcomes["sold_out"] += 1
                    return
                key = f"storm-{run}-{patient}-{attempt}"
                if retrier and attempt == 0 and index % 2 == 0:
                    # A resend while the first request is still in flight.
                    answers = await asyncio.gather(send(patient, slot, key), send(patient, slot, key))
                    outcomes["resent_concurrently"] += 1
                else:
                    answers = [await send(patient, slot, key)]
                    if retrier and attempt == 0:
                        # The first answer was "lost": resend after it.
                        answers.append(await send(patient, slot, key))
                        outcomes["resent_after_answer"] += 1
                booked = [body for status, body in answers if status in (200, 201)]
                if len(answers) > 1 and booked and len(booked) < len(answers):
                    other = sorted(
                        f"{status} {body.get('code', '')}".strip()
                        for status, body in answers
                        if status not in (200, 201)
                    )
                    anomalies[f"same key answered {', '.join(other)} beside a booking"] += 1
                if booked:
                    acks[patient] = {"appointment": int(booked[0]["id"]), "slot": slot, "key": key}
                    outcomes["booked"] += 1
                    return
                codes = {body.get("code") for status, body in answers if status}
                if "SCHED-001" in codes:
                    board.full.add(slot)
                    tried.add(slot)
                    continue
                if "SCHED-003" in codes:
                    # The patient already holds a booking in this session (an earlier answer lost).
                    outcomes["already_booked"] += 1
                    return
                if all(status == 0 or status >= 500 for status, _ in answers):
                    # A transport error or 5xx: resend with the same key, as a client would.
                    answer = None
                    for _ in range(3):
                        await asyncio.sleep(0.05)
                        status, body = await send(patient, slot, key)
                        if status and status < 500:
                            answer = (status, body)
                            break
                    if answer and answer[0] in (200, 201):
                        acks[patient] = {"appointment": int(answer[1]["id"]), "slot": slot, "key": key}
                        outcomes["booked_after_resend"] += 1
                        return
                    if answer and answer[1].get("code") == "SCHED-001":
                        board.full.add(slot)
                        tried.add(slot)
                        continue
                outcomes["failed:" + ",".join(sorted(str(c) for c in codes if c) or ["error"])] += 1
                return
            outcomes["gave_up"] += 1

        queue: asyncio.Queue[int] = asyncio.Queue()
        order = list(range(len(patients)))
        rng.shuffle(order)
        for index in order:
            queue.put_nowait(index)

        async def worker() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await client(index)

        cpu_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        duration = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_before
    finally:
        http.close()

    for key, ids in key_results.items():
        if len(ids) > 1:
            anomalies["one key answered with different appointments"] += 1
        if key_created[key] > 1:
            anomalies["one key answered 201 twice"] += 1
    return {
        "duration": duration,
        "latencies": latencies,
        "statuses": dict(statuses),
        "acks": acks,
        "key_results": {k: sorted(v) for k, v in key_results.items()},
        "anomalies": dict(anomalies),
        "outcomes": dict(outcomes),
        "client_cpu": client_cpu,
    }


async def floor(args: argparse.Namespace, url: str, requests: int) -> dict[str, Any]:
    """The same server and client on the cheapest request that still goes through Django and the
    database (GET /healthz: the middleware, one connection from the pool, SELECT 1): what is
    left for the booking itself."""
    http = RawHttp(url, {}, args.concurrency, args.request_timeout)
    latencies: list[float] = []
    errors = 0
    per_worker = max(1, requests // args.concurrency)

    async def worker() -> None:
        nonlocal errors
        for _ in range(per_worker):
            started = time.perf_counter()
            try:
                status, _data = await http.request("GET", "/healthz")
            except RawHttp.Error:
                status = 0
            latencies.append(time.perf_counter() - started)
            errors += status != 200

    try:
        cpu_before = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        duration = time.perf_counter() - started
        client_cpu = time.process_time() - cpu_before
    finally:
        http.close()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / duration if duration else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "client_cpu": client_cpu,
    }


# --- Verification -------------------------------------------------------------------------------


def verify(
    session_id: int, acks: dict[int, dict[str, Any]], key_results: dict[str, list[int]]
) -> dict[str, Any]:
    """Check the session's bookings in the database against the capacity and the answers given.

    * overbooked: over every slot, active bookings above capacity, plus slots whose counter
      ``booked`` is above capacity;
    * lost: bookings the client was answered 200/201 for that do not exist, are not active or are
      not the patient's booking of that slot, plus the difference between each slot's counter and
      its real number of active bookings;
    * duplicates: extra bookings beyond one per idempotency key, beyond one active booking per
      patient in the session, and idempotency keys answered with more than one appointment.
    """
    from django.db.models import Count

    from smartcare.scheduling.models import Appointment, Slot

    slots = {s.pk: s for s in Slot.objects.filter(session_id=session_id)}
    active = Appointment.objects.filter(session_id=session_id, status__in=ACTIVE)
    per_slot = dict(active.values_list("slot_id").annotate(n=Count("id")).values_list("slot_id", "n"))
    capacity = sum(s.capacity for s in slots.values())
    confirmed = active.count()
    overbooked = sum(max(0, per_slot.get(pk, 0) - s.capacity) for pk, s in slots.items())
    overbooked += sum(1 for s in slots.values() if s.booked > s.capacity)
    counter_drift = sum(abs(s.booked - per_slot.get(pk, 0)) for pk, s in slots.items())

    rows = {
        a["pk"]: a
        for a in Appointment.objects.filter(pk__in=[ack["appointment"] for ack in acks.values()]).values(
            "pk", "patient_id", "slot_id", "status", "session_id"
        )
    }
    missing = 0
    for patient, ack in acks.items():
        row = rows.get(ack["appointment"])
        if (
            row is None
            or row["status"] not in ACTIVE
            or row["patient_id"] != patient
            or row["slot_id"] != ack["slot"]
            or row["session_id"] != session_id
        ):
            missing += 1
    lost = missing + counter_drift

    all_rows = Appointment.objects.filter(session_id=session_id)
    per_key = (
        all_rows.exclude(idempotency_key=None)
        .values("booked_by_id", "idempotency_key")
        .annotate(n=Count("id"))
    )
    per_patient = active.values("patient_id").annotate(n=Count("id"))
    duplicates = sum(r["n"] - 1 for r in per_key if r["n"] > 1)
    duplicates += sum(r["n"] - 1 for r in per_patient if r["n"] > 1)
    duplicates += sum(len(ids) - 1 for ids in key_results.values() if len(ids) > 1)
    booked_patients = set(active.values_list("patient_id", flat=True))
    unacknowledged = len(booked_patients - set(acks))
    return {
        "capacity": capacity,
        "confirmed": confirmed,
        "overbooked": overbooked,
        "lost": lost,
        "duplicates": duplicates,
        "lost_answers": missing,
        "counter_drift": counter_drift,
        "unacknowledged": unacknowledged,
    }


def audit_summary(first_sequence: int) -> dict[str, Any]:
    from smartcare.audit.models import AuditEvent
    from smartcare.audit.services import verify_chain

    created = AuditEvent.objects.filter(
        sequence__gt=first_sequence, action="create", object_type="scheduling.Appointment"
    ).count()
    chain = verify_chain()
    return {
        "audit_booking_events": created,
        "audit_chain_ok": chain.ok,
        "audit_events_checked": chain.checked,
    }


# --- Direct measurement (no HTTP) ---------------------------------------------------------------


def _direct_process(
    env: dict[str, str],
    channel_user_id: int,
    patients: list[int],
    slots: list[int],
    threads: int,
    seed: int,
    reconnect: bool,
    barrier: Any,
    results: Any,
) -> None:
    os.environ.update(env)
    django_setup()
    import queue as queue_module

    from django.db import connection, connections

    from smartcare.accounts.models import User
    from smartcare.core import context
    from smartcare.scheduling.errors import AlreadyBooked, SlotFull
    from smartcare.scheduling.services import book_slot

    channel = User.objects.get(pk=channel_user_id)
    connections.close_all()
    work: queue_module.Queue[int] = queue_module.Queue()
    for patient in patients:
        work.put(patient)
    rng = random.Random(seed)
    board = SlotBoard(slots, 1, 0.0, False, rng)
    lock = threading.Lock()
    latencies: list[float] = []
    acks: dict[int, dict[str, Any]] = {}
    statuses: Counter[str] = Counter()
    backend_cpu: list[float] = []
    run = uuid.uuid4().hex[:8]

    def thread_main() -> None:
        ctx = context.RequestContext(channel="api", client_address="127.0.0.1")
        with context.acting(ctx):
            while True:
                try:
                    patient = work.get_nowait()
                except queue_module.Empty:
                    break
                tried: set[int] = set()
                for attempt in range(len(slots) + 5):
                    with lock:
                        slot = board.pick(tried)
                    if slot is None:
                        break
                    key = f"direct-{run}-{patient}-{attempt}"
                    started = time.perf_counter()
                    try:
                        result = book_slot(
                            channel,
                            patient_id=patient,
                            slot_id=slot,
                            channel="mini_program",
                            idempotency_key=key,
                        )
                    except SlotFull:
                        outcome = "SCHED-001"
                    except AlreadyBooked:
                        outcome = "SCHED-003"
                    except Exception as error:
                        outcome = f"error:{type(error).__name__}"
                    else:
                        outcome = "201" if result.created else "200"
                    elapsed = time.perf_counter() - started
                    with lock:
                        latencies.append(elapsed)
                        statuses[outcome] += 1
                        if outcome in ("200", "201"):
                            acks[patient] = {"appointment": result.appointment.pk, "slot": slot, "key": key}
                        elif outcome == "SCHED-001":
                            board.full.add(slot)
                    if reconnect:
                        # As under ASGI: every request opens (and closes) its own connection.
                        close_connection()
                    if outcome != "SCHED-001":
                        break
                    tried.add(slot)
        close_connection()

    def close_connection() -> None:
        """Close this thread's connection, adding the CPU its PostgreSQL backend spent."""
        if connection.vendor == "postgresql" and connection.connection is not None:
            with contextlib.suppress(Exception):
                pid = connection.connection.info.backend_pid
                raw = Path(f"/proc/{pid}/stat").read_text()
                rest = raw[raw.rindex(")") + 2 :].split()
                with lock:
                    backend_cpu.append((int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK"))
        connections.close_all()

    barrier.wait(timeout=120)
    started_at = time.time()
    cpu_before = time.process_time()
    pool = [threading.Thread(target=thread_main) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put(
        {
            "started": started_at,
            "ended": time.time(),
            "latencies": latencies,
            "acks": acks,
            "statuses": dict(statuses),
            "cpu": time.process_time() - cpu_before,
            "backend_cpu": sum(backend_cpu) if backend_cpu else None,
        }
    )


def direct_run(args: argparse.Namespace, env: dict[str, str], world: dict[str, Any]) -> dict[str, Any]:
    from django.db import connections

    connections.close_all()
    patients = world["patients"]
    shares = [patients[i :: args.direct_procs] for i in range(args.direct_procs)]
    slots = world["sessions"]["direct"]["slots"]
    parts, busy = _run_processes(
        args,
        _direct_process,
        lambda i, share: (
            env,
            world["channel_user_id"],
            share,
            slots,
            args.direct_threads,
            args.seed + i,
            args.direct_reconnect,
        ),
        shares,
    )
    return _summarise_parts(parts, world["sessions"]["direct"]["id"], busy)


# --- The same transaction in plain SQL (PostgreSQL) --------------------------------------------

# The statements book_slot sends (see count_queries), written by hand: the booking's transaction,
# then the short transaction that links the pending audit events into the chain, then the
# pre-visit rules read after commit. Rows are inserted with every column of the probe booking's
# rows. psycopg's default server-side binding prepares each statement after 5 uses. The reminder
# tasks enqueued after commit are left out (with REDIS_URL they go to Redis, not to PostgreSQL).
SQL = {
    "precheck": "SELECT id, slot_id, patient_id FROM scheduling_appointment "
    "WHERE booked_by_id = %s AND idempotency_key = %s LIMIT 1",
    "patient": "SELECT * FROM patients_patient WHERE id IN (SELECT patient_id FROM patients_channelbinding "
    "WHERE channel_user_id = %s AND revoked_at IS NULL) AND id = %s ORDER BY id LIMIT 1",
    "slot": "SELECT * FROM scheduling_slot s JOIN scheduling_clinicsession c ON c.id = s.session_id "
    "JOIN organization_department d ON d.id = c.department_id "
    "LEFT JOIN scheduling_visitpreparation v ON v.department_id = d.id "
    "LEFT JOIN scheduling_examtype e ON e.id = c.exam_type_id "
    "LEFT JOIN organization_practitioner p ON p.id = c.practitioner_id "
    "LEFT JOIN accounts_user u ON u.id = p.user_id WHERE s.id = %s LIMIT 1",
    "policy": "SELECT * FROM scheduling_bookingpolicy WHERE department_id IS NULL OR department_id = %s LIMIT 2",
    "rules": "SELECT count(id) FILTER (WHERE date >= %(since)s AND status = 'no_show') AS no_shows, "
    "max(date) FILTER (WHERE date >= %(since)s AND status = 'no_show') AS last_no_show, "
    "count(id) FILTER (WHERE date = %(date)s AND status IN ('booked', 'checked_in', 'in_consultation')) "
    "AS same_day, count(id) FILTER (WHERE date = %(date)s AND department_id = %(department)s "
    "AND period = %(period)s AND status IN ('booked', 'checked_in', 'in_consultation')) AS same_session "
    "FROM scheduling_appointment WHERE patient_id = %(patient)s AND ((date >= %(since)s AND status = 'no_show') "
    "OR (date = %(date)s AND status IN ('booked', 'checked_in', 'in_consultation')))",
    "take": "UPDATE scheduling_slot SET booked = booked + 1 WHERE booked < capacity AND id = %s",
    "head": "SELECT id, last_sequence, last_hash FROM audit_audithead WHERE id = 1 LIMIT 21 FOR UPDATE",
    "pending": "SELECT * FROM audit_auditevent WHERE sequence IS NULL ORDER BY id LIMIT 500",
    "link": "UPDATE audit_auditevent SET sequence = %s, prev_hash = %s, hash = %s WHERE id = %s",
    "head_update": "UPDATE audit_audithead SET last_sequence = %s, last_hash = %s WHERE id = 1",
    "after_rules": "SELECT * FROM scheduling_previsitrule r JOIN scheduling_examtype e ON e.id = r.exam_type_id "
    "WHERE r.department_id = %s AND r.is_active",
}
CANONICAL_FIELDS = (
    "occurred_at",
    "actor_id",
    "actor_username",
    "actor_role",
    "patient_id",
    "action",
    "object_type",
    "object_id",
    "reason",
    "client_address",
    "channel",
    "request_id",
    "detail",
)


def _sql_process(
    url: str, plan: dict[str, Any], patients: list[int], threads: int, seed: int, barrier: Any, results: Any
) -> None:
    import datetime as dt
    import hashlib
    import queue as queue_module

    import psycopg
    from psycopg.rows import dict_row
    from psycopg.types.json import Jsonb

    def template(conn: Any, table: str, pk: int) -> dict[str, Any]:
        row = conn.execute(f"SELECT * FROM {table} WHERE id = %s", (pk,)).fetchone()  # noqa: S608
        return {k: (Jsonb(v) if isinstance(v, dict | list) else v) for k, v in row.items() if k != "id"}

    def insert(table: str, columns: list[str]) -> str:
        names = ", ".join(columns)
        marks = ", ".join(["%s"] * len(columns))
        return f"INSERT INTO {table} ({names}) VALUES ({marks}) RETURNING id"  # noqa: S608

    with psycopg.connect(url, row_factory=dict_row) as conn:
        rows = {
            "appointment": template(conn, "scheduling_appointment", plan["appointment_id"]),
            "care": template(conn, "accounts_carerelationship", plan["care_id"]),
            "event": template(conn, "audit_auditevent", plan["event_id"]),
        }
    inserts = {
        "appointment": insert("scheduling_appointment", list(rows["appointment"])),
        "care": insert("accounts_carerelationship", list(rows["care"])),
        "event": insert("audit_auditevent", list(rows["event"])),
    }
    session = plan["session"]
    user = plan["channel_user_id"]
    work: queue_module.Queue[int] = queue_module.Queue()
    for patient in patients:
        work.put(patient)
    board = SlotBoard(plan["slots"], 1, 0.0, False, random.Random(seed))
    lock = threading.Lock()
    latencies: list[float] = []
    acks: dict[int, dict[str, Any]] = {}
    statuses: Counter[str] = Counter()
    backend_cpu: list[float] = []
    run = uuid.uuid4().hex[:8]

    class Full(Exception):
        pass

    def canonical(event: dict[str, Any]) -> bytes:
        payload = {
            name.removesuffix("_id") if name == "actor_id" else name: event[name] for name in CANONICAL_FIELDS
        }
        payload["sequence"] = event["sequence"]
        payload["occurred_at"] = event["occurred_at"].isoformat()
        return json.dumps(
            payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
        ).encode()

    def chain(conn: Any) -> None:
        """audit.services.chain_pending: link every committed pending event in one transaction."""
        conn.execute("BEGIN")
        head = conn.execute(SQL["head"]).fetchone()
        pending = conn.execute(SQL["pending"]).fetchall()
        if not pending:
            conn.execute("ROLLBACK")
            return
        sequence, last = head["last_sequence"], head["last_hash"]
        links = []
        for event in pending:
            sequence += 1
            event["sequence"] = sequence
            digest = hashlib.sha256(last.encode() + canonical(event)).hexdigest()
            links.append((sequence, last, digest, event["id"]))
            last = digest
        with conn.cursor() as cursor:
            cursor.executemany(SQL["link"], links)
        conn.execute(SQL["head_update"], (sequence, last))
        conn.execute("COMMIT")

    def book(conn: Any, patient: int, slot: int, key: str) -> tuple[str, int | None]:
        now = dt.datetime.now(dt.UTC)
        found = conn.execute(SQL["precheck"], (user, key)).fetchone()
        if found:
            return "200", found["id"]
        try:
            with conn.transaction():
                if not conn.execute(SQL["patient"], (user, patient)).fetchone():
                    return "CORE-404", None
                conn.execute(SQL["slot"], (slot,)).fetchone()
                conn.execute(SQL["policy"], (session["department_id"],)).fetchall()
                rules = conn.execute(
                    SQL["rules"],
                    {
                        "since": session["date"] - dt.timedelta(days=90),
                        "date": session["date"],
                        "department": session["department_id"],
                        "period": session["period"],
                        "patient": patient,
                    },
                ).fetchone()
                if rules["same_session"]:
                    return "SCHED-003", None
                if conn.execute(SQL["take"], (slot,)).rowcount == 0:
                    raise Full
                row = dict(rows["appointment"])
                row.update(
                    created_at=now,
                    updated_at=now,
                    slot_id=slot,
                    session_id=session["id"],
                    date=session["date"],
                    period=session["period"],
                    patient_id=patient,
                    idempotency_key=key,
                )
                appointment = conn.execute(inserts["appointment"], list(row.values())).fetchone()["id"]
                source = f"scheduling.appointment:{appointment}"
                row = dict(rows["care"])
                row.update(created_at=now, updated_at=now, valid_from=now, patient_id=patient, source=source)
                conn.execute(inserts["care"], list(row.values())).fetchone()
                row = dict(rows["event"])
                row.update(
                    sequence=None,
                    occurred_at=now,
                    patient_id=patient,
                    object_id=str(appointment),
                    request_id=uuid.uuid4().hex,
                    detail=Jsonb({"channel": "mini_program", "slot": slot}),
                    prev_hash="",
                    hash="",
                )
                conn.execute(inserts["event"], list(row.values())).fetchone()
        except Full:
            return "SCHED-001", None
        except psycopg.errors.UniqueViolation:
            found = conn.execute(SQL["precheck"], (user, key)).fetchone()
            return ("200", found["id"]) if found else ("SCHED-003", None)
        # After commit, as book_slot does: link the audit event, read the pre-visit rules (the
        # reminder tasks go to Redis).
        chain(conn)
        conn.execute(SQL["after_rules"], (session["department_id"],)).fetchall()
        return "201", appointment

    def thread_main() -> None:
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            while True:
                try:
                    patient = work.get_nowait()
                except queue_module.Empty:
                    break
                tried: set[int] = set()
                for attempt in range(len(plan["slots"]) + 5):
                    with lock:
                        slot = board.pick(tried)
                    if slot is None:
                        break
                    key = f"sql-{run}-{patient}-{attempt}"
                    started = time.perf_counter()
                    try:
                        outcome, appointment = book(conn, patient, slot, key)
                    except psycopg.Error as error:
                        outcome, appointment = f"error:{type(error).__name__}", None
                    elapsed = time.perf_counter() - started
                    with lock:
                        latencies.append(elapsed)
                        statuses[outcome] += 1
                        if appointment is not None:
                            acks[patient] = {"appointment": appointment, "slot": slot, "key": key}
                        elif outcome == "SCHED-001":
                            board.full.add(slot)
                    if outcome != "SCHED-001":
                        break
                    tried.add(slot)
            with contextlib.suppress(Exception):
                pid = conn.info.backend_pid
                raw = Path(f"/proc/{pid}/stat").read_text()
                rest = raw[raw.rindex(")") + 2 :].split()
                with lock:
                    backend_cpu.append((int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK"))

    barrier.wait(timeout=120)
    started_at = time.time()
    cpu_before = time.process_time()
    pool = [threading.Thread(target=thread_main) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    results.put(
        {
            "started": started_at,
            "ended": time.time(),
            "latencies": latencies,
            "acks": acks,
            "statuses": dict(statuses),
            "cpu": time.process_time() - cpu_before,
            "backend_cpu": sum(backend_cpu) if backend_cpu else None,
        }
    )


def sql_plan(world: dict[str, Any]) -> dict[str, Any]:
    """Ids of the probe booking's rows (templates for the inserts) and the SQL session."""
    from smartcare.accounts.models import CareRelationship
    from smartcare.audit.models import AuditEvent
    from smartcare.scheduling.models import Appointment, ClinicSession

    appointment = Appointment.objects.get(booked_by_id=world["channel_user_id"], idempotency_key="probe")
    care = CareRelationship.objects.get(source=f"scheduling.appointment:{appointment.pk}")
    event = AuditEvent.objects.get(
        action="create", object_type="scheduling.Appointment", object_id=str(appointment.pk)
    )
    session = ClinicSession.objects.get(pk=world["sessions"]["sql"]["id"])
    return {
        "appointment_id": appointment.pk,
        "care_id": care.pk,
        "event_id": event.pk,
        "channel_user_id": world["channel_user_id"],
        "slots": world["sessions"]["sql"]["slots"],
        "session": {
            "id": session.pk,
            "department_id": session.department_id,
            "date": session.date,
            "period": session.period,
        },
    }


def _run_processes(
    args: argparse.Namespace, target: Any, make_args: Any, shares: list[list[int]]
) -> tuple[list[dict[str, Any]], float]:
    """Start one spawned process per share, released together; their results and machine busy %."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(shares))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=target, args=(*make_args(i, share), barrier, results))
        for i, share in enumerate(shares)
    ]
    busy_before, total_before = _machine_cpu()
    for p in processes:
        p.start()
    parts = [results.get(timeout=args.max_seconds + 180) for _ in processes]
    for p in processes:
        p.join(timeout=30)
    busy_after, total_after = _machine_cpu()
    return parts, round(100 * (busy_after - busy_before) / max(1e-9, total_after - total_before), 1)


def _summarise_parts(parts: list[dict[str, Any]], session_id: int, busy: float) -> dict[str, Any]:
    duration = max(p["ended"] for p in parts) - min(p["started"] for p in parts)
    latencies = [x for p in parts for x in p["latencies"]]
    acks: dict[int, dict[str, Any]] = {}
    statuses: Counter[str] = Counter()
    for p in parts:
        acks.update(p["acks"])
        statuses.update(p["statuses"])
    key_results = {a["key"]: [a["appointment"]] for a in acks.values()}
    checked = verify(session_id, acks, key_results)
    backend = [p["backend_cpu"] for p in parts]
    return {
        "duration": duration,
        "attempts": len(latencies),
        "rps": len(latencies) / duration if duration else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "statuses": dict(statuses),
        "cpu": sum(p["cpu"] for p in parts),
        "backend_cpu": sum(backend) if all(b is not None for b in backend) else None,
        "machine_busy_pct": busy,
        **checked,
    }


def sql_run(args: argparse.Namespace, world: dict[str, Any]) -> dict[str, Any]:
    from django.db import connections

    plan = sql_plan(world)
    connections.close_all()
    patients = world["patients"]
    shares = [patients[i :: args.direct_procs] for i in range(args.direct_procs)]
    parts, busy = _run_processes(
        args,
        _sql_process,
        lambda i, share: (args.database_url, plan, share, args.direct_threads, args.seed + 100 + i),
        shares,
    )
    return _summarise_parts(parts, plan["session"]["id"], busy)


# --- Main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="booking-storm-"))
    env = prepare_environment(args, var_dir)
    log(
        f"db={args.db} clients={args.clients} capacity={args.capacity} slots={args.slots} "
        f"workers={args.workers} concurrency={args.concurrency} "
        f"mode={'contended' if args.contended else 'random'} redis={args.redis_url or 'no'} "
        f"conn_max_age={args.conn_max_age or 'default'} var={var_dir}"
    )
    server: Server | None = None
    redis_claimed = False
    try:
        if args.redis_url:
            redis_claim(args.redis_url)
            redis_claimed = True
        if args.db == "postgres":
            recreate_pg_database(args.database_url)
        django_setup()
        from smartcare.audit.models import AuditHead

        world = create_world(args)
        queries = count_queries(world, args.show_queries)
        head = AuditHead.objects.filter(id=1).first()
        first_sequence = head.last_sequence if head else 0
        if args.setup_only:
            summary = {"db": args.db, "var_dir": str(var_dir), "token": world["token"], "queries": queries}
            summary["sessions"] = {name: value["id"] for name, value in world["sessions"].items()}
            print(json.dumps(summary, ensure_ascii=False))
            return 0

        from django.db import connections

        connections.close_all()
        server = Server(args, env, var_dir)
        server.wait_ready()
        log(f"server ready on {server.url}")

        background = wait_quiet(args.wait_quiet) if args.wait_quiet else machine_busy_pct()
        sampler = PgSampler(args.database_url) if args.db == "postgres" else None
        loadavg = os.getloadavg()
        redis_before = redis_connections_received(args.redis_url) if args.redis_url else 0
        server_cpu_before = server.cpu_seconds()
        busy_before, total_before = _machine_cpu()
        if sampler:
            sampler.start()
        log(
            f"storm: {args.clients} clients; before it: load average {loadavg[0]:.2f}, "
            f"machine {background:.0f}% busy"
        )
        result = asyncio.run(
            storm(args, server.url, world["token"], world["patients"], world["sessions"]["storm"]["slots"])
        )
        busy_after, total_after = _machine_cpu()
        server_cpu = server.cpu_seconds() - server_cpu_before
        pg = sampler.finish() if sampler else {}
        if args.redis_url:
            # Counts every client of that Redis server, not only the benchmark's.
            pg["redis_connections_opened"] = redis_connections_received(args.redis_url) - redis_before - 1
        if args.floor_requests:
            floor_cpu_before = server.cpu_seconds()
            base = asyncio.run(floor(args, server.url, args.floor_requests))
            floor_cpu = server.cpu_seconds() - floor_cpu_before
            log(
                f"floor: GET /healthz {base['rps']:.1f} req/s, p50 {base['p50_ms']} ms, errors {base['errors']}"
            )
        server.stop()
        log(f"storm done in {result['duration']:.2f}s: {result['statuses']}")
        server_errors = server.error_summary()
        for line in server_errors:
            log(f"  server: {line}")

        checked = verify(world["sessions"]["storm"]["id"], result["acks"], result["key_results"])
        audit = audit_summary(first_sequence)
        attempts = len(result["latencies"])
        throughput = attempts / result["duration"] if result["duration"] else 0.0
        summary: dict[str, Any] = {
            "db": args.db,
            "clients": args.clients,
            "attempts": attempts,
            "capacity": checked["capacity"],
            "confirmed": checked["confirmed"],
            "overbooked": checked["overbooked"],
            "lost": checked["lost"],
            "duplicates": checked["duplicates"],
            "throughput_rps": round(throughput, 1),
            "p50_ms": percentile(result["latencies"], 0.50),
            "p99_ms": percentile(result["latencies"], 0.99),
            "workers": args.workers,
            "concurrency": args.concurrency,
            "mode": "contended" if args.contended else "random",
            "redis": bool(args.redis_url),
            "conn_max_age": args.conn_max_age or "default",
            "pool_size": args.pool_size if args.pool_size is not None else "default",
            "web_threads": args.web_threads or "default",
            "duration_s": round(result["duration"], 2),
            "bookings_per_s": round(checked["confirmed"] / result["duration"], 1)
            if result["duration"]
            else 0.0,
            "max_ms": percentile(result["latencies"], 1.0),
            "statuses": result["statuses"],
            "outcomes": result["outcomes"],
            "idempotency_anomalies": result["anomalies"],
            "unacknowledged": checked["unacknowledged"],
            "unsold": max(0, checked["capacity"] - checked["confirmed"])
            if args.clients >= checked["capacity"]
            else 0,
            **audit,
            "queries_per_booking_http": queries["http_booking"],
            "queries_per_booking_service": queries["service_booking"],
            "queries_per_replay_http": queries["http_replay"],
            "queries_per_slot_full_http": queries["http_slot_full"],
            "cpu_server_ms_per_request": round(1000 * server_cpu / attempts, 2) if attempts else None,
            "cpu_client_ms_per_request": round(1000 * result["client_cpu"] / attempts, 2)
            if attempts
            else None,
            "machine_busy_pct": round(
                100 * (busy_after - busy_before) / max(1e-9, total_after - total_before), 1
            ),
            "background_busy_pct": background,
            "loadavg_before": round(loadavg[0], 2),
            **pg,
        }
        if args.floor_requests:
            summary.update(
                {
                    "floor_healthz_rps": round(base["rps"], 1),
                    "floor_healthz_p50_ms": base["p50_ms"],
                    "floor_healthz_p99_ms": base["p99_ms"],
                    "floor_healthz_errors": base["errors"],
                    "floor_cpu_server_ms_per_request": round(1000 * floor_cpu / max(1, base["requests"]), 2),
                    "floor_cpu_client_ms_per_request": round(
                        1000 * base["client_cpu"] / max(1, base["requests"]), 2
                    ),
                }
            )
        if server_errors:
            summary["server_errors"] = server_errors
        failed = summary["overbooked"] or summary["lost"] or summary["duplicates"]
        if not args.no_direct:
            log(f"direct: book_slot from {args.direct_procs} process(es) x {args.direct_threads} threads")
            direct = direct_run(args, env, world)
            log(f"direct done in {direct['duration']:.2f}s: {direct['statuses']}")
            n = max(1, direct["attempts"])
            summary.update(
                {
                    "db_direct_rps": round(direct["rps"], 1),
                    "db_direct_p50_ms": direct["p50_ms"],
                    "db_direct_p99_ms": direct["p99_ms"],
                    "db_direct_attempts": direct["attempts"],
                    "db_direct_confirmed": direct["confirmed"],
                    "db_direct_overbooked": direct["overbooked"],
                    "db_direct_lost": direct["lost"],
                    "db_direct_duplicates": direct["duplicates"],
                    "db_direct_procs_threads": f"{args.direct_procs}x{args.direct_threads}",
                    "db_direct_reconnect": args.direct_reconnect,
                    "db_direct_python_cpu_ms_per_attempt": round(1000 * direct["cpu"] / n, 2),
                    "db_direct_pg_backend_cpu_ms_per_attempt": (
                        round(1000 * direct["backend_cpu"] / n, 2)
                        if direct["backend_cpu"] is not None
                        else None
                    ),
                    "db_direct_machine_busy_pct": direct["machine_busy_pct"],
                    "app_to_db_ratio": round(throughput / direct["rps"], 3) if direct["rps"] else None,
                }
            )
            failed = failed or direct["overbooked"] or direct["lost"] or direct["duplicates"]
        if not args.no_direct and args.db == "postgres":
            log(
                f"SQL: the same transaction in plain SQL from {args.direct_procs} x {args.direct_threads} connections"
            )
            sql = sql_run(args, world)
            log(f"SQL done in {sql['duration']:.2f}s: {sql['statuses']}")
            n = max(1, sql["attempts"])
            summary.update(
                {
                    "db_sql_rps": round(sql["rps"], 1),
                    "db_sql_p50_ms": sql["p50_ms"],
                    "db_sql_p99_ms": sql["p99_ms"],
                    "db_sql_attempts": sql["attempts"],
                    "db_sql_confirmed": sql["confirmed"],
                    "db_sql_overbooked": sql["overbooked"],
                    "db_sql_lost": sql["lost"],
                    "db_sql_duplicates": sql["duplicates"],
                    "db_sql_python_cpu_ms_per_attempt": round(1000 * sql["cpu"] / n, 2),
                    "db_sql_pg_backend_cpu_ms_per_attempt": (
                        round(1000 * sql["backend_cpu"] / n, 2) if sql["backend_cpu"] is not None else None
                    ),
                    "db_sql_machine_busy_pct": sql["machine_busy_pct"],
                    "app_to_sql_ratio": round(throughput / sql["rps"], 3) if sql["rps"] else None,
                }
            )
            failed = failed or sql["overbooked"] or sql["lost"] or sql["duplicates"]
    except Exception as error:
        log(f"benchmark failed: {type(error).__name__}: {error}")
        if server is not None:
            log("server log:\n" + server.tail())
        print(json.dumps({"db": args.db, "error": f"{type(error).__name__}: {error}"}))
        return 2
    finally:
        if server is not None:
            server.stop()
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
            if args.db == "postgres":
                with contextlib.suppress(Exception):
                    recreate_pg_database(args.database_url, drop_only=True)
            if redis_claimed:
                with contextlib.suppress(Exception):
                    redis_release(args.redis_url)
        else:
            kept = [str(var_dir)] + ([args.database_url] if args.db == "postgres" else [])
            kept += [args.redis_url] if redis_claimed else []
            log(f"kept {', '.join(kept)}")
    print(json.dumps(summary, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
