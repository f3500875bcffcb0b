"""The permission test: every URL and every API operation, called by every kind of caller.

The expectation table (``RULES``) says, for each route and method, which callers are let in and
what everyone else gets. The first tests walk the URL resolver and the Ninja API and fail when a
route or an operation has no rule, so a new URL cannot ship without being added here.

Callers: anonymous; a patient opening their own record and another patient's; a clinician with a
care relationship, one without, and one after breaking the glass; a department head; the IT
administrator; front desk; auditor; researcher; a device identity. Denied patient records answer
404 CORE-404 exactly as a record that does not exist. A denied state-changing request changes
nothing (only "denied" audit events may appear).

Apps add the rules for their own URLs in ``tests/<app>/permission_rules.py`` (``RULES``, and
optionally ``setup(world)`` to create what their URLs point at, stored in ``world.extra``); see
``_load_app_rules`` at the end of this module.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver
from django_otp.plugins.otp_totp.models import TOTPDevice
from ninja.operation import PathView

from smartcare.accounts.choices import BreakGlassStatus, Role
from smartcare.accounts.errors import TokenOwnerNotAllowed
from smartcare.accounts.models import ApiToken, BreakGlassGrant, CareRelationship, User
from smartcare.accounts.services import break_the_glass, create_api_token
from smartcare.api import api
from smartcare.audit.models import AuditEvent
from smartcare.core.errors import NotFound
from smartcare.notifications.models import Notification
from smartcare.patients.models import ChannelBinding, Consent, FamilyLink, Patient
from tests.factories import TestHospital, UserFactory, build_hospital, make_national_id

REASON = "Unconscious patient in the emergency room, history needed"

# --- Callers ----------------------------------------------------------------------------------

ANON = "anonymous"
PATIENT_OWN = "patient_own_record"
PATIENT_OTHER = "patient_other_record"
CARE = "clinician_with_care"
NO_CARE = "clinician_without_care"
BREAK_GLASS = "clinician_after_break_glass"
HEAD = "department_head"
ADMIN = "it_admin"
FRONT_DESK = "front_desk"
AUDITOR = "auditor"
RESEARCHER = "researcher"
DEVICE = "device"


@dataclass(frozen=True)
class Caller:
    user: str | None  # key in TestHospital.users
    target: str  # the patient whose record the caller asks for


CALLERS: dict[str, Caller] = {
    ANON: Caller(None, "patient_in_care"),
    PATIENT_OWN: Caller("patient", "own_patient"),
    PATIENT_OTHER: Caller("patient", "other_patient"),
    CARE: Caller("doctor", "patient_in_care"),
    NO_CARE: Caller("neurologist", "patient_in_care"),
    BREAK_GLASS: Caller("neurologist", "patient_in_care"),
    HEAD: Caller("head", "patient_in_care"),
    ADMIN: Caller("itadmin", "patient_in_care"),
    FRONT_DESK: Caller("frontdesk", "patient_in_care"),
    AUDITOR: Caller("auditor", "patient_in_care"),
    RESEARCHER: Caller("researcher", "patient_in_care"),
    DEVICE: Caller("device", "patient_in_care"),
}
KINDS = tuple(CALLERS)

EVERYONE = frozenset(KINDS)
SIGNED_IN = EVERYONE - {ANON}
PATIENTS = frozenset({PATIENT_OWN, PATIENT_OTHER})
CLINICIANS = frozenset({CARE, NO_CARE, BREAK_GLASS, HEAD})
STAFF = CLINICIANS | {ADMIN, FRONT_DESK, AUDITOR, RESEARCHER}
INBOX = STAFF | PATIENTS
SEARCHERS = CLINICIANS | {FRONT_DESK}
# patients.register: doctors, nurses and front desk (the department head is not a registrar).
REGISTRARS = frozenset({CARE, NO_CARE, BREAK_GLASS, FRONT_DESK})
# Who may open the target record (view, card, one code, update): the patient themself, clinicians
# with care or break-the-glass, and front desk (demographics).
RECORD = frozenset({PATIENT_OWN, CARE, BREAK_GLASS, HEAD, FRONT_DESK})
NOBODY: frozenset[str] = frozenset()


# --- The world each request runs in ------------------------------------------------------------


@dataclass
class World:
    h: TestHospital
    kind: str
    review_grant: BreakGlassGrant  # pending, cardiology nurse -> patient_elsewhere
    head_note: Notification  # the cardiology head's inbox item about that grant
    token: ApiToken  # the device's integration token
    binding: ChannelBinding  # an external channel bound to the target patient
    national_id: str = field(default_factory=make_national_id)
    extra: dict[str, Any] = field(default_factory=dict)  # what app rules' setup() created

    @property
    def user(self) -> User | None:
        name = CALLERS[self.kind].user
        return self.h.user(name) if name else None

    @property
    def target(self) -> Patient:
        return getattr(self.h, CALLERS[self.kind].target)


def build_world(h: TestHospital, kind: str) -> World:
    review_grant = break_the_glass(h.user("nurse"), h.patient_elsewhere, REASON)
    head_note = Notification.objects.get(recipient=h.user("head"), category="break_glass")
    create_api_token(h.user("itadmin"), user=h.user("device"), name="integration")
    if kind == BREAK_GLASS:
        break_the_glass(h.user("neurologist"), h.patient_in_care, REASON)
    channel = UserFactory(username="channel-app-perm", role=Role.CHANNEL)
    target = getattr(h, CALLERS[kind].target)
    world = World(
        h=h,
        kind=kind,
        review_grant=review_grant,
        head_note=head_note,
        token=ApiToken.objects.get(name="integration"),
        binding=ChannelBinding.objects.create(channel_user=channel, patient=target),
    )
    for setup in APP_SETUPS:
        setup(world)
    return world


MISSING_ID = 10**9
MISSING_CODE = "P" + "A" * 22


def url_params(rule: Rule, world: World, missing: bool) -> dict[str, Any]:
    params = {
        "patient_id": MISSING_ID if missing else world.target.pk,
        "code": MISSING_CODE if missing else world.target.one_code,
        "notification_id": world.head_note.pk,
        "token_id": world.token.pk,
        "binding_id": MISSING_ID if missing else world.binding.pk,
    }
    if rule.params is not None:
        params.update(rule.params(world, missing))
    return params


# --- Effects of allowed writes -------------------------------------------------------------------


def _registered(world: World, kind: str, response: Any) -> None:
    assert Patient.objects.filter(name="权限测试").count() == 1


def _target_address_changed(world: World, kind: str, response: Any) -> None:
    world.target.refresh_from_db()
    assert world.target.address == "权限测试路1号"


def _grant_for_caller(world: World, kind: str, response: Any) -> None:
    assert BreakGlassGrant.objects.filter(user=world.user, patient=world.target, reason=REASON).exists()


def _grant_reviewed(world: World, kind: str, response: Any) -> None:
    world.review_grant.refresh_from_db()
    assert world.review_grant.status == BreakGlassStatus.JUSTIFIED
    assert world.review_grant.reviewed_by == world.user


def _token_created(world: World, kind: str, response: Any) -> None:
    secret = response.json()["token"]
    token = ApiToken.objects.get(name="perm-test")
    assert token.token_hash == ApiToken.hash(secret)
    assert secret not in json.dumps(list(ApiToken.objects.values()), default=str)


def _token_revoked(world: World, kind: str, response: Any) -> None:
    world.token.refresh_from_db()
    assert world.token.revoked_at is not None


def _note_read(world: World, kind: str, response: Any) -> None:
    world.head_note.refresh_from_db()
    assert world.head_note.read_at is not None


def _scan_opened(world: World, kind: str, response: Any) -> None:
    assert response["Location"] == f"/patients/{world.target.pk}/"


def _portal_account_created(world: World, kind: str, response: Any) -> None:
    world.target.refresh_from_db()
    assert world.target.user is not None
    assert world.target.user.role == Role.PATIENT
    assert world.target.user.username.encode() in response.content


def _binding_revoked(world: World, kind: str, response: Any) -> None:
    world.binding.refresh_from_db()
    assert world.binding.revoked_at is not None


def _family_linked(world: World, kind: str, response: Any) -> None:
    link = FamilyLink.objects.get(user=world.h.user("other_patient_user"), patient=world.target)
    assert link.verified_by == world.user
    assert world.target.pk in Patient.objects.visible_to(world.h.user("other_patient_user")).values_list(
        "pk", flat=True
    )


# --- The expectation table -----------------------------------------------------------------------

Payload = Callable[[World, bool], dict[str, Any] | None]


@dataclass(frozen=True)
class Rule:
    method: str
    path: str  # as in the OpenAPI description: /patients/{patient_id}/
    allow: frozenset[str]
    ok: int = 200  # status for allowed callers
    deny: int = 403  # status for signed-in callers who are not allowed
    deny_code: str = ""  # error code of the denial (default CORE-403 / CORE-404)
    anon: int | None = None  # anonymous and not allowed: 302 to the login page, 401 on the API
    special: Mapping[str, int] = field(default_factory=dict)  # caller -> status, overriding the rest
    record: bool = False  # a patient record: "not allowed" must look exactly like "not found"
    payload: Payload | None = None
    params: Payload | None = None  # URL parameters beyond the common ones (see url_params)
    writes_for: frozenset[str] | None = None  # callers whose request may change data (default: allow)
    effect: Callable[[World, str, Any], None] | None = None

    @property
    def is_api(self) -> bool:
        # CDS Hooks: JSON in, problem+json out; FHIR: JSON in, OperationOutcome out
        return self.path.startswith(("/api/", "/cds-services", "/fhir/"))

    def expected(self, kind: str) -> int:
        if kind in self.special:
            return self.special[kind]
        if kind in self.allow:
            return self.ok
        if kind == ANON:
            return self.anon or (401 if self.is_api else 302)
        return self.deny

    def denied(self, kind: str) -> bool:
        return kind not in self.allow and kind not in self.special

    def may_write(self, kind: str) -> bool:
        return kind in (self.allow if self.writes_for is None else self.writes_for)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _patient_form(world: World, missing: bool) -> dict[str, Any]:
    return {"name": "权限测试", "national_id": world.national_id, "insurance_type": "self_pay"}


def _review(world: World, missing: bool) -> dict[str, Any]:
    return {"grant": world.review_grant.pk, "decision": "justified", "comment": "seen in the ER"}


def _scan(world: World, missing: bool) -> dict[str, Any]:
    return {"code": MISSING_CODE if missing else world.target.one_code}


def _break_glass_form(world: World, missing: bool) -> dict[str, Any]:
    return {"code": world.target.medical_record_number, "reason": REASON}


RULES: list[Rule] = [
    # --- web shell ---
    Rule("GET", "/", SIGNED_IN),
    Rule("GET", "/departments/", STAFF),
    Rule("GET", "/elderly-mode/", EVERYONE, ok=405),
    Rule(
        "POST",
        "/elderly-mode/",
        EVERYONE,
        ok=302,
        payload=lambda w, m: {"enabled": "1", "next": "/"},
        writes_for=SIGNED_IN,
    ),
    Rule("GET", "/healthz", EVERYONE),
    Rule("POST", "/i18n/setlang/", EVERYONE, ok=302, payload=lambda w, m: {"language": "en", "next": "/"}),
    # --- accounts ---
    Rule("GET", "/accounts/login/", EVERYONE, special=dict.fromkeys(SIGNED_IN, 302)),
    Rule(
        "POST",
        "/accounts/login/",
        EVERYONE,
        special=dict.fromkeys(SIGNED_IN, 302),
        payload=lambda w, m: {"username": "doctor", "password": "not-the-password"},
        writes_for=frozenset({ANON}),  # a failed sign-in is audited
    ),
    Rule("GET", "/accounts/logout/", EVERYONE, ok=405),
    Rule("POST", "/accounts/logout/", EVERYONE, ok=302, writes_for=SIGNED_IN),
    Rule("GET", "/accounts/two-factor/", STAFF, special=dict.fromkeys(PATIENTS | {DEVICE}, 302)),
    Rule(
        "POST",
        "/accounts/two-factor/",
        STAFF,
        ok=400,  # a wrong code; the right one is tested in tests/accounts
        special=dict.fromkeys(PATIENTS | {DEVICE}, 302),
        payload=lambda w, m: {"token": "000000"},
    ),
    Rule("GET", "/accounts/profile/", SIGNED_IN),
    Rule(
        "POST",
        "/accounts/profile/",
        SIGNED_IN,
        ok=302,
        payload=lambda w, m: {"elderly_mode": "on", "preferred_language": "en"},
    ),
    Rule("GET", "/accounts/password/", SIGNED_IN),
    Rule(
        "POST",
        "/accounts/password/",
        SIGNED_IN,  # a wrong current password: the form is shown again and nothing changes
        payload=lambda w, m: {
            "old_password": "not-the-password",
            "new_password1": "Brand-new-pass-2026",
            "new_password2": "Brand-new-pass-2026",
        },
        writes_for=NOBODY,
    ),
    Rule("GET", "/accounts/break-glass/reviews/", frozenset({HEAD, AUDITOR})),
    Rule(
        "POST",
        "/accounts/break-glass/reviews/",
        frozenset({HEAD, AUDITOR}),
        ok=302,
        payload=_review,
        effect=_grant_reviewed,
    ),
    # --- patients (pages) ---
    Rule("GET", "/patients/me/", PATIENTS),
    Rule("GET", "/patients/", SEARCHERS),
    Rule("GET", "/patients/register/", REGISTRARS),
    Rule("POST", "/patients/register/", REGISTRARS, ok=302, payload=_patient_form, effect=_registered),
    Rule("GET", "/patients/scan/", SEARCHERS),
    Rule(
        "POST",
        "/patients/scan/",
        SEARCHERS & RECORD,
        ok=302,
        special={NO_CARE: 404},
        record=True,
        payload=_scan,
        effect=_scan_opened,
    ),
    Rule("GET", "/patients/break-glass/", CLINICIANS),
    Rule(
        "POST",
        "/patients/break-glass/",
        CLINICIANS,
        ok=302,
        payload=_break_glass_form,
        effect=_grant_for_caller,
    ),
    Rule("GET", "/patients/{patient_id}/", RECORD, deny=404, record=True),
    Rule("GET", "/patients/{patient_id}/card/", RECORD, deny=404, record=True),
    Rule("GET", "/patients/{patient_id}/portal-account/", SIGNED_IN, ok=405),
    # Registrars who may update the patient create the portal account (the target has none yet,
    # except for the patient callers, who are refused anyway).
    Rule(
        "POST",
        "/patients/{patient_id}/portal-account/",
        REGISTRARS & RECORD,
        special={NO_CARE: 404},
        record=True,
        effect=_portal_account_created,
    ),
    # --- audit and notifications (pages) ---
    Rule("GET", "/audit/", frozenset({AUDITOR})),
    Rule("GET", "/audit/verify/", SIGNED_IN, ok=405),
    Rule("POST", "/audit/verify/", frozenset({AUDITOR}), ok=302, writes_for=NOBODY),
    Rule("GET", "/notifications/", INBOX),
    Rule("GET", "/notifications/{notification_id}/read/", SIGNED_IN, ok=405),
    # Anyone with an inbox may post; only the recipient's post marks the message read.
    Rule(
        "POST",
        "/notifications/{notification_id}/read/",
        INBOX,
        ok=302,
        writes_for=frozenset({HEAD}),
        effect=lambda w, k, r: _note_read(w, k, r) if k == HEAD else None,
    ),
    # --- API: documentation ---
    Rule("GET", "/api/", EVERYONE, ok=404),
    Rule("GET", "/api/openapi.json", EVERYONE),
    Rule("GET", "/api/docs", EVERYONE),
    # --- API: accounts ---
    Rule("GET", "/api/accounts/me", SIGNED_IN),
    Rule("GET", "/api/accounts/tokens", frozenset({ADMIN})),
    Rule(
        "POST",
        "/api/accounts/tokens",
        frozenset({ADMIN}),
        ok=201,
        payload=lambda w, m: {"username": "device", "name": "perm-test"},
        effect=_token_created,
    ),
    Rule("POST", "/api/accounts/tokens/{token_id}/revoke", frozenset({ADMIN}), ok=204, effect=_token_revoked),
    # --- API: audit ---
    Rule("GET", "/api/audit/events", frozenset({AUDITOR})),
    Rule("POST", "/api/audit/verify", frozenset({AUDITOR}), writes_for=NOBODY),
    # --- API: notifications ---
    Rule("GET", "/api/notifications/inbox", INBOX),
    Rule(
        "POST",
        "/api/notifications/inbox/{notification_id}/read",
        INBOX,
        ok=204,
        writes_for=frozenset({HEAD}),
        effect=lambda w, k, r: _note_read(w, k, r) if k == HEAD else None,
    ),
    # --- API: organization (public directory) ---
    Rule("GET", "/api/organization/departments", EVERYONE),
    Rule("GET", "/api/organization/catalog/departments", EVERYONE),
    Rule("GET", "/api/organization/practitioners", EVERYONE),
    # --- API: patients ---
    Rule("GET", "/api/patients/", SEARCHERS),
    Rule(
        "POST",
        "/api/patients/",
        REGISTRARS,
        ok=201,
        payload=lambda w, m: {"name": "权限测试", "national_id": w.national_id},
        effect=_registered,
    ),
    Rule("GET", "/api/patients/me", PATIENTS, deny=404),
    Rule("GET", "/api/patients/by-code/{code}", RECORD, deny=404, record=True),
    Rule("GET", "/api/patients/{patient_id}", RECORD, deny=404, record=True),
    Rule(
        "PATCH",
        "/api/patients/{patient_id}",
        RECORD,
        deny=404,
        record=True,
        payload=lambda w, m: {"address": "权限测试路1号"},
        effect=_target_address_changed,
    ),
    Rule(
        "POST",
        "/api/patients/{patient_id}/break-glass",
        CLINICIANS,
        ok=201,
        deny_code="ACCT-002",
        payload=lambda w, m: {"reason": REASON},
        effect=_grant_for_caller,
    ),
    Rule("GET", "/api/patients/{patient_id}/one-code.svg", RECORD, deny=404, record=True),
    # Only external channel identities bind themselves to patients; no caller here is one.
    Rule(
        "POST",
        "/api/patients/channel-bindings",
        NOBODY,
        payload=lambda w, m: {
            "national_id": w.target.national_id,
            "name": w.target.name,
            "phone": w.target.phone,
        },
    ),
    # Besides the channel itself, whoever may update the patient may cut the channel off.
    Rule(
        "POST",
        "/api/patients/channel-bindings/{binding_id}/revoke",
        RECORD,
        ok=204,
        deny=404,
        record=True,
        effect=_binding_revoked,
    ),
    # Registrars who may update the patient link a family member's portal account.
    Rule(
        "POST",
        "/api/patients/{patient_id}/family-links",
        REGISTRARS & RECORD,
        ok=201,
        special={NO_CARE: 404},
        record=True,
        payload=lambda w, m: {"username": "otherpatient", "relationship": "daughter"},
        effect=_family_linked,
    ),
]

APP_SETUPS: list[Callable[[World], None]] = []


def _load_app_rules() -> None:
    """Rules and setups contributed by apps in ``tests/<app>/permission_rules.py``.

    Those modules import ``Rule``, the caller kinds and ``World`` from this module, which is why
    they are loaded here, after everything they need is defined.
    """
    for path in sorted(Path(__file__).parent.glob("*/permission_rules.py")):
        module = importlib.import_module(f"tests.{path.parent.name}.permission_rules")
        RULES.extend(module.RULES)
        if hasattr(module, "setup"):
            APP_SETUPS.append(module.setup)


_load_app_rules()
RULE_KEYS = {(r.method, r.path) for r in RULES}


# --- Enumerating what exists -------------------------------------------------------------------


def _walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str, Any]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        else:
            yield prefix + str(pattern.pattern), namespace, pattern.callback


def _normalise(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def _ninja_methods(callback: Any) -> set[str]:
    """The HTTP methods of a Ninja view, including operations hidden from the OpenAPI schema."""
    try:
        view = inspect.getclosurevars(callback).nonlocals.get("self")
    except TypeError:
        return set()
    if not isinstance(view, PathView):
        return set()
    return {method.upper() for operation in view.operations for method in operation.methods}


def resolver_routes() -> dict[str, set[str]]:
    """Every non-admin route (normalised) -> the methods Ninja declares for it (empty for pages)."""
    routes: dict[str, set[str]] = {}
    for route, namespace, callback in _walk(get_resolver().url_patterns):
        if namespace == "admin" or route.startswith("admin/"):
            continue
        routes.setdefault(_normalise(route), set()).update(_ninja_methods(callback))
    return routes


def openapi_operations() -> set[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def test_every_url_has_a_rule() -> None:
    routes = resolver_routes()
    rule_paths = {path for _method, path in RULE_KEYS}
    missing_paths = sorted(set(routes) - rule_paths)
    assert not missing_paths, f"URLs without an entry in the permission test: {missing_paths}"
    missing_methods = sorted(
        (method, path)
        for path, methods in routes.items()
        for method in methods
        if (method, path) not in RULE_KEYS
    )
    assert not missing_methods, f"API operations without an entry in the permission test: {missing_methods}"
    # The resolver walk does see the API's operations (so the check above is not vacuous).
    assert {"GET", "PATCH"} <= routes["/api/patients/{patient_id}"]


def test_every_api_operation_has_a_rule() -> None:
    operations = openapi_operations()
    assert ("POST", "/api/accounts/tokens") in operations
    missing = sorted(operations - RULE_KEYS)
    assert not missing, f"API operations without an entry in the permission test: {missing}"


def test_every_rule_names_an_existing_route() -> None:
    routes = resolver_routes()
    operations = openapi_operations()
    stale = sorted(
        (method, path)
        for method, path in RULE_KEYS
        if path not in routes
        or (routes[path] and method not in routes[path] and (method, path) not in operations)
    )
    assert not stale, f"rules for routes that no longer exist: {stale}"
    assert len(RULE_KEYS) == len(RULES), "a route and method has two rules"


# --- Running the table -------------------------------------------------------------------------


@pytest.fixture()
def hospital(db: Any, settings: Any) -> TestHospital:
    # Argon2 is deliberately slow; this table builds a hospital for every request it makes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return build_hospital()


def snapshot() -> dict[str, Any]:
    user_fields = [f.attname for f in User._meta.concrete_fields if f.attname != "last_login"]
    return {
        "patients": list(Patient.objects.order_by("pk").values()),
        "care_relationships": list(CareRelationship.objects.order_by("pk").values()),
        "break_glass": list(BreakGlassGrant.objects.order_by("pk").values()),
        "api_tokens": list(ApiToken.objects.order_by("pk").values()),
        "consents": list(Consent.objects.order_by("pk").values()),
        "notifications": list(Notification.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values(*user_fields)),
        "family_links": list(FamilyLink.objects.order_by("pk").values()),
        "channel_bindings": list(ChannelBinding.objects.order_by("pk").values()),
        "totp_devices": list(TOTPDevice.objects.order_by("pk").values()),
    }


def last_audit_sequence() -> int:
    return AuditEvent.objects.order_by("-sequence").values_list("sequence", flat=True).first() or 0


def send(client: Client, rule: Rule, world: World, *, missing: bool = False) -> Any:
    url = rule.path.format(**url_params(rule, world, missing))
    payload = rule.payload(world, missing) if rule.payload else None
    if rule.method == "GET":
        return client.get(url)
    if rule.is_api:
        body = json.dumps(payload) if payload is not None else ""
        return client.generic(rule.method, url, body, content_type="application/json")
    return client.post(url, payload or {})


def error_code(response: Any) -> str:
    if response["Content-Type"].startswith("application/problem+json"):
        return json.loads(response.content)["code"]
    if response["Content-Type"].startswith("application/fhir+json"):  # an OperationOutcome
        return json.loads(response.content)["issue"][0]["details"]["coding"][0]["code"]
    found = re.search(rb'data-error-code="([A-Z]+-\d+)"', response.content)
    return found.group(1).decode() if found else ""


def _error_block(response: Any) -> str:
    """The error message a page shows (the rest of the page carries per-request tokens)."""
    found = re.search(rb'<div class="alert[^"]*"[^>]*data-error-code=.*?</div>', response.content, re.DOTALL)
    return found.group(0).decode() if found else ""


def _problem_without_instance(response: Any) -> dict[str, Any]:
    problem = json.loads(response.content)
    problem.pop("instance", None)
    return problem


@pytest.mark.parametrize(
    ("rule", "kind"),
    [(rule, kind) for rule in RULES for kind in KINDS],
    ids=lambda v: str(v).replace(" ", "_"),
)
def test_permission(hospital: TestHospital, rule: Rule, kind: str) -> None:
    world = build_world(hospital, kind)
    client = Client()
    if world.user is not None:
        client.force_login(world.user)
    before = snapshot()
    audit_before = last_audit_sequence()

    response = send(client, rule, world)

    expected = rule.expected(kind)
    assert response.status_code == expected, (
        f"{rule} as {kind}: expected {expected}, got {response.status_code}: {response.content[:300]!r}"
    )

    if rule.denied(kind):
        if kind == ANON and not rule.is_api and expected == 302:
            assert response["Location"].startswith("/accounts/login/?next=")
        elif kind == ANON and expected == 401:
            assert response["Content-Type"].startswith(("application/problem+json", "application/fhir+json"))
            assert error_code(response) == "CORE-401"
        elif expected in (403, 404):
            default_code = {403: "CORE-403", 404: "CORE-404"}[expected]
            assert error_code(response) == (rule.deny_code or default_code)

    if expected == 404 and rule.record and kind != ANON:
        # "Not allowed" is indistinguishable from "does not exist".
        not_found = send(client, rule, world, missing=True)
        assert not_found.status_code == 404
        assert error_code(not_found) == error_code(response) == "CORE-404"
        if rule.is_api:
            assert _problem_without_instance(not_found) == _problem_without_instance(response)
        else:
            assert _error_block(not_found) == _error_block(response) != ""

    if rule.method != "GET" and not rule.may_write(kind):
        assert snapshot() == before, f"{rule} as {kind} changed data"
        new_actions = set(
            AuditEvent.objects.filter(sequence__gt=audit_before).values_list("action", flat=True)
        )
        assert new_actions <= {"denied"}, f"{rule} as {kind} wrote audit events {new_actions}"

    if rule.effect is not None and kind in rule.allow and kind not in rule.special:
        rule.effect(world, kind, response)


# --- Cases the table cannot express --------------------------------------------------------------


def test_break_glass_api_does_not_reveal_whether_a_patient_exists(hospital: TestHospital) -> None:
    """A role without break-the-glass gets the same refusal for a real and a made-up patient."""
    client = Client()
    client.force_login(hospital.user("researcher"))
    url = "/api/patients/{}/break-glass"
    body = json.dumps({"reason": REASON})
    real = client.post(url.format(hospital.patient_in_care.pk), body, content_type="application/json")
    made_up = client.post(url.format(MISSING_ID), body, content_type="application/json")
    assert real.status_code == made_up.status_code == 403
    assert _problem_without_instance(real) == _problem_without_instance(made_up)
    assert not BreakGlassGrant.objects.exists()


def test_break_glass_reason_too_short_writes_nothing(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("neurologist"))
    before = snapshot()
    response = client.post(
        f"/api/patients/{hospital.patient_in_care.pk}/break-glass",
        json.dumps({"reason": "urgent"}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert error_code(response) == "ACCT-001"
    assert snapshot() == before
    after = client.get(f"/api/patients/{hospital.patient_in_care.pk}")
    assert after.status_code == 404


@pytest.mark.parametrize("kind", KINDS)
def test_admin_index_only_for_it_admin(hospital: TestHospital, kind: str) -> None:
    world = build_world(hospital, kind)
    client = Client()
    if world.user is not None:
        client.force_login(world.user)
    response = client.get("/admin/")
    if kind == ADMIN:
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("name", ["doctor", "auditor", "frontdesk", "patient"])
def test_non_admins_cannot_use_the_admin(hospital: TestHospital, name: str) -> None:
    """Not even with the is_staff flag set: the admin follows the role, not Django's flag."""
    user = hospital.user(name)
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    users_before = User.objects.count()
    assert client.get("/admin/").status_code == 302
    assert client.get("/admin/accounts/user/").status_code == 302
    assert client.get("/admin/accounts/apitoken/").status_code == 302
    response = client.post(
        "/admin/accounts/user/add/",
        {"username": "intruder", "password1": "Xk9!long-password", "password2": "Xk9!long-password"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert User.objects.count() == users_before
    assert not User.objects.filter(username="intruder").exists()


def test_admin_does_not_list_patient_data(hospital: TestHospital) -> None:
    client = Client()
    client.force_login(hospital.user("itadmin"))
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/patients/patient/").status_code == 404


def test_channel_binds_only_to_a_confirmed_identity_and_sees_only_bound_patients(
    hospital: TestHospital,
) -> None:
    channel = UserFactory(username="channel-miniprogram-1", role=Role.CHANNEL)
    secret = create_api_token(hospital.user("itadmin"), user=channel, name="mini-program")
    auth = {"Authorization": f"Bearer {secret}"}
    client = Client()
    patient = hospital.patient_in_care
    identity = {"national_id": patient.national_id, "name": patient.name, "phone": patient.phone}

    assert client.get(f"/api/patients/{patient.pk}", headers=auth).status_code == 404
    before = snapshot()
    for wrong in (
        {"phone": "13900000000"},
        {"name": "别人"},
        {"national_id": hospital.other_patient.national_id},
    ):
        response = client.post(
            "/api/patients/channel-bindings",
            json.dumps({**identity, **wrong}),
            content_type="application/json",
            headers=auth,
        )
        assert response.status_code == 404
        assert error_code(response) == "PAT-005"
    assert snapshot() == before

    response = client.post(
        "/api/patients/channel-bindings", json.dumps(identity), content_type="application/json", headers=auth
    )
    assert response.status_code == 201
    assert response.json()["patient_id"] == patient.pk
    assert client.get(f"/api/patients/{patient.pk}", headers=auth).status_code == 200
    assert client.get(f"/api/patients/{hospital.other_patient.pk}", headers=auth).status_code == 404
    # A channel may see and book, never read the clinical record.
    from smartcare.patients.access import access_patient
    from smartcare.patients.choices import AccessAction

    with pytest.raises(NotFound):
        access_patient(channel, patient, AccessAction.CLINICAL)


def test_writes_with_the_session_cookie_need_the_csrf_token(hospital: TestHospital) -> None:
    """A page on another site cannot make a signed-in browser write through the API or a form."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(hospital.user("doctor"))
    before = snapshot()
    response = client.post(
        f"/api/patients/{hospital.patient_in_care.pk}/break-glass",
        json.dumps({"reason": REASON}),
        content_type="application/json",
    )
    assert response.status_code == 403
    response = client.generic(
        "PATCH",
        f"/api/patients/{hospital.patient_in_care.pk}",
        json.dumps({"address": "跨站请求"}),
        content_type="application/json",
    )
    assert response.status_code == 403
    response = client.post(
        "/patients/register/",
        {"name": "跨站", "national_id": make_national_id(), "insurance_type": "self_pay"},
    )
    assert response.status_code == 403
    assert snapshot() == before
    # Reads need no token, and bearer tokens (no cookie) need none either.
    assert client.get(f"/api/patients/{hospital.patient_in_care.pk}").status_code == 200
    # People never get tokens (a token skips two-factor sign-in); a bound channel identity does.
    with pytest.raises(TokenOwnerNotAllowed):
        create_api_token(hospital.user("itadmin"), user=hospital.user("doctor"), name="csrf-test")
    channel = UserFactory(username="channel-app-csrf", role=Role.CHANNEL)
    ChannelBinding.objects.create(channel_user=channel, patient=hospital.patient_in_care)
    secret = create_api_token(hospital.user("itadmin"), user=channel, name="csrf-test")
    response = Client(enforce_csrf_checks=True).generic(
        "PATCH",
        f"/api/patients/{hospital.patient_in_care.pk}",
        json.dumps({"address": "渠道更新路1号"}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200
