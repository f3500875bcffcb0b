from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from smartcare.core.models import BilingualNameMixin, TimeStampedModel
from smartcare.organization.choices import BedStatus, RoomKind, Sex, Title


class NationalDepartmentCode(BilingualNameMixin):
    """The national catalog of clinical departments (《医疗机构诊疗科目名录》)."""

    code = models.CharField(_("code"), max_length=10, primary_key=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )

    class Meta:
        verbose_name = _("national department code")
        verbose_name_plural = _("national department codes")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def top_level_code(self) -> str:
        return self.code.split(".")[0]


class Hospital(BilingualNameMixin, TimeStampedModel):
    code = models.CharField(_("code"), max_length=32, unique=True)
    level = models.CharField(
        _("hospital level"), max_length=20, default="3A", help_text=_("e.g. 3A (三级甲等)")
    )
    address = models.CharField(_("address"), max_length=300, blank=True)
    phone = models.CharField(_("phone"), max_length=40, blank=True)

    class Meta:
        verbose_name = _("hospital")
        verbose_name_plural = _("hospitals")

    def __str__(self) -> str:
        return self.name


class Campus(BilingualNameMixin, TimeStampedModel):
    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="campuses", verbose_name=_("hospital")
    )
    code = models.CharField(_("code"), max_length=32)
    address = models.CharField(_("address"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("campus")
        verbose_name_plural = _("campuses")
        constraints = [models.UniqueConstraint(fields=["hospital", "code"], name="campus_code_unique")]

    def __str__(self) -> str:
        return self.name


class Department(BilingualNameMixin, TimeStampedModel):
    """A department of this hospital, coded with the national catalog."""

    hospital = models.ForeignKey(
        Hospital, on_delete=models.CASCADE, related_name="departments", verbose_name=_("hospital")
    )
    campus = models.ForeignKey(
        Campus,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="departments",
        verbose_name=_("campus"),
    )
    national_code = models.ForeignKey(
        NationalDepartmentCode,
        on_delete=models.PROTECT,
        related_name="departments",
        verbose_name=_("national code"),
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent"),
    )
    is_clinical = models.BooleanField(_("clinical"), default=True)
    is_active = models.BooleanField(_("active"), default=True)
    location = models.CharField(_("location"), max_length=200, blank=True, help_text=_("building and floor"))
    # Who the department serves (used by triage and booking rules).
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(_("maximum age"), null=True, blank=True)
    serves_sex = models.CharField(_("serves sex"), max_length=10, choices=Sex.choices, blank=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["national_code_id"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "national_code"], name="department_code_unique"),
            models.CheckConstraint(
                condition=Q(min_age__isnull=True)
                | Q(max_age__isnull=True)
                | Q(min_age__lte=models.F("max_age")),
                name="department_age_range_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def code(self) -> str:
        return self.national_code_id


class Room(TimeStampedModel):
    campus = models.ForeignKey(
        Campus, on_delete=models.CASCADE, related_name="rooms", verbose_name=_("campus")
    )
    department = models.ForeignKey(
        Department,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rooms",
        verbose_name=_("department"),
    )
    code = models.CharField(_("code"), max_length=32)
    kind = models.CharField(_("kind"), max_length=20, choices=RoomKind.choices)
    floor = models.CharField(_("floor"), max_length=20, blank=True)

    class Meta:
        verbose_name = _("room")
        verbose_name_plural = _("rooms")
        constraints = [models.UniqueConstraint(fields=["campus", "code"], name="room_code_unique")]

    def __str__(self) -> str:
        return self.code


class Bed(TimeStampedModel):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="beds", verbose_name=_("room"))
    code = models.CharField(_("code"), max_length=32)
    status = models.CharField(_("status"), max_length=10, choices=BedStatus.choices, default=BedStatus.FREE)

    class Meta:
        verbose_name = _("bed")
        verbose_name_plural = _("beds")
        constraints = [models.UniqueConstraint(fields=["room", "code"], name="bed_code_unique")]

    def __str__(self) -> str:
        return f"{self.room.code}-{self.code}"


class Skill(BilingualNameMixin):
    code = models.CharField(_("code"), max_length=40, unique=True)

    class Meta:
        verbose_name = _("skill")
        verbose_name_plural = _("skills")

    def __str__(self) -> str:
        return self.name


class Practitioner(TimeStampedModel):
    user = models.OneToOneField(
        "accounts.User", on_delete=models.CASCADE, related_name="practitioner", verbose_name=_("user")
    )
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, related_name="practitioners", verbose_name=_("department")
    )
    title = models.CharField(_("title"), max_length=40, choices=Title.choices)
    licence_number = models.CharField(_("licence number"), max_length=40, unique=True)
    skills = models.ManyToManyField(Skill, blank=True, related_name="practitioners", verbose_name=_("skills"))
    is_expert = models.BooleanField(_("expert clinic"), default=False)
    introduction = models.TextField(_("introduction"), blank=True)

    class Meta:
        verbose_name = _("practitioner")
        verbose_name_plural = _("practitioners")

    def __str__(self) -> str:
        return str(self.user)
