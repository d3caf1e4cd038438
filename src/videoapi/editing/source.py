"""What every planner and the kinds table share: a resolved input and the planner signature."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from videoapi.media.gops import StreamIndex
from videoapi.media.plan import Plan
from videoapi.media.probe import MediaInfo
from videoapi.settings import Settings


@dataclass(frozen=True)
class Source:
    """One resolved input of a plan: a local path (a stand-in name at submission) and its probe."""

    path: Path
    media: MediaInfo
    index: StreamIndex | None = None
    """The video's GOP index, read by the worker for kinds that ask for it (smart trims); None at submission."""


# (request, sources in the order `inputs` named them, output dir, settings) -> Plan; raises
# InvalidRequest for a request that cannot work on these inputs.
Planner = Callable[[Any, Sequence[Source], Path, Settings], Plan]
