#!/usr/bin/env python
"""Booking storm: many clients book the same released session through the HTTP API at once.

    .venv/bin/python bench/booking_storm.py --db sqlite|postgres [--clients 2000] [--capacity 1500]
        [--workers W] [--concurrency 64] [--contended] [--retry-share 0.1] [--direct-threads T]

What it does, each run in a fresh database (a temporary SMARTCARE_VAR_DIR, and for PostgreSQL the
database of --database-url, dropped and created again):

1. migrates and creates a minimal hospital: one department, one doctor, a schedule template and
   three dated sessions built with ``scheduling.services.build_session`` (the storm session, a
   session for the direct measurement and a small probe session), ``--capacity`` places spread
   over ``--slots`` slots, ``--clients`` patients, and a channel identity
   (``channel-miniprogram-bench``, role channel) with an API token and a ``ChannelBinding`` to
   every patient. Audit stays on; only the login lockout (axes) is switched off.
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
   would. ``--contended`` makes most clients aim at the same ``--hot-slots`` slots.
5. checks the database: confirmed, overbooked, lost and duplicated bookings (see ``verify``).
6. runs the same booking transaction without HTTP: ``book_slot`` called in-process from
   ``--direct-procs`` processes x ``--direct-threads`` threads against the direct session (same
   capacity, same patients, same retry-on-full logic), and verifies it the same way.

Progress goes to stderr; the last line of stdout is one JSON object with the results. The exit
status is 1 when ``overbooked``, ``lost`` or ``duplicates`` is not 0 (in the storm or in the
direct run), 2 when the benchmark itself could not run. Traffic goes to 127.0.0.1 only; every
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
    parser.add_argument("--workers", type=int, help="uvicorn workers (default 4 postgres, 1 sqlite)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--contended", action="store_true", help="most clients aim at the same slots")
    parser.add_argument("--hot-slots", type=int, default=2, help="slots the contended clients aim at")
    parser.add_argument("--hot-share", type=float, default=0.9, help="share of contended clients")
    parser.add_argument(
        "--retry-share", type=float, default=0.1, help="clients that resend with the same key"
    )
    parser.add_argument(
        "--direct-procs", type=int, help="processes of the direct run (default 2 pg, 1 sqlite)"
    )
    parser.add_argument("--direct-threads", type=int, default=8, help="threads per direct process")
    parser.add_argument("--no-direct", action="store_true", help="skip the direct measurement")
    parser.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    parser.add_argument(
        "--max-seconds", type=float, default=300, help="the storm stops starting clients then"
    )
    parser.add_argument("--request-timeout", type=float, default=30)
    parser.add_argument("--conn-max-age", help="SMARTCARE_DB_CONN_MAX_AGE for the server (default: unset)")
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
    args = parser.parse_args(argv)
    if args.workers is None:
        args.workers = 4 if args.db == "postgres" else 1
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
        for offset, name in ((1, "storm"), (2, "direct"), (3, "probe")):
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

    def wait_ready(self, seconds: float = 90) -> None:
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
    """Counts the server's PostgreSQL connections during the storm (max seen, sessions opened)."""

    def __init__(self, url: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.stop_event = threading.Event()
        self.max_connections = 0
        self.sessions_before = self._sessions()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sessions(self) -> int:
        row = self.conn.execute(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0

    def _run(self) -> None:
        for _ in range(10_000):  # bounded: 0.2 s apart, at most ~33 minutes
            if self.stop_event.wait(0.2):
                return
            row = self.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            self.max_connections = max(self.max_connections, int(row[0]))

    def start(self) -> None:
        self.thread.start()

    def finish(self) -> dict[str, int]:
        self.stop_event.set()
        self.thread.join(timeout=5)
        time.sleep(0.2)  # pg_stat_database is updated when a backend reports
        opened = self._sessions() - self.sessions_before
        self.conn.close()
        return {"pg_max_connections": self.max_connections, "pg_sessions_opened": opened}


# --- The storm ----------------------------------------------------------------------------------


class SlotBoard:
    """What the clients have learned: slots answered "full" are not tried again."""

    def __init__(self, slots: list[int], hot: int, hot_share: float, contended: bool, rng: random.Random):
        self.slots = list(slots)
        self.hot = self.slots[: max(1, hot)]
        self.hot_share = hot_share
        self.contended = contended
        self.full: set[int] = set()
        self.rng = rng

    def pick(self, tried: set[int]) -> int | None:
        open_slots = [s for s in self.slots if s not in self.full and s not in tried]
        if not open_slots:
            return None
        if self.contended and self.rng.random() < self.hot_share:
            hot = [s for s in self.hot if s in open_slots]
            if hot:
                return self.rng.choice(hot)
        return self.rng.choice(open_slots)


async def storm(
    args: argparse.Namespace, url: str, token: str, patients: list[int], slots: list[int]
) -> dict[str, Any]:
    import httpx

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
    limits = httpx.Limits(
        max_connections=args.concurrency * 2, max_keepalive_connections=args.concurrency * 2
    )
    timeout = httpx.Timeout(args.request_timeout, pool=args.request_timeout * 2)
    headers = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + args.max_seconds
    retriers = set(rng.sample(range(len(patients)), int(len(patients) * args.retry_share)))

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout, headers=headers) as http:

        async def send(patient: int, slot: int, key: str) -> tuple[int, dict[str, Any]]:
            started = time.perf_counter()
            try:
                response = await http.post(
                    "/api/booking/appointments",
                    json={"patient_id": patient, "slot_id": slot},
                    headers={"Idempotency-Key": key},
                )
            except httpx.HTTPError as error:
                latencies.append(time.perf_counter() - started)
                statuses[f"error:{type(error).__name__}"] += 1
                return 0, {}
            latencies.append(time.perf_counter() - started)
            try:
                body = response.json()
            except ValueError:
                body = {}
            code = body.get("code", "") if response.status_code >= 400 else ""
            statuses[f"{response.status_code}{' ' + code if code else ''}"] += 1
            if response.status_code in (200, 201):
                key_results.setdefault(key, set()).add(int(body["id"]))
                if response.status_code == 201:
                    key_created[key] += 1
            return response.status_code, body

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
                    if outcome != "SCHED-001":
                        break
                    tried.add(slot)
        if connection.vendor == "postgresql":
            # CPU the PostgreSQL backend of this thread's connection spent (the booking work).
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
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
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(args.direct_procs)
    results = ctx.Queue()
    patients = world["patients"]
    slots = world["sessions"]["direct"]["slots"]
    shares = [patients[i :: args.direct_procs] for i in range(args.direct_procs)]
    processes = [
        ctx.Process(
            target=_direct_process,
            args=(
                env,
                world["channel_user_id"],
                share,
                slots,
                args.direct_threads,
                args.seed + i,
                barrier,
                results,
            ),
        )
        for i, share in enumerate(shares)
    ]
    busy_before, total_before = _machine_cpu()
    for p in processes:
        p.start()
    parts = []
    for _ in processes:
        parts.append(results.get(timeout=args.max_seconds + 180))
    for p in processes:
        p.join(timeout=30)
    busy_after, total_after = _machine_cpu()
    duration = max(p["ended"] for p in parts) - min(p["started"] for p in parts)
    latencies = [x for p in parts for x in p["latencies"]]
    acks: dict[int, dict[str, Any]] = {}
    statuses: Counter[str] = Counter()
    for p in parts:
        acks.update(p["acks"])
        statuses.update(p["statuses"])
    key_results = {a["key"]: [a["appointment"]] for a in acks.values()}
    checked = verify(world["sessions"]["direct"]["id"], acks, key_results)
    return {
        "duration": duration,
        "attempts": len(latencies),
        "rps": len(latencies) / duration if duration else 0.0,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "statuses": dict(statuses),
        "cpu": sum(p["cpu"] for p in parts),
        "backend_cpu": sum(p["backend_cpu"] for p in parts)
        if all(p["backend_cpu"] is not None for p in parts)
        else None,
        "machine_busy_pct": round(
            100 * (busy_after - busy_before) / max(1e-9, total_after - total_before), 1
        ),
        **checked,
    }


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

        from django.db import connections

        connections.close_all()
        server = Server(args, env, var_dir)
        server.wait_ready()
        log(f"server ready on {server.url}")

        background = wait_quiet(args.wait_quiet) if args.wait_quiet else machine_busy_pct()
        sampler = PgSampler(args.database_url) if args.db == "postgres" else None
        loadavg = os.getloadavg()
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
