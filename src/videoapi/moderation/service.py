"""Screening of request text before any work is created: prompts, overlays, subtitles, narration."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from videoapi.errors import InvalidRequest
from videoapi.moderation.text import Rules, ensure_allowed, load_rules, rules_from_dict
from videoapi.observability.metrics import MODERATION_BLOCKS
from videoapi.settings import Settings

# Request fields whose text ends up in an output or drives a model. `negative_prompt` steers the
# model as much as the prompt does, so it is screened too. (A visible watermark's `text` is screened
# like any other text.)
SCREENED_FIELDS = frozenset({"prompt", "negative_prompt", "text", "srt", "vtt", "title", "caption"})


def screened_texts(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) for every screened string field anywhere in a request."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key in SCREENED_FIELDS and isinstance(item, str):
                yield where, item
            else:
                yield from screened_texts(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from screened_texts(item, f"{path}[{i}]")


class Moderation:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._rules: Rules | None = None

    @property
    def rules(self) -> Rules:
        if self._rules is None:
            path = self.settings.moderation_rules_file
            try:
                self._rules = load_rules(path)
            except (OSError, ValueError, InvalidRequest) as exc:
                raise RuntimeError(f"cannot load moderation rules from {path}: {exc}") from exc
        return self._rules

    def rules_for(self, owner_rules: dict[str, Any] | None) -> Rules:
        """The shipped rules, plus the owner's policy rules (in the rules-file layout) when it has any."""
        return self.rules.merged(rules_from_dict(owner_rules, source="owner policy")) if owner_rules else self.rules

    def screen(
        self,
        request: Any,
        owner_rules: dict[str, Any] | None = None,
        drawn: Iterable[tuple[str, str]] = (),
        *,
        stage: str = "prompt",
    ) -> None:
        """Raise the 422 `moderation_blocked` problem when any screened text of `request` is blocked.

        `owner_rules` (the owner's policy, in the rules-file layout) add to the shipped rules. `drawn`
        gives (field, text) for text as the output will show it, when that differs from the request's
        (subtitle cues after their tags are removed and entities decoded): both are screened. `stage`
        labels the block on `videoapi_moderation_blocks_total` (`transcript`: speech about to be drawn)."""
        if not self.settings.moderation.enabled:
            return
        rules = self.rules_for(owner_rules)
        data = request if isinstance(request, dict | list) else msgspec.to_builtins(request)
        for field, text in (*screened_texts(data), *drawn):
            try:
                ensure_allowed(rules, text, field)
            except InvalidRequest as exc:
                category = next((e["category"] for e in exc.errors if e.get("category")), "unknown")
                MODERATION_BLOCKS.labels(stage, category).inc()
                raise
