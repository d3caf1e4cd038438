"""Prompt moderation: the shipped rules block what they list in English and Chinese, through the usual
evasions, and let ordinary prompts (including ones that contain a listed word inside another) pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from videoapi.errors import InvalidRequest
from videoapi.moderation.text import ensure_allowed, load_rules, normalise, rules_from_dict

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
