"""Unicode folding for moderation: invisible code points, the UTS #39 confusables skeleton, small capitals.

`fold_table()` maps every code point that only changes how text looks, not what it says, to what a
reader takes it for: default-ignorable and format characters to nothing (so "nu\\u3164de" reads
"nude"), look-alikes from other scripts to their prototype (Greek "Ν", Cyrillic "Н", Armenian "ո"),
and Latin small capitals ("ɴᴜᴅᴇ", which the confusables data maps to Cherokee) to the letter.
Applied after NFKC and before case-folding, so that a capital look-alike ("Ν") becomes the Latin
capital ("N") rather than the look-alike's own small letter ("ν", which reads "v").
ASCII and CJK characters map to themselves: rules are written in them, and the confusables data
would otherwise fold "1", "I" and "l" together or turn "一" into katakana.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from importlib.resources import files

# Unicode 15.1 DerivedCoreProperties.txt, Default_Ignorable_Code_Point (ranges, inclusive). Format
# characters (category Cf) are dropped too, whatever their version.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
BLANKS = "\u2800"
"""Blank-looking symbols that are not whitespace (Braille pattern blank): read as a space."""
# Look-alikes the confusables data maps to another non-Latin letter ("к" to "ĸ", "ε" to "ɛ"), or not
# at all ("н" to small capital H): mapped straight to the Latin letter a reader sees.
LOOKALIKES = {
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "ĸ": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o",
    "α": "a", "ε": "e", "ɛ": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "β": "b", "ѵ": "v", "ℓ": "l", "ı": "i",
}  # fmt: skip
_SMALL_CAPITAL = re.compile(r"^LATIN LETTER SMALL CAPITAL ([A-Z])$")
_LRM = "\u200e"


def is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return 0x2E80 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x3FFFF


@cache
def skeleton_map() -> dict[str, str]:
    """Each confusable source character and its prototype, from the UTS #39 confusables data.

    The data (confusables.txt, as shipped by confusable-homoglyphs) lists each pair both ways; a source
    has exactly one neighbour, its prototype. A pair of two lone characters is ambiguous: the ASCII one,
    else the lower code point, is taken as the prototype, which keeps the folding consistent."""
    raw = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    graph = {k.replace(_LRM, ""): [n["c"].replace(_LRM, "") for n in v] for k, v in raw.items()}
    graph = {k: list(dict.fromkeys(v)) for k, v in graph.items()}
    out: dict[str, str] = {}
    for char, neighbours in graph.items():
        if len(char) != 1 or len(neighbours) != 1:
            continue
        proto = neighbours[0]
        if len(graph.get(proto, ())) == 1 and len(proto) == 1:
            if proto.isascii() < char.isascii() or (proto.isascii() == char.isascii() and ord(proto) > ord(char)):
                continue  # `char` is the prototype of this lone pair
        out[char] = proto
    return out


@cache
def fold_table() -> dict[int, str | None]:
    """The `str.translate` table described in the module docstring."""
    small_caps = {}
    for cp in range(0x80, 0x20000):
        if m := _SMALL_CAPITAL.match(unicodedata.name(chr(cp), "")):
            small_caps[chr(cp)] = m.group(1).lower()
    # `m` looks like "rn", its prototype: give the m-like characters the letter the rules are written in.
    letter_of = {"rn": "m"}
    table: dict[int, str | None] = {}
    for char, proto in skeleton_map().items():
        if char.isascii() or is_cjk(char) or char in small_caps:
            continue
        proto = letter_of.get(proto, proto)
        if proto == "l" and char.isupper():
            proto = "I"  # capital look-alikes of "l" are capital I (Greek Ι, Cyrillic І, Ӏ)
        table[ord(char)] = "".join(LOOKALIKES.get(c) or small_caps.get(c, c) for c in proto)
    table.update({ord(c): v for c, v in small_caps.items()})
    table.update({ord(c): v for c, v in LOOKALIKES.items()})
    table.update({cp: None for lo, hi in DEFAULT_IGNORABLE for cp in range(lo, hi + 1)})
    table.update({cp: None for cp in range(0x80, 0x110000) if unicodedata.category(chr(cp)) == "Cf"})
    table.update({ord(c): " " for c in BLANKS})
    return table


@cache
def marks_table() -> dict[int, None]:
    """The `str.translate` table that drops combining marks (categories Mn and Me): after NFD, "é" reads "e"."""
    return {cp: None for cp in range(0x300, 0x110000) if unicodedata.category(chr(cp)) in ("Mn", "Me")}
