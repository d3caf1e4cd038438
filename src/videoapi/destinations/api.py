"""Routes: the caller's destinations (create, list, read, update, delete) and a task's delivery log."""

from __future__ import annotations

from typing import Annotated

from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import Body, FromPath, Parameter

from videoapi.auth.principal import CurrentPrincipal
from videoapi.destinations.schemas import (
    DestinationCopyLog,
    DestinationIn,
    DestinationOut,
    DestinationPage,
    DestinationUpdate,
)
from videoapi.destinations.service import DestinationService


@post(
    "/v1/video/destinations",
    status_code=201,
    summary="Save an S3-compatible bucket that outputs can be copied to",
    tags=["destinations"],
)
async def create_destination(
    data: Annotated[DestinationIn, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    destination_service: NamedDependency[DestinationService],
) -> Response[DestinationOut]:
    out = await destination_service.create(principal.owner_id, data)
    return Response(out, status_code=201, headers={"Location": f"/v1/video/destinations/{out.id}"})


@get("/v1/video/destinations", summary="The caller's destinations, newest first", tags=["destinations"])
async def list_destinations(
    principal: CurrentPrincipal,
    destination_service: NamedDependency[DestinationService],
    cursor: Annotated[str | None, Parameter(max_length=512)] = None,
    limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> DestinationPage:
    return await destination_service.list(principal.owner_id, cursor, limit)


@get(
    "/v1/video/destinations/{destination_id:str}",
    summary="A destination (credentials never shown)",
    tags=["destinations"],
)
async def get_destination(
    destination_id: FromPath[str], principal: CurrentPrincipal, destination_service: NamedDependency[DestinationService]
) -> DestinationOut:
    return await destination_service.get(principal.owner_id, destination_id)


@patch(
    "/v1/video/destinations/{destination_id:str}",
    summary="Change a destination: any of its fields; credentials as a pair",
    tags=["destinations"],
)
async def update_destination(
    destination_id: FromPath[str],
    data: Annotated[DestinationUpdate, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    destination_service: NamedDependency[DestinationService],
) -> DestinationOut:
    return await destination_service.update(principal.owner_id, destination_id, data)


@delete(
    "/v1/video/destinations/{destination_id:str}",
    status_code=204,
    summary="Delete a destination; deliveries not yet made to it fail",
    tags=["destinations"],
)
async def delete_destination(
    destination_id: FromPath[str], principal: CurrentPrincipal, destination_service: NamedDependency[DestinationService]
) -> None:
    await destination_service.delete(principal.owner_id, destination_id)


@get(
    "/v1/video/tasks/{task_id:str}/deliveries",
    summary="The copies of a task's outputs to its destinations: delivered or not, attempts, errors, keys",
    tags=["destinations"],
)
async def task_deliveries(
    task_id: FromPath[str], principal: CurrentPrincipal, destination_service: NamedDependency[DestinationService]
) -> DestinationCopyLog:
    return await destination_service.log(task_id, principal.owner_id)


ROUTES = [
    create_destination,
    list_destinations,
    get_destination,
    update_destination,
    delete_destination,
    task_deliveries,
]
