"""The price sheet (config/pricing.toml) and the pure cost functions over it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import msgspec

TIERS = (("480p", 480), ("720p", 720), ("1080p", 1080), ("1440p", 1440), ("2160p", 2160))


class EditPrices(msgspec.Struct, forbid_unknown_fields=True):
    per_second: dict[str, float]
    kind_multiplier: dict[str, float] = msgspec.field(default_factory=dict)


class GenerationPrices(msgspec.Struct, forbid_unknown_fields=True):
    per_second: dict[str, float]
    tier_multiplier: dict[str, float] = msgspec.field(default_factory=dict)


class PriceSheet(msgspec.Struct, forbid_unknown_fields=True):
    minimum_charge: float
    editing: EditPrices
    generation: GenerationPrices

    def __post_init__(self) -> None:
        missing = [name for name, _ in TIERS if name not in self.editing.per_second]
        if missing:
            raise ValueError(f"editing.per_second lacks the tiers {', '.join(missing)}")
        if "default" not in self.generation.per_second:
            raise ValueError("generation.per_second needs a `default` price")


def load_prices(path: Path) -> PriceSheet:
    try:
        return msgspec.convert(tomllib.loads(path.read_text()), PriceSheet)
    except (OSError, ValueError, msgspec.ValidationError) as exc:
        raise RuntimeError(f"cannot load the price sheet {path}: {exc}") from exc


def tier(width: int | None, height: int | None) -> str:
    """The resolution tier of a frame: its short side, rounded up to the next tier."""
    short = min(width or 0, height or 0) or max(width or 0, height or 0)
    for name, side in TIERS:
        if short <= side:
            return name
    return TIERS[-1][0]


def cost(
    prices: PriceSheet,
    kind: str,
    seconds: float,
    width: int | None,
    height: int | None,
    model: str | None = None,
) -> float:
    """Credits for `seconds` of output of this kind at this size (and model, for generation)."""
    tier_name = tier(width, height)
    if kind.startswith("generate."):
        per_second = prices.generation.per_second.get(model or "", prices.generation.per_second["default"])
        per_second *= prices.generation.tier_multiplier.get(tier_name, 1.0)
    else:
        per_second = prices.editing.per_second[tier_name] * prices.editing.kind_multiplier.get(kind, 1.0)
    return round(max(prices.minimum_charge, per_second * max(seconds, 0.0)), 4)
