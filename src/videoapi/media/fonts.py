"""The fonts text and subtitles may use: what fontconfig knows, plus an optional extra directory.

Text overlays (drawtext) name a font file, so a font family must be resolved here; CJK text
needs a font with CJK glyphs, which the install provides (fonts-noto-cjk, see the README).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from videoapi.errors import InvalidRequest

DEFAULT_FAMILY = "DejaVu Sans"
DEFAULT_CJK_FAMILY = "Noto Sans CJK SC"
_CJK_LANGS = ("zh", "ja", "ko")
_FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")


@dataclass(frozen=True)
class Font:
    family: str
    path: Path
    index: int
    """Face index inside a collection (.ttc)."""
    style: str
    cjk: bool
    """Covers Chinese, Japanese and Korean."""


def needs_cjk(text: str) -> bool:
    """True when `text` has characters of CJK scripts (Han, kana, Hangul, CJK punctuation, full-width forms)."""
    return any(
        0x2E80 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF or 0xF900 <= cp <= 0xFAFF or 0xFF00 <= cp <= 0xFFEF
        or 0x20000 <= cp <= 0x3FFFF
        for cp in map(ord, text)
    )  # fmt: skip


@cache
def catalog(extra_dir: str | None = None) -> dict[str, Font]:
    """Regular faces by lower-cased family name (fontconfig's list, then `extra_dir`)."""
    fonts: dict[str, Font] = {}
    for font in _fontconfig_fonts(extra_dir):
        key = font.family.lower()
        current = fonts.get(key)
        # Prefer the regular face of a family; keep the first seen otherwise.
        if current is None or (_is_regular(font.style) and not _is_regular(current.style)):
            fonts[key] = font
    return fonts


def families(extra_dir: str | None = None) -> list[str]:
    return sorted(f.family for f in catalog(extra_dir).values())


def resolve_font(family: str | None, text: str = "", *, field: str = "font", extra_dir: str | None = None) -> Font:
    """The font to draw `text` with: the named family, or the default one for the text's script.

    A family without CJK glyphs asked to draw CJK text is replaced by the default CJK family, as
    a renderer with font fallback would; an unknown family is a 422 naming the field.
    """
    fonts = catalog(extra_dir)
    cjk = needs_cjk(text)
    if family is not None:
        font = fonts.get(family.strip().lower())
        if font is None:
            sample = ", ".join(families(extra_dir)[:12])
            raise InvalidRequest(
                f"unknown font {family!r}",
                code="unknown_font",
                errors=[{"field": field, "message": f"unknown font {family!r}; installed fonts include: {sample}"}],
            )
        if not cjk or font.cjk:
            return font
    wanted = DEFAULT_CJK_FAMILY if cjk else DEFAULT_FAMILY
    font = fonts.get(wanted.lower())
    if font is None and cjk:
        font = next((f for f in fonts.values() if f.cjk), None)
    if font is None and not cjk:
        font = next(iter(fonts.values()), None)
    if font is None:
        what = "font with CJK glyphs (install fonts-noto-cjk)" if cjk else "font at all (install fonts-dejavu-core)"
        raise InvalidRequest(f"this server has no {what}", code="font_unavailable")
    return font


def _fontconfig_fonts(extra_dir: str | None) -> list[Font]:
    fc_list = shutil.which("fc-list")
    dirs = [extra_dir] if extra_dir else []
    fonts: list[Font] = []
    if fc_list:
        fmt = "%{family[0]}\t%{file}\t%{index}\t%{style[0]}\t%{lang}\n"
        for d in [None, *dirs]:
            argv = [fc_list, "--format", fmt] + ([d] if d else [])
            try:
                out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            fonts += [f for line in out.splitlines() if (f := _parse(line))]
    for d in dirs:
        # Without fontconfig, files in the extra directory are still usable, named by their stem.
        for path in sorted(Path(d).glob("**/*")):
            if path.suffix.lower() in _FONT_SUFFIXES and not any(f.path == path for f in fonts):
                fonts.append(Font(path.stem, path, 0, "Regular", False))
    return fonts


def _parse(line: str) -> Font | None:
    parts = line.split("\t")
    if len(parts) != 5 or not parts[0] or not parts[1]:
        return None
    family, file, index, style, langs = parts
    lang_set = set(langs.split("|"))
    cjk = all(any(lang == code or lang.startswith(code + "-") for lang in lang_set) for code in _CJK_LANGS)
    return Font(family, Path(file), int(index or 0), style, cjk)


def _is_regular(style: str) -> bool:
    return style.lower() in ("regular", "book", "normal", "roman")
