"""``smartcare load-price-catalog FILE.csv [--valid-from 2027-01-01]``: load or update the hospital's
price list. Changed prices become new versions; charges already made keep their price."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from smartcare.billing.catalog import SHIPPED_CATALOG, load_catalog, parse_catalog
from smartcare.billing.errors import InvalidCatalog
from smartcare.billing.policies import ensure_policies
from smartcare.core import clock


class Command(BaseCommand):
    help = "Load the price catalog from a CSV file (the shipped demo list when no file is given)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "file", nargs="?", help="CSV: code,kind,name_zh,name_en,unit,price,category,match"
        )
        parser.add_argument("--valid-from", help="date the new prices apply from (default: now)")
        parser.add_argument(
            "--with-policies", action="store_true", help="also create the default insurance policies"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"]) if options["file"] else SHIPPED_CATALOG
        if not path.exists():
            raise CommandError(f"BILL-016 file not found: {path}")
        valid_from = None
        if options["valid_from"]:
            day = parse_date(options["valid_from"])
            if day is None:
                raise CommandError("BILL-016 --valid-from must be a date (YYYY-MM-DD)")
            valid_from = dt.datetime.combine(day, dt.time(0, 0), tzinfo=timezone.get_current_timezone())
        try:
            result = load_catalog(parse_catalog(path.read_bytes()), valid_from=valid_from)
        except InvalidCatalog as exc:
            raise CommandError(f"{exc.code} {exc.detail}") from None
        self.stdout.write(f"{result['created']} items created, {result['repriced']} prices changed")
        if options["with_policies"]:
            year = clock.today().year
            created = ensure_policies([year - 1, year, year + 1])
            self.stdout.write(f"{created} insurance policies created")
