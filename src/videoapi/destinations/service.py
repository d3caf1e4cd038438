"""Destinations of a caller (create, list, read, delete) and, per task, the deliveries planned at submission."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.destinations.crypto import CredentialBox, Credentials, mask
from videoapi.destinations.models import Destination, DestinationDelivery
from videoapi.destinations.schemas import (
    DestinationCopyLog,
    DestinationCopyOut,
    DestinationIn,
    DestinationOut,
    DestinationPage,
    DestinationUpdate,
    RekeyReport,
)
from videoapi.errors import FetchError, InvalidRequest, NotFound, ServiceUnavailable
from videoapi.media.fetch import check_target
from videoapi.settings import DestinationSettings
from videoapi.tasks.models import Task
from videoapi.tasks.service import TaskService, newest_first


class DestinationService:
    def __init__(
        self,
        settings: DestinationSettings,
        sessions: async_sessionmaker[AsyncSession],
        tasks: TaskService,
        box: CredentialBox,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.tasks = tasks
        self.box = box

    async def check_endpoint(self, endpoint: str, field: str = "endpoint") -> None:
        """422 `url_forbidden` for an endpoint the copier would refuse (internal address, port).

        The copier checks it again on every attempt."""
        try:
            await check_target(endpoint, self.settings.allow_cidrs, self.settings.allow_ports)
        except FetchError as exc:
            if exc.code == "url_forbidden":
                raise InvalidRequest(
                    f"{field}: {exc.detail}", code=exc.code, errors=[{"field": field, "message": exc.detail}]
                ) from None
            # A name that does not resolve now may resolve later: deliveries retry.

    async def create(self, owner_id: str, data: DestinationIn) -> DestinationOut:
        await self.check_endpoint(data.endpoint)
        row = Destination(
            owner_id=owner_id,
            name=data.name,
            endpoint=data.endpoint.rstrip("/"),
            region=data.region,
            bucket=data.bucket,
            prefix=data.prefix,
            credentials=self.box.seal(Credentials(data.access_key, data.secret_key)),
            access_key_hint=mask(data.access_key),
            created_at=utcnow(),
        )
        async with transaction(self.sessions) as session:
            session.add(row)
        return _present(row)

    async def get(self, owner_id: str, destination_id: str) -> DestinationOut:
        async with self.sessions() as session:
            return _present(await _owned(session, owner_id, destination_id))

    async def list(self, owner_id: str, cursor: str | None, limit: int) -> DestinationPage:
        async with self.sessions() as session:
            query = select(Destination).where(Destination.owner_id == owner_id)
            page, next_cursor = await newest_first(session, query, Destination, cursor, limit)
        return DestinationPage([_present(r) for r in page], next_cursor)

    async def update(self, owner_id: str, destination_id: str, data: DestinationUpdate) -> DestinationOut:
        """Replace the given fields; a new endpoint passes the same check as at creation."""
        given = {f: v for f in data.__struct_fields__ if (v := getattr(data, f)) is not msgspec.UNSET}
        if ("access_key" in given) != ("secret_key" in given):
            missing = "secret_key" if "access_key" in given else "access_key"
            raise InvalidRequest(
                f"{missing}: credentials are replaced as a pair; give access_key and secret_key together",
                errors=[{"field": missing, "message": "required with the other key of the pair"}],
            )
        if "endpoint" in given:
            await self.check_endpoint(given["endpoint"])
            given["endpoint"] = given["endpoint"].rstrip("/")
        async with transaction(self.sessions) as session:
            row = await _owned(session, owner_id, destination_id)
            if "access_key" in given:
                row.credentials = self.box.seal(Credentials(given.pop("access_key"), given.pop("secret_key")))
                row.access_key_hint = mask(data.access_key)  # type: ignore[arg-type]
            for field, value in given.items():
                setattr(row, field, value)
        return _present(row)

    async def rekey(self, batch: int = 500) -> RekeyReport:
        """Reseal every destination's credentials with the current key (after `encryption_key` changed and
        the old one went to `previous_encryption_keys`); those no known key opens are listed, not changed."""
        resealed = current = 0
        unreadable: list[str] = []
        after = ""
        while True:
            async with transaction(self.sessions) as session:
                rows = (
                    await session.execute(
                        select(Destination.id, Destination.credentials)
                        .where(Destination.id > after)
                        .order_by(Destination.id)
                        .limit(batch)
                    )
                ).all()
                for destination_id, token in rows:
                    if self.box.is_current(token):
                        current += 1
                        continue
                    try:
                        sealed = self.box.reseal(token)
                    except ServiceUnavailable:
                        unreadable.append(destination_id)
                        continue
                    # Only if nobody replaced the credentials meanwhile (a PATCH seals with the current key).
                    await session.execute(
                        update(Destination)
                        .where(Destination.id == destination_id, Destination.credentials == token)
                        .values(credentials=sealed)
                    )
                    resealed += 1
            if len(rows) < batch:
                return RekeyReport(resealed=resealed, current=current, unreadable=unreadable)
            after = rows[-1][0]

    async def delete(self, owner_id: str, destination_id: str) -> None:
        """Deliveries not yet made to it fail with a note; the log of earlier ones stays."""
        async with transaction(self.sessions) as session:
            row = await _owned(session, owner_id, destination_id)
            await session.execute(delete(Destination).where(Destination.id == row.id))

    async def check_refs(self, owner_id: str, refs: Sequence[str], field_prefix: str = "") -> None:
        """422 `unknown_destination` naming `destinations[i].id` for an id the owner does not have."""
        if not refs:
            return
        async with self.sessions() as session:
            found = set(
                await session.scalars(
                    select(Destination.id).where(Destination.owner_id == owner_id, Destination.id.in_(list(refs)))
                )
            )
        for i, ref in enumerate(refs):
            if ref not in found:
                field = f"{field_prefix}destinations[{i}].id"
                raise InvalidRequest(
                    f"{field}: no destination {ref}",
                    code="unknown_destination",
                    errors=[{"field": field, "message": f"no destination {ref}"}],
                )

    async def plan(self, session: AsyncSession, tasks: Sequence[Task], refs: Sequence[Sequence[str]]) -> None:
        """The outbox: one waiting delivery per task and destination, written in the tasks' transaction."""
        now = utcnow()
        for task, ids in zip(tasks, refs, strict=True):
            for destination_id in dict.fromkeys(ids):  # a destination named twice is delivered once
                session.add(
                    DestinationDelivery(
                        task_id=task.id,
                        owner_id=task.owner_id,
                        destination_id=destination_id,
                        status="waiting",
                        attempts=0,
                        next_attempt_at=now,
                        object_keys=[],
                        created_at=now,
                        updated_at=now,
                    )
                )

    async def rearm(self, task_ids: Sequence[str]) -> None:
        """Tasks run again (a pipeline's retried steps): their skipped deliveries wait for the new run."""
        if not task_ids:
            return
        async with transaction(self.sessions) as session:
            await session.execute(
                update(DestinationDelivery)
                .where(DestinationDelivery.task_id.in_(list(task_ids)), DestinationDelivery.status == "skipped")
                .values(status="waiting", last_error=None, updated_at=utcnow())
            )

    async def log(self, task_id: str, owner_id: str) -> DestinationCopyLog:
        await self.tasks.get(task_id, owner_id)  # 404 unless it is the caller's
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    select(DestinationDelivery, Destination.bucket)
                    .outerjoin(Destination, Destination.id == DestinationDelivery.destination_id)
                    .where(DestinationDelivery.task_id == task_id)
                    .order_by(DestinationDelivery.created_at, DestinationDelivery.id)
                )
            ).all()
        return DestinationCopyLog([_present_delivery(d, bucket) for d, bucket in rows])


def _present(row: Destination) -> DestinationOut:
    return DestinationOut(
        id=row.id,
        name=row.name,
        endpoint=row.endpoint,
        region=row.region,
        bucket=row.bucket,
        prefix=row.prefix,
        access_key=row.access_key_hint,
        created_at=row.created_at,
    )


def _present_delivery(d: DestinationDelivery, bucket: str | None) -> DestinationCopyOut:
    return DestinationCopyOut(
        destination_id=d.destination_id,
        bucket=bucket,
        status=d.status,
        delivered=d.status == "delivered",
        attempts=d.attempts,
        last_error=d.last_error,
        object_keys=list(d.object_keys or []),
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        created_at=d.created_at,
        updated_at=d.updated_at,
        delivered_at=d.delivered_at,
    )


async def _owned(session: AsyncSession, owner_id: str, destination_id: str) -> Destination:
    """The owner's destination; another owner's is as absent as a missing one."""
    row = await session.scalar(
        select(Destination).where(Destination.id == destination_id, Destination.owner_id == owner_id)
    )
    if row is None:
        raise NotFound(f"no destination {destination_id}", code="destination_not_found")
    return row
