"""run_ffmpeg(): progress, cancellation, time limit, error mapping, and the safe input options."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from videoapi.errors import MediaError, ProcessingError, TaskTimeout
from videoapi.media.ffmpeg import FFMPEG, run_ffmpeg
from videoapi.media.safety import input_args

pytestmark = [pytest.mark.anyio, pytest.mark.ffmpeg]

# An input that never ends, read in real time: a long-running ffmpeg that costs almost no CPU.
ENDLESS = ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-f", "null", "-"]


def ffmpeg_children() -> list[psutil.Process]:
    return [p for p in psutil.Process().children() if p.exe() == FFMPEG or "ffmpeg" in p.name()]


def is_gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_progress_reports_increasing_fractions_ending_at_one(mp4_with_audio: Path) -> None:
    seen: list[float] = []

    # -readrate 2 makes the 2 s input last about 1 s, long enough for a few progress blocks.
    await run_ffmpeg(
        ["-readrate", "2", *input_args(mp4_with_audio), "-f", "null", "-"],
        duration_s=2.0,
        on_progress=seen.append,
        timeout_s=30,
    )

    assert len(seen) >= 2
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert all(0.0 <= value <= 1.0 for value in seen)
    assert seen[-1] == pytest.approx(1.0, abs=0.01)


async def test_encode_writes_the_output(tmp_path: Path, mp4_with_audio: Path) -> None:
    out = tmp_path / "out.mp4"

    await run_ffmpeg(
        [*input_args(mp4_with_audio), "-t", "0.5", "-c:v", "libx264", "-preset", "ultrafast", "-an", str(out)],
        duration_s=0.5,
        timeout_s=30,
    )

    assert out.stat().st_size > 0


async def test_timeout_raises_task_timeout_and_kills_ffmpeg() -> None:
    pids: list[int] = []

    def remember_pid(_: float) -> None:
        pids.extend(p.pid for p in ffmpeg_children())

    started = time.monotonic()
    with pytest.raises(TaskTimeout) as info:
        await run_ffmpeg(ENDLESS, duration_s=100, on_progress=remember_pid, timeout_s=1.5)

    assert info.value.code == "timeout"
    assert time.monotonic() - started < 3
    assert pids, "ffmpeg never reported progress"
    assert all(is_gone(pid) for pid in pids)


async def test_cancel_running_task_kills_ffmpeg_within_two_seconds() -> None:
    running = asyncio.Event()
    pids: list[int] = []

    def on_progress(_: float) -> None:
        pids.extend(p.pid for p in ffmpeg_children())
        running.set()

    task = asyncio.create_task(run_ffmpeg(ENDLESS, duration_s=100, on_progress=on_progress, timeout_s=60))
    await asyncio.wait_for(running.wait(), 10)

    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert time.monotonic() - started < 2
    assert pids and all(is_gone(pid) for pid in pids)
    assert not ffmpeg_children()


async def test_exception_from_progress_callback_stops_ffmpeg_and_propagates() -> None:
    class Canceled(Exception):
        pass

    def on_progress(_: float) -> None:
        raise Canceled

    with pytest.raises(Canceled):
        await run_ffmpeg(ENDLESS, duration_s=100, on_progress=on_progress, timeout_s=30)

    assert not ffmpeg_children()


async def test_failure_is_processing_error_without_server_paths(tmp_path: Path) -> None:
    missing = tmp_path / "nested" / "missing-input.mp4"

    with pytest.raises(ProcessingError) as info:
        await run_ffmpeg([*input_args(missing), "-f", "null", "-"], duration_s=None, timeout_s=30)

    assert info.value.code == "ffmpeg_failed"
    assert "No such file or directory" in info.value.detail
    assert "missing-input.mp4" in info.value.detail
    assert str(tmp_path) not in info.value.detail
    assert "/" not in info.value.detail.replace("N/A", "")


async def test_bad_filter_is_processing_error(tmp_path: Path, mp4_with_audio: Path) -> None:
    with pytest.raises(ProcessingError) as info:
        await run_ffmpeg(
            [*input_args(mp4_with_audio), "-vf", "nosuchfilter", str(tmp_path / "out.mp4")],
            duration_s=2.0,
            timeout_s=30,
        )

    assert info.value.code == "ffmpeg_failed"
    assert "nosuchfilter" in info.value.detail
    assert str(tmp_path) not in info.value.detail


async def test_truncated_input_is_media_error(tmp_path: Path, mp4_moov_at_end: Path) -> None:
    data = mp4_moov_at_end.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 2])

    with pytest.raises(MediaError) as info:
        await run_ffmpeg([*input_args(truncated), "-f", "null", "-"], duration_s=2.0, timeout_s=30)

    assert info.value.code == "input_unreadable"
    assert str(tmp_path) not in info.value.detail


@pytest.mark.parametrize("kind", ["hls", "ffconcat"])
async def test_input_args_refuse_playlists_and_concat_scripts_without_reading_them(tmp_path: Path, kind: str) -> None:
    # The referenced "media" is a fifo: had ffmpeg opened it, it would block until the timeout.
    fifo = tmp_path / "part.ts"
    os.mkfifo(fifo)
    if kind == "hls":
        script = tmp_path / "list.m3u8"
        script.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\npart.ts\n#EXTINF:2,\nfile://{fifo}\n")
    else:
        script = tmp_path / "list.ffconcat"
        script.write_text("ffconcat version 1.0\nfile part.ts\n")

    with pytest.raises(MediaError) as info:
        await run_ffmpeg([*input_args(script), "-f", "null", "-"], duration_s=None, timeout_s=10)

    assert info.value.code == "input_unsupported_format"


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux-only")
def test_ffmpeg_dies_when_the_worker_process_is_killed() -> None:
    # Given a worker process running ffmpeg, when the worker is SIGKILLed (no cleanup code runs),
    # then the kernel kills ffmpeg too.
    worker_code = textwrap.dedent(
        f"""
        import asyncio
        from videoapi.media.ffmpeg import run_ffmpeg
        asyncio.run(run_ffmpeg({ENDLESS!r}, duration_s=None, timeout_s=60))
        """
    )
    worker = subprocess.Popen([sys.executable, "-c", worker_code])
    try:
        deadline = time.monotonic() + 20
        children: list[psutil.Process] = []
        while not children and time.monotonic() < deadline:
            time.sleep(0.05)
            children = psutil.Process(worker.pid).children()
        assert children, "the worker never started ffmpeg"
        ffmpeg_pid = children[0].pid

        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(5)

        deadline = time.monotonic() + 2
        while not is_gone(ffmpeg_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert is_gone(ffmpeg_pid)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


RAW_IN = ["-f", "rawvideo", "-pix_fmt", "gray", "-s", "16x16", "-framerate", "10", "-i", "pipe:0"]


async def test_a_feed_is_encoded_as_it_comes_and_closed_at_its_end(tmp_path: Path) -> None:
    async def frames():  # type: ignore[no-untyped-def]
        for n in range(12):
            yield bytes([n * 20]) * 256

    out = tmp_path / "fed.mkv"
    await run_ffmpeg([*RAW_IN, "-c:v", "ffv1", str(out)], duration_s=1.2, timeout_s=30, feed=frames())
    import av

    with av.open(str(out)) as c:
        shades = [int(f.to_ndarray()[0, 0]) for f in c.decode(video=0)]
    assert shades == [n * 20 for n in range(12)]


async def test_a_feed_that_fails_stops_ffmpeg_and_its_error_propagates(tmp_path: Path) -> None:
    closed = []

    async def frames():  # type: ignore[no-untyped-def]
        try:
            yield b"\0" * 256
            raise ProcessingError("the model failed", code="processing_failed")
        finally:
            closed.append(True)

    with pytest.raises(ProcessingError, match="the model failed"):
        await run_ffmpeg([*RAW_IN, "-f", "null", "-"], duration_s=1.0, timeout_s=30, feed=frames())
    assert closed == [True] and not ffmpeg_children()


async def test_ffmpeg_failing_early_ends_the_feed_and_reports_ffmpeg_s_error(tmp_path: Path) -> None:
    sent = []

    async def frames():  # type: ignore[no-untyped-def]
        for _ in range(10_000):  # far more than the pipe holds: ffmpeg is gone long before
            sent.append(1)
            yield b"\0" * 65536

    bad = [
        "-f",
        "rawvideo",
        "-pix_fmt",
        "gray",
        "-s",
        "16x16",
        "-i",
        "pipe:0",
        "-c:v",
        "no-such-codec",
        "-f",
        "null",
        "-",
    ]
    with pytest.raises(ProcessingError):
        await run_ffmpeg(bad, duration_s=1.0, timeout_s=30, feed=frames())
    assert len(sent) < 10_000 and not ffmpeg_children()


# A child process: matrix products on one thread while another starts ffmpeg over and over, as a
# worker's jobs do side by side. Exits 0 when the products kept going for the whole time.
BLAS_AND_FORKS = textwrap.dedent(
    """
    import asyncio, os, threading, time
    import numpy as np
    from videoapi.media.ffmpeg import run_ffmpeg
    a = np.random.rand(400, 400)
    done = [0]
    def products():
        while True:
            a @ a
            done[0] += 1
    async def forks():
        while True:
            await run_ffmpeg(["-f", "lavfi", "-i", "nullsrc=s=16x16:d=0.04", "-f", "null", "-"],
                             duration_s=None, timeout_s=10)
    threading.Thread(target=products, daemon=True).start()
    threading.Thread(target=lambda: asyncio.run(forks()), daemon=True).start()
    last = -1
    for _ in range(6):
        time.sleep(1)
        if done[0] == last:
            print("matrix products stopped after", done[0], flush=True)
            os._exit(1)
        last = done[0]
    print("products", done[0], flush=True)
    os._exit(0)
    """
)


def test_matrix_products_keep_going_while_another_thread_starts_ffmpeg() -> None:
    """ffmpeg starts without fork handlers: OpenBLAS's stopped its thread pool under a product running
    in another thread, which then waited forever (two lip-sync tasks in one worker hung that way)."""
    try:
        child = subprocess.run([sys.executable, "-c", BLAS_AND_FORKS], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:  # the fork can hang too, holding the GIL: then nothing is printed
        pytest.fail("the process hung: a matrix product and ffmpeg's fork() deadlocked")
    assert child.returncode == 0, child.stdout + child.stderr[-2000:]
