"""Prompt and text moderation: rules matched on normalised text, robust to the usual evasions.

Normalisation: NFKC (full-width and compatibility forms fold to ASCII); default-ignorable and format
code points dropped ("nu\\u3164de"); look-alikes folded by the UTS #39 confusables skeleton (Greek
"ΝUDE", Armenian "ոսde") and small capitals ("ɴᴜᴅᴇ") read as letters; then case-folding, combining
marks dropped, and digit or symbol substitutions ("n00d", "$ex") mapped to letters. Keywords then
match whole words, and also runs of words split by inserted spaces or punctuation ("n.u.d.e", "n u d
e"); CJK and substring rules match the letters-only text, so "色 情" matches "色情". Allowed phrases
("nude colour") are removed as whole words only, so "nude colorful" is still matched.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from videoapi.errors import InvalidRequest
from videoapi.moderation.unicode import fold_table, is_cjk, marks_table

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_RTL_CONTROLS = frozenset("\u202b\u202e\u2067\u200f\u061c")
"""Bidi controls that make what follows display right to left (RLE, RLO, RLI, RLM, ALM)."""
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_ENDINGS = ("", "s", "es", "ed", "ing", "er", "ers")
_MAX_JOIN = 8
"""Longest run of split fragments joined back into one word ("n u d e" is four)."""


def normalise(text: str) -> str:
    """NFKC; invisible code points dropped, look-alikes folded (`unicode.fold_table`); case-folded; no marks."""
    table = fold_table()
    text = unicodedata.normalize("NFKC", text).translate(table).casefold()
    # Marks go after decomposition ("é" reads "e"); folding again catches what NFD exposed.
    text = unicodedata.normalize("NFD", text).translate(marks_table())
    return unicodedata.normalize("NFC", text).translate(table).casefold()


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
        """The first category whose rules match `text`, or a pass.

        Text with a right-to-left override or embedding is checked backwards too: "\u202eedun" is
        displayed "nude" by any renderer that applies the Unicode bidi algorithm."""
        verdict = self._check(text)
        if not verdict.blocked and not _RTL_CONTROLS.isdisjoint(text):
            verdict = self._check(text[::-1])
        return verdict

    def _check(self, text: str) -> Verdict:
        norm = normalise(text)
        spaced = self._unallowed(" ".join(_WORD.findall(norm)))
        leet = self._unallowed(" ".join(_WORD.findall(norm.translate(_LEET))))
        words = spaced.split()
        letters = "".join(words)
        candidates = _candidates(words) | _candidates(leet.split())
        for cat in self.categories:
            if cat.keywords and not candidates.isdisjoint(_inflected(cat.keywords)):
                return Verdict(True, cat.name, cat.message)
            if any(s in letters or s in spaced for s in cat.substrings):
                return Verdict(True, cat.name, cat.message)
            if any(p.search(spaced) or p.search(leet) for p in cat.patterns):
                return Verdict(True, cat.name, cat.message)
        return Verdict(False)

    def _unallowed(self, spaced: str) -> str:
        """`spaced` without its allowed phrases, each matched as whole words ("nude color" is allowed,
        "nude colorful" is not); a CJK phrase, written without spaces, matches anywhere."""
        pattern = _allow_pattern(self.allow)
        return pattern.sub(" ", spaced) if pattern else spaced

    def merged(self, other: Rules) -> Rules:
        return Rules(self.categories + other.categories, self.allow + other.allow)


@cache
def _inflected(keywords: frozenset[str]) -> frozenset[str]:
    """Every keyword with every ending ("nude", "nudes", "nuded", ...): one set lookup per candidate."""
    return frozenset(k + end for k in keywords for end in _ENDINGS)


@cache
def _allow_pattern(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    words = [re.escape(p) for p in phrases if not any(is_cjk(c) for c in p)]
    cjk = [re.escape(p) for p in phrases if any(is_cjk(c) for c in p)]
    alternatives = ([rf"(?<![^\W_])(?:{'|'.join(words)})(?![^\W_])"] if words else []) + cjk
    return re.compile("|".join(alternatives)) if alternatives else None


def _candidates(words: list[str]) -> set[str]:
    """Every word, and every run of a word and the short fragments after it (an evasion such as
    "n u d e" or "nu.de"); a fragment of more than 3 letters ends a run, so that two ordinary words
    never join into a keyword."""
    found = set(words)
    for i, word in enumerate(words):
        joined = word
        for fragment in words[i + 1 : i + _MAX_JOIN]:
            if len(fragment) > 3:
                break
            joined += fragment
            found.add(joined)
    return found


def _keyword_form(value: str) -> str:
    return "".join(_WORD.findall(normalise(value)))


def _substring_form(value: str) -> str:
    norm = normalise(value)
    return "".join(_WORD.findall(norm)) if all(is_cjk(c) or not c.isalnum() for c in norm) else norm


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
    phrases = (" ".join(_WORD.findall(normalise(raw))) for raw in (data.get("allow") or {}).get("phrases", []))
    allow = tuple(p for p in phrases if p)
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
