"""Templates: save and version them (checked at creation), and turn a render into a composite task."""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import and_, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.auth.principal import Principal
from videoapi.db.base import utcnow
from videoapi.db.engine import transaction
from videoapi.editing.service import EditingService
from videoapi.errors import NotFound
from videoapi.moderation.policy import PolicyService
from videoapi.moderation.service import Moderation
from videoapi.settings import Settings
from videoapi.tasks.service import newest_first
from videoapi.templates.merge import Fields, check_template, composite, preview, resolve, samples, substitute
from videoapi.templates.models import Template, TemplateVersion
from videoapi.templates.schemas import RenderRequest, TemplateIn, TemplateOut, TemplatePage, VersionOut

COMPOSITE = "edit.composite"


class TemplateService:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        policies: PolicyService,
        moderation: Moderation,
        edits: EditingService,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.policies = policies
        self.moderation = moderation
        self.edits = edits

    async def _check(self, owner_id: str, data: TemplateIn) -> dict[str, Any]:
        """The template's body, checked; its own text (defaults, literals) is screened like a composite's."""
        body = {"timeline": data.timeline, "output": data.output}
        check_template(body, data.fields, self.settings)
        policy = await self.policies.get(owner_id)
        self.moderation.screen(substitute(body, samples(data.fields)), policy.moderation_rules)
        return body

    async def create(self, owner_id: str, data: TemplateIn) -> TemplateOut:
        body = await self._check(owner_id, data)
        now = utcnow()
        async with transaction(self.sessions) as session:
            row = Template(owner_id=owner_id, name=data.name, latest_version=1, created_at=now, updated_at=now)
            session.add(row)
            await session.flush()
            session.add(_version(row.id, 1, data, body))
        return await self.get(owner_id, row.id)

    async def replace(self, owner_id: str, template_id: str, data: TemplateIn) -> TemplateOut:
        """A new version; earlier versions stay as they are and can still be rendered."""
        body = await self._check(owner_id, data)
        async with transaction(self.sessions) as session:
            # The UPDATE takes the row lock: concurrent PUTs get consecutive versions.
            done = await session.execute(
                update(Template)
                .where(Template.id == template_id, Template.owner_id == owner_id)
                .values(latest_version=Template.latest_version + 1, name=data.name, updated_at=utcnow())
            )
            if not done.rowcount:
                raise _not_found(template_id)
            version = await session.scalar(select(Template.latest_version).where(Template.id == template_id))
            session.add(_version(template_id, int(version or 1), data, body))
        return await self.get(owner_id, template_id)

    async def delete(self, owner_id: str, template_id: str) -> None:
        async with transaction(self.sessions) as session:
            row = await _owned(session, owner_id, template_id)
            await session.execute(delete(TemplateVersion).where(TemplateVersion.template_id == template_id))
            await session.delete(row)

    async def get(self, owner_id: str, template_id: str, version: int | None = None) -> TemplateOut:
        async with self.sessions() as session:
            row = await _owned(session, owner_id, template_id)
            shown = await self._version(session, row, version)
            versions = await _version_list(session, [row.id])
        return _present(row, shown, versions[row.id])

    async def list(self, owner_id: str, cursor: str | None, limit: int) -> TemplatePage:
        """Newest first; `cursor` is the `next_cursor` of the previous page."""
        async with self.sessions() as session:
            query = select(Template).where(Template.owner_id == owner_id)
            page, next_cursor = await newest_first(session, query, Template, cursor, limit)
            versions = await _version_list(session, [r.id for r in page])
            latest_rows = await session.scalars(
                select(TemplateVersion)
                .join(
                    Template,
                    and_(
                        Template.id == TemplateVersion.template_id, Template.latest_version == TemplateVersion.version
                    ),
                )
                .where(Template.id.in_([r.id for r in page]))
            )
            latest = {v.template_id: v for v in latest_rows.all()}
        items = [_present(r, latest[r.id], versions[r.id]) for r in page]
        return TemplatePage(items, next_cursor)

    async def prepare_render(self, principal: Principal, template_id: str, req: RenderRequest) -> dict[str, Any]:
        """Merge and check the values, then the composite task's arguments (EditingService.prepare)."""
        async with self.sessions() as session:
            row = await _owned(session, principal.owner_id, template_id)
            version = await self._version(session, row, req.version)
        fields = msgspec.convert(version.fields, Fields)
        values = resolve(fields, req.merge)
        policy = await self.policies.get(principal.owner_id)
        # Screened under the field's name first, so that a blocked word names `merge.<field>`.
        drawn = [(f"merge.{name}", str(v)) for name, v in values.items() if fields[name].type == "text"]
        self.moderation.screen({}, policy.moderation_rules, drawn)
        body = substitute(version.body, values)
        body["output"] = {**(body.get("output") or {}), **req.output}
        body.update(priority=req.priority, webhook_url=req.webhook_url)
        if req.destinations:
            body["destinations"] = msgspec.to_builtins(req.destinations)
        if req.watermark is not None:
            body["watermark"] = msgspec.to_builtins(req.watermark)
        composite_req = composite(body, self.settings)
        if req.preview:
            composite_req = preview(composite_req, self.settings)
        return await self.edits.prepare(principal, COMPOSITE, composite_req)

    async def _version(self, session: AsyncSession, row: Template, version: int | None) -> TemplateVersion:
        number = row.latest_version if version is None else version
        found = await session.get(TemplateVersion, (row.id, number))
        if found is None:
            raise NotFound(
                f"template {row.id} has no version {number} (versions 1 to {row.latest_version})",
                code="template_version_not_found",
                errors=[{"field": "version", "message": f"1 to {row.latest_version}"}],
            )
        return found


def _version(template_id: str, number: int, data: TemplateIn, body: dict[str, Any]) -> TemplateVersion:
    return TemplateVersion(
        template_id=template_id,
        version=number,
        name=data.name,
        description=data.description,
        fields=msgspec.to_builtins(data.fields),
        body=body,
        created_at=utcnow(),
    )


async def _version_list(session: AsyncSession, ids: list[str]) -> dict[str, list[VersionOut]]:
    out: dict[str, list[VersionOut]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = await session.execute(
        select(TemplateVersion.template_id, TemplateVersion.version, TemplateVersion.created_at)
        .where(TemplateVersion.template_id.in_(ids))
        .order_by(TemplateVersion.version)
    )
    for template_id, number, created_at in rows:
        out[template_id].append(VersionOut(number, created_at))
    return out


def _present(row: Template, shown: TemplateVersion, versions: list[VersionOut]) -> TemplateOut:
    return TemplateOut(
        id=row.id,
        name=shown.name,
        description=shown.description,
        version=shown.version,
        latest_version=row.latest_version,
        fields=shown.fields,
        timeline=shown.body["timeline"],
        output=shown.body.get("output") or {},
        versions=versions,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _owned(session: AsyncSession, owner_id: str, template_id: str) -> Template:
    """The owner's template; another owner's is as absent as a missing one."""
    row = await session.scalar(select(Template).where(Template.id == template_id, Template.owner_id == owner_id))
    if row is None:
        raise _not_found(template_id)
    return row


def _not_found(template_id: str) -> NotFound:
    return NotFound(f"no template {template_id}", code="template_not_found")
