"""The SDK's models and routes against the OpenAPI the app serves (they drift apart otherwise)."""

from __future__ import annotations

import datetime
import types
import typing
from typing import Any

import msgspec
import pytest
from scripts.gen_sdk_models import served_openapi
from videoapi_client import models
from videoapi_client._core import ANALYZE_KINDS, EDIT_KINDS, GENERATE_KINDS, OPTIONAL_ROUTES, ROUTES

from videoapi.editing.kinds import all_kinds
from videoapi.generation.kinds import KINDS as GENERATION_KINDS
from videoapi.speech.captions import CAPTIONS


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return served_openapi()


def schema_kinds(schema: dict[str, Any]) -> frozenset[str]:
    """A JSON schema as the set of its alternatives: "str", "int", "null", "list[...]", "ref:Name"..."""
    if "$ref" in schema:
        return frozenset({"ref:" + schema["$ref"].rsplit("/", 1)[-1]})
    if "oneOf" in schema or "anyOf" in schema:
        return frozenset().union(*(schema_kinds(s) for s in schema.get("oneOf") or schema["anyOf"]))
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return frozenset().union(*(schema_kinds({**schema, "type": k}) for k in kinds))
    if kinds == "array":
        return frozenset({f"list[{'|'.join(sorted(schema_kinds(schema.get('items') or {})))}]"})
    if kinds == "object":
        values = schema.get("additionalProperties") or {}
        return frozenset({f"dict[{'|'.join(sorted(schema_kinds(values))) if values else 'any'}]"})
    simple = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "null"}
    return frozenset({simple[kinds]}) if kinds else frozenset({"any"})


def type_kinds(tp: Any) -> frozenset[str]:
    """The same view of a Python annotation; `UnsetType` is no value on the wire and drops out."""
    origin = typing.get_origin(tp)
    if tp is msgspec.UnsetType:
        return frozenset()
    if origin in (typing.Union, types.UnionType):
        return frozenset().union(*(type_kinds(a) for a in typing.get_args(tp)))
    if origin is typing.Literal:
        return frozenset({"null" if v is None else {str: "str", int: "int"}[type(v)] for v in typing.get_args(tp)})
    if origin is list:
        return frozenset({f"list[{'|'.join(sorted(type_kinds(typing.get_args(tp)[0])))}]"})
    if origin is dict:
        value = typing.get_args(tp)[1]
        return frozenset({f"dict[{'any' if value is Any else '|'.join(sorted(type_kinds(value)))}]"})
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return frozenset({"ref:" + tp.__name__})
    simple = {str: "str", int: "int", float: "float", bool: "bool", type(None): "null", Any: "any"}
    return frozenset({simple.get(tp) or {datetime.datetime: "str", datetime.date: "str"}[tp]})


def sdk_structs() -> list[type[msgspec.Struct]]:
    return [
        obj
        for name in models.__all__
        if isinstance(obj := getattr(models, name), type) and issubclass(obj, msgspec.Struct)
    ]


def test_every_sdk_model_matches_its_schema_component(openapi: dict[str, Any]) -> None:
    components = openapi["components"]["schemas"]
    problems = []
    for struct in sdk_structs():
        schema = components.get(struct.__name__)
        if schema is None:
            problems.append(f"{struct.__name__}: no such schema component")
            continue
        props, required = schema.get("properties", {}), set(schema.get("required", []))
        hints = typing.get_type_hints(struct)
        config = struct.__struct_config__
        if config.tag_field:
            assert props[config.tag_field].get("const") == config.tag, struct
        for field in msgspec.structs.fields(struct):
            prop = props.get(field.encode_name)
            if prop is None:
                problems.append(f"{struct.__name__}.{field.encode_name}: not in the schema")
                continue
            if type_kinds(hints[field.name]) != schema_kinds(prop):
                problems.append(f"{struct.__name__}.{field.encode_name}: {hints[field.name]} vs {prop}")
            if field.required != (field.encode_name in required):
                problems.append(f"{struct.__name__}.{field.encode_name}: required differs")
        missing = required - {f.encode_name for f in msgspec.structs.fields(struct)} - {config.tag_field}
        if missing:
            problems.append(f"{struct.__name__}: the schema requires {sorted(missing)}")
    assert not problems, "\n".join(problems)


def test_every_route_the_sdk_calls_is_served_with_its_body_and_answer(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    for name, route in ROUTES.items():
        operation = paths.get(route.path, {}).get(route.method.lower())
        if operation is None:
            assert name in OPTIONAL_ROUTES, f"{name}: {route.method} {route.path} is not served"
            continue
        if route.body is not None and "requestBody" in operation:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/" + route.body.__name__), (name, ref)
        answer = operation["responses"][str(route.status)]
        if route.response is not None:
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/" + route.response.__name__), (name, ref)


def test_the_sdk_has_a_method_for_every_edit_and_generation_kind() -> None:
    # edit/captions is an edit kind whose route and job are speech's (it transcribes first).
    assert set(EDIT_KINDS) == {k.path for k in [*all_kinds(), CAPTIONS] if k.group == "edit"}
    assert set(ANALYZE_KINDS) == {k.path for k in all_kinds() if k.group == "analyze"}
    assert set(GENERATE_KINDS) == set(GENERATION_KINDS)
