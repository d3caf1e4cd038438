"""Which request text is screened, and how a block is reported."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from videoapi.errors import InvalidRequest
from videoapi.moderation.service import Moderation, screened_texts
from videoapi.settings import Settings


def test_prompts_overlay_text_and_subtitles_are_screened_wherever_they_sit() -> None:
    request = {
        "prompt": "a calm lake",
        "negative_prompt": "nude, gore",
        "timeline": {"overlays": [{"text": "hello"}, {"image": {"asset_id": "x"}}]},
        "subtitles": {"srt": "1\n00:00:00,000 --> 00:00:01,000\nhi\n"},
        "narration": {"text": "welcome"},
    }
    assert dict(screened_texts(request)) == {
        "prompt": "a calm lake",
        "negative_prompt": "nude, gore",
        "timeline.overlays[0].text": "hello",
        "subtitles.srt": "1\n00:00:00,000 --> 00:00:01,000\nhi\n",
        "narration.text": "welcome",
    }


def test_a_blocked_overlay_names_its_field(make_settings: Callable[..., Settings]) -> None:
    moderation = Moderation(make_settings())
    moderation.screen({"timeline": {"overlays": [{"text": "fine"}, {"text": "fine too"}]}})
    with pytest.raises(InvalidRequest) as info:
        moderation.screen({"timeline": {"overlays": [{"text": "fine"}, {"text": "色 情"}]}})
    assert info.value.code == "moderation_blocked"
    assert info.value.errors[0]["field"] == "timeline.overlays[1].text"


def test_screening_can_be_turned_off(make_settings: Callable[..., Settings]) -> None:
    Moderation(make_settings(**{"moderation.enabled": False})).screen({"prompt": "n.u.d.e"})


def test_a_broken_rules_file_is_reported_with_its_path(make_settings: Callable[..., Settings], tmp_path: Path) -> None:
    bad = tmp_path / "rules.toml"
    bad.write_text('[categories.x]\npatterns = ["(unclosed"]\n')
    moderation = Moderation(make_settings(**{"moderation.rules_file": str(bad)}))
    with pytest.raises(RuntimeError, match=r"rules\.toml"):
        moderation.screen({"prompt": "anything"})
