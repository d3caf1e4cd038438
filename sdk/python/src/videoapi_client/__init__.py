"""Python client of the videoapi HTTP API: `Client` (blocking) and `AsyncClient` (asyncio).

```python
from videoapi_client import Client

with Client("http://127.0.0.1:8000", "vk_...") as client:
    asset = client.upload("clip.mp4")
    task = client.edit.trim(input={"asset_id": asset.id}, start_s=1, end_s=3)
    done = client.wait(task.id, timeout_s=120)
```
"""

from __future__ import annotations

from videoapi_client import models
from videoapi_client._client import AsyncClient, Client, __version__
from videoapi_client._core import ROUTES, Route
from videoapi_client._errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    GoneError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
    UnprocessableEntityError,
    VideoApiError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from videoapi_client._webhooks import WebhookEvent, verify_webhook

__all__ = [
    "ROUTES",
    "ApiError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "GoneError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "Route",
    "ServerError",
    "ServiceUnavailableError",
    "UnprocessableEntityError",
    "VideoApiError",
    "WaitTimeoutError",
    "WebhookEvent",
    "WebhookVerificationError",
    "__version__",
    "models",
    "verify_webhook",
]
