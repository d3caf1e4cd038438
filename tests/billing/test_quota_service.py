"""Quotas: reservations at submission never overspend, even under concurrent submissions; a task is
charged once, at its actual cost capped by its reservation; failures cost nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from tests.support.app import migrate
from videoapi.billing.service import BillingService
from videoapi.db.engine import make_engine, make_sessionmaker, transaction
from videoapi.errors import PaymentRequired
from videoapi.settings import Settings
from videoapi.tasks.models import Task
from videoapi.tasks.states import Status

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)


def task(task_id: str, owner: str = "k1", kind: str = "edit.transcode") -> SimpleNamespace:
    return SimpleNamespace(id=task_id, owner_id=owner, kind=kind, params={})


async def submit(billing: BillingService, task_id: str, credits: float, owner: str = "k1") -> bool:
    """Create a queued task and reserve its credits in one transaction, as a submission does."""
    try:
        async with transaction(billing.sessions) as session:
            session.add(Task(id=task_id, kind="edit.transcode", queue="cpu", owner_id=owner, params={}))
            await session.flush()
            await billing.reserve(session, owner, task_id, credits, NOW)
        return True
    except PaymentRequired:
        return False


async def end(billing: BillingService, task_id: str, status: Status) -> None:
    async with transaction(billing.sessions) as session:
        await session.execute(update(Task).where(Task.id == task_id).values(status=status))


def run_with_billing(settings: Settings, body: Callable[[BillingService], object]) -> object:
    async def main() -> object:
        engine = make_engine(settings)
        try:
            return await body(BillingService(make_sessionmaker(engine), settings))  # type: ignore[misc]
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_prices_follow_the_sheet(make_settings: Callable[..., Settings]) -> None:
    billing = BillingService(None, make_settings())  # type: ignore[arg-type]
    hd = billing.estimate("edit.transcode", 10.0, 1280, 720)
    fhd = billing.estimate("edit.transcode", 10.0, 1920, 1080)
    vertical = billing.estimate("edit.transcode", 10.0, 1080, 1920)
    assert hd.tier == "720p" and fhd.tier == "1080p" and vertical.tier == "1080p"
    assert fhd.credits == pytest.approx(2 * hd.credits)
    assert billing.estimate("edit.trim", 10.0, 1280, 720).credits == pytest.approx(hd.credits / 2)
    assert billing.estimate("edit.trim", 0.01, 320, 240).credits == billing.prices.minimum_charge
    gen = billing.estimate("generate.text-to-video", 5.0, 768, 512, "ltx-video")
    assert gen.credits == pytest.approx(5.0 * 4.0 * 2.0)  # ltx-video per second x 720p tier multiplier


def test_a_reservation_past_the_quota_is_402_and_settlement_charges_once(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    migrate(settings.database_url)

    async def body(billing: BillingService) -> None:
        await billing.set_quota("k1", 10.0)
        assert await submit(billing, "t1", 6.0)
        assert not await submit(billing, "t2", 6.0)  # 6 reserved + 6 > 10
        assert await submit(billing, "t2", 4.0)
        assert await submit(billing, "t-k2", 50.0, owner="k2")  # no quota: not limited

        # t1 succeeds: charged its actual cost (720p, 20 s of transcode = 0.8), not the reservation.
        async with transaction(billing.sessions) as session:
            charged = await billing.settle(session, task("t1"), {"duration": 20.0, "width": 1280, "height": 720}, NOW)
        assert charged == pytest.approx(0.8)
        # A retry that succeeds again is not charged twice.
        async with transaction(billing.sessions) as session:
            again = await billing.settle(session, task("t1"), {"duration": 20.0, "width": 1280, "height": 720}, NOW)
        assert again == pytest.approx(0.8)
        await end(billing, "t1", Status.SUCCEEDED)
        # t2 fails: its reservation lapses, nothing is charged, and the credits are free again.
        await end(billing, "t2", Status.FAILED)
        report = await billing.usage("k1", datetime(2026, 11, 1, tzinfo=UTC), NOW)
        assert report["total_credits"] == pytest.approx(0.8)
        assert report["total_tasks"] == 1
        assert report["quota"] == {"monthly_credits": 10.0, "used_this_month": 0.8, "remaining": 9.2}
        assert await submit(billing, "t4", 9.0)
        assert not await submit(billing, "t5", 0.5)  # 0.8 charged + 9 reserved + 0.5 > 10
        await end(billing, "t4", Status.CANCELED)
        assert await submit(billing, "t5", 0.5)
        # An actual cost above the reservation is capped at it, so the quota holds.
        assert await submit(billing, "t3", 1.0)
        async with transaction(billing.sessions) as session:
            capped = await billing.settle(session, task("t3"), {"duration": 600.0, "width": 3840, "height": 2160}, NOW)
        assert capped == pytest.approx(1.0)

    run_with_billing(settings, body)


@pytest.mark.postgres
def test_concurrent_submissions_never_overspend_on_postgres(
    make_settings: Callable[..., Settings], pg_url: str
) -> None:
    settings = make_settings(**{"database.url": pg_url})

    async def body(billing: BillingService) -> list[bool]:
        await billing.set_quota("k1", 10.0)
        # 40 submissions of 1 credit each race for a quota of 10.
        return await asyncio.gather(*(submit(billing, f"t{i}", 1.0) for i in range(40)))

    accepted = run_with_billing(settings, body)
    assert sum(accepted) == 10  # type: ignore[arg-type]
