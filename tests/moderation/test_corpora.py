"""The corpora: every ordinary prompt and caption passes (no false positives), every evasion is blocked
in its category, taken through the service's screening path (subtitle files as their cues are drawn)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.moderation_corpus import Evasion, blocked_category, evasions, ordinary
from videoapi.moderation.service import Moderation
from videoapi.settings import Settings

ORDINARY = ordinary()
EVASIONS = evasions()


def test_the_corpora_are_big_enough_to_mean_something() -> None:
    assert len(ORDINARY) >= 200 and len(EVASIONS) >= 40
    assert any(any("\u4e00" <= c <= "\u9fff" for c in line) for line in ORDINARY)
    for word in ("Sussex", "Scunthorpe", "analysis", "cocktail", "therapist", "日常对话"):
        assert any(word in line for line in ORDINARY), word


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_prompts_and_captions_pass(make_settings: Callable[..., Settings], text: str) -> None:
    settings = make_settings()
    assert blocked_category(Moderation(settings), settings, text) is None


@pytest.mark.parametrize("case", EVASIONS, ids=[f"{i}-{c.why}" for i, c in enumerate(EVASIONS)])
def test_evasions_are_blocked_in_their_category(make_settings: Callable[..., Settings], case: Evasion) -> None:
    settings = make_settings()
    assert blocked_category(Moderation(settings), settings, case) == case.category
