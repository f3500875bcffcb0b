"""Health education: targeting by condition, age, sex and care stage; pushes with plans and new
diagnoses; items sent by hand; reading tracked; videos only from the hospital's own servers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from smartcare.core.errors import InvalidInput, NotFound, PermissionDenied
from smartcare.emr import services as emr
from smartcare.followup import selectors, services
from smartcare.followup.errors import VideoNotHospitalHosted
from smartcare.followup.models import EducationDelivery, EducationItem
from smartcare.followup.selectors import EducationProfile
from smartcare.notifications.models import Notification
from smartcare.organization.choices import Sex
from tests.factories import PatientFactory, TestHospital
from tests.followup.helpers import discharge_after


def keys(profile: EducationProfile, **kwargs: Any) -> set[str]:
    return {i.key for i in selectors.matching_items(profile, **kwargs)}


def test_items_are_chosen_by_condition_age_sex_and_stage() -> None:
    diabetic_woman = EducationProfile(45, Sex.FEMALE, frozenset({"diabetes"}), frozenset({"newly_diagnosed"}))
    found = keys(diabetic_woman)
    assert {"diabetes-diet", "hypoglycemia", "quit-smoking"} <= found
    assert "diabetic-foot-care" not in found  # for long-term care, not the newly diagnosed
    assert not found & {"low-salt-diet", "pregnancy-nutrition", "fall-prevention", "wound-care"}
    older = EducationProfile(72, Sex.MALE, frozenset({"hypertension"}), frozenset({"long_term"}))
    assert {"low-salt-diet", "fall-prevention", "home-bp-measurement"} <= keys(older)
    younger = EducationProfile(50, Sex.MALE, frozenset({"hypertension"}), frozenset({"long_term"}))
    assert "fall-prevention" not in keys(younger)
    pregnant = EducationProfile(29, Sex.FEMALE, frozenset({"pregnancy"}), frozenset({"pregnancy"}))
    assert {"pregnancy-nutrition", "pregnancy-warning-signs"} <= keys(pregnant)
    wrong_sex = EducationProfile(29, Sex.MALE, frozenset({"pregnancy"}), frozenset({"pregnancy"}))
    assert not keys(wrong_sex) & {"pregnancy-nutrition", "pregnancy-warning-signs"}
    nobody = EducationProfile(30, Sex.MALE, frozenset(), frozenset())
    assert keys(nobody) == set()  # general items are sent by hand, never pushed to everybody


def test_a_plan_pushes_its_conditions_and_stage(h: TestHospital) -> None:
    discharge_after(h, "全膝关节置换术", patient=h.own_patient)
    sent = set(EducationDelivery.objects.filter(patient=h.own_patient).values_list("item__key", flat=True))
    assert "wound-care" in sent  # post-operative, after surgery
    assert "joint-replacement-exercises" not in sent  # the plan's own task delivers it on its day
    assert not sent & {"low-salt-diet", "diabetes-diet", "fall-prevention"}  # she is 45
    assert all(
        d.reason == "plan" and d.plan_id for d in EducationDelivery.objects.filter(patient=h.own_patient)
    )
    plan_message = Notification.objects.get(recipient=h.user("patient"), category="followup_plan")
    assert "1" in plan_message.body or str(len(sent)) in plan_message.body


def test_the_profile_reads_diagnoses_and_plans(h: TestHospital) -> None:
    from smartcare.accounts.services import register_care_relationship

    patient = PatientFactory(birth_date=dt.date(1950, 3, 1), sex=Sex.MALE)
    register_care_relationship(patient=patient, department=h.cardiology, kind="appointment", source="t:p")
    encounter = emr.open_encounter(h.user("doctor"), patient_id=patient.pk)
    emr.add_diagnosis(h.user("doctor"), encounter.pk, code="I10")
    profile = selectors.education_profile(patient)
    assert profile.age >= 75 and profile.sex == Sex.MALE
    assert profile.conditions == {"hypertension"}
    assert profile.stages == {"newly_diagnosed"}  # from the hypertension plan just started
    sent = set(EducationDelivery.objects.filter(patient=patient).values_list("item__key", flat=True))
    assert {"low-salt-diet", "bp-medicines", "fall-prevention", "quit-smoking", "chest-pain-warning"} == sent


def _has(code: str) -> bool:
    from smartcare.emr.models import Icd10Code

    return Icd10Code.objects.filter(code=code).exists()


def test_a_new_diagnosis_without_a_plan_pushes_what_fits_the_profile(h: TestHospital) -> None:
    if not _has("J44.9"):
        pytest.skip("no COPD code in the shipped table")
    emr.record_problem(h.user("doctor"), h.own_patient.pk, code="J44.9")
    sent = set(EducationDelivery.objects.filter(patient=h.own_patient).values_list("item__key", flat=True))
    assert {"copd-breathing", "quit-smoking"} <= sent
    assert all(d.reason == "profile" for d in EducationDelivery.objects.filter(patient=h.own_patient))
    assert (
        Notification.objects.filter(recipient=h.user("patient"), category="followup_education").count() == 1
    )


def test_a_clinician_sends_an_item_by_hand_and_again(h: TestHospital) -> None:
    item = EducationItem.objects.get(key="fall-prevention")
    delivery = services.send_education(h.user("nurse"), h.own_patient.pk, item.pk, note="上下床请慢一点")
    assert (
        delivery.reason == "manual"
        and delivery.sent_by == h.user("nurse")
        and delivery.note == "上下床请慢一点"
    )
    message = Notification.objects.get(recipient=h.user("patient"), category="followup_education")
    assert message.link == f"/followup/me/education/{delivery.pk}/" and message.body == "上下床请慢一点"
    again = services.send_education(h.user("doctor"), h.own_patient.pk, item.pk)
    assert again.pk == delivery.pk and again.sent_by == h.user("doctor")
    assert EducationDelivery.objects.filter(patient=h.own_patient).count() == 1


def test_sending_education_needs_access_and_a_published_item(h: TestHospital) -> None:
    item = EducationItem.objects.get(key="fall-prevention")
    with pytest.raises(NotFound):
        services.send_education(h.user("neurologist"), h.own_patient.pk, item.pk)
    with pytest.raises(PermissionDenied):
        services.send_education(h.user("frontdesk"), h.own_patient.pk, item.pk)
    item.is_published = False
    item.save()
    with pytest.raises(InvalidInput):
        services.send_education(h.user("nurse"), h.own_patient.pk, item.pk)
    with pytest.raises(InvalidInput):
        services.send_education(h.user("nurse"), h.own_patient.pk, "")
    assert not EducationDelivery.objects.exists()


def test_reading_is_tracked_for_the_patient_only(h: TestHospital) -> None:
    item = EducationItem.objects.get(key="low-salt-diet")
    delivery = services.send_education(h.user("nurse"), h.own_patient.pk, item.pk)
    with pytest.raises(NotFound):
        services.open_education(h.user("other_patient_user"), delivery.pk)
    with pytest.raises(PermissionDenied):
        services.mark_read(h.user("nurse"), delivery.pk)
    opened = services.open_education(h.user("patient"), delivery.pk)
    assert opened.opened_at is not None and opened.read_at is None
    read = services.mark_read(h.user("patient"), delivery.pk)
    assert read.read_at is not None
    assert services.mark_read(h.user("patient"), delivery.pk).read_at == read.read_at  # once


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.jsdelivr.net/video.mp4",
        "https://www.youtube.com/watch?v=abc",
        "//cdn.example.com/v.mp4",
        "javascript:alert(1)",
        "ftp://files.hospital.cn/v.mp4",
    ],
)
def test_videos_must_be_hosted_by_the_hospital(h: TestHospital, url: str) -> None:
    data = {"key": "v1", "kind": "video", "title_zh": "视频", "video_url": url}
    with pytest.raises(VideoNotHospitalHosted) as raised:
        services.save_education_item(h.user("head"), data)
    assert raised.value.code == "FU-008"
    assert not EducationItem.objects.filter(key="v1").exists()


def test_hospital_video_paths_and_approved_hosts_are_accepted(h: TestHospital, settings: Any) -> None:
    settings.SMARTCARE_EDUCATION_VIDEO_HOSTS = ["media.hospital.example"]
    head = h.user("head")
    local = services.save_education_item(
        head,
        {
            "key": "v1",
            "kind": "video",
            "title_zh": "视频",
            "video_url": "/media/education/v1.mp4",
            "conditions": ["diabetes"],
        },
    )
    assert local.video_url == "/media/education/v1.mp4" and local.conditions == ["diabetes"]
    hosted = services.save_education_item(
        head,
        {
            "key": "v2",
            "kind": "video",
            "title_zh": "视频",
            "video_url": "https://media.hospital.example/v2.mp4",
        },
    )
    assert hosted.video_url.startswith("https://media.hospital.example/")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "article", "title_zh": "文章"}, "body_zh"),
        ({"kind": "video", "title_zh": "视频"}, "video_url"),
        ({"kind": "article", "title_zh": "文章", "body_zh": "正文", "conditions": ["unknown"]}, "conditions"),
        (
            {"kind": "article", "title_zh": "文章", "body_zh": "正文", "min_age": "70", "max_age": "60"},
            "max_age",
        ),
        ({"kind": "article", "title_zh": "文章", "body_zh": "正文", "sex": "other"}, "sex"),
        ({"kind": "poster", "title_zh": "文章"}, "kind"),
    ],
)
def test_library_items_are_checked(h: TestHospital, data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        services.save_education_item(h.user("head"), {"key": "new-item", **data})
    assert raised.value.field == field
    assert not EducationItem.objects.filter(key="new-item").exists()


def test_shipped_library_is_bilingual_and_tagged() -> None:
    from smartcare.followup.conditions import CONDITIONS

    items = list(EducationItem.objects.all())
    assert len(items) >= 15
    for item in items:
        assert item.title_zh and item.title_en and item.body_zh and item.body_en, item.key
        assert set(item.conditions) <= set(CONDITIONS), item.key
        if item.kind == "video":
            services.check_video_url(item.video_url)
