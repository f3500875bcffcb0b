"""The remote consultation journey in two real browsers: the requesting cardiologist and the
consulted neurologist join the same room and each receives the other's video over WebRTC, then
chat beside it.

The room's signalling runs over the platform's websocket, which pytest-django's WSGI
``live_server`` cannot serve: the journey reuses the booking journey's ``smartcare serve`` (uvicorn,
ASGI) child process on the test database. Cameras and microphones are Chromium's fake devices
(``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream``), in a Chromium launched for
this module only, so the other browser tests keep their flags.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import CHROMIUM_ARGS, LOCALES
from tests.browser.pages import sign_in
from tests.browser.test_booking_journey import asgi_server  # noqa: F401  (the ASGI server fixture)
from tests.conftest import CHROMIUM

MEDIA_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # Two pages of one browser on one machine: offer plain host candidates instead of mDNS names,
    # which a container without multicast cannot resolve.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
REMOTE_PLAYING = """() => {
  const v = document.getElementById('remote-video');
  return v && v.videoWidth > 0 && v.videoHeight > 0 && v.currentTime > 0.3;
}"""


@pytest.fixture()
def journey_hospital(
    browser: Any, transactional_db: None, settings: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """The test hospital (committed for the server process) and an accepted consultation: the
    cardiologist asked the neurologist about the patient in care. Those who sign in get an Argon2
    password, which the server (with its own settings) can check."""
    from django.contrib.auth.hashers import make_password

    from smartcare.emr.icd10 import ensure_icd10
    from smartcare.interop.dicom import services as dicom
    from smartcare.interop.dicom.phantom import ct_series
    from smartcare.interop.models import ImagingStudy
    from smartcare.telemedicine import services
    from tests.factories import PASSWORD, build_hospital

    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
    ]
    ensure_icd10()
    hospital = build_hospital()
    for name in ("doctor", "neurologist"):
        user = hospital.user(name)
        user.password = make_password(PASSWORD, hasher="argon2")
        user.save(update_fields=["password"])
    # A head CT of the patient, stored where the server process (started after this fixture) reads it.
    dicom_dir = str(tmp_path / "dicom")
    settings.SMARTCARE_DICOM_DIR = dicom_dir
    monkeypatch.setenv("SMARTCARE_DICOM_DIR", dicom_dir)
    patient = hospital.patient_in_care
    files = ct_series(
        patient_id=patient.medical_record_number, patient_name=patient.name, slices=8, kind="head"
    )
    dicom.store_instances(
        hospital.user("doctor"), [(str(i), f) for i, f in enumerate(files)], patient_id=patient.pk
    )
    consultation = services.request_consultation(
        hospital.user("doctor"),
        patient_id=hospital.patient_in_care.pk,
        specialty_id=hospital.neurology.pk,
        expert_id=hospital.user("neurologist").pk,
        question="Left arm weakness for two hours, resolved. Stroke or TIA?",
        working_diagnosis="G45.9",
        urgency="urgent",
        consent_given=True,
        study_ids=[ImagingStudy.objects.get().pk],
    )
    services.accept(hospital.user("neurologist"), consultation.pk)
    hospital.consultation = consultation
    return hospital


@pytest.fixture()
def media_browser(browser: Any) -> Iterator[Any]:
    """A second Chromium from the same Playwright, with fake camera and microphone."""
    media = browser.browser_type.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + MEDIA_ARGS
    )
    try:
        yield media
    finally:
        media.close()


def _page(media_browser: Any, base: str, errors: list[str]) -> Any:
    context = media_browser.new_context(
        base_url=base, locale=LOCALES["en"], viewport={"width": 1280, "height": 900}
    )
    context.grant_permissions(["camera", "microphone"], origin=base)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


def test_two_doctors_see_each_other_in_the_consultation_room(
    journey_hospital: Any,
    asgi_server: str,  # noqa: F811
    media_browser: Any,
) -> None:
    consultation = journey_hospital.consultation
    errors: list[str] = []
    requester = _page(media_browser, asgi_server, errors)
    expert = _page(media_browser, asgi_server, errors)

    sign_in(requester, "doctor")
    requester.goto(f"/telemedicine/consultations/{consultation.pk}/")
    requester.click("[data-testid=join-room]")
    expect(requester.locator("[data-testid=room-state]")).to_have_attribute("data-state", "waiting")

    sign_in(expert, "neurologist")
    expert.goto("/telemedicine/")
    expert.locator("[data-testid=queue-item]").first.click()
    expert.click("[data-testid=join-room]")

    for page in (requester, expert):
        page.wait_for_function(REMOTE_PLAYING, timeout=30_000)
        expect(page.locator("[data-testid=room-state]")).to_have_attribute("data-state", "connected")
    for page in (requester, expert):
        size = page.evaluate(
            "() => { const v = document.getElementById('remote-video'); return [v.videoWidth, v.videoHeight, v.currentTime]; }"
        )
        assert size[0] > 0 and size[1] > 0
        page.wait_for_function(
            f"() => document.getElementById('remote-video').currentTime > {size[2] + 0.5}", timeout=10_000
        )

    expert.fill("[data-testid=chat-input]", "I see a small infarct on DWI")
    expert.press("[data-testid=chat-input]", "Enter")
    expect(requester.locator("[data-testid=chat-message]")).to_contain_text(["I see a small infarct on DWI"])
    expect(expert.locator("[data-testid=chat-message]")).to_have_count(1)

    # The shared viewer: the requester scrolls, the expert sets the window; both see the same.
    for page in (requester, expert):
        expect(page.locator("[data-testid=shared-viewer]")).to_have_attribute("data-index", "1")
    requester.locator("[data-testid=shared-slice]").fill("5")
    expect(expert.locator("[data-testid=shared-viewer]")).to_have_attribute("data-index", "5")
    expert.get_by_role("button", name="Brain").click()
    expect(requester.locator("[data-testid=shared-viewer]")).to_have_attribute("data-window", "40,80")
    expect(requester.locator("[data-testid=shared-viewer]")).to_have_attribute("data-index", "5")

    # The expert measures a distance on the image and saves it with the opinion.
    expert.wait_for_function("() => document.getElementById('frame').naturalWidth === 128")
    expert.click("[data-testid=tool-distance]")
    box = expert.locator("#overlay").bounding_box()
    assert box is not None
    middle_x, middle_y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    expert.mouse.click(middle_x - 40, middle_y)
    expert.mouse.click(middle_x + 40, middle_y)
    expect(expert.locator("[data-testid=annotation-list] li")).to_have_count(1)
    # The phantom has Pixel Spacing (250 mm over 128 pixels): the distance is shown in mm.
    expect(expert.locator("[data-testid=shared-viewer]")).to_have_attribute("data-unit", "mm")
    expect(expert.locator("[data-testid=annotation-list] li")).to_contain_text(" mm")
    form = expert.locator("[data-testid=room-opinion-form]")
    form.locator("#diagnosis").fill("I63.9")
    form.locator("#recommendations").fill("Admit to the stroke unit")
    form.locator("button[type=submit]").click()
    expect(expert.locator("[data-testid=concordance]")).to_be_visible()

    for page in (requester, expert):
        page.context.close()
    assert not errors, errors

    from smartcare.telemedicine.models import ChatMessage, Opinion, RoomEvent

    opinion = Opinion.objects.get(consultation=consultation)
    (distance,) = opinion.annotations
    assert distance["kind"] == "distance" and distance["frame"] == 1
    assert abs(distance["points"][1][0] - distance["points"][0][0]) > 10
    dx = distance["points"][1][0] - distance["points"][0][0]
    dy = distance["points"][1][1] - distance["points"][0][1]
    assert distance["unit"] == "mm" and distance["spacing"] == "pixel"
    assert distance["length"] == round(((dx * 250 / 128) ** 2 + (dy * 250 / 128) ** 2) ** 0.5, 2)

    assert ChatMessage.objects.filter(consultation=consultation).count() == 1
    assert RoomEvent.objects.filter(consultation=consultation, kind="joined").count() >= 2
