"""Imports every table so that Alembic and tests see the whole schema."""

from __future__ import annotations

from videoapi.assets.models import Asset, StorageQuota
from videoapi.auth.models import ApiKey
from videoapi.billing.models import Quota, Reservation, UsageRecord
from videoapi.db.base import Base
from videoapi.destinations.models import Destination, DestinationDelivery
from videoapi.gateway.models import DisabledEndpoint, IdempotencyRecord, WebhookAttempt, WebhookDelivery
from videoapi.moderation.policy import OwnerPolicy
from videoapi.tasks.counters import TaskCounter
from videoapi.tasks.models import Pipeline, Task
from videoapi.templates.models import Template, TemplateVersion

metadata = Base.metadata

__all__ = [
    "ApiKey",
    "Asset",
    "Destination",
    "DestinationDelivery",
    "DisabledEndpoint",
    "IdempotencyRecord",
    "OwnerPolicy",
    "Pipeline",
    "Quota",
    "Reservation",
    "StorageQuota",
    "Task",
    "TaskCounter",
    "Template",
    "TemplateVersion",
    "UsageRecord",
    "WebhookAttempt",
    "WebhookDelivery",
    "metadata",
]
