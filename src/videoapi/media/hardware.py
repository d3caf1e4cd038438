"""Hardware video encoders: which ones really work on this node, and their arguments.

Listing encoders is not enough: the bundled ffmpeg lists h264_nvenc, hevc_nvenc, av1_nvenc, the QSV and
VAAPI encoders on every machine, GPU or not. A worker probes each one at start by encoding a few
frames (`probe_encoders`); the answer is kept for the life of the process (`usable_encoders`), shown on
`/metrics` and by `videoapi doctor`. `choose_encoder` picks the family a task encodes with; the
planners turn the family into arguments (`hardware_video_args`) without running anything.
"""

from __future__ import annotations

import re
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

from videoapi.errors import InvalidRequest, ProcessingError
from videoapi.media.encoding import KEYFRAMES, Quality, video_args
from videoapi.media.ffmpeg import FFMPEG
from videoapi.observability.metrics import HARDWARE_ENCODER_USABLE

Encoder = Literal["auto", "software", "nvenc", "qsv", "vaapi"]
Family = Literal["software", "nvenc", "qsv", "vaapi"]
HARDWARE: tuple[Family, ...] = ("nvenc", "qsv", "vaapi")
VAAPI_DEVICE = "/dev/dri/renderD128"

# The hardware encoder of each (family, codec); a codec missing here has no hardware encoder in that family.
ENCODERS: dict[tuple[str, str], str] = {
    ("nvenc", "h264"): "h264_nvenc",
    ("nvenc", "hevc"): "hevc_nvenc",
    ("nvenc", "av1"): "av1_nvenc",
    ("qsv", "h264"): "h264_qsv",
    ("qsv", "hevc"): "hevc_qsv",
    ("qsv", "av1"): "av1_qsv",
    ("vaapi", "h264"): "h264_vaapi",
    ("vaapi", "hevc"): "hevc_vaapi",
    ("vaapi", "av1"): "av1_vaapi",
}
# Constant-quality targets that look about like the software CRFs of `encoding.CODECS` (NVENC's CQ,
# QSV's global_quality (ICQ) and VAAPI's QP sit a few steps above x264's CRF for the same look).
HW_QUALITY: dict[str, dict[str, int]] = {
    "h264": {"low": 30, "medium": 25, "high": 20},
    "hevc": {"low": 33, "medium": 29, "high": 24},
    "av1": {"low": 42, "medium": 36, "high": 30},
}
NVENC_PRESET = {"low": "p3", "medium": "p4", "high": "p6"}
QSV_PRESET = {"low": "veryfast", "medium": "medium", "high": "slow"}


class EncoderUnavailable(ProcessingError):
    """The task asked for a hardware encoder that this worker's probe found unusable."""

    status = 503
    code = "encoder_unavailable"
    title = "Encoder unavailable"


@dataclass(frozen=True)
class EncoderStatus:
    encoder: str
    usable: bool
    reason: str
    """Why not (the probe's last error line), or "" when usable."""


def hardware_video_args(family: Family, codec: str, quality: Quality) -> tuple[list[str], list[str], str | None]:
    """(global args before the inputs, video encoder args, filter to append to the video chain) for a
    hardware family; pure, so that planners stay testable without the hardware.

    VAAPI encodes frames in GPU memory: the chain ends with an upload (`format=nv12,hwupload`) to the
    device named before the inputs. NVENC and QSV take frames from system memory.
    """
    encoder = ENCODERS[(family, codec)]
    q = str(HW_QUALITY[codec][quality])
    if family == "nvenc":
        rate = ["-preset", NVENC_PRESET[quality], "-tune", "hq", "-rc", "vbr", "-cq", q, "-b:v", "0"]
        return [], ["-c:v", encoder, *rate, "-pix_fmt", "yuv420p", *KEYFRAMES], None
    if family == "qsv":
        rate = ["-preset", QSV_PRESET[quality], "-global_quality", q]
        return [], ["-c:v", encoder, *rate, "-pix_fmt", "nv12", *KEYFRAMES], None
    return ["-vaapi_device", VAAPI_DEVICE], ["-c:v", encoder, "-qp", q, *KEYFRAMES], "format=nv12,hwupload"


def check_encoder(requested: Encoder, codec: str | None, *, field: str = "encoder") -> None:
    """A 422 naming `field` for a hardware family that has no encoder for `codec` (None: a GIF)."""
    if requested in ("auto", "software"):
        return
    if codec is None or (requested, codec) not in ENCODERS:
        takes = ", ".join(c for (f, c) in ENCODERS if f == requested)
        raise InvalidRequest(
            f"encoder `{requested}` has no encoder for this output; it encodes {takes}",
            code="codec_unsupported",
            errors=[{"field": field, "message": f"`{requested}` encodes {takes}; use `auto` or `software`"}],
        )


def choose_encoder(
    requested: Encoder, codec: str | None, usable: dict[str, EncoderStatus] | None
) -> tuple[Family, str | None]:
    """The family a task encodes with, and why `auto` fell back to software (None when it did not).

    `usable` is this worker's probe (None: not probed, e.g. `outputs.probe_hardware` off). `auto` takes
    the first usable hardware encoder of the codec (NVENC, QSV, VAAPI), else software; an explicit
    family that the probe found unusable raises EncoderUnavailable (the task fails, stable code).
    """
    if requested == "software" or codec is None:
        return "software", None
    if requested != "auto":
        status = (usable or {}).get(ENCODERS[(requested, codec)])
        if status is None or not status.usable:
            why = status.reason if status is not None else "encoders were not probed (outputs.probe_hardware)"
            raise EncoderUnavailable(f"encoder `{requested}` is not usable on this worker: {why}")
        return requested, None
    if usable is None:
        return "software", "not_probed"
    candidates = [f for f in HARDWARE if (f, codec) in ENCODERS]
    if not candidates:
        return "software", "codec_not_supported"
    for family in candidates:
        status = usable.get(ENCODERS[(family, codec)])
        if status is not None and status.usable:
            return family, None
    return "software", "no_hardware"


# ---- the probe --------------------------------------------------------------------------------

PROBED = ("h264_nvenc", "hevc_nvenc", "av1_nvenc", "h264_qsv", "hevc_qsv", "h264_vaapi", "hevc_vaapi")
"""The encoders a worker probes at start (AV1 on QSV/VAAPI is left to `auto`'s H.264/HEVC for now)."""

# ffmpeg's "[h264_nvenc @ 0x55d0c0a3c840] " log prefix: the address changes every run.
_CONTEXT = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")
_cache: dict[str, EncoderStatus] | None = None
_lock = threading.Lock()


def probe_encoder(encoder: str, timeout_s: float = 20.0) -> EncoderStatus:
    """Encode 5 frames of a 256x256 test pattern with `encoder` to nowhere; usable when ffmpeg exits 0."""
    family = next(f for (f, _), name in ENCODERS.items() if name == encoder)
    head: list[str] = []
    chain = "format=nv12"
    if family == "vaapi":
        head, chain = ["-vaapi_device", VAAPI_DEVICE], "format=nv12,hwupload"
    argv = [
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *head,
        "-f", "lavfi", "-i", "testsrc2=size=256x256:rate=25", "-frames:v", "5", "-vf", chain,
        "-c:v", encoder, "-f", "null", "-",
    ]  # fmt: skip
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return EncoderStatus(encoder, False, f"the probe took over {timeout_s:g} s")
    except OSError as exc:
        return EncoderStatus(encoder, False, f"ffmpeg did not run: {exc}")
    if proc.returncode == 0:
        return EncoderStatus(encoder, True, "")
    lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
    # The first line names the cause (no device, driver too old); later ones repeat "could not open encoder".
    reason = _CONTEXT.sub("", lines[0]) if lines else f"ffmpeg exited with {proc.returncode}"
    return EncoderStatus(encoder, False, reason[:300])


def probe_encoders(timeout_s: float = 20.0) -> dict[str, EncoderStatus]:
    """Probe every encoder of `PROBED` side by side (each probe is one short ffmpeg run)."""
    with ThreadPoolExecutor(max_workers=len(PROBED)) as pool:
        return dict(zip(PROBED, pool.map(lambda e: probe_encoder(e, timeout_s), PROBED), strict=True))


def usable_encoders(timeout_s: float = 20.0) -> dict[str, EncoderStatus]:
    """This process's probe, run on first use and kept: the hardware does not come and go."""
    global _cache
    with _lock:
        if _cache is None:
            _cache = probe_encoders(timeout_s)
            for status in _cache.values():
                HARDWARE_ENCODER_USABLE.labels(status.encoder).set(int(status.usable))
        return _cache


def probed_encoders() -> dict[str, EncoderStatus] | None:
    """The probe if this process has run it, else None (never probes: for the API side and /metrics)."""
    return _cache


def planned_video_args(encoder: Encoder, codec: str, quality: Quality) -> tuple[list[str], list[str], str | None]:
    """What a planner encodes the video with: `hardware_video_args` for a family the worker chose
    (`choose_encoder` turned `auto` into one), the software encoder for `auto` (at submission, where
    nothing is probed) and `software`."""
    if encoder in ("auto", "software"):
        return [], video_args(codec, quality), None
    return hardware_video_args(encoder, codec, quality)  # type: ignore[arg-type]
