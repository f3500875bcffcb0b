"""Multi-row INSERT ... RETURNING without model instances, for bulk imports.

``QuerySet.bulk_create`` builds a model instance per row and prepares every value through the
field's full ``get_db_prep_save`` chain, which costs more than the database's own work when tens
of thousands of rows are written. Here each field gets its converter once (the same backend
operations Django calls: ``adapt_datetimefield_value``, the encrypted fields' ``get_prep_value``,
JSON adaptation...) and rows are plain dicts keyed by attribute name (``patient_id``). Defaults,
``auto_now`` and callable defaults are filled like ``Model.save`` would. Returns the new primary
keys in row order (both SQLite and PostgreSQL return the rows of a multi-row insert in order, which
``bulk_create`` relies on too).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import connection, models

from smartcare.core import clock, crypto
from smartcare.core.fields import EncryptedJSONField, EncryptedTextField

_PLAIN = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.FloatField,
    models.BooleanField,
)


class RawJson:
    """JSON text to store in an ``EncryptedJSONField`` as it is (already serialised)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def value(self) -> Any:
        return json.loads(self.text)


def _converter(field: models.Field[Any, Any]) -> Callable[[Any], Any]:
    ops = connection.ops
    if isinstance(field, EncryptedJSONField):
        return lambda value: (
            crypto.encrypt(value.text) if isinstance(value, RawJson) else field.get_prep_value(value)
        )
    if isinstance(field, EncryptedTextField):
        return field.get_prep_value
    if isinstance(field, models.ForeignKey):
        target = field.target_field
        if isinstance(target, (models.AutoField, models.BigAutoField, models.IntegerField)):
            return lambda value: value
        return lambda value: field.get_db_prep_save(value, connection)
    if isinstance(field, models.DateTimeField):
        if connection.vendor == "sqlite":
            return _sqlite_datetime
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.DecimalField):
        return lambda value: ops.adapt_decimalfield_value(value, field.max_digits, field.decimal_places)
    if isinstance(field, models.JSONField):
        return lambda value: field.get_db_prep_save(value, connection)
    if isinstance(field, _PLAIN) and type(field).get_db_prep_save is models.Field.get_db_prep_save:
        return lambda value: value
    return lambda value: field.get_db_prep_save(value, connection)


def _sqlite_datetime(value: dt.datetime) -> str:
    """What SQLite's adapt_datetimefield_value gives (naive UTC as text), without its checks."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return str(value)


@cache
def _plan(
    model: type[models.Model], vendor: str
) -> tuple[str, list[tuple[str, Any, Callable[[Any], Any], Any]]]:
    meta = model._meta
    columns = []
    for field in meta.concrete_fields:
        if field.primary_key and isinstance(field, (models.AutoField, models.BigAutoField)):
            continue
        columns.append((field.attname, field, _converter(field), field.column))
    names = ", ".join(connection.ops.quote_name(str(column)) for *_rest, column in columns)
    head = f"INSERT INTO {connection.ops.quote_name(str(meta.db_table))} ({names}) VALUES "  # noqa: S608
    return head, [(attname, field, convert, column) for attname, field, convert, column in columns]


def insert_rows(model: type[models.Model], rows: list[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (attribute name -> value) and return their primary keys in order."""
    if not rows:
        return []
    head, columns = _plan(model, connection.vendor)
    now = clock.now()
    width = len(columns)
    per_batch = max(1, min(500, (connection.features.max_query_params or 999) // width))
    placeholder = "(" + ", ".join(["%s"] * width) + ")"
    pk_column = connection.ops.quote_name(str(model._meta.pk.column))
    keys: list[int] = []
    with connection.cursor() as cursor:
        for start in range(0, len(rows), per_batch):
            batch = rows[start : start + per_batch]
            params: list[Any] = []
            for row in batch:
                for attname, field, convert, _column in columns:
                    if attname in row:
                        value = row[attname]
                    elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                        value = now
                    else:
                        value = field.get_default()
                    params.append(None if value is None else convert(value))
            sql = head + ", ".join([placeholder] * len(batch)) + f" RETURNING {pk_column}"
            cursor.execute(sql, params)
            keys.extend(int(found[0]) for found in cursor.fetchall())
    return keys


class Row:
    """A row written by ``insert_rows``: its primary key and the values it was written with."""

    def __init__(self, pk: int, values: dict[str, Any]):
        self.__dict__.update(values)
        self.pk = pk
        self.id = pk
