from __future__ import annotations

import pytest

from videoapi.storage.ranges import RangeNotSatisfiable, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=10-19", (10, 19)),
        ("bytes=990-", (990, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),  # suffix longer than the object: all of it
        ("bytes=900-5000", (900, 999)),  # end past the object is clipped
        ("bytes=999-999", (999, 999)),
        ("Bytes=0-0", (0, 0)),
    ],
)
def test_single_range_gives_inclusive_positions(header: str, expected: tuple[int, int]) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "bytes=",
        "bytes=-",
        "bytes=abc",
        "bytes=5-2",  # last before first is invalid syntax, not unsatisfiable
        "bytes=1-2-3",
        "items=0-10",  # unknown unit
        "0-10",
        "bytes=0-1,5-6",  # several ranges: documented choice is the whole object
        "bytes=0-1, 5-6",
    ],
)
def test_absent_malformed_or_multiple_ranges_mean_full_content(header: str | None) -> None:
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize(
    ("header", "size_bytes"),
    [("bytes=1000-", 1000), ("bytes=1000-2000", 1000), ("bytes=-0", 1000), ("bytes=0-", 0), ("bytes=-5", 0)],
)
def test_range_outside_the_object_is_unsatisfiable(header: str, size_bytes: int) -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range(header, size_bytes)
