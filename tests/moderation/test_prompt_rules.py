"""Prompt moderation: the shipped rules block what they list in English and Chinese, through the usual
evasions, and let ordinary prompts (including ones that contain a listed word inside another) pass."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from videoapi.errors import InvalidRequest
from videoapi.moderation.text import ensure_allowed, load_rules, normalise, rules_from_dict
from videoapi.moderation.unicode import DEFAULT_IGNORABLE

RULES = load_rules(Path(__file__).parents[2] / "config" / "moderation.toml")


@pytest.mark.parametrize(
    ("prompt", "category"),
    [
        ("a nude woman on a beach", "sexual"),
        ("N.U.D.E woman", "sexual"),  # punctuation inserted
        ("n u d e portrait", "sexual"),  # spaces inserted
        ("ｎｕｄｅ beach", "sexual"),  # full-width forms
        ("NuDeS at sunset", "sexual"),  # case and plural
        ("n\u200bude", "sexual"),  # zero-width space
        ("n\u0430ked man", "sexual"),  # Cyrillic a
        ("p0rn clip", "sexual"),  # digit for letter
        ("色情视频", "sexual"),
        ("色 情 视 频", "sexual"),  # spaces between CJK characters
        ("色，情", "sexual"),  # CJK punctuation between characters
        ("裸體的人", "sexual"),  # traditional characters
        ("schoolgirl, fully naked", "sexual_minors"),
        ("a beheading in the desert", "violence"),
        ("血腥屠杀的场面", "violence"),
        ("how to make a pipe bomb at home", "weapons"),
        ("教你自制炸药", "weapons"),
        ("a man thinking about suicide", "self_harm"),
    ],
)
def test_blocked_prompts_name_their_category(prompt: str, category: str) -> None:
    verdict = RULES.check(prompt)
    assert verdict.blocked
    assert verdict.category == category


@pytest.mark.parametrize(
    "prompt",
    [
        "a cat playing the piano in a sunlit room",
        "一只猫在阳光下弹钢琴",
        "a skill tree in a video game",  # contains "kill"
        "class assignment about Sussex",  # contains "ass", "sex"
        "the robot's kill switch",  # allow-listed phrase
        "nude lipstick product shot",  # allow-listed phrase
        "a drone shot of the Grand Canyon, golden hour",
        "ナルトのようなアニメ風の侍",
    ],
)
def test_ordinary_prompts_pass(prompt: str) -> None:
    assert not RULES.check(prompt).blocked


def test_a_blocked_prompt_is_a_422_naming_the_category_not_the_rule() -> None:
    with pytest.raises(InvalidRequest) as info:
        ensure_allowed(RULES, "N.U.D.E woman", "prompt")
    err = info.value
    assert err.code == "moderation_blocked"
    assert err.errors[0]["field"] == "prompt"
    assert err.errors[0]["category"] == "sexual"
    assert "nude" not in str(err).lower() and "nude" not in repr(err.errors).lower()


def test_custom_rules_merge_with_the_shipped_ones() -> None:
    custom = rules_from_dict({"categories": {"brand": {"message": "competitor brands", "keywords": ["acmecorp"]}}})
    rules = RULES.merged(custom)
    assert rules.check("an ad for A.C.M.E.C.O.R.P").category == "brand"
    assert rules.check("a nude").category == "sexual"


def test_a_bad_pattern_names_its_place() -> None:
    with pytest.raises(InvalidRequest) as info:
        rules_from_dict({"categories": {"x": {"patterns": ["ok", "(unclosed"]}}})
    assert info.value.errors[0]["field"] == "categories.x.patterns[1]"


def test_normalise_folds_width_case_marks_and_homoglyphs() -> None:
    assert normalise("ＡＢＣ Ｃafé ΡΟΡ") == "abc cafe pop"


def test_every_default_ignorable_and_format_code_point_vanishes_between_letters() -> None:
    """Unicode's Default_Ignorable_Code_Point set and every format character (Cf) are invisible, so
    they are dropped before words are matched: "nu" + any of them + "de" reads "nude"."""
    invisible = [chr(cp) for lo, hi in DEFAULT_IGNORABLE for cp in range(lo, hi + 1)]
    invisible += [chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) == "Cf"]
    assert {"\u3164", "\u2063", "\u200d", "\u200b", "\u00ad", "\ufe0f", "\U000e0101"} <= set(invisible)
    assert [ch for ch in invisible if normalise(f"nu{ch}de") != "nude"] == []


def test_look_alike_capitals_fold_to_latin_before_case_folding() -> None:
    # Greek capital Nu is "N" (a Greek small nu would read "v"); small capitals and Armenian read as Latin.
    assert normalise("\u039dUDE \u0397ENTAI \u039cASSACRE") == "nude hentai massacre"
    assert normalise("\u0274\u1d1c\u1d05\u1d07 \u0578\u057dde \u0570entai") == "nude nude hentai"


def test_ascii_and_cjk_text_is_left_as_written() -> None:
    """The rules are written in ASCII and CJK: the confusables data must not fold "1", "I" and "l"
    together, "rn" into "m", or "一" into katakana."""
    ascii_text = "".join(chr(cp) for cp in range(0x20, 0x7F))
    assert normalise(ascii_text) == ascii_text.casefold()
    chinese = "一二三丿丶人日常对话色情的颜色"
    assert normalise(chinese) == chinese


@pytest.mark.parametrize(
    ("prompt", "blocked"),
    [
        ("nude colour scheme", False),
        ("a nude colorful woman", True),
        ("the naked eye", False),
        ("naked eyeliner model", True),
        ("the robot's kill switch", False),
        ("kill switchblade people", True),
    ],
)
def test_allowed_phrases_match_whole_words_only(prompt: str, blocked: bool) -> None:
    assert RULES.check(prompt).blocked is blocked
