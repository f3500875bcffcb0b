#!/usr/bin/env python
"""Home monitoring over MQTT: `smartcare mqtt-bridge` against the local Mosquitto under load.

    .venv/bin/python bench/monitoring.py [--devices 1000] [--rate 3000] [--seconds 30]
        [--dangerous 50] [--resend-share 0.01] [--db sqlite|postgres] [--publishers 2]

What a run does:

1. a fresh database (a temporary SMARTCARE_VAR_DIR with SQLite, or the PostgreSQL database of
   --database-url, dropped and created again), migrated; ``--devices`` patients enrolled in
   cardiology, each with one paired device (blood pressure monitors, glucometers, pulse
   oximeters and wearables) and its own credential;
2. starts ``smartcare mqtt-bridge`` on MQTT_URL (default mqtt://127.0.0.1:1883) with a topic
   prefix and client id of its own, and waits until it has subscribed;
3. ``--publishers`` processes publish readings at QoS 1 for ``--seconds`` at ``--rate`` messages
   per second in all, round-robin over the devices, with normal values (inside every alert
   bound) except ``--dangerous`` readings (blood pressure 186/114) on that many different blood
   pressure monitors, spread over the run: each must raise exactly one alert. A share of the
   messages (``--resend-share``) is published a second time with the same message id, as a
   device does when its acknowledgement is lost;
4. waits until every message has been acknowledged by the bridge (bounded), stops it, and counts
   in the database.

The last line of stdout is one JSON object:

| key | meaning |
| --- | --- |
| ``devices`` | devices publishing |
| ``published`` | distinct messages published (resends not counted) |
| ``stored`` | readings in the database |
| ``lost`` | published messages without a reading |
| ``duplicates`` | readings beyond one per (device, message id), resends included |
| ``alerts_expected``, ``alerts_raised`` | dangerous readings published; alerts whose reading is one of them |
| ``msgs_per_s`` | readings stored per second, from the first publish to the last reading stored |
| ``alert_p99_ms`` | 99th percentile of publish -> alert raised (the alert commits with its reading) |

plus the configuration and the bridge's counters. Exit status 1 when ``lost`` or ``duplicates`` is
not 0 or an expected alert is missing, 2 when the benchmark could not run. Progress goes to
stderr. Only 127.0.0.1 is used; every loop is bounded; the bridge is stopped and the temporary
directory removed at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/bench_monitoring"
KINDS = [("bp_monitor", 4), ("glucometer", 2), ("pulse_oximeter", 2), ("wearable", 2)]


def log(message: str) -> None:
    print(f"[monitoring {time.strftime('%H:%M:%S', time.gmtime())}Z] {message}", file=sys.stderr, flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=3000.0, help="messages per second, all publishers")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--dangerous", type=int, default=50)
    parser.add_argument("--resend-share", type=float, default=0.01)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--database-url", default=DEFAULT_PG_URL)
    parser.add_argument("--mqtt-url", default=os.environ.get("MQTT_URL") or "mqtt://127.0.0.1:1883")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--batch-wait-ms", type=int, default=50)
    parser.add_argument(
        "--drain-timeout", type=float, default=300.0, help="max seconds to wait for the bridge"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory and database")
    parser.add_argument(
        "--migrated-copy",
        default=None,
        help="SQLite only: a migrated database file to start from (made on the first run, reused after)",
    )
    args = parser.parse_args(argv)
    if args.dangerous > args.devices * KINDS[0][1] // sum(w for _k, w in KINDS):
        parser.error("--dangerous must not exceed the number of blood pressure monitors (40% of --devices)")
    return args


def prepare_environment(args: argparse.Namespace, var_dir: Path) -> dict[str, str]:
    env = os.environ
    env["DJANGO_SETTINGS_MODULE"] = "smartcare.settings"
    env["SMARTCARE_VAR_DIR"] = str(var_dir)
    env["SMARTCARE_DEBUG"] = "0"
    env["SMARTCARE_LOG_LEVEL"] = "WARNING"
    for name in ("REDIS_URL", "SMARTCARE_TASKS_IMMEDIATE"):
        env.pop(name, None)
    if args.db == "postgres":
        env["DATABASE_URL"] = args.database_url
    else:
        env.pop("DATABASE_URL", None)
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


# --- Setup --------------------------------------------------------------------------------------


def create_world(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Migrate; create a department, a doctor, the patients, enrolments and paired devices."""
    import django

    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import transaction

    from smartcare.accounts.choices import Role
    from smartcare.accounts.models import User
    from smartcare.core import clock, crypto
    from smartcare.monitoring.models import Device, Enrollment
    from smartcare.organization.choices import Sex, Title
    from smartcare.organization.models import (
        Campus,
        Department,
        Hospital,
        NationalDepartmentCode,
        Practitioner,
    )
    from smartcare.patients.models import Patient
    from smartcare.patients.resident_id import make_resident_id

    started = time.perf_counter()
    copy = Path(args.migrated_copy) if args.migrated_copy and args.db == "sqlite" else None
    database = Path(os.environ["SMARTCARE_VAR_DIR"]) / "smartcare.sqlite3"
    if copy is not None and copy.exists():
        shutil.copyfile(copy, database)
        call_command("migrate", interactive=False, verbosity=0)  # only what is newer than the copy
        log(f"started from {copy} in {time.perf_counter() - started:.1f}s")
    else:
        call_command("migrate", interactive=False, verbosity=0)
        log(f"migrated in {time.perf_counter() - started:.1f}s")
        if copy is not None:
            from django.db import connection

            connection.close()
            shutil.copyfile(database, copy)
    import datetime as dt

    with transaction.atomic():
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
        doctor = User.objects.create(username="bench-doctor", role=Role.DOCTOR, password=make_password(None))
        Practitioner.objects.create(
            user=doctor, department=department, title=Title.ATTENDING_PHYSICIAN, licence_number="BENCH-1"
        )
        patients = []
        for n in range(args.devices):
            national_id = make_resident_id(
                "310104", dt.date(1950, 1, 1) + dt.timedelta(days=n), n % 1000, Sex.FEMALE
            )
            patients.append(
                Patient(
                    medical_record_number=f"MB{n:08d}",
                    name=f"监测患者{n}",
                    sex=Sex.FEMALE,
                    birth_date=dt.date(1950, 1, 1) + dt.timedelta(days=n),
                    national_id=national_id,
                    national_id_hash=crypto.blind_index(national_id),
                    one_code=f"PBENCH{n:010d}",
                )
            )
        Patient.objects.bulk_create(patients, batch_size=1000)
        Enrollment.objects.bulk_create(
            [
                Enrollment(patient=p, department=department, responsible=doctor, created_by=doctor)
                for p in patients
            ],
            batch_size=1000,
        )
        kinds = [kind for kind, weight in KINDS for _ in range(weight)]
        identities, devices, credentials = [], [], []
        unusable = make_password(None)
        for n, patient in enumerate(patients):
            uid = f"b{n:011d}"
            identities.append(User(username=f"device-{uid}", role=Role.DEVICE, password=unusable))
            credential = Device.new_credential(uid)
            credentials.append(credential)
            devices.append(
                Device(
                    uid=uid,
                    kind=kinds[n % len(kinds)],
                    serial_number=f"BENCH-{n}",
                    patient=patient,
                    paired_at=clock.now(),
                    secret_hash=Device.hash_secret(credential),
                )
            )
        User.objects.bulk_create(identities, batch_size=1000)
        saved = {u.username: u for u in User.objects.filter(role=Role.DEVICE)}
        for device in devices:
            device.identity = saved[f"device-{device.uid}"]
        Device.objects.bulk_create(devices, batch_size=1000)
    log(f"{args.devices} patients with paired devices")
    return [
        {"uid": d.uid, "kind": d.kind, "credential": c} for d, c in zip(devices, credentials, strict=True)
    ]


# --- Publishing ---------------------------------------------------------------------------------


def _payload(device: dict[str, Any], ident: str, rng: Any, dangerous: bool) -> bytes:
    now = time.time()
    base = f'"id": "{ident}", "key": "{device["credential"]}", "ts": {now:.3f}'
    kind = device["kind"]
    if kind == "bp_monitor":
        if dangerous:
            return (
                "{" + base + ', "type": "blood_pressure", "systolic": 186, "diastolic": 114, "pulse": 88}'
            ).encode()
        return (
            "{" + base + f', "type": "blood_pressure", "systolic": {rng.randint(105, 150)}, '
            f'"diastolic": {rng.randint(65, 94)}, "pulse": {rng.randint(58, 96)}' + "}"
        ).encode()
    if kind == "glucometer":
        return (
            "{"
            + base
            + f', "type": "glucose", "value": {rng.uniform(4.2, 11.5):.1f}, "context": "fasting"'
            + "}"
        ).encode()
    if kind == "pulse_oximeter":
        return (
            "{"
            + base
            + f', "type": "spo2", "value": {rng.randint(95, 99)}, "pulse": {rng.randint(60, 95)}'
            + "}"
        ).encode()
    return ("{" + base + f', "type": "steps", "value": {rng.randint(0, 900)}' + "}").encode()


def publisher_main(
    index: int,
    devices: list[dict[str, Any]],
    dangerous: dict[int, int],
    args: dict[str, Any],
    start_at: float,
    results: Any,
) -> None:
    """Publish this process's share: ``dangerous`` maps a message number to the device index of a
    dangerous reading. Reports (published, resent, {ident: publish time})."""
    import random

    import paho.mqtt.client as mqtt

    from smartcare.monitoring.bridge import parse_broker_url

    rng = random.Random(index)
    broker = parse_broker_url(args["mqtt_url"])
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{args['run']}-{index}")
    client.max_inflight_messages_set(5000)
    client.max_queued_messages_set(0)
    client.connect(broker["host"], broker["port"])
    client.loop_start()
    rate = args["rate"] / args["publishers"]
    total = int(rate * args["seconds"])
    prefix = args["prefix"]
    times: dict[str, float] = {}
    infos = []
    resent = 0
    while time.time() < start_at:
        time.sleep(0.005)
    began = time.monotonic()
    for n in range(total):
        due = began + n / rate
        delay = due - time.monotonic()
        if delay > 0.002:
            time.sleep(delay)
        if n in dangerous:
            device = devices[dangerous[n]]
            is_dangerous = True
        else:
            device = devices[n % len(devices)]
            # Normal readings on the dangerous devices would be fine too; keep them simple.
            is_dangerous = False
        ident = f"{index}-{n}"
        body = _payload(device, ident, rng, is_dangerous)
        topic = f"{prefix}/{device['uid']}/readings"
        info = client.publish(topic, body, qos=1)
        if is_dangerous:
            times[ident] = time.time()
        infos.append(info)
        if rng.random() < args["resend_share"]:
            infos.append(client.publish(topic, body, qos=1))
            resent += 1
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()
    results.put(
        {
            "index": index,
            "published": total,
            "resent": resent,
            "dangerous": times,
            "elapsed": time.monotonic() - began,
        }
    )


# --- The bridge ---------------------------------------------------------------------------------


class BridgeProcess:
    def __init__(
        self, args: argparse.Namespace, env: dict[str, str], var_dir: Path, prefix: str, client_id: str
    ):
        self.stats_file = var_dir / "bridge-stats.json"
        command = [
            sys.executable, "-m", "smartcare.cli", "mqtt-bridge",
            "--url", args.mqtt_url, "--topic-prefix", prefix, "--client-id", client_id,
            "--batch-size", str(args.batch_size), "--batch-wait-ms", str(args.batch_wait_ms),
            "--session-expiry", "600", "--stats-file", str(self.stats_file), "--stats-every", "5",
            # As many unacknowledged messages in the bridge as MQTT allows: a backlog waits in the
            # bridge's memory rather than in the broker's queue (1000 messages by default, then dropped).
            "--receive-maximum", "65535",
        ]  # fmt: skip
        bridge_env = dict(env)
        bridge_env["SMARTCARE_LOG_LEVEL"] = "INFO"
        self.lines: list[str] = []
        self.connected = threading.Event()
        self.process = subprocess.Popen(
            command,
            env=bridge_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if "connected to" in line:
                self.connected.set()

    def stats(self) -> dict[str, int]:
        try:
            return json.loads(self.stats_file.read_text())
        except (OSError, ValueError):
            return {}

    def stop(self) -> dict[str, int]:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        return self.stats()

    def cpu_seconds(self) -> float:
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return 0.0


# --- Counting -----------------------------------------------------------------------------------


def count(dangerous_times: dict[str, float], published: int, start_wall: float) -> dict[str, Any]:
    from django.db.models import Max

    from smartcare.monitoring.models import Alert, Reading

    stored = Reading.objects.count()
    distinct = Reading.objects.values("device_id", "message_id").distinct().count()
    last = Reading.objects.aggregate(last=Max("received_at"))["last"]
    alerts = list(
        Alert.objects.select_related("reading").filter(reading__message_id__in=list(dangerous_times))
    )
    latencies = [
        (a.raised_at.timestamp() - dangerous_times[a.reading.message_id]) * 1000 for a in alerts if a.reading
    ]
    elapsed = (last.timestamp() - start_wall) if last else 0.0
    return {
        "stored": stored,
        "lost": published - distinct,
        "duplicates": stored - distinct,
        "alerts_raised": len(alerts),
        "alerts_total": Alert.objects.count(),
        "msgs_per_s": round(stored / elapsed, 1) if elapsed > 0 else 0.0,
        "alert_p50_ms": round(percentile(latencies, 50), 1),
        "alert_p99_ms": round(percentile(latencies, 99), 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    var_dir = Path(tempfile.mkdtemp(prefix="bench-monitoring-"))
    env = prepare_environment(args, var_dir)
    if args.db == "postgres":
        recreate_pg_database(args.database_url)
    bridge: BridgeProcess | None = None
    try:
        devices = create_world(args)
        run_id = uuid.uuid4().hex[:8]
        prefix = f"bench/{run_id}"
        bridge = BridgeProcess(args, env, var_dir, prefix, f"bench-bridge-{run_id}")
        if not bridge.connected.wait(300):
            raise RuntimeError("the bridge did not connect:\n" + "".join(bridge.lines[-20:]))
        log(f"bridge subscribed to {prefix}/+/readings")
        # Dangerous readings: spread over the run, each on its own blood pressure monitor.
        monitors = [i for i, d in enumerate(devices) if d["kind"] == "bp_monitor"]
        per_publisher = int(args.rate / args.publishers * args.seconds)
        share = [dict[int, int]() for _ in range(args.publishers)]
        for k in range(args.dangerous):
            publisher = k % args.publishers
            position = int(
                (k // args.publishers + 0.5) * per_publisher / math.ceil(args.dangerous / args.publishers)
            )
            share[publisher][min(position, per_publisher - 1)] = monitors[k]
        settings = {
            "mqtt_url": args.mqtt_url,
            "rate": args.rate,
            "publishers": args.publishers,
            "seconds": args.seconds,
            "prefix": prefix,
            "run": run_id,
            "resend_share": args.resend_share,
        }
        import django.db

        django.db.connections.close_all()  # the publishers are forked: no shared connection
        results: Any = multiprocessing.Queue()
        load_before = os.getloadavg()[0]
        start_at = time.time() + 1.0
        cpu_before = bridge.cpu_seconds()
        workers = [
            multiprocessing.Process(
                target=publisher_main, args=(i, devices, share[i], settings, start_at, results)
            )
            for i in range(args.publishers)
        ]
        for worker in workers:
            worker.start()
        reports = [results.get(timeout=args.seconds * 4 + 120) for _ in workers]
        for worker in workers:
            worker.join(30)
        published = sum(r["published"] for r in reports)
        resent = sum(r["resent"] for r in reports)
        dangerous_times: dict[str, float] = {}
        for report in reports:
            dangerous_times.update(report["dangerous"])
        log(f"published {published} (+{resent} resent) in {max(r['elapsed'] for r in reports):.1f}s")
        deadline = time.monotonic() + args.drain_timeout
        while time.monotonic() < deadline:
            stats = bridge.stats()
            if stats.get("acknowledged", 0) >= published + resent:
                break
            time.sleep(0.5)
        cpu = bridge.cpu_seconds() - cpu_before
        stats = bridge.stop()
        bridge = None
        import django.db

        django.db.connections.close_all()
        counted = count(dangerous_times, published, start_at)
        return {
            "devices": args.devices,
            "published": published,
            "stored": counted["stored"],
            "lost": counted["lost"],
            "duplicates": counted["duplicates"],
            "alerts_expected": len(dangerous_times),
            "alerts_raised": counted["alerts_raised"],
            "msgs_per_s": counted["msgs_per_s"],
            "alert_p99_ms": counted["alert_p99_ms"],
            "alert_p50_ms": counted["alert_p50_ms"],
            "alerts_total": counted["alerts_total"],
            "rate": args.rate,
            "seconds": args.seconds,
            "resent": resent,
            "db": args.db,
            "bridge_batches": stats.get("batches", 0),
            "bridge_rejected": stats.get("rejected", 0),
            "bridge_duplicates_skipped": stats.get("duplicates", 0),
            "bridge_cpu_s": round(cpu, 1),
            "bridge_cpu_us_per_msg": round(cpu * 1e6 / max(1, stats.get("received", 0)), 1),
            "publish_s": round(max(r["elapsed"] for r in reports), 1),
            "loadavg_before": round(load_before, 1),
            "loadavg_after": round(os.getloadavg()[0], 1),
        }
    finally:
        if bridge is not None:
            bridge.stop()
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
            if args.db == "postgres":
                import django.db

                django.db.connections.close_all()
                recreate_pg_database(args.database_url, drop_only=True)
        else:
            log(f"kept {var_dir}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    try:
        result = run(args)
    except Exception as exc:  # the benchmark itself could not run
        log(f"could not run: {type(exc).__name__}: {exc}")
        return 2
    print(json.dumps(result))
    ok = (
        result["lost"] == 0
        and result["duplicates"] == 0
        and result["alerts_raised"] == result["alerts_expected"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
