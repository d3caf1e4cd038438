"""API keys: shown once, stored as a SHA-256 hash, found by their public prefix; each with its own limits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from videoapi.db.base import Base, JSONType, UTCDateTime, new_id, utcnow

SCOPES = ("generate", "edit", "read", "admin")
DEFAULT_SCOPES = ["generate", "edit", "read"]


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=lambda: list(DEFAULT_SCOPES))
    """What the key may do: `generate`, `edit`, `read`; `admin` may do everything."""
    allow_ips: Mapped[list[str] | None] = mapped_column(JSONType, nullable=True)
    """CIDRs (IPv4 or IPv6) the key may be used from; None: anywhere."""
    rate_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    """Token bucket refill rate; None: gateway.default_rate_per_s."""
    burst: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Token bucket size; None: gateway.default_burst."""
    max_priority: Mapped[str | None] = mapped_column(String(8), nullable=True)
    """Highest priority its tasks may ask for; None: high."""
    max_active_tasks: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Queued plus running tasks it may have at once; None: gateway.default_max_active_tasks."""
    webhook_secrets: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    """[{"secret": "whsec_...", "expires_at": ISO time or None}], newest first; all unexpired ones sign."""
