"""Routes: upload or register assets, read and delete them."""

from __future__ import annotations

import shutil

from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from videoapi.assets.schemas import AssetFromUrl, AssetOut
from videoapi.assets.service import AssetService
from videoapi.assets.upload import receive_upload
from videoapi.auth.principal import CurrentPrincipal
from videoapi.errors import InvalidRequest, TooLarge
from videoapi.settings import Settings
from videoapi.web import decode_body, parse_content_type


@post(
    "/v1/video/assets",
    status_code=201,
    request_max_body_size=None,  # enforced while streaming, against limits.max_upload_bytes
    summary='Upload a media file (multipart field `file`) or register a URL (`{"url": ...}`)',
    tags=["assets"],
)
async def create_asset(
    request: Request,
    principal: CurrentPrincipal,
    asset_service: NamedDependency[AssetService],
    settings: NamedDependency[Settings],
) -> AssetOut:
    limits = settings.limits
    content_type, options = parse_content_type(request.headers.get("content-type", ""))
    if content_type == "multipart/form-data":
        if "boundary" not in options:
            raise InvalidRequest("multipart Content-Type without a boundary", code="invalid_multipart")
        declared = int(request.headers.get("content-length") or 0)
        if declared > limits.max_upload_bytes + 64 * 1024:
            raise TooLarge(f"the upload exceeds the limit of {limits.max_upload_bytes} bytes", code="upload_too_large")
        scratch = asset_service.scratch_dir()
        try:
            dest = scratch / "upload"
            upload = await receive_upload(
                request.stream(), options["boundary"].encode(), dest, max_bytes=limits.max_upload_bytes
            )
            asset = await asset_service.register_file(
                principal.owner_id, dest, origin="upload", filename=upload.filename
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    elif content_type == "application/json":
        body = await decode_body(request, AssetFromUrl, max_bytes=64 * 1024)
        asset = await asset_service.register_url(principal.owner_id, body.url)
    else:
        raise InvalidRequest(
            'send multipart/form-data with a `file` part, or JSON {"url": ...}', code="unsupported_content_type"
        )
    return await asset_service.present(asset)


@get("/v1/video/assets/{asset_id:str}", summary="Asset metadata and a fresh signed download URL", tags=["assets"])
async def get_asset(
    asset_id: FromPath[str], principal: CurrentPrincipal, asset_service: NamedDependency[AssetService]
) -> AssetOut:
    asset = await asset_service.get(asset_id, principal.owner_id)
    return await asset_service.present(asset)


@delete("/v1/video/assets/{asset_id:str}", status_code=204, summary="Delete an asset and its file", tags=["assets"])
async def delete_asset(
    asset_id: FromPath[str], principal: CurrentPrincipal, asset_service: NamedDependency[AssetService]
) -> None:
    await asset_service.delete(asset_id, principal.owner_id)


ROUTES = [create_asset, get_asset, delete_asset]
