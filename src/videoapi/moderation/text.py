"""Prompt and text moderation: rules matched on normalised text, robust to the usual evasions.

Normalisation: NFKC (full-width and compatibility forms fold to ASCII), case-folding, zero-width
and combining marks dropped, homoglyphs (Cyrillic/Greek letters that look Latin) and digit or
symbol substitutions ("n00d", "$ex") mapped to letters. Keywords then match whole words, and
also runs of words split by inserted spaces or punctuation ("n.u.d.e", "n u d e"); CJK and
substring rules match the letters-only text, so "色 情" matches "色情".
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from videoapi.errors import InvalidRequest

# Letters that look Latin in other scripts, and the usual leetspeak; mapped before matching.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a",
        "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "β": "b", "ѵ": "v",
        "ℓ": "l", "ı": "i",
    }
)  # fmt: skip
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e"), None)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ENDINGS = ("", "s", "es", "ed", "ing", "er", "ers")
_MAX_JOIN = 8
"""Longest run of split fragments joined back into one word ("n u d e" is four)."""


def normalise(text: str) -> str:
    """NFKC, case-folded, without zero-width characters, combining marks or homoglyphs."""
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH).casefold()
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", text).translate(_HOMOGLYPHS)


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return 0x2E80 <= cp <= 0x9FFF or 0xAC00 <= cp <= 0xD7AF or 0xF900 <= cp <= 0xFAFF or 0x20000 <= cp <= 0x3FFFF


@dataclass(frozen=True)
class Category:
    name: str
    message: str
    keywords: frozenset[str] = frozenset()
    substrings: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class Verdict:
    blocked: bool
    category: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Rules:
    categories: tuple[Category, ...]
    allow: tuple[str, ...] = field(default=())

    def check(self, text: str) -> Verdict:
        """The first category whose rules match `text`, or a pass."""
        norm = normalise(text)
        for phrase in self.allow:
            norm = norm.replace(phrase, " ")
        spaced = " ".join(_WORD.findall(norm))
        leet = " ".join(_WORD.findall(norm.translate(_LEET)))
        words = spaced.split()
        leet_words = leet.split()
        letters = "".join(words)
        for cat in self.categories:
            if cat.keywords and (_has_keyword(words, cat.keywords) or _has_keyword(leet_words, cat.keywords)):
                return Verdict(True, cat.name, cat.message)
            if any(s in letters or s in spaced for s in cat.substrings):
                return Verdict(True, cat.name, cat.message)
            if any(p.search(spaced) or p.search(leet) for p in cat.patterns):
                return Verdict(True, cat.name, cat.message)
        return Verdict(False)

    def merged(self, other: Rules) -> Rules:
        return Rules(self.categories + other.categories, self.allow + other.allow)


def _has_keyword(words: list[str], keywords: frozenset[str]) -> bool:
    for i in range(len(words)):
        joined = ""
        for j in range(i, min(i + _MAX_JOIN, len(words))):
            joined += words[j]
            # A run of split fragments counts only when every fragment is short (an evasion such as
            # "n u d e" or "nu.de"), so that two ordinary words never join into a keyword.
            if j > i and len(words[j]) > 3:
                break
            if any(joined.endswith(end) and joined[: len(joined) - len(end)] in keywords for end in _ENDINGS):
                return True
    return False


def _keyword_form(value: str) -> str:
    return "".join(_WORD.findall(normalise(value)))


def _substring_form(value: str) -> str:
    norm = normalise(value)
    return "".join(_WORD.findall(norm)) if all(_is_cjk(c) or not c.isalnum() for c in norm) else norm


def rules_from_dict(data: dict, *, source: str = "rules") -> Rules:
    """Build rules from the TOML layout of config/moderation.toml; a bad regex names its place."""
    categories = []
    for name, spec in (data.get("categories") or {}).items():
        patterns = []
        for i, raw in enumerate(spec.get("patterns", [])):
            try:
                patterns.append(re.compile(normalise(raw)))
            except re.error as exc:
                raise InvalidRequest(
                    f"bad pattern in {source}: {exc}",
                    code="invalid_moderation_rule",
                    errors=[{"field": f"categories.{name}.patterns[{i}]", "message": str(exc)}],
                ) from exc
        categories.append(
            Category(
                name=name,
                message=spec.get("message", name),
                keywords=frozenset(k for k in map(_keyword_form, spec.get("keywords", [])) if k),
                substrings=tuple(s for s in map(_substring_form, spec.get("substrings", [])) if s),
                patterns=tuple(patterns),
            )
        )
    allow = tuple(normalise(p) for p in (data.get("allow") or {}).get("phrases", []))
    return Rules(tuple(categories), allow)


def load_rules(path: Path) -> Rules:
    with path.open("rb") as fh:
        return rules_from_dict(tomllib.load(fh), source=str(path))


def ensure_allowed(rules: Rules, text: str, field_name: str) -> None:
    """Raise the 422 `moderation_blocked` problem for text the rules block; says the category only."""
    verdict = rules.check(text)
    if verdict.blocked:
        raise InvalidRequest(
            f"the request was blocked by content moderation ({verdict.category})",
            code="moderation_blocked",
            errors=[{"field": field_name, "message": f"blocked: {verdict.message}", "category": verdict.category}],
        )
