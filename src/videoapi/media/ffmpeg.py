"""The ffmpeg runner: one subprocess with progress, cancellation, a time limit and clean errors."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable

import imageio_ffmpeg

from videoapi.errors import MediaError, ProcessingError, TaskTimeout, scrub_paths

FFMPEG: str = imageio_ffmpeg.get_ffmpeg_exe()

STDERR_TAIL_BYTES = 8 * 1024
TERMINATE_GRACE_S = 1.0
"""Time ffmpeg gets to exit after SIGTERM before it is killed."""
DETAIL_MAX_CHARS = 400

# stderr lines that mean the input itself is bad, not our command or the machine.
_INPUT_DAMAGED_MARKERS = (
    "Invalid data found when processing input",
    "moov atom not found",
    "does not contain any stream",
    "Error while decoding stream",
    "Invalid NAL unit size",
)
_INPUT_REFUSED_MARKERS = ("Format not on whitelist", "Protocol not on whitelist")
# What libavutil logs when a decoder refuses a frame over its max_pixels.
_FRAME_TOO_LARGE_MARKER = "exceeds specified max pixel count"

_LOG_CONTEXT_RE = re.compile(r" @ 0x[0-9a-f]+")

_SETPRIV = shutil.which("setpriv") if sys.platform == "linux" else None


@functools.cache
def dies_with_worker() -> list[str]:
    """The argv prefix that makes the kernel SIGKILL ffmpeg when the worker thread that started it dies
    (PR_SET_PDEATHSIG, set by util-linux's `setpriv` before it execs ffmpeg); [] where there is none.

    Not a preexec_fn: that makes Python fork() instead of vfork(), and fork runs the libraries'
    fork handlers in the worker while its other threads run jobs. OpenBLAS's stops its thread pool
    under a matrix product running in another thread, which then waits forever (two lip-sync tasks
    in one worker hung that way). vfork runs no handlers. The signal fires when the *thread* that
    started ffmpeg exits: the runner starts it from the event loop's thread, which lives as long as
    the worker.
    """
    if _SETPRIV is None:
        return []
    prefix = [_SETPRIV, "--pdeathsig", "KILL", "--"]
    try:  # util-linux before 2.33 has no --pdeathsig
        subprocess.run([*prefix, FFMPEG, "-hide_banner", "-version"], capture_output=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return []
    return prefix


async def run_ffmpeg(
    args: list[str],
    *,
    duration_s: float | None,
    on_progress: Callable[[float], None] | None = None,
    timeout_s: float,
    max_pixels: int | None = None,
    feed: AsyncIterator[bytes] | None = None,
) -> None:
    """Run ffmpeg with `args` (inputs, filters, outputs) and wait for it to succeed.

    `on_progress` gets the done fraction (0..1, never decreasing) about twice a second when
    `duration_s`, the expected output duration, is known; an exception it raises stops ffmpeg and
    propagates. Cancelling the awaiting task stops ffmpeg too. Raises TaskTimeout after
    `timeout_s`, MediaError(input_unreadable / input_unsupported_format) when ffmpeg says the input
    is bad, and ProcessingError(ffmpeg_failed) for any other failure.

    `max_pixels` caps every input's decoder: a frame larger than that (a stream that grows after
    the small first frame the probe saw) fails the run with MediaError(input_too_large), even where
    ffmpeg itself would only drop the frame and exit 0.

    `feed` is written to ffmpeg's standard input (an input `pipe:0`) as ffmpeg reads it, then closed;
    an exception it raises stops ffmpeg and propagates. ffmpeg stopping early ends the feed.
    """
    if max_pixels is not None:
        args = with_max_pixels(args, max_pixels)
    command = [
        FFMPEG,
        "-hide_banner",
        "-nostdin",
        "-y",
        "-loglevel",
        "error",
        "-progress",
        "pipe:1",
        "-stats_period",
        "0.5",
        *args,
    ]
    if feed is not None:
        command.remove("-nostdin")  # stdin is the input, not a console
    proc = await asyncio.create_subprocess_exec(
        *dies_with_worker(),
        *command,
        stdin=asyncio.subprocess.PIPE if feed is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Same process group as the worker: a signal to the worker's group reaches ffmpeg too.
        start_new_session=False,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_tail = bytearray()
    readers = [_read_progress(proc.stdout, duration_s, on_progress), _read_tail(proc.stderr, stderr_tail)]
    if feed is not None:
        assert proc.stdin is not None
        readers.append(_write_feed(proc.stdin, feed))
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*readers)
            returncode = await proc.wait()
    except TimeoutError:
        await _stop(proc, grace_s=0)
        raise TaskTimeout(f"ffmpeg did not finish within {timeout_s:g} s.") from None
    except BaseException:
        # Cancellation, or an exception from on_progress: ffmpeg must not outlive the task.
        await _stop_even_if_cancelled(proc)
        raise
    stderr = stderr_tail.decode("utf-8", errors="replace")
    if _FRAME_TOO_LARGE_MARKER in stderr:
        raise MediaError(
            "A frame of the input exceeds the limit on pixels per frame (limits.max_pixels).",
            code="input_too_large",
            status=413,
        )
    if returncode != 0:
        raise _error_from_stderr(stderr, returncode)


async def stream_frames(
    args: list[str], frame_bytes: int, *, timeout_s: float, max_pixels: int | None = None
) -> AsyncIterator[bytes]:
    """Run ffmpeg with `args` (ending in a raw-video output to `pipe:1`) and yield its frames one at a time.

    The frames stream: only one is held here, so a long video costs no memory (the analysis passes
    read downscaled frames this way). Stopping the iteration early, an error, cancellation or
    `timeout_s` stops ffmpeg; a failure raises what `run_ffmpeg` would.
    """
    if max_pixels is not None:
        args = with_max_pixels(args, max_pixels)
    command = [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", *args]
    proc = await asyncio.create_subprocess_exec(
        *dies_with_worker(),
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=False,
        limit=max(frame_bytes * 2, 2**16),
    )
    assert proc.stdout is not None and proc.stderr is not None
    stderr_tail = bytearray()
    tail_reader = asyncio.ensure_future(_read_tail(proc.stderr, stderr_tail))
    deadline = asyncio.get_running_loop().time() + timeout_s
    finished = False
    try:
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                async with asyncio.timeout(max(remaining, 0.0)):
                    frame = await proc.stdout.readexactly(frame_bytes)
            except asyncio.IncompleteReadError:
                break
            except TimeoutError:
                raise TaskTimeout(f"ffmpeg did not finish within {timeout_s:g} s.") from None
            yield frame
        returncode = await proc.wait()
        await tail_reader
        finished = True
    finally:
        if not finished:
            # Keep reading both pipes while ffmpeg stops: a full pipe would block it, and asyncio only
            # reaps a child once its pipes reach end of file.
            drain = asyncio.ensure_future(_discard(proc.stdout))
            try:
                await _stop_even_if_cancelled(proc)
            finally:
                await asyncio.gather(drain, tail_reader, return_exceptions=True)
    stderr = stderr_tail.decode("utf-8", errors="replace")
    if _FRAME_TOO_LARGE_MARKER in stderr:
        raise MediaError(
            "A frame of the input exceeds the limit on pixels per frame (limits.max_pixels).",
            code="input_too_large",
            status=413,
        )
    if returncode != 0:
        raise _error_from_stderr(stderr, returncode)


def with_max_pixels(args: list[str], max_pixels: int) -> list[str]:
    """`args` with `-max_pixels N` before every `-i`, so that each input's decoder refuses larger frames."""
    out: list[str] = []
    for arg in args:
        if arg == "-i":
            out += ["-max_pixels", str(max_pixels)]
        out.append(arg)
    return out


async def _read_progress(
    stream: asyncio.StreamReader, duration_s: float | None, on_progress: Callable[[float], None] | None
) -> None:
    """Parse `-progress` key=value blocks; report once per block, and 1.0 at `progress=end`."""
    done = 0.0
    out_time_us: int | None = None
    async for raw in stream:
        key, _, value = raw.decode("ascii", errors="replace").strip().partition("=")
        if key in ("out_time_us", "out_time_ms"):
            # out_time_ms is in microseconds as well (a historical misnomer in ffmpeg).
            with contextlib.suppress(ValueError):
                out_time_us = int(value)
        elif key == "progress":
            if on_progress is None or not duration_s or duration_s <= 0:
                continue
            if value == "end":
                fraction = 1.0
            elif out_time_us is not None:
                fraction = min(max(out_time_us / 1e6 / duration_s, 0.0), 1.0)
            else:
                continue
            if fraction > done or (value == "end" and done < 1.0):
                done = fraction
                on_progress(done)


async def _write_feed(stdin: asyncio.StreamWriter, feed: AsyncIterator[bytes]) -> None:
    """Write `feed` to ffmpeg's stdin, then close it. A pipe ffmpeg closed (it failed, or needs no more)
    ends the feed quietly: ffmpeg's exit status and stderr say what happened."""
    try:
        async for chunk in feed:
            stdin.write(chunk)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        aclose = getattr(feed, "aclose", None)
        if aclose is not None:
            await aclose()
        if not stdin.is_closing():
            stdin.close()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            await stdin.wait_closed()


async def _discard(stream: asyncio.StreamReader) -> None:
    while await stream.read(2**16):
        pass


async def _read_tail(stream: asyncio.StreamReader, tail: bytearray) -> None:
    """Keep the last STDERR_TAIL_BYTES of stderr; reading it all keeps ffmpeg from blocking."""
    while chunk := await stream.read(4096):
        tail.extend(chunk)
        if len(tail) > STDERR_TAIL_BYTES:
            del tail[: len(tail) - STDERR_TAIL_BYTES]


async def _stop(proc: asyncio.subprocess.Process, *, grace_s: float = TERMINATE_GRACE_S) -> None:
    """SIGTERM (lets ffmpeg close its files), SIGKILL after `grace_s` (at once if 0); reap it."""
    if proc.returncode is not None:
        return
    if grace_s > 0:
        _send(proc, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace_s)
        except TimeoutError:
            pass
        else:
            return
    _send(proc, signal.SIGKILL)
    await proc.wait()


def _send(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited on its own meanwhile
        proc.send_signal(sig)


async def _stop_even_if_cancelled(proc: asyncio.subprocess.Process) -> None:
    try:
        await _stop(proc)
    except BaseException:
        # Cancelled again while stopping: no time for grace, kill at once.
        _send(proc, signal.SIGKILL)
        raise


def _error_from_stderr(stderr: str, returncode: int) -> MediaError | ProcessingError:
    if any(marker in stderr for marker in _INPUT_REFUSED_MARKERS):
        return MediaError("Unsupported input: the file format is not accepted.", code="input_unsupported_format")
    summary = _summarize(stderr)
    if any(marker in stderr for marker in _INPUT_DAMAGED_MARKERS):
        return MediaError(f"The input media is damaged or unreadable: {summary}", code="input_unreadable")
    if returncode < 0:
        summary = f"killed by signal {-returncode}. {summary}".strip()
    return ProcessingError(f"ffmpeg failed: {summary}", code="ffmpeg_failed")


def _summarize(stderr: str) -> str:
    """The last few stderr lines, without server paths or log-context addresses."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = "; ".join(_scrub(line) for line in lines[-3:])
    if len(text) > DETAIL_MAX_CHARS:
        text = text[: DETAIL_MAX_CHARS - 1] + "…"
    return text or "no error message"


def _scrub(line: str) -> str:
    line = _LOG_CONTEXT_RE.sub("", line)
    return scrub_paths(line)
