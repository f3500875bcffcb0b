"""The hash chain of the audit trail: appending, verifying, and detecting every kind of tampering.

Tampering is done with raw SQL, as someone with database access would, bypassing the ORM.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
import subprocess
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from smartcare.audit.choices import AuditAction
from smartcare.audit.models import GENESIS_HASH, AuditEvent, AuditHead
from smartcare.audit.services import record, verify_chain
from smartcare.core import clock, context
from tests.factories import UserFactory, child_env, smartcare_executable

EVENTS = 6
EVENT_TABLE = AuditEvent._meta.db_table
HEAD_TABLE = AuditHead._meta.db_table


def execute(sql: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def forged_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """What someone who knows the algorithm would compute for a forged row."""
    event = AuditEvent(prev_hash=prev_hash, **fields)
    return event.compute_hash()


@pytest.fixture()
def chain(db: Any) -> list[AuditEvent]:
    user = UserFactory(username="clerk", role="front_desk")
    events = []
    for n in range(EVENTS):
        events.append(
            record(
                user,
                AuditAction.READ if n % 2 else AuditAction.UPDATE,
                patient=100 + n,
                obj=("patients.Patient", 100 + n),
                reason=f"step {n}",
                detail={"n": n},
            )
        )
    return events


def verify_command() -> tuple[str, CommandError | None]:
    out = io.StringIO()
    try:
        call_command("audit", "verify", stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc
    return out.getvalue(), None


def assert_broken_at(sequence: int, words: str) -> None:
    result = verify_chain()
    assert result.ok is False
    assert result.first_bad_sequence == sequence, result.problem
    assert words in result.problem
    _out, error = verify_command()
    assert error is not None, "the command must exit non-zero"
    assert str(error).startswith("AUD-001")
    assert f"at event {sequence}:" in str(error)


# --- appending ------------------------------------------------------------------------------


def test_record_appends_linked_events_with_contiguous_sequences(chain: list[AuditEvent]) -> None:
    rows = list(AuditEvent.objects.order_by("sequence"))
    assert [e.sequence for e in rows] == list(range(1, EVENTS + 1))
    assert rows[0].prev_hash == GENESIS_HASH
    for earlier, later in itertools.pairwise(rows):
        assert later.prev_hash == earlier.hash
    for event in rows:
        assert event.hash == event.compute_hash()
        assert len(event.hash) == 64
    head = AuditHead.objects.get(id=1)
    assert (head.last_sequence, head.last_hash) == (EVENTS, rows[-1].hash)


def test_record_copies_who_what_and_from_where(db: Any) -> None:
    user = UserFactory(username="dr-wang", role="doctor")
    with context.acting(context.RequestContext(client_address="10.1.2.3", channel="api", request_id="r-1")):
        event = record(user, AuditAction.EXPORT, patient=42, obj=("emr.Note", "7"), reason="referral")
    event.refresh_from_db()
    assert (event.actor_id, event.actor_username, event.actor_role) == (user.pk, "dr-wang", "doctor")
    assert (event.patient_id, event.object_type, event.object_id) == (42, "emr.Note", "7")
    assert (event.client_address, event.channel, event.request_id) == ("10.1.2.3", "api", "r-1")
    assert event.reason == "referral"


def test_deleting_a_user_leaves_their_events_and_the_chain_intact(db: Any) -> None:
    """The actor is part of the hashed content: deleting the user must not rewrite the event."""
    user = UserFactory(username="temp-staff", role="nurse")
    event = record(user, AuditAction.READ, patient=1)
    record(None, AuditAction.SYSTEM, actor_username="later")
    user_id = user.pk
    user.delete()
    event.refresh_from_db()
    assert (event.actor_id, event.actor_username, event.actor_role) == (user_id, "temp-staff", "nurse")
    result = verify_chain()
    assert result.ok, result.problem


def test_anonymous_actor_keeps_the_given_name(db: Any) -> None:
    event = record(None, AuditAction.LOGIN_FAILED, actor_username="guessing-user")
    assert event.actor is None
    assert event.actor_username == "guessing-user"
    assert event.actor_role == ""
    assert verify_chain().ok


def test_an_event_rolls_back_with_the_audited_write(db: Any) -> None:
    from django.db import transaction

    record(None, AuditAction.SYSTEM, actor_username="before")

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        record(None, AuditAction.SYSTEM, actor_username="rolled back")
        raise Boom
    record(None, AuditAction.SYSTEM, actor_username="after")
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", "actor_username")) == [
        (1, "before"),
        (2, "after"),
    ]
    assert verify_chain().ok


# --- verifying an intact chain ------------------------------------------------------------------


def test_empty_chain_verifies(db: Any) -> None:
    result = verify_chain()
    assert (result.ok, result.checked, result.first_bad_sequence) == (True, 0, None)


def test_verify_command_reports_intact_chain(chain: list[AuditEvent]) -> None:
    out, error = verify_command()
    assert error is None
    assert f"audit chain intact: {EVENTS} events" in out


def test_verify_command_json_output(chain: list[AuditEvent]) -> None:
    out = io.StringIO()
    call_command("audit", "verify", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {
        "ok": True,
        "checked": EVENTS,
        "first_bad_sequence": None,
        "problem": "",
    }


def test_verify_walks_the_chain_in_batches(chain: list[AuditEvent]) -> None:
    assert verify_chain(batch_size=2).ok
    execute(f"UPDATE {EVENT_TABLE} SET reason = %s WHERE sequence = 5", ["edited"])  # noqa: S608
    result = verify_chain(batch_size=2)
    assert (result.ok, result.first_bad_sequence, result.checked) == (False, 5, 4)


def test_verify_command_needs_an_operation(db: Any) -> None:
    with pytest.raises(CommandError):
        call_command("audit")


# --- tampering ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("reason", "nothing to see"),
        ("actor_username", "someone-else"),
        ("patient_id", 999),
        ("action", "read"),
        ("object_id", "1"),
        ("client_address", "192.0.2.1"),
        ("detail", '{"n": 99}'),
    ],
)
def test_changed_field_is_reported_at_that_event(chain: list[AuditEvent], column: str, value: Any) -> None:
    execute(f"UPDATE {EVENT_TABLE} SET {column} = %s WHERE sequence = 3", [value])  # noqa: S608
    assert_broken_at(3, "changed after it was written")


def test_changed_time_is_reported(chain: list[AuditEvent]) -> None:
    moved = connection.ops.adapt_datetimefield_value(chain[3].occurred_at - dt.timedelta(days=3))
    execute(f"UPDATE {EVENT_TABLE} SET occurred_at = %s WHERE sequence = 4", [moved])  # noqa: S608
    assert_broken_at(4, "changed after it was written")


def test_changed_hash_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"UPDATE {EVENT_TABLE} SET hash = %s WHERE sequence = 2", ["a" * 64])  # noqa: S608
    assert_broken_at(2, "changed after it was written")


def test_changed_event_with_recomputed_hash_breaks_the_next_link(chain: list[AuditEvent]) -> None:
    """Rewriting a row and its own hash is caught by the following row's link."""
    target = chain[2]
    fields = {f: getattr(target, f) for f in ("sequence", "occurred_at", "actor_id", "actor_username")}
    fields.update(
        actor_role=target.actor_role,
        patient_id=target.patient_id,
        action=target.action,
        object_type=target.object_type,
        object_id=target.object_id,
        reason="rewritten",
        client_address=target.client_address,
        channel=target.channel,
        request_id=target.request_id,
        detail=target.detail,
    )
    new_hash = forged_hash(target.prev_hash, fields)
    execute(
        f"UPDATE {EVENT_TABLE} SET reason = %s, hash = %s WHERE sequence = 3",  # noqa: S608
        ["rewritten", new_hash],
    )
    assert_broken_at(4, "does not link to event 3")


def test_deleted_middle_event_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = 3")  # noqa: S608
    assert_broken_at(3, "event 3 is missing")


def test_deleted_first_event_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = 1")  # noqa: S608
    assert_broken_at(1, "event 1 is missing")


def test_deleted_and_renumbered_events_break_the_link(chain: list[AuditEvent]) -> None:
    """Closing the gap after a deletion does not help: event 4 does not link to event 2."""
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = 3")  # noqa: S608
    for sequence in range(4, EVENTS + 1):
        execute(f"UPDATE {EVENT_TABLE} SET sequence = %s WHERE sequence = %s", [sequence - 1, sequence])  # noqa: S608
    execute(f"UPDATE {HEAD_TABLE} SET last_sequence = %s", [EVENTS - 1])  # noqa: S608
    assert_broken_at(3, "does not link to event 2")


def _forged_row(sequence: int, prev_hash: str, *, hash_value: str | None = None) -> None:
    moment = clock.now()
    fields = {
        "sequence": sequence,
        "occurred_at": moment,
        "actor_id": None,
        "actor_username": "forger",
        "actor_role": "auditor",
        "patient_id": 101,
        "action": "read",
        "object_type": "patients.Patient",
        "object_id": "101",
        "reason": "",
        "client_address": "",
        "channel": "web",
        "request_id": "forged",
        "detail": {},
    }
    digest = hash_value or forged_hash(prev_hash, fields)
    execute(
        f"INSERT INTO {EVENT_TABLE} (sequence, occurred_at, actor_id, actor_username, actor_role, "  # noqa: S608
        "patient_id, action, object_type, object_id, reason, client_address, channel, request_id, "
        "detail, prev_hash, hash) VALUES (%s, %s, NULL, %s, %s, %s, %s, %s, %s, '', '', %s, %s, %s, %s, %s)",
        [
            sequence,
            connection.ops.adapt_datetimefield_value(moment),
            "forger",
            "auditor",
            101,
            "read",
            "patients.Patient",
            "101",
            "web",
            "forged",
            "{}",
            prev_hash,
            digest,
        ],
    )


def test_forged_event_appended_after_the_head_is_reported(chain: list[AuditEvent]) -> None:
    """A correctly hashed and linked row after the last one is still caught: the head ends earlier."""
    _forged_row(EVENTS + 1, chain[-1].hash)
    assert_broken_at(EVENTS + 1, "not covered by the chain head")


def test_forged_event_in_place_of_a_deleted_one_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = 3")  # noqa: S608
    _forged_row(3, hashlib.sha256(b"a guess").hexdigest())
    assert_broken_at(3, "does not link to event 2")


def test_forged_event_with_a_made_up_hash_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = 3")  # noqa: S608
    _forged_row(3, chain[1].hash, hash_value=chain[2].hash)
    assert_broken_at(3, "changed after it was written")


def test_deleted_tail_is_detected_by_the_head(chain: list[AuditEvent]) -> None:
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence > %s", [EVENTS - 2])  # noqa: S608
    # The remaining rows are a perfectly valid chain on their own ...
    assert AuditEvent.objects.count() == EVENTS - 2
    # ... but the head remembers where the chain ended.
    assert_broken_at(EVENTS - 1, f"events {EVENTS - 1} to {EVENTS} are missing")


def test_deleted_last_event_is_detected(chain: list[AuditEvent]) -> None:
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = %s", [EVENTS])  # noqa: S608
    assert_broken_at(EVENTS, "missing")


def test_last_event_rewritten_with_recomputed_hash_is_detected_by_the_head(
    chain: list[AuditEvent],
) -> None:
    """No later row links to the last one; only the head can tell that it was replaced."""
    last = chain[-1]
    fields = {
        "sequence": last.sequence,
        "occurred_at": last.occurred_at,
        "actor_id": last.actor_id,
        "actor_username": last.actor_username,
        "actor_role": last.actor_role,
        "patient_id": last.patient_id,
        "action": last.action,
        "object_type": last.object_type,
        "object_id": last.object_id,
        "reason": "innocent",
        "client_address": last.client_address,
        "channel": last.channel,
        "request_id": last.request_id,
        "detail": last.detail,
    }
    execute(
        f"UPDATE {EVENT_TABLE} SET reason = %s, hash = %s WHERE sequence = %s",  # noqa: S608
        ["innocent", forged_hash(last.prev_hash, fields), EVENTS],
    )
    assert_broken_at(EVENTS, "head")


def test_changed_head_hash_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"UPDATE {HEAD_TABLE} SET last_hash = %s", ["f" * 64])  # noqa: S608
    assert_broken_at(EVENTS, "head")


def test_head_moved_back_is_reported(chain: list[AuditEvent]) -> None:
    execute(
        f"UPDATE {HEAD_TABLE} SET last_sequence = %s, last_hash = %s",  # noqa: S608
        [EVENTS - 1, chain[-2].hash],
    )
    assert_broken_at(EVENTS, "head")


def test_head_moved_forward_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"UPDATE {HEAD_TABLE} SET last_sequence = %s", [EVENTS + 2])  # noqa: S608
    assert_broken_at(EVENTS + 1, f"events {EVENTS + 1} to {EVENTS + 2} are missing")


def test_deleted_head_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"DELETE FROM {HEAD_TABLE}")  # noqa: S608
    assert_broken_at(1, "head is missing")


def test_first_of_several_problems_is_reported(chain: list[AuditEvent]) -> None:
    execute(f"UPDATE {EVENT_TABLE} SET reason = 'x' WHERE sequence IN (2, 5)")  # noqa: S608
    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = 4")  # noqa: S608
    assert_broken_at(2, "changed")


# --- the command line -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_cli_verify_exit_status() -> None:
    """`smartcare audit verify` in its own process: 0 when intact, non-zero with AUD-001 when not."""
    for n in range(3):
        record(None, AuditAction.SYSTEM, actor_username=f"cli-{n}")
    command = [smartcare_executable(), "audit", "verify"]
    intact = subprocess.run(
        command, env=child_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert intact.returncode == 0, intact.stderr
    assert "audit chain intact: 3 events" in intact.stdout

    execute(f"DELETE FROM {EVENT_TABLE} WHERE sequence = 2")  # noqa: S608
    broken = subprocess.run(
        command, env=child_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert broken.returncode != 0
    assert "AUD-001" in broken.stderr
    assert "event 2" in broken.stderr

    as_json = subprocess.run(
        [*command, "--json"], env=child_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert as_json.returncode != 0
    assert json.loads(as_json.stdout.strip().splitlines()[-1])["first_bad_sequence"] == 2


# --- linking after the commit (chain_after_commit) ------------------------------------------------


def test_an_event_chained_after_commit_is_pending_until_the_commit_then_linked(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction

    record(None, AuditAction.SYSTEM, actor_username="before")
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        event = record(None, AuditAction.CREATE, actor_username="booking", chain_after_commit=True)
        assert (event.sequence, event.prev_hash, event.hash) == (None, "", "")
        assert AuditEvent.objects.filter(sequence__isnull=True).count() == 1
    linked = AuditEvent.objects.get(pk=event.pk)
    assert linked.sequence == 2
    assert linked.hash == linked.compute_hash()
    assert linked.prev_hash == AuditEvent.objects.get(sequence=1).hash
    assert AuditHead.objects.get().last_sequence == 2
    result = verify_chain()
    assert (result.ok, result.checked, result.pending) == (True, 2, 0)


def test_events_chained_after_commit_roll_back_with_the_audited_write(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction

    class Boom(Exception):
        pass

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(Boom),
        transaction.atomic(),
    ):
        record(None, AuditAction.CREATE, actor_username="rolled back", chain_after_commit=True)
        raise Boom
    assert callbacks == []
    assert not AuditEvent.objects.exists()


def test_several_events_of_one_transaction_are_linked_in_order(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        for n in range(3):
            record(None, AuditAction.CREATE, actor_username=f"b{n}", chain_after_commit=True)
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", "actor_username")) == [
        (1, "b0"),
        (2, "b1"),
        (3, "b2"),
    ]
    assert verify_chain().ok


def test_a_pending_event_left_behind_is_linked_by_the_next_append(db: Any) -> None:
    """The process stopped between the commit and the link: nothing is lost, the event is linked
    (before the new one) by the next append of either kind."""
    from django.db import transaction

    record(None, AuditAction.SYSTEM, actor_username="first")
    with transaction.atomic():  # on_commit callbacks do not run inside the test's transaction
        left = record(None, AuditAction.CREATE, actor_username="left behind", chain_after_commit=True)
    result = verify_chain()
    assert (result.ok, result.checked, result.pending) == (True, 1, 1)
    record(None, AuditAction.SYSTEM, actor_username="next")
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", "actor_username")) == [
        (1, "first"),
        (2, "left behind"),
        (3, "next"),
    ]
    assert AuditEvent.objects.get(pk=left.pk).sequence == 2
    result = verify_chain()
    assert (result.ok, result.checked, result.pending) == (True, 3, 0)


def test_chain_pending_and_the_verify_command_link_what_is_left(db: Any) -> None:
    from django.db import transaction

    from smartcare.audit.services import chain_pending

    with transaction.atomic():
        for n in range(2):
            record(None, AuditAction.CREATE, actor_username=f"left {n}", chain_after_commit=True)
    assert chain_pending() == 2
    assert chain_pending() == 0
    with transaction.atomic():
        record(None, AuditAction.CREATE, actor_username="left 2", chain_after_commit=True)
    out, error = verify_command()
    assert error is None
    assert "audit chain intact: 3 events" in out
    assert "linked 1 pending events" in out
    assert not AuditEvent.objects.filter(sequence__isnull=True).exists()


def test_a_tampered_event_linked_after_commit_is_reported(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.db import transaction

    for n in range(3):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            record(None, AuditAction.CREATE, actor_username=f"b{n}", reason="ok", chain_after_commit=True)
    assert verify_chain().ok
    execute(f"UPDATE {EVENT_TABLE} SET reason = %s WHERE sequence = 2", ["edited"])  # noqa: S608
    assert_broken_at(2, "changed after it was written")
