"""`videoapi keys`: create, list, show, revoke API keys; their quota, policy and webhook secret."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from videoapi.cli.common import echo_json, find_key, resolve_key_id, settings, with_services


@click.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--name", required=True, help="Who the key is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["generate", "edit", "read", "admin"]),
    help="Repeat for several (default: generate, edit, read). admin may do everything.",
)
@click.option("--allow-ip", "allow_ips", multiple=True, help="CIDR (IPv4 or IPv6) the key may be used from; repeat.")
@click.option("--rate", "rate_per_s", type=float, default=None, help="Requests per second (default: gateway setting).")
@click.option("--burst", type=int, default=None, help="Requests at once, the bucket size (default: gateway setting).")
@click.option(
    "--max-priority",
    type=click.Choice(["low", "normal", "high"]),
    default=None,
    help="Default: gateway.default_max_priority (normal).",
)
@click.option("--max-tasks", "max_active_tasks", type=int, default=None, help="Queued + running tasks at once.")
@click.option(
    "--monthly-credits",
    type=click.FloatRange(min=0),
    default=None,
    help="Monthly credit quota (see config/pricing.toml); default: none.",
)
def keys_create(
    name: str,
    scopes: tuple[str, ...],
    allow_ips: tuple[str, ...],
    rate_per_s: float | None,
    burst: int | None,
    max_priority: str | None,
    max_active_tasks: int | None,
    monthly_credits: float | None,
) -> None:
    """Create a key; it is printed once and stored hashed. Its webhook signing secret is printed too."""

    async def run(services: Any) -> tuple[Any, str]:
        key, plaintext = await services.keys.create(
            name,
            scopes=scopes or None,
            allow_ips=allow_ips or None,
            rate_per_s=rate_per_s,
            burst=burst,
            max_priority=max_priority,
            max_active_tasks=max_active_tasks,
        )
        if monthly_credits is not None:
            await services.billing.set_quota(key.id, monthly_credits)
        return key, plaintext

    key, plaintext = with_services(run)
    click.echo(f"id: {key.id}\nname: {key.name}\nscopes: {' '.join(key.scopes)}", err=True)
    if monthly_credits is not None:
        click.echo(f"quota: {monthly_credits:g} credits per month", err=True)
    click.echo(f"webhook secret: {key.webhook_secrets[0]['secret']}", err=True)
    click.echo(plaintext)


@keys.command("rotate-webhook-secret")
@click.argument("key_id")
@click.option(
    "--keep-old-hours",
    type=float,
    default=24.0,
    show_default=True,
    help="The current secret keeps signing (next to the new one) this long, so receivers can switch.",
)
def keys_rotate_webhook_secret(key_id: str, keep_old_hours: float) -> None:
    """Give a key (id or prefix) a new webhook signing secret and print it."""
    key = with_services(lambda s: s.keys.rotate_webhook_secret(key_id, keep_old_s=keep_old_hours * 3600))
    for old in key.webhook_secrets[1:]:
        click.echo(f"still signing until {old['expires_at']}: {old['secret'][:12]}…", err=True)
    click.echo(key.webhook_secrets[0]["secret"])


@keys.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include revoked keys.")
@click.option("--json", "as_json", is_flag=True, help="One JSON list (never secrets).")
def keys_list(show_all: bool, as_json: bool) -> None:
    """List active keys (never their secrets), oldest first."""
    rows = with_services(lambda s: s.keys.list())
    shown = [k for k in rows if show_all or k.revoked_at is None]
    if as_json:
        echo_json([_key_record(k) for k in shown])
        return
    for key in shown:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(
            f"{key.id}  vk_{key.prefix}_…  {key.name:<20}  {state:<24}  last used {used}  scopes {','.join(key.scopes)}"
        )
    if hidden := len(rows) - len(shown):
        click.echo(f"({hidden} revoked key(s) not shown; --all lists them)")


@keys.command("show")
@click.argument("key_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (never secrets).")
def keys_show(key_id: str, as_json: bool) -> None:
    """Everything about one key (id or prefix): scopes, limits, quota, policy, when created and last used."""
    from msgspec import structs

    from videoapi.auth.service import active_secrets
    from videoapi.billing.service import month_start

    async def run(services: Any) -> tuple[Any, dict[str, Any], Any]:
        key = await find_key(services, key_id)
        usage = await services.billing.usage(key.id, month_start(datetime.now(UTC)))
        return key, usage["quota"], await services.policies.get(key.id)

    key, quota, policy = with_services(run)
    record = {**_key_record(key), "quota": quota, "policy": structs.asdict(policy)}
    if as_json:
        echo_json(record)
        return
    gateway = settings().gateway
    signing = active_secrets(key.webhook_secrets, datetime.now(UTC))
    lines = [
        ("id", key.id),
        ("name", key.name),
        ("prefix", f"vk_{key.prefix}_…"),
        ("state", f"revoked {key.revoked_at:%Y-%m-%d %H:%M:%S}" if key.revoked_at else "active"),
        ("created", f"{key.created_at:%Y-%m-%d %H:%M:%S}"),
        ("last used", f"{key.last_used_at:%Y-%m-%d %H:%M:%S}" if key.last_used_at else "never"),
        ("scopes", " ".join(key.scopes)),
        ("allowed from", " ".join(key.allow_ips) if key.allow_ips else "anywhere"),
        ("rate", _limit(key.rate_per_s, f"{gateway.default_rate_per_s:g}", " requests/s")),
        ("burst", _limit(key.burst, str(gateway.default_burst), " requests")),
        ("max priority", key.max_priority or f"{gateway.default_max_priority} (default)"),
        ("max active tasks", _limit(key.max_active_tasks, str(gateway.default_max_active_tasks or "unlimited"))),
        ("quota", _quota(quota)),
        ("trial", "yes" if policy.trial else "no"),
        ("default watermark", (policy.watermark or {}).get("text") or "none"),
        ("extra rules", ", ".join((policy.moderation_rules or {}).get("categories", {})) or "none"),
        ("output threshold", "default" if policy.output_threshold is None else f"{policy.output_threshold:g}"),
        ("webhook secrets", f"{len(signing)} signing"),
    ]
    for label, value in lines:
        click.echo(f"{label + ':':<19} {value}")


def _limit(value: float | None, default: str, unit: str = "") -> str:
    return f"{default}{unit} (default)" if value is None else f"{value:g}{unit}"


def _quota(quota: dict[str, Any]) -> str:
    if quota["monthly_credits"] is None:
        return f"none ({quota['used_this_month']:g} credits used this month)"
    return (
        f"{quota['monthly_credits']:g} credits per month, {quota['used_this_month']:g} used, "
        f"{quota['remaining']:g} left"
    )


def _key_record(key: Any) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "scopes": list(key.scopes),
        "allow_ips": key.allow_ips,
        "rate_per_s": key.rate_per_s,
        "burst": key.burst,
        "max_priority": key.max_priority,
        "max_active_tasks": key.max_active_tasks,
        "created_at": key.created_at,
        "last_used_at": key.last_used_at,
        "revoked_at": key.revoked_at,
    }


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by id or prefix; it stops working at once."""
    key = with_services(lambda s: s.keys.revoke(key_id))
    click.echo(f"revoked {key.id} ({key.name})")


@keys.command("quota")
@click.argument("key_id")
@click.option("--monthly", type=float, default=None, help="Credits per calendar month (see config/pricing.toml).")
@click.option("--unlimited", is_flag=True, help="Remove the key's quota.")
def keys_quota(key_id: str, monthly: float | None, unlimited: bool) -> None:
    """Set (or remove) a key's monthly credit quota."""
    if (monthly is None) == (not unlimited):
        raise click.UsageError("give exactly one of --monthly N or --unlimited")
    if monthly is not None and monthly < 0:
        raise click.UsageError("--monthly must not be negative")

    async def run(services: Any) -> str:
        owner = await resolve_key_id(services, key_id)
        await services.billing.set_quota(owner, None if unlimited else monthly)
        return owner

    owner = with_services(run)
    click.echo(f"{owner}: {'no quota' if unlimited else f'{monthly:g} credits per month'}")


@keys.command("storage-quota")
@click.argument("key_id")
@click.option("--bytes", "max_bytes", type=click.IntRange(min=0), default=None, help="Bytes the key may keep stored.")
@click.option("--unlimited", is_flag=True, help="No storage quota for this key, whatever the default.")
@click.option("--default", "use_default", is_flag=True, help="Use `limits.storage_quota_bytes` again.")
def keys_storage_quota(key_id: str, max_bytes: int | None, unlimited: bool, use_default: bool) -> None:
    """Set a key's storage quota: the bytes of assets and outputs it may keep in the store."""
    if [max_bytes is not None, unlimited, use_default].count(True) != 1:
        raise click.UsageError("give exactly one of --bytes N, --unlimited or --default")

    async def run(services: Any) -> tuple[str, tuple[int, int | None]]:
        owner = await resolve_key_id(services, key_id)
        if use_default:
            await services.assets.clear_storage_quota(owner)
        else:
            await services.assets.set_storage_quota(owner, max_bytes)
        return owner, await services.assets.storage_usage(owner)

    owner, (used, limit) = with_services(run)
    click.echo(f"{owner}: {used} bytes stored, quota {'unlimited' if limit is None else f'{limit} bytes'}")


@keys.command("policy")
@click.argument("key_id")
@click.option("--trial/--no-trial", default=None, help="Trial keys get the trial watermark on every output.")
@click.option("--watermark-text", default=None, help="Default visible watermark text (when a request gives none).")
@click.option(
    "--watermark-position",
    default="bottom-right",
    show_default=True,
    type=click.Choice(
        ["top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"]
    ),
)
@click.option("--watermark-opacity", default=0.6, show_default=True, type=click.FloatRange(0.05, 1.0))
@click.option("--no-watermark", is_flag=True, help="Remove the default watermark.")
@click.option(
    "--rules", "rules_file", type=click.Path(exists=True, dir_okay=False), help="Extra moderation rules (TOML)."
)
@click.option("--no-rules", is_flag=True, help="Remove the key's extra rules.")
@click.option("--output-threshold", type=click.FloatRange(0.0, 1.0), default=None, help="Output-scan threshold.")
@click.option("--default-threshold", is_flag=True, help="Use `moderation.output_threshold` again.")
def keys_policy(
    key_id: str,
    trial: bool | None,
    watermark_text: str | None,
    watermark_position: str,
    watermark_opacity: float,
    no_watermark: bool,
    rules_file: str | None,
    no_rules: bool,
    output_threshold: float | None,
    default_threshold: bool,
) -> None:
    """Show or change a key's policy: trial, default watermark, extra text rules, output threshold."""
    import tomllib

    import msgspec

    from videoapi.errors import AppError
    from videoapi.moderation.text import rules_from_dict
    from videoapi.outputs.watermark import VisibleWatermark, check_watermark

    changes: dict[str, Any] = {}
    if trial is not None:
        changes["trial"] = trial
    try:
        if watermark_text is not None:
            wm = VisibleWatermark(text=watermark_text, position=watermark_position, opacity=watermark_opacity)  # type: ignore[arg-type]
            check_watermark(wm)
            changes["watermark"] = msgspec.to_builtins(wm)
        if rules_file is not None:
            with open(rules_file, "rb") as fh:
                rules = tomllib.load(fh)
            rules_from_dict(rules, source=rules_file)  # refuse a broken file now, not at the next request
            changes["moderation_rules"] = rules
    except (AppError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(getattr(exc, "detail", str(exc))) from exc
    if no_watermark:
        changes["watermark"] = None
    if no_rules:
        changes["moderation_rules"] = None
    if output_threshold is not None:
        changes["output_threshold"] = output_threshold
    if default_threshold:
        changes["output_threshold"] = None

    async def run(services: Any) -> Any:
        owner = await resolve_key_id(services, key_id)
        return await (services.policies.update(owner, **changes) if changes else services.policies.get(owner))

    policy = with_services(run)
    click.echo(f"trial: {'yes' if policy.trial else 'no'}")
    click.echo(f"default watermark: {policy.watermark or 'none'}")
    click.echo(f"extra rules: {', '.join((policy.moderation_rules or {}).get('categories', {})) or 'none'}")
    threshold = "default" if policy.output_threshold is None else f"{policy.output_threshold:g}"
    click.echo(f"output threshold: {threshold}")
