"""A transcript's caption files: one cue per segment, as SRT, WebVTT and JSON."""

from __future__ import annotations

from pathlib import Path

import msgspec

from videoapi.editing.captions import Cue, to_srt, to_webvtt
from videoapi.speech.schemas import Transcript

_MIN_CUE_S = 0.01


def transcript_cues(transcript: Transcript) -> list[Cue]:
    """One caption cue per segment, at least 10 ms long (a cue must end after it starts)."""
    cues = []
    for number, seg in enumerate(transcript.segments, 1):
        end_s = max(seg.end_s, round(seg.start_s + _MIN_CUE_S, 3))
        cues.append(Cue(seg.start_s, end_s, seg.text, number))
    return cues


def transcript_files(transcript: Transcript, out_dir: Path) -> list[tuple[Path, str, str]]:
    """(path, text, content type) of the SRT, WebVTT and JSON files of a transcript (an empty transcript
    gives caption files with no cues)."""
    cues = transcript_cues(transcript)
    return [
        (out_dir / "transcript.srt", to_srt(cues) if cues else "", "application/x-subrip"),
        (out_dir / "transcript.vtt", to_webvtt(cues), "text/vtt"),
        (out_dir / "transcript.json", msgspec.json.encode(transcript).decode(), "application/json"),
    ]
