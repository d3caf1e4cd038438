"""scrub_paths: what a caller reads never names a server directory, and keeps URLs and API routes."""

from __future__ import annotations

import pytest

from videoapi.errors import scrub_paths


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cannot open /var/lib/videoapi/work/t-1/input-0.mp4.", "cannot open input-0.mp4."),
        ("Error opening file:/srv/var/storage/x/source: denied", "Error opening source: denied"),
        ("no config.json in directory /tmp/m/transformer", "no config.json in directory transformer"),
        ("fetch of https://example.com/a/b.mp4 failed", "fetch of https://example.com/a/b.mp4 failed"),
        ("see /v1/video/tasks/abc", "see /v1/video/tasks/abc"),
        ("rate 25/1, size 320x240", "rate 25/1, size 320x240"),
    ],
)
def test_absolute_paths_shrink_to_their_last_component(text: str, expected: str) -> None:
    assert scrub_paths(text) == expected
