"""The booking issue's user journey, end to end in a real browser against the real ASGI server.

A patient books on the phone-sized portal, sees the preparation note and the reminder in the
inbox, checks in with the one code at the kiosk, appears on the waiting-room display, and the
doctor calls them: the display and the patient's phone update over the websocket.

pytest-django's ``live_server`` is WSGI (no websockets), so the journey starts ``smartcare serve``
(uvicorn, ASGI) as a child process on the test database. Background tasks (the booking
confirmation) run inline in that process (SMARTCARE_TASKS_IMMEDIATE) and its in-memory channel
layer carries the queue updates (one worker is enough). Check-in at the kiosk, the doctor's queue
and the displays work on *today* in hospital time, so the clinic session is built for today,
around the current time.
"""

from __future__ import annotations

import datetime as dt
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LOCALES
from tests.browser.pages import sign_in

PREPARATION_ZH = "旅程测试：就诊前请空腹四小时，并携带近三个月的心电图"
PREPARATION_EN = "Journey test: fast for four hours and bring your ECGs of the last three months"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}
SLOT_MINUTES = 10


# --- Data ----------------------------------------------------------------------------------------


def _period(hour: int) -> str:
    from smartcare.scheduling.choices import Period

    return Period.MORNING if hour < 12 else Period.AFTERNOON if hour < 18 else Period.EVENING


def build_clinic_today(hospital: Any, *, capacity: int = 2) -> Any:
    """Cardiology's visit preparation and release rule, and the doctor's session today (hospital
    time) covering now: one slot already started, then slots starting within the next ~35 minutes."""
    from smartcare.core import clock
    from smartcare.scheduling.models import ReleaseRule, ScheduleTemplate, VisitPreparation
    from smartcare.scheduling.selectors import free_slots
    from smartcare.scheduling.services import build_session

    VisitPreparation.objects.create(
        department=hospital.cardiology, text_zh=PREPARATION_ZH, text_en=PREPARATION_EN
    )
    ReleaseRule.objects.create(department=hospital.cardiology, days_ahead=7, release_time=dt.time(8, 0))
    local = clock.local_now().replace(second=0, microsecond=0)
    today = local.date()
    first_free = local + dt.timedelta(minutes=3)  # the first slot the patient can still book
    start = first_free - dt.timedelta(minutes=SLOT_MINUTES)  # a slot already under way
    if start.date() != today:  # just after midnight: the session starts with the first free slot
        start = first_free
    end = first_free + dt.timedelta(minutes=3 * SLOT_MINUTES)
    if end.date() != today:
        end = local.replace(hour=23, minute=59)
    if first_free.date() != today or first_free + dt.timedelta(minutes=SLOT_MINUTES) > end:
        pytest.skip("too close to midnight in hospital time for a bookable slot today")
    template = ScheduleTemplate.objects.create(
        department=hospital.cardiology,
        practitioner=hospital.user("doctor").practitioner,
        weekday=today.weekday(),
        period=_period(start.hour),
        start_time=start.time(),
        end_time=end.time(),
        slot_minutes=SLOT_MINUTES,
        capacity_per_slot=capacity,
        is_active=False,  # only today's session
    )
    session = build_session(template, today)
    assert session is not None
    assert session.is_open
    first = free_slots(session).first()
    assert first is not None and first.starts_at == first_free
    return session


@pytest.fixture()
def journey_hospital(browser: Any, transactional_db: None, settings: Any) -> Any:
    """The test hospital, committed for the server process, plus a kiosk device account.

    ``serialized_rollback`` brings back the national department catalog (a data migration) that
    the flush after each transactional test removes.

    Users are built with a fast hasher; those who sign in get an Argon2 password, which the
    server (with its own, unchanged settings) can check.
    """
    from django.contrib.auth.hashers import make_password

    from smartcare.accounts.choices import Role
    from tests.factories import PASSWORD, build_hospital, staff

    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]
    hospital = build_hospital()
    hospital.users["kiosk"] = staff("kiosk-lobby", Role.DEVICE)
    for name in ("patient", "kiosk", "frontdesk", "doctor"):
        user = hospital.user(name)
        user.password = make_password(PASSWORD, hasher="argon2")
        user.save(update_fields=["password"])
    return hospital


# --- The ASGI server -----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def asgi_server(journey_hospital: Any, tmp_path: Path) -> Iterator[str]:
    """``smartcare serve`` (uvicorn, one worker) on the test database; yields its base URL."""
    from tests.factories import child_env

    port = _free_port()
    env = child_env(
        SMARTCARE_TASKS_IMMEDIATE="1",
        # The browser fixture allows async-unsafe calls in *this* process; the server must not.
        DJANGO_ALLOW_ASYNC_UNSAFE=None,
    )
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "smartcare.cli", "serve", "--port", str(port), "--log-level", "warning"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"smartcare serve did not come up:\n{log.read_text(errors='replace')}")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    errors = [line for line in log.read_text(errors="replace").splitlines() if "Traceback" in line]
    assert not errors, f"the server logged errors:\n{log.read_text(errors='replace')}"


@pytest.fixture()
def asgi_context(browser: Any, asgi_server: str) -> Iterator[Any]:
    """Factory for browser contexts on the ASGI server; collects JavaScript errors per page."""
    contexts: list[Any] = []
    errors: list[str] = []

    def make(language: str = "zh-hans", **options: Any) -> Any:
        context = browser.new_context(base_url=asgi_server, locale=LOCALES[language], **options)
        context.set_default_timeout(15_000)
        context.on("page", lambda page: page.on("pageerror", lambda error: errors.append(str(error))))
        contexts.append(context)
        return context

    make.errors = errors  # type: ignore[attr-defined]
    yield make
    for context in contexts:  # before the server stops, so no websocket is left reconnecting
        context.close()


def _mark(page: Any) -> None:
    """Leave a marker in the page's window: it survives only while the page is not reloaded."""
    page.evaluate("window.__journeyMarker = 'still here'")


def _not_reloaded(page: Any) -> bool:
    return page.evaluate("window.__journeyMarker === 'still here'")


def _open_menu_item(page: Any, href: str) -> Any:
    """On a phone the navigation is folded: tap the menu button, then the item."""
    page.locator(".navbar-toggler").tap()
    item = page.locator(f"#mainnav a.nav-link[href='{href}']")
    expect(item).to_be_visible()
    return item


# --- The journey ---------------------------------------------------------------------------------


@pytest.mark.browser
def test_book_on_phone_check_in_at_kiosk_and_get_called(journey_hospital: Any, asgi_context: Any) -> None:
    from smartcare.scheduling.choices import AppointmentStatus, Channel
    from smartcare.scheduling.models import Appointment
    from smartcare.scheduling.selectors import free_slots
    from smartcare.visits.models import QueueEntry

    hospital = journey_hospital
    session = build_clinic_today(hospital)
    patient = hospital.own_patient

    # 1. The patient books on the phone: 预约 -> cardiology -> today's session -> first slot.
    phone = asgi_context("zh-hans", **PHONE).new_page()
    sign_in(phone, "patient")
    book = _open_menu_item(phone, "/booking/")
    expect(book).to_contain_text("预约")
    book.tap()
    expect(phone.locator("h1")).to_have_text("预约挂号")
    phone.locator("[data-testid=department-list] a[data-code='03.04']").tap()
    expect(phone.locator("h1")).to_contain_text(hospital.cardiology.name_zh)
    todays = phone.locator(f"[data-testid=sessions-{session.date:%Y%m%d}] [data-testid=session-link]")
    expect(todays).to_have_count(1)
    expect(todays).to_contain_text(str(hospital.user("doctor")))
    todays.tap()
    slots = phone.locator("[data-testid=slot]")
    expect(slots.first).to_be_visible()
    slots.first.tap()
    first_slot_id = slots.first.get_attribute("for")
    assert first_slot_id is not None
    expect(phone.locator(f"#{first_slot_id}")).to_be_checked()
    phone.locator("[data-testid=confirm-booking]").tap()

    expect(phone.locator("[data-testid=booking-confirmed]")).to_be_visible()
    expect(phone.locator("[data-testid=booking-confirmed]")).to_contain_text(patient.name)
    expect(phone.locator("[data-testid=preparation]")).to_contain_text(PREPARATION_ZH)
    match = re.search(r"/booking/appointment/(\d+)/$", phone.url)
    assert match, phone.url
    appointment = Appointment.objects.select_related("slot").get(pk=int(match.group(1)))
    assert appointment.patient_id == patient.pk
    assert appointment.session_id == session.pk
    assert appointment.status == AppointmentStatus.BOOKED
    assert appointment.channel == Channel.PORTAL
    assert appointment.slot_id == int(first_slot_id.removeprefix("slot"))
    # The first free slot, as the page offered it.
    assert appointment.slot == free_slots(session).filter(starts_at__gt=appointment.created_at).first()

    # The booking confirmation waits in the inbox, with the preparation note.
    inbox_link = _open_menu_item(phone, "/notifications/")
    inbox_link.tap()
    reminder = phone.locator("[data-testid=inbox] .list-group-item").filter(has_text="预约成功")
    expect(reminder).to_have_count(1)
    expect(reminder).to_contain_text(hospital.cardiology.name_zh)
    expect(reminder).to_contain_text(PREPARATION_ZH)

    # 2. At the kiosk (desktop screen, elderly look) the patient scans their one code.
    kiosk = asgi_context("zh-hans", **DESKTOP).new_page()
    sign_in(kiosk, "kiosk-lobby")
    kiosk.goto("/visits/kiosk/")
    expect(kiosk.locator("body")).to_have_class(re.compile(r"\belderly\b"))
    kiosk.locator("[data-testid=kiosk-code]").fill(patient.one_code)
    kiosk.locator("[data-testid=kiosk-identify]").click()
    expect(kiosk.locator("h1")).to_contain_text(patient.name)
    check_in = kiosk.locator("[data-testid=kiosk-check-in]")
    expect(check_in).to_have_count(1)
    expect(check_in).to_contain_text(hospital.cardiology.name_zh)
    check_in.click()
    ticket = kiosk.locator("[data-testid=ticket-number]")
    expect(ticket).to_have_text(re.compile(r"^A\d{3}$"))
    number = ticket.inner_text().strip()
    entry = QueueEntry.objects.get(appointment=appointment)
    assert entry.number == number
    assert entry.check_in_channel == "kiosk"
    # Done: the kiosk is ready for the next person and no longer shows (or acts for) this patient.
    kiosk.locator("[data-testid=ticket] a.btn").click()
    expect(kiosk.locator("[data-testid=kiosk-code]")).to_be_visible()
    expect(kiosk.locator("main")).not_to_contain_text(patient.name)

    # The patient opens their place in the queue on the phone (from My bookings).
    phone.goto("/booking/mine/")
    phone.locator("[data-testid=my-queue]").tap()
    expect(phone).to_have_url(re.compile(rf"/visits/queue/{appointment.pk}/$"))
    live = phone.locator("[data-testid=my-queue-live]")
    expect(live).to_have_attribute("data-live", "connected")
    expect(live).to_have_attribute("data-state", "waiting")
    expect(live.locator("[data-field=number]")).to_have_text(number)
    expect(phone.locator("[data-testid=queue-position]")).to_have_text("1")
    expect(phone.locator("[data-testid=called-alert]")).to_be_hidden()
    _mark(phone)

    # 3. The waiting-room display of cardiology, opened by the front desk.
    display = asgi_context("zh-hans", **DESKTOP).new_page()
    sign_in(display, "frontdesk")
    display.goto("/visits/displays/")
    display.locator("[data-testid='display-link-03.04']").click()
    screen = display.locator("[data-testid=display]")
    expect(screen).to_be_visible()
    expect(screen.locator("h1")).to_contain_text(hospital.cardiology.name_zh)
    card = screen.locator(f"[data-session='{session.pk}']")
    expect(card.locator(f"li[data-number='{number}']")).to_be_visible()  # filled over the websocket
    expect(card.locator(f"li[data-number='{number}']")).not_to_contain_text(patient.name)  # masked
    expect(card.locator("[data-field=called]")).to_have_text("—")
    _mark(display)

    # 4. The doctor calls the next patient.
    doctor = asgi_context("zh-hans", **DESKTOP).new_page()
    sign_in(doctor, "doctor")
    doctor.locator("#mainnav a.nav-link[href='/visits/doctor/']").click()
    expect(doctor.locator("[data-testid=waiting-list]")).to_contain_text(number)
    expect(doctor.locator("[data-testid=now-seeing]")).to_have_text("—")
    doctor.locator("[data-testid=call-next]").click()
    expect(doctor.locator("[data-testid=now-seeing]")).to_contain_text(number)

    # The display, still open, shows the call; the patient's phone tells them it is their turn.
    expect(card.locator("[data-field=called]")).to_contain_text(number)
    expect(card.locator(f"li[data-number='{number}']")).to_have_count(0)
    assert _not_reloaded(display)
    expect(phone.locator("[data-testid=called-alert]")).to_be_visible()
    expect(live).to_have_attribute("data-state", "called")
    assert _not_reloaded(phone)

    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.IN_CONSULTATION
    assert not asgi_context.errors, f"JavaScript errors: {asgi_context.errors}"


# --- Unhappy paths -------------------------------------------------------------------------------


@pytest.mark.browser
def test_kiosk_unknown_code_and_booking_a_slot_that_just_filled(hospital: Any, new_context: Any) -> None:
    from smartcare.scheduling.models import Appointment, Slot
    from smartcare.scheduling.services import book_slot

    session = build_clinic_today(hospital, capacity=1)
    kiosk_user = hospital.user("device")

    # The kiosk does not know the code: CORE-404, and it still asks for a code.
    kiosk = new_context("zh-hans", **DESKTOP).new_page()
    sign_in(kiosk, kiosk_user.username)
    kiosk.goto("/visits/kiosk/")
    kiosk.locator("[data-testid=kiosk-code]").fill("P-not-a-patient-code")
    kiosk.locator("[data-testid=kiosk-identify]").click()
    expect(kiosk.locator("[data-error-code=CORE-404]")).to_be_visible()
    expect(kiosk.locator("[data-error-code=CORE-404]")).to_contain_text("CORE-404")
    expect(kiosk.locator("[data-testid=kiosk-code]")).to_be_visible()
    expect(kiosk.locator("[data-testid=kiosk-check-in]")).to_have_count(0)

    # The patient picks the first slot; someone else takes its last place before they confirm.
    phone = new_context("zh-hans", **PHONE).new_page()
    sign_in(phone, "patient")
    phone.goto(f"/booking/session/{session.pk}/")
    slots = phone.locator("[data-testid=slot]")
    slots.first.tap()
    slot_id = int((slots.first.get_attribute("for") or "").removeprefix("slot"))
    book_slot(
        hospital.user("frontdesk"),
        patient_id=hospital.patient_in_care.pk,
        slot_id=slot_id,
        channel="front_desk",
    )
    assert Slot.objects.get(pk=slot_id).remaining == 0
    phone.locator("[data-testid=confirm-booking]").tap()

    error = phone.locator("[data-error-code=SCHED-001]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("SCHED-001")
    expect(phone.locator("[data-testid=booking-confirmed]")).to_have_count(0)
    expect(phone.locator(f"#slot{slot_id}")).to_have_count(0)  # the full slot is no longer offered
    assert not Appointment.objects.filter(patient=hospital.own_patient).exists()
    slot = Slot.objects.get(pk=slot_id)
    assert (slot.booked, slot.capacity) == (1, 1)
