"""Worker entry of `speech.transcribe`: extract the audio once, transcribe it window by window, store the transcript."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import msgspec

from videoapi.assets.service import AssetService
from videoapi.editing.captions import Cue, to_srt, to_webvtt
from videoapi.generation.registry import load_registry
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.outputs.step import OutputStep
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec
from videoapi.settings import Settings
from videoapi.speech.engine import SAMPLE_RATE, Options, Transcriber
from videoapi.speech.schemas import TranscribeRequest, Transcript
from videoapi.speech.service import KIND, QUEUE, decoding_language, pick_asr_model, require_audio, require_weights

# Progress: audio extraction, then transcription (by position in the audio), then storing.
_EXTRACT_SHARE = 0.05
_TRANSCRIBE_SHARE = 0.9
_MIN_CUE_S = 0.01


def extract_audio_args(source: Path, wav: Path) -> list[str]:
    """ffmpeg arguments writing the first audio stream of `source` as 16 kHz mono 16-bit WAV (what Whisper reads)."""
    return ["-i", str(source), "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE),
            "-c:a", "pcm_s16le", "-f", "wav", str(wav)]  # fmt: skip


def transcript_cues(transcript: Transcript) -> list[Cue]:
    """One caption cue per segment, at least 10 ms long (a cue must end after it starts)."""
    cues = []
    for number, seg in enumerate(transcript.segments, 1):
        end_s = max(seg.end_s, round(seg.start_s + _MIN_CUE_S, 3))
        cues.append(Cue(seg.start_s, end_s, seg.text, number))
    return cues


def write_transcript(transcript: Transcript, out_dir: Path) -> list[tuple[Path, str]]:
    """The SRT, WebVTT and JSON files of a transcript, with their content types (an empty transcript gives
    caption files with no cues)."""
    cues = transcript_cues(transcript)
    files = [
        (out_dir / "transcript.srt", to_srt(cues) if cues else "", "application/x-subrip"),
        (out_dir / "transcript.vtt", to_webvtt(cues), "text/vtt"),
        (out_dir / "transcript.json", msgspec.json.encode(transcript).decode(), "application/json"),
    ]
    for path, text, _ in files:
        path.write_text(text, encoding="utf-8")
    return [(path, content_type) for path, _, content_type in files]


class SpeechJobs:
    def __init__(self, settings: Settings, assets: AssetService, step: OutputStep, transcriber: Transcriber) -> None:
        self.settings = settings
        self.assets = assets
        self.step = step
        self.transcriber = transcriber

    async def run(self, ctx: JobContext) -> JobOutput:
        req = msgspec.convert(ctx.task.params, TranscribeRequest)
        spec = pick_asr_model(load_registry(self.settings), req.model)
        language = decoding_language(spec, req.language)
        weights = require_weights(self.settings, spec)
        in_dir = ctx.work_dir / "in"
        in_dir.mkdir()
        local = await self.assets.resolve_input(ctx.task.owner_id, req.input, in_dir)
        require_audio(local.media)  # a URL input is probed only now
        wav = ctx.work_dir / "audio.wav"
        await run_ffmpeg(
            extract_audio_args(local.path, wav),
            duration_s=local.media.duration_s,
            on_progress=lambda f: ctx.report_progress(_EXTRACT_SHARE * f),
            timeout_s=ctx.time_limit_s,
        )
        model = await asyncio.to_thread(self.transcriber.model, spec, weights)
        options = Options(language, req.word_timestamps, req.vad, req.initial_prompt)
        stop = threading.Event()
        try:
            transcript = await asyncio.to_thread(
                self.transcriber.transcribe,
                model,
                wav,
                options,
                lambda f: ctx.report_progress(_EXTRACT_SHARE + _TRANSCRIBE_SHARE * f),
                stop,
            )
        finally:
            # The runtime cancels this coroutine on a cancel or time limit, which leaves the thread
            # running: the event stops it at its next segment.
            stop.set()
        out_dir = ctx.work_dir / "out"
        out_dir.mkdir()
        files = write_transcript(transcript, out_dir)
        result = {"duration": transcript.duration_s, "model": spec.name, **msgspec.to_builtins(transcript)}
        return await self.step.finish_documents(ctx, files, result)

    def specs(self) -> list[JobSpec]:
        return [JobSpec(KIND, QUEUE, self.run)]
