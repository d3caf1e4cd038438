"""Colours in requests: `#RGB`, `#RRGGBB`, `#RRGGBBAA` or a CSS/ffmpeg colour name; one parser for all."""

from __future__ import annotations

import re
from dataclasses import dataclass

from videoapi.errors import InvalidRequest

# The common CSS names; ffmpeg knows these too, but we render colours as hex so ffmpeg never parses user text.
NAMED = {
    "black": "000000", "white": "ffffff", "red": "ff0000", "green": "008000", "lime": "00ff00", "blue": "0000ff",
    "yellow": "ffff00", "cyan": "00ffff", "aqua": "00ffff", "magenta": "ff00ff", "fuchsia": "ff00ff",
    "gray": "808080", "grey": "808080", "silver": "c0c0c0", "maroon": "800000", "olive": "808000",
    "navy": "000080", "purple": "800080", "teal": "008080", "orange": "ffa500", "pink": "ffc0cb",
    "brown": "a52a2a", "gold": "ffd700", "indigo": "4b0082", "violet": "ee82ee", "darkgray": "a9a9a9",
    "darkgrey": "a9a9a9", "lightgray": "d3d3d3", "lightgrey": "d3d3d3", "darkblue": "00008b",
    "darkgreen": "006400", "darkred": "8b0000", "skyblue": "87ceeb", "beige": "f5f5dc", "coral": "ff7f50",
    "crimson": "dc143c", "khaki": "f0e68c", "lavender": "e6e6fa", "salmon": "fa8072", "tomato": "ff6347",
    "turquoise": "40e0d0", "chartreuse": "7fff00", "transparent": "00000000",
}  # fmt: skip
_HEX = re.compile(r"^#?([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


@dataclass(frozen=True)
class Color:
    r: int
    g: int
    b: int
    a: int = 255

    @property
    def hex(self) -> str:
        return f"{self.r:02x}{self.g:02x}{self.b:02x}"

    @property
    def ffmpeg(self) -> str:
        """ffmpeg colour syntax (`0xRRGGBB@alpha`): safe inside a filtergraph without escaping."""
        return f"0x{self.hex}@{self.a / 255:.3f}"

    @property
    def ass(self) -> str:
        """ASS/libass colour: `&HAABBGGRR` with inverted alpha (00 is opaque)."""
        return f"&H{255 - self.a:02X}{self.b:02X}{self.g:02X}{self.r:02X}"

    @property
    def rgb(self) -> tuple[int, int, int]:
        return (self.r, self.g, self.b)


def parse_color(value: str, field: str = "color") -> Color:
    """Parse a request colour or raise a 422 naming `field`."""
    text = value.strip().lower()
    hexdigits = NAMED.get(text)
    if hexdigits is None:
        match = _HEX.match(text)
        if match is None:
            raise InvalidRequest(
                f"unknown colour {value!r}",
                code="invalid_color",
                errors=[{"field": field, "message": f"{value!r} is not #RRGGBB, #RRGGBBAA, #RGB or a colour name"}],
            )
        hexdigits = match.group(1)
        if len(hexdigits) == 3:
            hexdigits = "".join(ch * 2 for ch in hexdigits)
    r, g, b = (int(hexdigits[i : i + 2], 16) for i in (0, 2, 4))
    a = int(hexdigits[6:8], 16) if len(hexdigits) == 8 else 255
    return Color(r, g, b, a)
