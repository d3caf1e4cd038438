"""Text-to-speech planning: voices checked against the installed espeak-ng, text passed only by file.

The planning tests run nothing; the last few run the planned espeak-ng command itself (tens of ms each)
to prove that what the plan says is what the engine does with hostile text.
"""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from videoapi.editing import tts
from videoapi.errors import AppError, InvalidRequest

LISTING = """\
Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  cmn             --/M      Chinese_(Mandarin,_latin_as_English) sit/cmn              (zh-cmn 5)(zh 5)
 5  cmn-latn-pinyin --/M      Chinese_(Mandarin,_latin_as_Pinyin) sit/cmn-Latn-pinyin  (zh-cmn 5)(zh 5)
 2  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 2  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 5  fr-fr           --/M      French_(France)    roa/fr               (fr 5)
 5  ja              --/M      Japanese           jpx/ja
 5  yue             --/M      Chinese_(Cantonese) sit/yue              (zh-yue 5)(zh 8)
"""
VARIANTS = """\
Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  variant         --/F      female3            !v/f3
 5  variant         --/M      klatt              !v/klatt
"""


def speech(text: str, tmp_path: Path, **kw: object) -> tts.Speech:
    options: dict[str, object] = {"voice": "en", "variant": None, "rate_wpm": 175, "pitch": 50, **kw}
    return tts.plan_speech(
        text,
        field="narration[0]",
        max_chars=2000,
        out_dir=tmp_path,
        name="narration0",
        **options,  # type: ignore[arg-type]
    )


def synthesise(plan: tts.Speech) -> tuple[np.ndarray, int]:
    """Run the planned command the way the job does (file written first, argv without a shell)."""
    plan.text_file.parent.mkdir(parents=True, exist_ok=True)
    plan.text_file.write_text(plan.text, encoding="utf-8")
    subprocess.run(plan.argv, check=True, capture_output=True, timeout=30)
    with wave.open(str(plan.wav)) as wav:
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16).astype(np.float64) / 32768
    return samples, rate


def voiced_s(samples: np.ndarray, rate: int) -> float:
    """Seconds of 20 ms windows louder than -40 dBFS."""
    win = rate // 50
    frames = samples[: len(samples) // win * win].reshape(-1, win)
    rms = np.sqrt((frames**2).mean(axis=1))
    return float((rms > 0.01).sum() * 0.02)


def longest_pause_s(samples: np.ndarray, rate: int) -> float:
    win = rate // 50
    frames = samples[: len(samples) // win * win].reshape(-1, win)
    longest = run = 0
    for loud in np.sqrt((frames**2).mean(axis=1)) > 0.01:
        run = 0 if loud else run + 1
        longest = max(longest, run)
    return longest * 0.02


# ---- the voice list -------------------------------------------------------------------------------


def test_language_codes_and_aliases_map_to_a_voice() -> None:
    languages = tts.parse_voice_list(LISTING)
    assert languages["en-us"] == "en-us"
    assert languages["en"] == "en-gb"  # priority 2 beats en-us's 3
    assert languages["fr"] == "fr-fr"
    assert languages["ja"] == "ja"
    assert languages["zh-yue"] == "yue"


def test_every_mandarin_name_goes_to_the_voice_that_reads_hanzi_as_mandarin() -> None:
    # espeak-ng 1.51's plain `cmn` voice reads the tone digits of its pinyin in English.
    languages = tts.parse_voice_list(LISTING)
    for name in ("zh", "cmn", "zh-cmn", "mandarin"):
        assert languages[name] == "cmn-latn-pinyin", name


def test_mandarin_falls_back_to_cmn_when_the_pinyin_variant_is_absent() -> None:
    listing = "\n".join(line for line in LISTING.splitlines() if "pinyin" not in line)
    assert tts.parse_voice_list(listing)["zh"] == "cmn"


def test_variants_are_known_by_name_and_by_file() -> None:
    variants = tts.parse_variant_list(VARIANTS)
    assert variants == {"f3": "f3", "female3": "f3", "klatt": "klatt"}


def test_the_installed_espeak_has_the_languages_we_document() -> None:
    languages = tts.voices().languages
    for name in ("en", "en-us", "zh", "cmn", "fr", "de", "es", "ja"):
        assert name in languages, name


def test_unknown_voice_is_a_422_naming_the_field_and_suggesting_voices() -> None:
    with pytest.raises(InvalidRequest) as exc:
        tts.resolve_voice("klingon", None, "narration[2]")
    assert exc.value.code == "unknown_voice"
    assert exc.value.errors[0]["field"] == "narration[2].voice"
    assert "en-us" in exc.value.detail and "zh" in exc.value.detail


def test_unknown_variant_is_a_422_on_the_variant_field() -> None:
    with pytest.raises(InvalidRequest) as exc:
        tts.resolve_voice("en", "nobody", "narration[0]")
    assert exc.value.code == "unknown_voice"
    assert exc.value.errors[0]["field"] == "narration[0].variant"


def test_voice_and_variant_combine_into_one_espeak_voice() -> None:
    assert tts.resolve_voice("EN-US", "female3", "n") == "en-us+f3"


# ---- the text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        tts.check_text(text, "narration[0]", 100)
    assert exc.value.code == "invalid_text"
    assert exc.value.errors[0]["field"] == "narration[0].text"


def test_text_over_the_limit_names_the_setting() -> None:
    with pytest.raises(InvalidRequest) as exc:
        tts.check_text("x" * 101, "narration[0]", 100)
    assert exc.value.code == "limit_exceeded"
    assert "editing.max_text_chars" in exc.value.errors[0]["message"]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\x7f", "\x85", "\r"])
def test_control_characters_are_refused(char: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        tts.check_text(f"hello{char}world", "narration[0]", 100)
    assert exc.value.code == "invalid_text"


def test_line_breaks_and_tabs_are_ordinary_text() -> None:
    assert tts.check_text("one\r\ntwo\tthree\n", "n", 100) == "one\ntwo\tthree\n"


@pytest.mark.parametrize("text", ["-w /etc/passwd", "--stdin", "<speak><break time='9s'/></speak>", "a'b:c,d;e[f]g\\h"])
def test_text_goes_to_a_file_and_never_onto_the_command_line(text: str, tmp_path: Path) -> None:
    plan = speech(text, tmp_path)
    assert plan.text == text
    assert text not in plan.argv
    assert plan.argv[plan.argv.index("-f") + 1] == str(plan.text_file)
    assert plan.argv[plan.argv.index("-w") + 1] == str(plan.wav)
    assert "-m" not in plan.argv  # no SSML interpretation
    assert plan.argv[plan.argv.index("-b") + 1] == "1"  # UTF-8


def test_rate_pitch_and_voice_reach_espeak(tmp_path: Path) -> None:
    plan = speech("hi", tmp_path, voice="zh", variant="f3", rate_wpm=220, pitch=70)
    args = plan.argv
    assert args[args.index("-v") + 1] == "cmn-latn-pinyin+f3"
    assert args[args.index("-s") + 1] == "220"
    assert args[args.index("-p") + 1] == "70"


def test_missing_espeak_is_a_503_that_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AppError) as exc:
        speech("hello", tmp_path)
    assert exc.value.status == 503
    assert exc.value.code == "tts_unavailable"
    assert "install-system-deps.sh" in exc.value.detail


# ---- the planned command, run -------------------------------------------------------------------------


def test_text_that_looks_like_options_or_markup_is_spoken_not_obeyed(tmp_path: Path) -> None:
    # `-w other.wav` would redirect the output, `<break time=...>` would be a 9 s silence under -m.
    other = tmp_path / "other.wav"
    plan = speech(f"-w {other} <speak>hello<break time='9s'/>world</speak>", tmp_path)
    samples, rate = synthesise(plan)
    assert not other.exists()
    assert voiced_s(samples, rate) > 1.0  # the characters are read out
    assert longest_pause_s(samples, rate) < 1.0  # and no 9 s pause was inserted


def test_mandarin_text_is_synthesised_with_a_plausible_length(tmp_path: Path) -> None:
    text = "你好，欢迎使用视频接口。"  # 12 characters, 10 syllables
    samples, rate = synthesise(speech(text, tmp_path, voice="zh"))
    # About 4 syllables per second at the default rate (2.5 s here); silence or a few beeps would fail.
    assert 1.5 < voiced_s(samples, rate) < 4.0


def test_a_faster_rate_speaks_the_same_text_in_less_time(tmp_path: Path) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    slow, _ = synthesise(speech(text, tmp_path / "slow", rate_wpm=120))
    fast, _ = synthesise(speech(text, tmp_path / "fast", rate_wpm=360))
    assert len(fast) < 0.6 * len(slow)
