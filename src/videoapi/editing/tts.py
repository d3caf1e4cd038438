"""Text-to-speech, as pure planning: the bundled espeak-ng engine, or a neural voice of the registry.

A narration is planned as a UTF-8 text file (Plan.files) and one command (Plan.before) that writes a
WAV file the ffmpeg pass then reads: espeak-ng, or `python -m videoapi.media.synthesize` for a neural
voice (`kinds = ["tts"]` in config/models.toml, see media/voices.py). The text never reaches a command
line or a filtergraph: both read it from the file; espeak-ng without `-m`, so markup such as `<speak>` is
read out as text, and a leading `-` is just a character. espeak-ng voices are validated against what the
installed espeak-ng lists, neural ones against the registry and the weights installed.
"""

from __future__ import annotations

import difflib
import functools
import re
import shutil
import subprocess
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from videoapi.errors import InvalidRequest, ServiceUnavailable
from videoapi.media import voices as neural
from videoapi.media.synthesize import Job, frontend, speakable
from videoapi.settings import Settings

BINARY = "espeak-ng"
ESPEAK_PREFIX = "espeak:"
"""`espeak:<language>` names an espeak-ng voice even where a registry voice has the same name."""
DEFAULT_VOICE = "en"
RATE_WPM = (80, 450)
PITCH = (0, 99)
DEFAULT_RATE_WPM = 175
DEFAULT_PITCH = 50
_LIST_TIMEOUT_S = 10.0
INSTALL_HINT = (
    "text-to-speech needs espeak-ng: run `make run` (it calls scripts/install-system-deps.sh) "
    "or install the OS package (`apt-get install espeak-ng`, `brew install espeak-ng`)"
)
# Mandarin asked for by any of its names. espeak-ng 1.51's `cmn` voice turns hanzi into pinyin with tone
# digits and then reads those as English ("ni three hao three", espeak-ng issue #1370); the pinyin variant
# of the same voice pronounces them as Mandarin. It only differs in how it reads Latin letters.
_MANDARIN_ALIASES = ("zh", "zh-cmn", "cmn", "mandarin", "zh-cn")
_MANDARIN_PREFERRED = ("cmn-latn-pinyin", "cmn")
# Shown first when a voice is unknown.
_SUGGESTED = ("en", "en-us", "en-gb", "zh", "cmn", "yue", "ja", "ko", "fr", "de", "es", "it", "pt", "ru", "hi", "ar")
# Line breaks and tabs are ordinary in a narration script; every other control character is refused.
_ALLOWED_CONTROLS = frozenset("\n\t")
_PRIORITY_RE = re.compile(r"\(([^\s()]+)\s+(\d+)\)")


@dataclass(frozen=True)
class Voices:
    """What the installed espeak-ng can speak: names a request may use -> the `-v` argument."""

    languages: dict[str, str]
    """Lower-case language code or alias -> language code espeak-ng is given."""
    variants: dict[str, str]
    """Lower-case variant name or file name -> the variant's file name (`-v LANG+FILE`)."""


def espeak_binary() -> str:
    """Path of espeak-ng, or a 503 `tts_unavailable` saying how to install it."""
    path = shutil.which(BINARY)
    if path is None:
        raise ServiceUnavailable(f"espeak-ng is not installed on this server; {INSTALL_HINT}", code="tts_unavailable")
    return path


def voices() -> Voices:
    """The voices and variants of the installed espeak-ng (listed once per binary, then cached)."""
    return _voices_of(espeak_binary())


@functools.cache
def _voices_of(binary: str) -> Voices:
    return Voices(
        languages=parse_voice_list(_list(binary, "--voices")),
        variants=parse_variant_list(_list(binary, "--voices=variant")),
    )


def _list(binary: str, flag: str) -> str:
    try:
        proc = subprocess.run([binary, flag], capture_output=True, text=True, timeout=_LIST_TIMEOUT_S, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = f"espeak-ng could not list its voices ({exc}); {INSTALL_HINT}"
        raise ServiceUnavailable(detail, code="tts_unavailable") from exc
    return proc.stdout


def parse_voice_list(listing: str) -> dict[str, str]:
    """Map every language code and alias of `espeak-ng --voices` to the language to pass to `-v`.

    An alias ("Other Languages", e.g. `(zh 5)`) goes to the voice that lists it with the best (lowest)
    priority; Mandarin names go to the voice that pronounces hanzi correctly (see _MANDARIN_ALIASES).
    """
    languages: dict[str, str] = {}
    aliases: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5 or not fields[0].isdigit():
            continue
        code = fields[1]
        if code == "variant":
            continue
        languages.setdefault(code.lower(), code)
        for alias, priority in _PRIORITY_RE.findall(line):
            best = aliases.get(alias.lower())
            if best is None or int(priority) < best[0]:
                aliases[alias.lower()] = (int(priority), code)
    for alias, (_, code) in aliases.items():
        languages.setdefault(alias, code)
    mandarin = next((languages[name] for name in _MANDARIN_PREFERRED if name in languages), None)
    if mandarin is not None:
        for alias in _MANDARIN_ALIASES:
            languages[alias] = mandarin
    return languages


def parse_variant_list(listing: str) -> dict[str, str]:
    """Map the variants of `espeak-ng --voices=variant` (by name and by file name) to their file name."""
    variants: dict[str, str] = {}
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5 or fields[1] != "variant" or not fields[4].startswith("!v/"):
            continue
        file_name = fields[4].removeprefix("!v/")
        variants.setdefault(file_name.lower(), file_name)
        variants.setdefault(fields[3].lower(), file_name)
    return variants


def resolve_voice(voice: str, variant: str | None, field: str, neural_voices: Sequence[str] = ()) -> str:
    """The `-v` argument for a requested voice (language) and optional variant; 422 `unknown_voice` if not installed.

    `neural_voices` (the registry's voice names) are suggested too when the voice is unknown."""
    known = voices()
    language = known.languages.get(voice.strip().lower())
    if language is None:
        also = f"; neural voices: {', '.join(neural_voices)}" if neural_voices else ""
        raise InvalidRequest(
            f"unknown voice {voice!r}; installed espeak-ng voices include {_suggest(voice, known.languages)}{also}",
            code="unknown_voice",
            errors=[{"field": f"{field}.voice", "message": f"not an installed espeak-ng voice: {voice!r}"}],
        )
    if variant is None:
        return language
    file_name = known.variants.get(variant.strip().lower())
    if file_name is None:
        raise InvalidRequest(
            f"unknown voice variant {variant!r}; installed variants include {_suggest(variant, known.variants)}",
            code="unknown_voice",
            errors=[{"field": f"{field}.variant", "message": f"not an installed espeak-ng variant: {variant!r}"}],
        )
    return f"{language}+{file_name}"


def _suggest(wrong: str, names: dict[str, str]) -> str:
    close = difflib.get_close_matches(wrong.strip().lower(), list(names), n=4, cutoff=0.6)
    common = [name for name in _SUGGESTED if name in names]
    picks = list(dict.fromkeys([*close, *common, *sorted(names)]))[:12]
    return ", ".join(picks)


def check_text(text: str, field: str, max_chars: int) -> str:
    """Validate a narration text; returns it with Windows line ends made plain. 422 on bad text."""
    text = text.replace("\r\n", "\n")
    if not text.strip():
        raise InvalidRequest(
            "the narration text is empty",
            code="invalid_text",
            errors=[{"field": f"{field}.text", "message": "must contain something to say"}],
        )
    if len(text) > max_chars:
        raise InvalidRequest(
            f"the narration text has {len(text)} characters; the limit is {max_chars} (editing.max_text_chars)",
            code="limit_exceeded",
            errors=[{"field": f"{field}.text", "message": f"at most {max_chars} characters (editing.max_text_chars)"}],
        )
    for position, char in enumerate(text):
        if unicodedata.category(char) == "Cc" and char not in _ALLOWED_CONTROLS:
            raise InvalidRequest(
                f"the narration text contains the control character U+{ord(char):04X} at position {position}",
                code="invalid_text",
                errors=[{"field": f"{field}.text", "message": f"control character U+{ord(char):04X} is not allowed"}],
            )
    return text


@dataclass(frozen=True)
class Speech:
    """One planned synthesis: the text file to write, and the espeak-ng command or the neural job that
    turns it into `wav` (the neural jobs of a request run in one command, `synthesis_command`)."""

    text_file: Path
    text: str
    wav: Path
    argv: list[str]
    job: Job | None = None


def plan_speech(
    text: str,
    *,
    voice: str,
    variant: str | None,
    rate_wpm: int,
    pitch: int,
    field: str,
    max_chars: int,
    out_dir: Path,
    name: str,
) -> Speech:
    """Validate an espeak-ng narration and plan its synthesis into `out_dir/<name>.wav`; runs nothing."""
    text = check_text(text, field, max_chars)
    return _espeak_speech(text, resolve_voice(voice, variant, field), rate_wpm, pitch, out_dir, name)


def _espeak_speech(text: str, v: str, rate_wpm: int, pitch: int, out_dir: Path, name: str) -> Speech:
    binary = espeak_binary()
    text_file, wav = out_dir / f"{name}.txt", out_dir / f"{name}.wav"
    # -b 1: the file is UTF-8. No -m: markup in the text is read out, never interpreted.
    argv = [binary, "-v", v, "-s", str(rate_wpm), "-p", str(pitch), "-b", "1", "-f", str(text_file), "-w", str(wav)]
    return Speech(text_file, text, wav, argv)


@dataclass(frozen=True)
class NeuralVoice:
    """A registry voice whose checkpoint is installed here."""

    spec: neural.TtsSpec
    weights: Path


def pick_voice(
    voice: str | None, variant: str | None, pitch: int | None, field: str, settings: Settings
) -> str | NeuralVoice:
    """The espeak-ng `-v` argument, or the installed neural voice, that a narration's `voice` names.

    `espeak:<language>` and bare language codes (the default, `en`) go to espeak-ng; a registry voice
    name to its checkpoint. 422 `unknown_voice` for neither; 503 `model_not_installed` for a registry
    voice whose weights are absent; 422 for the espeak-only options (`variant`, `pitch`) on a neural voice.
    """
    name = (voice or DEFAULT_VOICE).strip()
    if name.lower().startswith(ESPEAK_PREFIX):
        return resolve_voice(name[len(ESPEAK_PREFIX) :], variant, field)
    registry = neural.load_voices(settings)
    spec = registry.get(name)
    if spec is None:
        return resolve_voice(name, variant, field, neural_voices=sorted(registry))
    for option, value in (("variant", variant), ("pitch", pitch)):
        if value is not None:
            raise InvalidRequest(
                f"`{option}` applies to espeak-ng voices; {name} is a neural voice",
                code="unsupported_option",
                errors=[{"field": f"{field}.{option}", "message": f"not supported by the neural voice {name}"}],
            )
    return NeuralVoice(spec, neural.require_voice(settings, spec, f"{field}.voice"))


def check_narration(
    text: str, voice: str | None, variant: str | None, pitch: int | None, field: str, settings: Settings
) -> tuple[str, str | NeuralVoice]:
    """Validate a spoken narration (text, voice, options) without running anything; (text, picked voice)."""
    text = check_text(text, field, settings.editing.max_text_chars)
    picked = pick_voice(voice, variant, pitch, field, settings)
    if isinstance(picked, NeuralVoice) and not speakable(
        frontend(text, picked.spec.text), neural.alphabet(picked.weights)
    ):
        languages = ", ".join(picked.spec.languages) or "its own"
        raise InvalidRequest(
            f"nothing in the narration text can be spoken by the voice {picked.spec.name} (languages: {languages})",
            code="invalid_text",
            errors=[{"field": f"{field}.text", "message": f"no letter of it is in the alphabet of {picked.spec.name}"}],
        )
    return text, picked


def plan_narration(
    text: str,
    *,
    voice: str | None,
    variant: str | None,
    rate_wpm: int | None,
    pitch: int | None,
    field: str,
    settings: Settings,
    out_dir: Path,
    name: str,
) -> Speech:
    """Validate a narration and plan its synthesis into `out_dir/<name>.wav` by espeak-ng or a neural voice."""
    text, picked = check_narration(text, voice, variant, pitch, field, settings)
    rate = rate_wpm or DEFAULT_RATE_WPM
    if isinstance(picked, str):
        return _espeak_speech(text, picked, rate, DEFAULT_PITCH if pitch is None else pitch, out_dir, name)
    text_file, wav = out_dir / f"{name}.txt", out_dir / f"{name}.wav"
    job = Job(
        weights=str(picked.weights),
        text_file=str(text_file),
        out=str(wav),
        text=picked.spec.text,
        # rate_wpm is relative to espeak-ng's default pace: 175 keeps the voice's own.
        speaking_rate=round(rate / DEFAULT_RATE_WPM, 4),
        speaker_id=picked.spec.speaker_id,
    )
    return Speech(text_file, text, wav, [], job)


def synthesis_command(jobs: Sequence[Job], out_dir: Path, settings: Settings) -> tuple[Path, str, list[str]]:
    """(manifest path, its JSON, the command) that speaks every neural narration of a request in one process."""
    manifest = out_dir / "narrations.json"
    argv = [
        sys.executable, "-m", "videoapi.media.synthesize",
        "--manifest", str(manifest), "--threads", str(settings.generation.cpu_threads),
    ]  # fmt: skip
    return manifest, msgspec.json.encode(list(jobs)).decode(), argv
