"""The price catalog: items, versioned prices, and which item prices a booking, an order or a bed.

The hospital loads its own price list (``smartcare load-price-catalog file.csv``, columns
``code,kind,name_zh,name_en,unit,price,category,match``); ``data/price_catalog.csv`` is the list
shipped for the demo and tests (registration and consultation by fee class, the knowledge
graph's drugs and exams, beds, and one fallback item per kind). Nothing is loaded by a migration:
a hospital without a catalog charges nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction

from smartcare.billing.choices import InsuranceCategory, ItemKind
from smartcare.billing.errors import InvalidAmount, InvalidCatalog
from smartcare.billing.models import CatalogItem, Price
from smartcare.billing.money import parse_amount
from smartcare.core import clock

SHIPPED_CATALOG = Path(__file__).parent / "data" / "price_catalog.csv"
COLUMNS = ("code", "kind", "name_zh", "name_en", "unit", "price", "category", "match")
# Prices of the shipped list are valid from this moment (before any demo activity).
SHIPPED_FROM = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class CatalogRow:
    code: str
    kind: str
    name_zh: str
    name_en: str
    unit: str
    price: Decimal
    category: str
    match: str


def parse_catalog(data: bytes | str) -> list[CatalogRow]:
    """Read a price list; every problem is reported with its line (BILL-016), nothing partial."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidCatalog(line=1, reason="missing columns " + ", ".join(missing))
    rows: list[CatalogRow] = []
    seen: set[str] = set()
    for number, raw in enumerate(reader, start=2):
        code = (raw.get("code") or "").strip()
        if not code or len(code) > 50:
            raise InvalidCatalog(line=number, reason="code")
        if code in seen:
            raise InvalidCatalog(line=number, reason=f"code {code} twice")
        seen.add(code)
        kind = (raw.get("kind") or "").strip()
        if kind not in ItemKind.values:
            raise InvalidCatalog(line=number, reason=f"kind {kind}")
        category = (raw.get("category") or "").strip()
        if category not in InsuranceCategory.values:
            raise InvalidCatalog(line=number, reason=f"category {category}")
        try:
            price = parse_amount(raw.get("price"), allow_zero=True)
        except InvalidAmount:
            raise InvalidCatalog(line=number, reason=f"price {raw.get('price')}") from None
        name_zh = (raw.get("name_zh") or "").strip()
        if not name_zh:
            raise InvalidCatalog(line=number, reason="name_zh")
        rows.append(
            CatalogRow(
                code=code,
                kind=kind,
                name_zh=name_zh[:200],
                name_en=(raw.get("name_en") or "").strip()[:200],
                unit=(raw.get("unit") or "次").strip()[:10] or "次",
                price=price,
                category=category,
                match=(raw.get("match") or "").strip()[:120],
            )
        )
    return rows


@transaction.atomic
def load_catalog(
    rows: list[CatalogRow], *, valid_from: dt.datetime | None = None, actor: Any = None
) -> dict[str, int]:
    """Create or update items; a changed price becomes a new version from ``valid_from``."""
    start = valid_from or clock.now()
    existing = {item.code: item for item in CatalogItem.objects.all()}
    new_rows = [row for row in rows if row.code not in existing]
    items = CatalogItem.objects.bulk_create(
        CatalogItem(
            code=row.code,
            kind=row.kind,
            name_zh=row.name_zh,
            name_en=row.name_en,
            unit=row.unit,
            insurance_category=row.category,
            match=row.match,
        )
        for row in new_rows
    )
    Price.objects.bulk_create(
        Price(item=item, amount=row.price, valid_from=start, created_by=actor, reason="catalog")
        for item, row in zip(items, new_rows, strict=True)
    )
    created = len(items)
    repriced = 0
    for row in rows:
        item = existing.get(row.code)
        if item is None:
            continue
        changed = False
        for name in ("kind", "name_zh", "name_en", "unit", "match"):
            if getattr(item, name) != getattr(row, name):
                setattr(item, name, getattr(row, name))
                changed = True
        if item.insurance_category != row.category:
            item.insurance_category = row.category
            changed = True
        if changed:
            item.save()
        current = price_at(item, start)
        if current is None or current.amount != row.price:
            Price.objects.update_or_create(
                item=item,
                valid_from=start,
                defaults={"amount": row.price, "created_by": actor, "reason": "catalog"},
            )
            repriced += 1
    return {"created": created, "repriced": repriced}


def ensure_catalog() -> None:
    """Load the shipped list when there is no catalog yet (the demo, tests)."""
    if not CatalogItem.objects.exists():
        load_catalog(parse_catalog(SHIPPED_CATALOG.read_bytes()), valid_from=SHIPPED_FROM)


def price_at(item: CatalogItem, moment: dt.datetime) -> Price | None:
    return Price.objects.filter(item=item, valid_from__lte=moment).order_by("-valid_from").first()


def item_for(kind: str, match: str) -> CatalogItem | None:
    """The active item of ``kind`` matching ``match``, else the kind's fallback item."""
    rows = CatalogItem.objects.filter(kind=kind, is_active=True)
    found = rows.filter(match=match).first() if match else None
    return found or rows.filter(match="fallback").first()


def exact_item(kind: str, match: str) -> CatalogItem | None:
    return CatalogItem.objects.filter(kind=kind, match=match, is_active=True).first()
