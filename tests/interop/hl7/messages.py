"""HL7 v2 test messages, built segment by segment (CR between segments, as on the wire)."""

from __future__ import annotations

from typing import Any

from smartcare.core import clock


def msh(
    trigger: str,
    control: str,
    *,
    sender: tuple[str, str],
    kind: str = "ADT",
    version: str = "2.5",
    processing: str = "P",
    charset: str = "",
) -> str:
    fields = [
        "MSH",
        "^~\\&",
        sender[0],
        sender[1],
        "SMARTCARE",
        "HOSP",
        clock.local_now().strftime("%Y%m%d%H%M%S"),
        "",
        f"{kind}^{trigger}",
        control,
        processing,
        version,
        "",
        "",
        "NE",
        "NE",
        "CHN",
        charset,
    ]
    return "|".join(fields).rstrip("|")


def pid(
    *,
    identifiers: str,
    name: str = "王^小明",
    birth: str = "19800517",
    sex: str = "F",
    phone: str = "",
    address: str = "",
) -> str:
    fields = ["PID", "1", "", identifiers, "", name, "", birth, sex, "", "", address, "", phone]
    return "|".join(fields)


def pv1(
    point_of_care: str = "",
    patient_class: str = "I",
    visit: str = "V1",
    *,
    room: str = "101",
    bed: str = "1",
    attending: str = "",
    admitted: str = "",
) -> str:
    fields = ["PV1", "1", patient_class, f"{point_of_care}^{room}^{bed}"] + [""] * 15 + [visit]
    fields[7] = attending  # PV1-7 attending doctor (XCN: ID^family^given)
    if admitted:
        fields += [""] * (44 - len(fields)) + [admitted]  # PV1-44 admit date/time
    return "|".join(fields)


def adt(
    trigger: str,
    control: str,
    *,
    sender: tuple[str, str] = ("HIS", "MAIN"),
    identifiers: str,
    pv1_segment: str = "",
    **person: Any,
) -> str:
    segments = [
        msh(trigger, control, sender=sender),
        f"EVN|{trigger}|{clock.local_now():%Y%m%d%H%M%S}",
        pid(identifiers=identifiers, **person),
    ]
    if pv1_segment:
        segments.append(pv1_segment)
    return "\r".join(segments) + "\r"


def obr(
    *,
    placer: str = "",
    filler: str = "F1",
    service: str = "24323-8^Comprehensive metabolic panel^LN",
    status: str = "F",
    ordering: str = "",
    section: str = "CH",
    observed: str = "20260110083000",
) -> str:
    fields = ["OBR", "1", placer, filler, service, "", "", observed] + [""] * 8 + [ordering] + [""] * 7
    fields += [section, status]
    return "|".join(fields)


def obx(
    set_id: int,
    value_type: str,
    code: str,
    value: str,
    unit: str = "",
    ref: str = "",
    flag: str = "",
    status: str = "F",
) -> str:
    return "|".join(["OBX", str(set_id), value_type, code, "", value, unit, ref, flag, "", "", status])


def oru(
    control: str,
    *,
    identifiers: str,
    groups: list[tuple[str, list[str]]],
    sender: tuple[str, str] = ("GHH LAB", "ELAB-3"),
    birth: str = "19800517",
    sex: str = "F",
) -> str:
    segments = [
        msh("R01", control, sender=sender, kind="ORU"),
        pid(identifiers=identifiers, birth=birth, sex=sex),
    ]
    for obr_segment, obx_segments in groups:
        segments.append(obr_segment)
        segments.extend(obx_segments)
    return "\r".join(segments) + "\r"


def batch(messages: list[str], *, count: int | None = None, trailer: bool = True) -> str:
    header = "BHS|^~\\&|HIS|MAIN|SMARTCARE|HOSP|20260110090000||||B-1"
    body = "".join(messages)
    tail = f"BTS|{len(messages) if count is None else count}\r" if trailer else ""
    return f"{header}\r{body}{tail}"
