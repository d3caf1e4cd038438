"""Small pieces of filtergraph syntax: numbers, rates, escaping, fitting a picture into a box.

Nothing a user typed ever reaches a filtergraph: text goes through files (`drawtext textfile=`),
colours are rendered as `0xRRGGBB@a`, and numbers are formatted here. The only strings that are
escaped are our own file paths (and the operator's font paths), with both levels of ffmpeg's
quoting so that any character in them stays literal.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Literal

_GRAPH_SPECIAL = re.compile(r"([\\'\[\],;])")

Anchor = Literal["top-left", "top", "top-right", "left", "center", "right", "bottom-left", "bottom", "bottom-right"]
ANCHORS: dict[str, tuple[float, float]] = {
    "top-left": (0, 0), "top": (0.5, 0), "top-right": (1, 0),
    "left": (0, 0.5), "center": (0.5, 0.5), "right": (1, 0.5),
    "bottom-left": (0, 1), "bottom": (0.5, 1), "bottom-right": (1, 1),
}  # fmt: skip
"""Anchor -> where the item sits in the free space (0 = left/top edge, 1 = right/bottom edge)."""


def num(value: float) -> str:
    """A number for a filter option: no exponent, no needless zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def rate(fps: float) -> str:
    """A frame rate as ffmpeg's exact rational (29.97 -> 30000/1001)."""
    frac = Fraction(fps).limit_denominator(1001)
    return str(frac.numerator) if frac.denominator == 1 else f"{frac.numerator}/{frac.denominator}"


def escape_value(value: str) -> str:
    """Quote `value` as one filter option value inside a filtergraph (script).

    Level 1 (the filter's option parser): the value in single quotes, each `'` closed, escaped and
    reopened. Level 2 (the graph parser): backslash before every character it treats specially.
    """
    quoted = "'" + value.replace("'", "'\\''") + "'"
    return _GRAPH_SPECIAL.sub(r"\\\1", quoted)


def filter_quote(value: str) -> str:
    """`value` as a filter option that both the filtergraph parser and the option parser read literally.

    Inner level: single quotes (a quote inside becomes `'\\''`); outer level: backslash before
    each character the filtergraph parser treats specially.
    """
    quoted = "'" + value.replace("'", "'\\''") + "'"
    return re.sub(r"([\\'\[\],;])", r"\\\1", quoted)


def fit(mode: str, width: int, height: int) -> list[str]:
    """Filters that fit any picture into `width`x`height`; `contain` may leave it smaller (pad it after)."""
    if mode == "cover":
        return [f"scale={width}:{height}:force_original_aspect_ratio=increase", f"crop={width}:{height}"]
    if mode == "stretch":
        return [f"scale={width}:{height}"]
    return [f"scale={width}:{height}:force_original_aspect_ratio=decrease:force_divisible_by=2"]


SAFE_MARGIN_Y = 0.05
"""Share of the frame height kept clear above and below anchored text (subtitles, composite text)."""
SAFE_MARGIN_X = 0.04
"""Share of the frame width kept clear at the sides."""


def safe_margins(width: int, height: int) -> tuple[int, int]:
    """Pixels (x, y) that text anchored to an edge keeps from it: the title-safe area."""
    return max(4, round(width * SAFE_MARGIN_X)), round(height * SAFE_MARGIN_Y)


def anchored(
    ax: float, ay: float, dx: int, dy: int, free_x: str, free_y: str, margin: int = 0, margin_y: int | None = None
) -> tuple[str, str]:
    """x and y expressions placing an item at anchor (ax, ay) of the free space, moved by (dx, dy) pixels,
    `margin` pixels from the edges (`margin_y` from the top and bottom when it differs)."""

    def one(a: float, free: str, d: int, margin: int) -> str:
        parts = [f"{num(a)}*({free}{f'-{2 * margin}' if margin else ''})"] if a else []
        if margin:
            parts.append(str(margin))
        if d:
            parts.append(str(d))
        return "+".join(parts).replace("+-", "-") or "0"

    return one(ax, free_x, dx, margin), one(ay, free_y, dy, margin if margin_y is None else margin_y)


def yuv(r: int, g: int, b: int) -> tuple[float, float, float]:
    """BT.601 limited-range Y, U, V of an RGB colour (what ffmpeg's colour sources and pad produce)."""
    rf, gf, bf = r / 255, g / 255, b / 255
    y = 16 + 65.481 * rf + 128.553 * gf + 24.966 * bf
    u = 128 - 37.797 * rf - 74.203 * gf + 112.0 * bf
    v = 128 + 112.0 * rf - 93.786 * gf - 18.214 * bf
    return y, u, v
