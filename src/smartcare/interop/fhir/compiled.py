"""The ``fhir.resources`` R4B validation rules compiled to one pydantic-core schema per resource
type, for bulk imports.

Validating with the ``fhir.resources`` model classes costs about 1.5 ms per Synthea resource:
each nested element is a model instance with Python validators, so on this 2-core machine it
alone caps an import far below the 3,000 resources per second the import must reach. This module
builds, from the same model classes, a schema that pydantic-core runs in one pass:

* every element's allowed keys (unknown keys are refused), cardinality (a list or a single value),
  and nested types (resolved from the models' ``abc.<Type>Type`` annotations);
* every primitive exactly as the models check it: the primitive's own core schema is taken from
  its annotation through ``pydantic.TypeAdapter`` (``Code``, ``Id``, ``DateTime``, ``Decimal``...);
* the rules fhir_core checks in Python after construction: required elements (a required
  primitive may instead carry its ``_element`` extension), choice elements ``value[x]`` (at most
  one; at least one when required), no ``null`` inside lists of complex types, and the
  ``resourceType`` of resources (contained ones included).

The result is the same verdict for the same resource (``tests/interop/fhir/test_compiled.py``
checks it against the model classes on Synthea-shaped resources and on mutations of them), at a
small fraction of the cost, with one known difference: a required element given as JSON ``null``
is refused here as missing, where the model classes take it as present (FHIR JSON has no nulls). ``validation.problems`` (the model classes) stays the reference and
is what the REST API uses. Django-free, like ``validation``.
"""

from __future__ import annotations

import types
import typing
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError, SchemaValidator, core_schema

from smartcare.interop.fhir.validation import _where, is_valid_id, resource_class

_NONE = type(None)


def _is_fhir_type(annotation: Any) -> bool:
    return isinstance(annotation, type) and hasattr(annotation, "get_model_klass")


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not _NONE]
        if len(args) == 1 and len(args) < len(typing.get_args(annotation)):
            return args[0], True
    return annotation, False


@cache
def _primitive(annotation: Any) -> core_schema.CoreSchema:
    """The core schema the models use for a primitive annotation (``Annotated[str, Code()]``)."""
    return TypeAdapter(annotation).core_schema


class _Compiler:
    """Builds the definitions of every element type reachable from one resource type."""

    def __init__(self) -> None:
        self.definitions: dict[str, core_schema.CoreSchema] = {}

    def reference(self, model: type) -> core_schema.CoreSchema:
        name = model.__name__
        if name not in self.definitions:
            self.definitions[name] = core_schema.any_schema()  # placeholder against recursion
            self.definitions[name] = self.model(model)
        return core_schema.definition_reference_schema(name)

    def annotation(self, annotation: Any) -> core_schema.CoreSchema:
        inner, optional = _unwrap_optional(annotation)
        schema = self._required_annotation(inner)
        return core_schema.nullable_schema(schema) if optional else schema

    def _required_annotation(self, annotation: Any) -> core_schema.CoreSchema:
        if typing.get_origin(annotation) in (list, typing.List):  # noqa: UP006
            (item,) = typing.get_args(annotation)
            return core_schema.list_schema(self.annotation(item))
        if _is_fhir_type(annotation):
            model = annotation.get_model_klass()
            if model.__name__ in ("Resource", "DomainResource") or annotation.__name__ == "ResourceType":
                return core_schema.no_info_plain_validator_function(_contained)
            return self.reference(model)
        return _primitive(annotation)

    def model(self, model: type) -> core_schema.CoreSchema:
        fields: dict[str, core_schema.TypedDictField] = {}
        element_required: list[tuple[str, str | None]] = []
        choices: dict[str, tuple[list[str], bool]] = {}
        for name, info in model.model_fields.items():  # type: ignore[attr-defined]
            key = info.alias or name
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            fields[key] = core_schema.typed_dict_field(
                self.annotation(info.annotation), required=info.is_required()
            )
            if extra.get("element_required"):
                sibling = f"_{key}" if f"{name}__ext" in model.model_fields else None  # type: ignore[attr-defined]
                element_required.append((key, sibling))
            if extra.get("one_of_many"):
                keys, required = choices.get(str(extra["one_of_many"]), ([], False))
                choices[str(extra["one_of_many"])] = (
                    [*keys, key],
                    required or bool(extra.get("one_of_many_required")),
                )
        resource_type = getattr(model, "__resource_type__", "")
        is_resource = resource_class(resource_type) is model if resource_type else False
        if is_resource:
            fields["resourceType"] = core_schema.typed_dict_field(
                core_schema.literal_schema([resource_type]), required=True
            )
        schema: core_schema.CoreSchema = core_schema.typed_dict_schema(
            fields, extra_behavior="forbid", ref=None, cls_name=model.__name__
        )
        if element_required or choices:
            schema = core_schema.no_info_after_validator_function(
                _structure_rules(
                    tuple(element_required), tuple((k, tuple(v), r) for k, (v, r) in choices.items())
                ),
                schema,
            )
        return schema


def _structure_rules(
    element_required: tuple[tuple[str, str | None], ...],
    choices: tuple[tuple[str, tuple[str, ...], bool], ...],
) -> Any:
    def check(value: dict[str, Any]) -> dict[str, Any]:
        for key, sibling in element_required:
            if value.get(key) is None:
                extension = value.get(sibling) if sibling else None
                if not (isinstance(extension, dict) and extension.get("extension")):
                    raise PydanticCustomError(
                        "missing", "Value for the field '{field}' is required.", {"field": key}
                    )
        for prefix, keys, required in choices:
            present = [k for k in keys if value.get(k) is not None]
            if len(present) > 1:
                raise PydanticCustomError(
                    "value_error", "Only one of {keys} may be given.", {"keys": ", ".join(present)}
                )
            if required and not present:
                raise PydanticCustomError("missing", "One of {prefix}[x] is required.", {"prefix": prefix})
        return value

    return check


def _contained(value: Any) -> Any:
    """A resource inside a resource (``contained``, ``Bundle.entry.resource``)."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise PydanticCustomError("model_type", "A resource with a resourceType is expected.")
    validator = validator_for(value["resourceType"])
    if validator is None:
        raise PydanticCustomError(
            "value_error", "{type} is not a FHIR R4 resource type.", {"type": value["resourceType"]}
        )
    validator.validate_python(value)
    return value


@cache
def validator_for(resource_type: str) -> SchemaValidator | None:
    model = resource_class(resource_type)
    if model is None:
        return None
    compiler = _Compiler()
    root = compiler.model(model)
    schema = core_schema.definitions_schema(
        root,
        [dict(definition, ref=name) for name, definition in compiler.definitions.items()],  # type: ignore[misc]
    )
    return SchemaValidator(schema)


def problems(resource: Any) -> list[tuple[str, str]]:
    """What is wrong with ``resource`` as a FHIR R4 resource (same contract as
    ``validation.problems``)."""
    if not isinstance(resource, dict):
        return [("", "not a JSON object")]
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or not resource_type:
        return [("resourceType", "missing")]
    validator = validator_for(resource_type)
    if validator is None:
        return [("resourceType", f"{resource_type} is not a FHIR R4 resource type")]
    if "id" in resource and not is_valid_id(resource["id"]):
        return [(f"{resource_type}.id", "not a valid FHIR id")]
    try:
        validator.validate_python(resource)
    except ValidationError as exc:
        found = []
        for error in exc.errors()[:10]:
            where = _where(tuple(error.get("loc", ())))
            message = str(error.get("msg", "invalid")).splitlines()[0].strip()
            found.append((f"{resource_type}.{where}" if where else resource_type, message[:200]))
        return found or [(resource_type, "invalid")]
    return []


def validate_file_entries(path: str, kind: str) -> list[tuple[int, list[tuple[str, str]]]]:
    from smartcare.interop.fhir import validation

    return validation.validate_file_entries(path, kind, check=problems)
