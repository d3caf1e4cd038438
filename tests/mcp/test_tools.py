"""The tool schemas are valid JSON Schema that accept what the routes accept: every request the API
pages document for a tool's route validates against that tool's input schema, the way an MCP client
checks arguments."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import msgspec
import pytest

from tests.test_docs_examples import documented_examples as docs_examples
from videoapi.editing.timeline import CompositeRequest
from videoapi.mcp import TOOLS, list_tools, struct_schema

SCHEMAS = {tool.name: tool.input_schema for tool in list_tools()}
BY_ROUTE = {spec.path: spec.name for spec in TOOLS.values() if spec.body}


def documented_examples() -> list[tuple[str, dict[str, Any]]]:
    """(tool, body) of each documented request (curl or json block, as tests/test_docs_examples reads them)."""
    return [(BY_ROUTE[e.path], e.body) for e in docs_examples() if e.method == "POST" and e.path in BY_ROUTE and e.body]


def test_every_tool_schema_is_an_object_schema_whose_refs_resolve() -> None:
    for name, schema in SCHEMAS.items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object", name
        refs = re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(schema))
        assert set(refs) <= schema.get("$defs", {}).keys(), name


def test_the_composite_schema_is_the_request_structs_with_its_definitions() -> None:
    schema = msgspec.json.schema(CompositeRequest)
    lifted = struct_schema(CompositeRequest)
    assert lifted["properties"] == schema["$defs"]["CompositeRequest"]["properties"]
    assert lifted["$defs"] == schema["$defs"]
    assert TOOLS["composite"].request_type is CompositeRequest


@pytest.mark.parametrize(("tool", "body"), documented_examples(), ids=lambda v: v if isinstance(v, str) else "")
def test_documented_requests_validate_against_their_tool_schema(tool: str, body: dict[str, Any]) -> None:
    jsonschema.validate(body, SCHEMAS[tool])
    with pytest.raises(jsonschema.ValidationError, match="unexpected_field"):
        jsonschema.validate({**body, "unexpected_field": 1}, SCHEMAS[tool])


def test_the_docs_have_requests_for_the_tools() -> None:
    found = {tool for tool, _ in documented_examples()}
    assert found >= {
        "upload_from_url",
        "trim",
        "composite",
        "subtitles",
        "captions",
        "transcribe",
        "generate_text_to_video",
    }
