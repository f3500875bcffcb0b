"""Cohort writes and counted runs: saving versions, and counting a cohort for a person.

Every count shown to a person goes through ``privacy.release_count``: exact within an approved,
unexpired project the person is on, noisy (and charged to their privacy budget) otherwise. Every
run is recorded (``CohortRun``) and audited, with the exact count kept for the auditor.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from smartcare.audit.choices import AuditAction
from smartcare.audit.services import record
from smartcare.core.permissions import has_capability, require_capability
from smartcare.research import cohorts
from smartcare.research.errors import CohortInvalid, CohortNotFound
from smartcare.research.models import Cohort, CohortRun, CohortVersion

CAPABILITY = "research.cohorts"


@dataclass(frozen=True)
class ShownCount:
    value: int
    noisy: bool
    epsilon_spent: float
    budget_left: float | None
    index_date: dt.date
    sql: str
    definition: dict[str, Any]
    run: CohortRun


# --- reads --------------------------------------------------------------------------------------


def cohorts_for(user: Any) -> QuerySet[Cohort]:
    """The user's own cohorts; a data steward (``research.lake``) sees everyone's."""
    require_capability(user, CAPABILITY)
    qs = Cohort.objects.filter(is_archived=False).select_related("owner")
    return qs if has_capability(user, "research.lake") else qs.filter(owner=user)


def get_cohort(user: Any, cohort_id: Any) -> Cohort:
    try:
        pk = int(cohort_id)
    except (TypeError, ValueError):
        raise CohortNotFound() from None
    cohort = cohorts_for(user).filter(pk=pk).first()
    if cohort is None:
        raise CohortNotFound()
    return cohort


def get_version(cohort: Cohort, number: Any = None) -> CohortVersion:
    if number in (None, ""):
        version = cohort.latest_version()
    else:
        try:
            version = cohort.versions.filter(number=int(number)).first()
        except (TypeError, ValueError):
            version = None
    if version is None:
        raise CohortNotFound()
    return version


def projects_for(user: Any) -> QuerySet[Any]:
    """Projects whose context a count may be shown in (the user's own)."""
    from smartcare.research.projects import projects_for as own_projects

    return own_projects(user)


def project_for(user: Any, project_id: Any) -> Any:
    """The user's project ``project_id`` (None for none); another's answers RES-041."""
    if project_id in (None, "", 0, "0"):
        return None
    from smartcare.research.errors import ProjectNotFound

    try:
        pk = int(project_id)
    except (TypeError, ValueError):
        raise ProjectNotFound() from None
    project = projects_for(user).filter(pk=pk).first()
    if project is None:
        raise ProjectNotFound()
    return project


def recent_runs(user: Any, cohort: Cohort | None = None, limit: int = 10) -> list[CohortRun]:
    qs = CohortRun.objects.filter(run_by=user).select_related("version__cohort")
    if cohort is not None:
        qs = qs.filter(version__cohort=cohort)
    return list(qs.order_by("-run_at", "-pk")[:limit])


# --- writes -------------------------------------------------------------------------------------


def _clean_name(name: Any) -> str:
    text = (name or "").strip() if isinstance(name, str) else ""
    if not text or len(text) > 200:
        raise CohortInvalid(reason="name", field="name")
    return text


@transaction.atomic
def save_cohort(
    user: Any,
    *,
    definition: Any,
    name: Any = None,
    description: str = "",
    cohort: Cohort | None = None,
    comment: str = "",
) -> CohortVersion:
    """Save ``definition`` as a new cohort (``cohort`` None) or as the next version of ``cohort``.
    The criteria are validated first (RES-001); nothing is written for bad input. Saving the same
    criteria again returns the latest version unchanged."""
    require_capability(user, CAPABILITY)
    clean = cohorts.validate(definition)
    sql = cohorts.compile_sql(clean)
    if len(comment or "") > 300 or len(description or "") > 5000:
        raise CohortInvalid(reason="comment", field="comment")
    if cohort is None:
        cohort = Cohort.objects.create(name=_clean_name(name), description=description or "", owner=user)
        action = AuditAction.CREATE
    else:
        cohort = Cohort.objects.select_for_update().get(pk=cohort.pk)
        if cohort.owner_id != user.pk:
            raise CohortNotFound()
        if name is not None:
            cohort.name = _clean_name(name)
        if description:
            cohort.description = description
        cohort.save()
        latest = cohort.latest_version()
        if latest is not None and latest.definition == clean:
            return latest
        action = AuditAction.UPDATE
    number = (cohort.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = CohortVersion.objects.create(
        cohort=cohort, number=number, definition=clean, sql=sql, comment=comment or "", created_by=user
    )
    record(
        user,
        action,
        obj=version,
        reason="cohort saved",
        detail={"cohort": cohort.pk, "version": number, "criteria": cohorts.describe(clean["criteria"])},
    )
    return version


@transaction.atomic
def archive_cohort(user: Any, cohort: Cohort) -> Cohort:
    require_capability(user, CAPABILITY)
    if cohort.owner_id != user.pk:
        raise CohortNotFound()
    cohort.is_archived = True
    cohort.save(update_fields=["is_archived", "updated_at"])
    record(user, AuditAction.DELETE, obj=cohort, reason="cohort archived")
    return cohort


def count_cohort(
    user: Any,
    definition: Any = None,
    *,
    version: CohortVersion | None = None,
    project: Any = None,
    index_date: dt.date | None = None,
    purpose: str = "cohort count",
) -> ShownCount:
    """Count a draft ``definition`` or a saved ``version`` for ``user`` and release the count
    through differential privacy (exact only within an open project the user is on). Bad
    criteria: RES-001; no lake yet: RES-002; budget spent: RES-046 (nothing recorded)."""
    require_capability(user, CAPABILITY)
    source = version.definition if version is not None else definition
    clean = cohorts.validate(source)
    result = cohorts.run(clean, index_date=index_date, with_keys=False)
    from smartcare.research.privacy import release_count

    with transaction.atomic():
        released = release_count(user=user, project=project, true_count=result.count, purpose=purpose)
        run = CohortRun.objects.create(
            version=version,
            definition=clean,
            index_date=result.index_date,
            run_by=user,
            purpose=purpose[:20],
            true_count=result.count,
            shown_count=int(released.value),
            noisy=bool(released.noisy),
            excluded_withdrawn=result.excluded_withdrawn,
            elapsed_ms=round(result.elapsed_ms, 2),
        )
        record(
            user,
            AuditAction.SEARCH,
            obj=run,
            reason=purpose,
            detail={
                "cohort": version.cohort_id if version else None,
                "version": version.number if version else None,
                "project": getattr(project, "pk", None),
                "criteria": cohorts.describe(clean["criteria"]),
                "index_date": result.index_date.isoformat(),
                "noisy": bool(released.noisy),
            },
        )
    return ShownCount(
        value=int(released.value),
        noisy=bool(released.noisy),
        epsilon_spent=float(released.epsilon_spent or 0.0),
        budget_left=released.budget_left,
        index_date=result.index_date,
        sql=result.sql,
        definition=clean,
        run=run,
    )
