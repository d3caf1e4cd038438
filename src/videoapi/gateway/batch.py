"""Batches: many create requests in one call, all validated before any task exists, created in one transaction.

Each family's kinds come from its feature module's tables (editing's KINDS, generation's kinds),
handed to the gateway by the composition root.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from videoapi.auth.principal import Principal
from videoapi.errors import AppError, InvalidRequest
from videoapi.gateway.service import Item

Family = Literal["edit", "generate"]
# (principal, kind, request) -> TaskService.create keyword arguments; raises AppError.
Prepare = Callable[[Principal, str, Any], Awaitable[dict[str, Any]]]

_HARD_MAX_ITEMS = 1000  # the schema's bound; gateway.max_batch_items is the operator's
_AT = re.compile(r" - at `\$\.?([^`]*)`")


@dataclass(frozen=True)
class BatchKind:
    name: str
    """The route path under /v1/video/<family>/, e.g. `trim` (the task kind `edit.trim` is accepted too)."""
    kind: str
    request_type: type
    prepare: Prepare


def batch_kind_table(kinds: list[BatchKind]) -> dict[str, BatchKind]:
    """A family's kinds by route name."""
    return {k.name: k for k in kinds}


class BatchItem(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Annotated[str, Meta(min_length=1, max_length=64, description="e.g. `trim` (or `edit.trim`)")]
    """Which create route the item stands for: its path under /v1/video/edit/ or /v1/video/generate/."""
    request: dict[str, Any]
    """The body that route takes."""


class BatchRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Up to `gateway.max_batch_items` create requests; all or none become tasks."""

    items: Annotated[list[BatchItem], Meta(min_length=1, max_length=_HARD_MAX_ITEMS)]


async def prepare_batch(table: dict[str, BatchKind], limit: int, principal: Principal, req: BatchRequest) -> list[Item]:
    """Validate every item (errors name `items[i]...`), then return them all; raise if any is invalid.

    `table` is the family's kinds; `limit` is gateway.max_batch_items."""
    if len(req.items) > limit:
        raise InvalidRequest(
            f"the batch has {len(req.items)} items; the limit is {limit} (gateway.max_batch_items)",
            code="limit_exceeded",
            errors=[{"field": "items", "message": f"at most {limit} items (gateway.max_batch_items)"}],
        )
    by_kind = {k.kind: k for k in table.values()}
    items: list[Item] = []
    failures: list[tuple[int, AppError]] = []
    for index, entry in enumerate(req.items):
        prefix = f"items[{index}].request."
        spec = table.get(entry.kind) or by_kind.get(entry.kind)
        try:
            if spec is None:
                raise InvalidRequest(
                    f"unknown kind {entry.kind!r}; known: {sorted(table)}",
                    code="unknown_kind",
                    errors=[{"field": "kind", "message": f"one of {sorted(table)}"}],
                )
            try:
                typed = msgspec.convert(entry.request, spec.request_type)
            except msgspec.ValidationError as exc:
                message = str(exc)
                match = _AT.search(message)
                text = _AT.sub("", message)
                raise InvalidRequest(
                    text, errors=[{"field": match.group(1) if match else None, "message": text}]
                ) from None
            kwargs = await spec.prepare(principal, spec.kind, typed)
            items.append(Item(kwargs, field_prefix=prefix))
        except AppError as exc:
            failures.append((index, exc))
    if failures:
        raise _batch_error(failures)
    return items


def _batch_error(failures: list[tuple[int, AppError]]) -> AppError:
    """One item's error keeps its status and code; several become one 422 listing them all."""
    errors: list[dict[str, Any]] = []
    for index, exc in failures:
        item_errors = exc.errors or [{"field": None, "message": exc.detail}]
        for err in item_errors:
            field = err.get("field")
            if field == "kind":
                path = f"items[{index}].kind"
            else:
                path = f"items[{index}].request" + (f".{field}" if field else "")
            errors.append({**err, "field": path, "code": exc.code})
    if len(failures) == 1:
        index, exc = failures[0]
        return type(exc)(f"items[{index}]: {exc.detail}", code=exc.code, status=exc.status, errors=errors)
    detail = "; ".join(f"items[{i}]: {exc.detail}" for i, exc in failures)
    return InvalidRequest(f"{len(failures)} items are invalid: {detail}", code="invalid_batch", errors=errors)
