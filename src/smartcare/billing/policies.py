"""The insurance schemes and the policies shipped as a starting point.

The numbers follow the shape of Chinese basic medical insurance (a deductible, a reimbursement
ratio falling with the hospital level, class B items partly paid by the patient first, an annual
cap) without claiming to be any city's current rules: every hospital edits them on the policy
page (``/billing/policies/``) to match its local insurance bureau.
"""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

from django.db import transaction

from smartcare.billing.choices import CareSetting, DeductibleBasis
from smartcare.billing.models import CatalogItem, InsurancePolicy, InsuranceScheme, PolicyRule

SCHEMES = (
    ("urban_employee", "城镇职工基本医疗保险", "Urban employee basic medical insurance"),
    ("resident", "城乡居民基本医疗保险", "Urban and rural resident medical insurance"),
    ("commercial", "商业医疗保险", "Commercial health insurance"),
    ("self_pay", "自费", "Self-pay"),
)

# scheme -> (class B share, outpatient cap, inpatient cap, excluded item codes,
#            {setting: [(level, deductible, basis, ratio A, ratio B, ratio self-pay)]})
DEFAULTS: dict[str, tuple[Any, ...]] = {
    "urban_employee": (
        D("0.10"),
        D("20000.00"),
        D("500000.00"),
        (),
        {
            CareSetting.OUTPATIENT: [
                (1, D("300.00"), DeductibleBasis.YEAR, D("0.90"), D("0.90"), D("0")),
                (2, D("300.00"), DeductibleBasis.YEAR, D("0.85"), D("0.85"), D("0")),
                (3, D("300.00"), DeductibleBasis.YEAR, D("0.80"), D("0.80"), D("0")),
            ],
            CareSetting.INPATIENT: [
                (1, D("300.00"), DeductibleBasis.BILL, D("0.95"), D("0.95"), D("0")),
                (2, D("500.00"), DeductibleBasis.BILL, D("0.92"), D("0.92"), D("0")),
                (3, D("800.00"), DeductibleBasis.BILL, D("0.90"), D("0.90"), D("0")),
            ],
        },
    ),
    "resident": (
        D("0.15"),
        D("3000.00"),
        D("300000.00"),
        ("E-BONE_DENSITY",),
        {
            CareSetting.OUTPATIENT: [
                (1, D("100.00"), DeductibleBasis.YEAR, D("0.60"), D("0.60"), D("0")),
                (2, D("100.00"), DeductibleBasis.YEAR, D("0.55"), D("0.55"), D("0")),
                (3, D("100.00"), DeductibleBasis.YEAR, D("0.50"), D("0.50"), D("0")),
            ],
            CareSetting.INPATIENT: [
                (1, D("200.00"), DeductibleBasis.BILL, D("0.85"), D("0.85"), D("0")),
                (2, D("500.00"), DeductibleBasis.BILL, D("0.75"), D("0.75"), D("0")),
                (3, D("1000.00"), DeductibleBasis.BILL, D("0.65"), D("0.65"), D("0")),
            ],
        },
    ),
    "commercial": (
        D("0"),
        D("10000.00"),
        D("200000.00"),
        (),
        {
            CareSetting.OUTPATIENT: [
                (level, D("0.00"), DeductibleBasis.YEAR, D("0.80"), D("0.80"), D("0.50"))
                for level in (1, 2, 3)
            ],
            CareSetting.INPATIENT: [
                (level, D("0.00"), DeductibleBasis.BILL, D("0.90"), D("0.90"), D("0.60"))
                for level in (1, 2, 3)
            ],
        },
    ),
}


@transaction.atomic
def ensure_policies(years: list[int] | tuple[int, ...]) -> int:
    """Create the schemes, and the default policy of each insured scheme for each year that has
    none yet. Returns the number of policies created."""
    schemes = {}
    for code, name_zh, name_en in SCHEMES:
        schemes[code] = InsuranceScheme.objects.get_or_create(
            code=code, defaults={"name_zh": name_zh, "name_en": name_en}
        )[0]
    created = 0
    for code, (share, outpatient_cap, inpatient_cap, excluded, settings) in DEFAULTS.items():
        for year in years:
            if InsurancePolicy.objects.filter(scheme=schemes[code], year=year).exists():
                continue
            policy = InsurancePolicy.objects.create(
                scheme=schemes[code],
                year=year,
                class_b_self_pay_share=share,
                outpatient_annual_cap=outpatient_cap,
                inpatient_annual_cap=inpatient_cap,
            )
            policy.excluded_items.set(CatalogItem.objects.filter(code__in=excluded))
            PolicyRule.objects.bulk_create(
                PolicyRule(
                    policy=policy,
                    care_setting=setting,
                    hospital_level=level,
                    deductible=deductible,
                    deductible_basis=basis,
                    ratio_class_a=ratio_a,
                    ratio_class_b=ratio_b,
                    ratio_self_pay=ratio_self,
                )
                for setting, rows in settings.items()
                for level, deductible, basis, ratio_a, ratio_b, ratio_self in rows
            )
            created += 1
    return created
