"""The moderation corpora (tests/moderation/data): ordinary text that must pass, evasions that must be
blocked, and one screening function that takes each through the service's own path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import msgspec

from videoapi.editing.subtitles import SubtitlesRequest, subtitle_texts
from videoapi.errors import InvalidRequest
from videoapi.moderation.service import Moderation
from videoapi.settings import Settings

DATA = Path(__file__).parents[1] / "moderation" / "data"


@dataclass(frozen=True)
class Evasion:
    text: str
    category: str
    why: str
    format: str = "prompt"
    """"prompt": plain text; "srt" or "vtt": a subtitle file, screened as its cues will be drawn."""


def ordinary() -> list[str]:
    lines = (DATA / "ordinary.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def evasions() -> list[Evasion]:
    lines = (DATA / "evasions.jsonl").read_text(encoding="utf-8").splitlines()
    return [Evasion(**json.loads(line)) for line in lines if line.strip()]


def subtitles_body(case: Evasion, asset_id: str) -> dict[str, object]:
    """An edit/subtitles request carrying the case: its SRT or WebVTT file, or one segment."""
    if case.format in ("srt", "vtt"):
        return {"input": {"asset_id": asset_id}, case.format: case.text}
    return {"input": {"asset_id": asset_id}, "segments": [{"start_s": 0, "end_s": 1, "text": case.text}]}


def blocked_category(moderation: Moderation, settings: Settings, case: Evasion | str) -> str | None:
    """The category that blocks `case` on the path the API takes (None: it passes). A subtitle file
    goes through the edit/subtitles request and its drawn cue text, as `EditingService` screens it."""
    if isinstance(case, str):
        case = Evasion(case, "", "")
    try:
        if case.format == "prompt":
            moderation.screen({"prompt": case.text})
        else:
            req = msgspec.convert(subtitles_body(case, "a"), SubtitlesRequest)
            moderation.screen(req, None, subtitle_texts(req, settings))
    except InvalidRequest as exc:
        if exc.code != "moderation_blocked":
            raise
        return exc.errors[0]["category"]
    return None
