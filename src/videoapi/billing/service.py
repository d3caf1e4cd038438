"""Quotas, reservations and the usage ledger.

At submission a task's estimated cost is reserved against its owner's monthly quota in the same
transaction that creates the task; the owner's quota row is locked for that check (`SELECT ...
FOR UPDATE` on PostgreSQL, the database-wide write lock on SQLite), so concurrent submissions
never reserve past the quota. When the task succeeds it is charged its actual cost, capped at the
reservation (so the quota still holds), in the transaction that marks it succeeded. A failed,
canceled or moderated task is charged nothing: only reservations of queued and running tasks
count against the quota, so theirs lapses with them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from videoapi.billing.models import Quota, Reservation, UsageRecord
from videoapi.billing.pricing import PriceSheet, cost, load_prices, tier
from videoapi.db.engine import transaction
from videoapi.errors import PaymentRequired
from videoapi.settings import CONFIG_DIR, Settings
from videoapi.tasks.models import Task
from videoapi.tasks.states import LIVE


def month_start(now: datetime) -> datetime:
    return datetime(now.year, now.month, 1, tzinfo=UTC)


_MONTHLY_FOR_UPDATE = select(Quota.monthly_credits).where(Quota.owner_id == bindparam("owner_id")).with_for_update()
"""The owner's quota row, locked for the reservation: run on every create, so built once."""


@dataclass(frozen=True)
class Estimate:
    credits: float
    seconds: float
    tier: str
    model: str | None = None


class StorageMeter(Protocol):
    """What an owner keeps in the store (the assets feature answers it; billing only reports it)."""

    async def storage_usage(self, owner_id: str) -> tuple[int, int | None]: ...


PriceModel = Callable[[str, dict[str, Any]], str | None]
"""(task kind, task params) -> the model a task is priced as; the features know (a classical style uses none)."""


def params_model(kind: str, params: dict[str, Any]) -> str | None:
    return params.get("model")


class BillingService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        storage: StorageMeter | None = None,
        price_model: PriceModel = params_model,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.storage = storage
        # The estimate and the charge must price a task alike: both ask this.
        self.price_model = price_model
        self._prices: PriceSheet | None = None

    @property
    def prices(self) -> PriceSheet:
        if self._prices is None:
            path = Path(self.settings.billing.pricing_file) if self.settings.billing.pricing_file else None
            self._prices = load_prices(path or CONFIG_DIR / "pricing.toml")
        return self._prices

    def estimate(
        self, kind: str, seconds: float, width: int | None, height: int | None, model: str | None = None
    ) -> Estimate:
        return Estimate(cost(self.prices, kind, seconds, width, height, model), seconds, tier(width, height), model)

    # ---- quota ---------------------------------------------------------------------------

    async def set_quota(self, owner_id: str, monthly_credits: float | None) -> None:
        async with transaction(self.sessions) as session:
            row = await session.get(Quota, owner_id)
            if monthly_credits is None:
                if row is not None:
                    await session.delete(row)
            elif row is None:
                session.add(Quota(owner_id=owner_id, monthly_credits=monthly_credits))
            else:
                row.monthly_credits = monthly_credits

    async def quotas(self) -> dict[str, float]:
        """Every owner's monthly credit quota; owners without one are absent."""
        async with self.sessions() as session:
            rows = (await session.execute(select(Quota.owner_id, Quota.monthly_credits))).all()
        return {owner: credits for owner, credits in rows}

    async def committed(self, session: AsyncSession, owner_id: str, now: datetime) -> float:
        """Credits charged this month plus credits reserved by live tasks."""
        charged = await session.scalar(
            select(func.coalesce(func.sum(UsageRecord.credits), 0.0)).where(
                UsageRecord.owner_id == owner_id, UsageRecord.created_at >= month_start(now)
            )
        )
        # Only live tasks hold credits: a failed or canceled task's reservation lapses with it.
        reserved = await session.scalar(
            select(func.coalesce(func.sum(Reservation.credits), 0.0))
            .join(Task, Task.id == Reservation.task_id)
            .where(Reservation.owner_id == owner_id, Task.status.in_(LIVE))
        )
        return float(charged or 0.0) + float(reserved or 0.0)

    async def reserve(
        self, session: AsyncSession, owner_id: str, task_id: str, credits: float, now: datetime | None = None
    ) -> None:
        """Set `credits` aside for a new task, or raise 402 when the owner's quota cannot cover them."""
        now = now or datetime.now(UTC)
        monthly = await session.scalar(_MONTHLY_FOR_UPDATE, {"owner_id": owner_id})
        if monthly is None:
            return  # nothing to hold credits against; the task is charged its actual cost
        used = await self.committed(session, owner_id, now)
        if used + credits > monthly + 1e-9:
            remaining = max(monthly - used, 0.0)
            raise PaymentRequired(
                f"this request needs about {credits:g} credits and {remaining:g} of the monthly {monthly:g} are left",
                errors=[{"field": "quota", "message": f"{remaining:g} credits left this month"}],
            )
        session.add(Reservation(task_id=task_id, owner_id=owner_id, credits=credits, created_at=now))

    async def reserve_again(
        self, session: AsyncSession, owner_id: str, task_ids: Sequence[str], now: datetime | None = None
    ) -> None:
        """Before ended tasks run again (a pipeline retry): their reservations count once more when they
        are live, so the quota must cover them now, or raise 402 and nothing changes."""
        now = now or datetime.now(UTC)
        quota = await session.scalar(select(Quota).where(Quota.owner_id == owner_id).with_for_update())
        if quota is None or not task_ids:
            return
        again = await session.scalar(
            select(func.coalesce(func.sum(Reservation.credits), 0.0)).where(Reservation.task_id.in_(task_ids))
        )
        again = float(again or 0.0)
        used = await self.committed(session, owner_id, now)  # the tasks to run again are not live yet
        if used + again > quota.monthly_credits + 1e-9:
            remaining = max(quota.monthly_credits - used, 0.0)
            raise PaymentRequired(
                f"running {len(task_ids)} step(s) again needs about {again:g} credits and {remaining:g} of the "
                f"monthly {quota.monthly_credits:g} are left",
                errors=[{"field": "quota", "message": f"{remaining:g} credits left this month"}],
            )

    async def top_up(self, owner_id: str, task_id: str, credits: float, now: datetime | None = None) -> None:
        """Raise a running task's reservation to `credits`, its estimate once the worker knows its inputs
        (a URL input is reserved for `billing.unprobed_reserve_s` at the request's size before it is probed).

        Raises 402 when the quota cannot cover the difference, before any work is done; a task reserved
        for more keeps its reservation (it is charged its actual cost, capped at it, anyway).
        """
        now = now or datetime.now(UTC)
        async with transaction(self.sessions) as session:
            quota = await session.scalar(select(Quota).where(Quota.owner_id == owner_id).with_for_update())
            reservation = await session.get(Reservation, task_id)
            if quota is None or reservation is None or credits <= reservation.credits + 1e-9:
                return
            others = await self.committed(session, owner_id, now) - reservation.credits
            if others + credits > quota.monthly_credits + 1e-9:
                remaining = max(quota.monthly_credits - others, 0.0)
                raise PaymentRequired(
                    f"the inputs make this task need about {credits:g} credits and {remaining:g} of the "
                    f"monthly {quota.monthly_credits:g} are left",
                    errors=[{"field": "quota", "message": f"{remaining:g} credits left this month"}],
                )
            reservation.credits = credits

    async def settle(
        self, session: AsyncSession, task: Any, result: dict[str, Any], now: datetime | None = None
    ) -> float | None:
        """Charge a succeeded task once: its actual cost, capped at what was reserved for it."""
        existing = await session.scalar(select(UsageRecord.credits).where(UsageRecord.task_id == task.id))
        if existing is not None:
            return float(existing)
        reservation = await session.get(Reservation, task.id)
        model = self.price_model(task.kind, task.params or {})
        seconds = float(result.get("duration") or 0.0)
        actual = self.estimate(task.kind, seconds, result.get("width"), result.get("height"), model)
        charged = min(actual.credits, reservation.credits) if reservation is not None else actual.credits
        if reservation is not None:
            await session.delete(reservation)
        session.add(
            UsageRecord(
                owner_id=task.owner_id,
                task_id=task.id,
                kind=task.kind,
                credits=charged,
                output_seconds=seconds,
                tier=actual.tier,
                model=model,
                created_at=now or datetime.now(UTC),
            )
        )
        return charged

    async def release(self, session: AsyncSession, task_id: str) -> None:
        await session.execute(delete(Reservation).where(Reservation.task_id == task_id))

    # ---- reports -------------------------------------------------------------------------

    async def usage(self, owner_id: str | None, since: datetime, now: datetime | None = None) -> dict[str, Any]:
        """Charges by day and kind since `since`, and (for one owner) this month's quota and what is left."""
        now = now or datetime.now(UTC)
        day = func.date(UsageRecord.created_at)
        query = (
            select(
                day, UsageRecord.kind, func.count(), func.sum(UsageRecord.credits), func.sum(UsageRecord.output_seconds)
            )
            .where(UsageRecord.created_at >= since)
            .group_by(day, UsageRecord.kind)
            .order_by(day, UsageRecord.kind)
        )
        if owner_id is not None:
            query = query.where(UsageRecord.owner_id == owner_id)
        async with self.sessions() as session:
            rows = (await session.execute(query)).all()
            quota = await session.get(Quota, owner_id) if owner_id is not None else None
            used = await self.committed(session, owner_id, now) if owner_id is not None else None
        days = [
            {
                "date": d.isoformat() if isinstance(d, date) else str(d),
                "kind": kind,
                "tasks": int(n),
                "credits": round(float(credits or 0.0), 4),
                "output_seconds": round(float(seconds or 0.0), 3),
            }
            for d, kind, n, credits, seconds in rows
        ]
        out: dict[str, Any] = {
            "since": since.isoformat(),
            "total_credits": round(sum(r["credits"] for r in days), 4),
            "total_tasks": sum(r["tasks"] for r in days),
            "by_day_and_kind": days,
        }
        if owner_id is not None:
            out["quota"] = {
                "monthly_credits": quota.monthly_credits if quota else None,
                "used_this_month": round(used or 0.0, 4),
                "remaining": round(max(quota.monthly_credits - (used or 0.0), 0.0), 4) if quota else None,
            }
            if self.storage is not None:
                stored, limit = await self.storage.storage_usage(owner_id)
                out["storage"] = {
                    "used_bytes": stored,
                    "quota_bytes": limit,
                    "remaining_bytes": max(limit - stored, 0) if limit is not None else None,
                }
        return out
