"""POST /v1/video/watermark/detect: does this file carry our invisible watermark, and from which task?"""

from __future__ import annotations

from typing import Annotated

from litestar import post
from litestar.di import NamedDependency
from litestar.params import Body

from videoapi.auth.principal import CurrentPrincipal
from videoapi.provenance.service import Detector, DetectOut, DetectRequest


@post(
    "/v1/video/watermark/detect",
    status_code=200,
    summary="Detect the invisible watermark",
    tags=["provenance"],
    opt={"scope": "read"},
)
async def detect_watermark(
    data: Annotated[DetectRequest, Body(media_type="application/json")],
    principal: CurrentPrincipal,
    watermark_detector: NamedDependency[Detector],
) -> DetectOut:
    return await watermark_detector.detect_input(principal.owner_id, data.input)


ROUTES = [detect_watermark]
