"""Worker entries of `speech.transcribe` and `edit.captions`: extract the audio once, transcribe it window
by window; then store the transcript, or draw it as captions in one ffmpeg pass and store both."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import threading
from pathlib import Path

import msgspec

from videoapi.assets.service import AssetService
from videoapi.editing.jobs import EditJobs
from videoapi.errors import InvalidRequest
from videoapi.generation.registry import load_registry
from videoapi.media.ffmpeg import run_ffmpeg
from videoapi.media.probe import MediaInfo
from videoapi.moderation.frames import ModerationBlocked
from videoapi.moderation.policy import PolicyService
from videoapi.moderation.service import Moderation
from videoapi.moderation.text import Rules
from videoapi.outputs.step import OutputStep
from videoapi.queue.jobs import JobContext, JobOutput, JobSpec
from videoapi.settings import Settings
from videoapi.speech.captions import CAPTIONS, caption_texts, segments_of, transcript_of, with_transcript
from videoapi.speech.engine import Options, Transcriber
from videoapi.speech.schemas import CaptionSegment, CaptionsRequest, TranscribeRequest, Transcript
from videoapi.speech.service import (
    KIND,
    QUEUE,
    decoding_language,
    extract_audio_args,
    pick_asr_model,
    require_audio,
    require_weights,
)
from videoapi.speech.transcript import transcript_files

# Progress: audio extraction, then transcription (by position in the audio), then storing.
_EXTRACT_SHARE = 0.05
_TRANSCRIBE_SHARE = 0.9
# Captions: the transcription takes this share of the progress; the render pass reports the rest.
_CAPTIONS_ASR_SHARE = 0.6


def write_transcript(transcript: Transcript, out_dir: Path) -> list[tuple[Path, str]]:
    """Write the SRT, WebVTT and JSON files of a transcript; their paths and content types."""
    files = transcript_files(transcript, out_dir)
    for path, text, _ in files:
        path.write_text(text, encoding="utf-8")
    return [(path, content_type) for path, _, content_type in files]


_SEGMENT_FIELD = re.compile(r"^segments\[(\d+)\]")


def _blocked_from(segment: CaptionSegment, rules: Rules) -> float:
    """When the blocked words of a segment start: the shortest run of its words from the start that
    the rules block ends at them (the segment's start when its words are not timed)."""
    words = segment.words or []
    for k in range(1, len(words) + 1):
        if rules.check(" ".join(w.word for w in words[:k])).blocked:
            return words[k - 1].start_s
    return segment.start_s


class SpeechJobs:
    def __init__(
        self,
        settings: Settings,
        assets: AssetService,
        step: OutputStep,
        transcriber: Transcriber,
        edits: EditJobs,
        moderation: Moderation,
        policies: PolicyService,
    ) -> None:
        self.settings = settings
        self.assets = assets
        self.step = step
        self.transcriber = transcriber
        self.edits = edits
        self.moderation = moderation
        self.policies = policies

    async def transcribe(
        self,
        ctx: JobContext,
        path: Path,
        media: MediaInfo,
        model_name: str | None,
        language: str,
        options: Options,
        share: float,
    ) -> tuple[Transcript, str]:
        """The transcript of a resolved input and the model's name; progress runs from 0 to `share`."""
        spec = pick_asr_model(load_registry(self.settings), model_name)
        decoding = decoding_language(spec, language)
        weights = require_weights(self.settings, spec)
        require_audio(media)  # a URL input is probed only now
        wav = ctx.work_dir / "audio.wav"
        await run_ffmpeg(
            extract_audio_args(path, wav),
            duration_s=media.duration_s,
            on_progress=lambda f: ctx.report_progress(share * _EXTRACT_SHARE * f),
            timeout_s=ctx.time_limit_s,
        )
        model = await asyncio.to_thread(self.transcriber.model, spec, weights)
        options = dataclasses.replace(options, language=decoding)
        stop = threading.Event()
        try:
            transcript = await asyncio.to_thread(
                self.transcriber.transcribe,
                model,
                wav,
                options,
                lambda f: ctx.report_progress(share * (_EXTRACT_SHARE + _TRANSCRIBE_SHARE * f)),
                stop,
            )
        finally:
            # The runtime cancels this coroutine on a cancel or time limit, which leaves the thread
            # running: the event stops it at its next segment.
            stop.set()
        return transcript, spec.name

    async def run(self, ctx: JobContext) -> JobOutput:
        req = msgspec.convert(ctx.task.params, TranscribeRequest)
        in_dir = ctx.work_dir / "in"
        in_dir.mkdir()
        local = await self.assets.resolve_input(ctx.task.owner_id, req.input, in_dir)
        options = Options(None, req.word_timestamps, req.vad, req.initial_prompt)
        transcript, model = await self.transcribe(ctx, local.path, local.media, req.model, req.language, options, 1.0)
        out_dir = ctx.work_dir / "out"
        out_dir.mkdir()
        files = write_transcript(transcript, out_dir)
        result = {"duration": transcript.duration_s, "model": model, **msgspec.to_builtins(transcript)}
        return await self.step.finish_documents(ctx, files, result)

    async def run_captions(self, ctx: JobContext) -> JobOutput:
        req = msgspec.convert(ctx.task.params, CaptionsRequest)
        sources = await self.edits.sources(ctx, CAPTIONS, req)
        source = sources[0]
        model: str | None = None
        if req.segments is None:
            options = Options(None, True, req.vad, req.initial_prompt)
            transcript, model = await self.transcribe(
                ctx, source.path, source.media, req.model, req.language, options, _CAPTIONS_ASR_SHARE
            )
            # The planner draws the transcript as if the caller had given it, in the language found; an
            # empty one (`segments=[]`, which only the worker makes) plans the input's streams copied.
            found = transcript.language or req.language
            req = msgspec.structs.replace(req, segments=segments_of(transcript), language=found)
            await self.screen_speech(ctx.task.owner_id, req)
        else:
            transcript = transcript_of(req, source.media.duration_s)
        output = await self.edits.render(
            ctx,
            CAPTIONS,
            req,
            sources,
            lambda plan, out_dir: with_transcript(plan, transcript, out_dir),
            progress_from=_CAPTIONS_ASR_SHARE if model is not None else 0.0,
        )
        output.result.update({"model": model, "transcript": msgspec.to_builtins(transcript)})
        return output

    async def screen_speech(self, owner_id: str, req: CaptionsRequest) -> None:
        """Screen the transcribed words as the caller's own captions are screened at submission, before
        they are drawn: speech the owner's rules block fails the task (`moderation_blocked`)."""
        policy = await self.policies.get(owner_id)
        try:
            self.moderation.screen(req, policy.moderation_rules, caption_texts(req, self.settings), stage="transcript")
        except InvalidRequest as exc:
            error = exc.errors[0] if exc.errors else {}
            found = _SEGMENT_FIELD.match(str(error.get("field", "")))
            segment = req.segments[int(found[1])] if found and req.segments else None
            rules = self.moderation.rules_for(policy.moderation_rules)
            at = "" if segment is None else f" at {_blocked_from(segment, rules):.1f} s"
            raise ModerationBlocked(
                f"the transcribed speech{at} was blocked by content moderation ({error.get('category', 'unknown')});"
                " no captions were drawn"
            ) from exc

    def specs(self) -> list[JobSpec]:
        return [JobSpec(KIND, QUEUE, self.run), JobSpec(CAPTIONS.kind, QUEUE, self.run_captions)]
