"""Prompt moderation on its two corpora: the false-positive rate on ordinary text and the block rate on evasions.

    .venv/bin/python scripts/bench/moderation.py [--json PATH]

Both corpora live in tests/moderation/data (ordinary.txt: prompts and captions in English, Chinese and
other scripts that must pass; evasions.jsonl: look-alike letters, invisible code points, allow-phrase
tricks, SRT/WebVTT markup, each with the category that must block it). Every item goes through the
service's own screening path (`Moderation.screen`; a subtitle file as its parsed cues, the way
edit/subtitles screens it) with the shipped rules; the same corpora are the tests in
tests/moderation/test_corpora.py. Also prints the time per item and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.moderation_corpus import blocked_category, evasions, ordinary  # noqa: E402
from videoapi.moderation.service import Moderation  # noqa: E402
from videoapi.settings import load_settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the figures and every miss here")
    args = parser.parse_args()
    settings = load_settings(environ={})  # the shipped rules, whatever VIDEOAPI_* the shell has
    moderation = Moderation(settings)
    moderation.rules  # noqa: B018 - load (and fold) once, outside the timing
    texts, cases = ordinary(), evasions()
    start = time.perf_counter()
    false_positives = [(t, c) for t in texts if (c := blocked_category(moderation, settings, t))]
    missed = [(e, c) for e in cases if (c := blocked_category(moderation, settings, e)) != e.category]
    elapsed = time.perf_counter() - start
    fp_rate = len(false_positives) / len(texts)
    block_rate = 1 - len(missed) / len(cases)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"ordinary corpus: {len(texts)} texts, {len(false_positives)} blocked: false-positive rate {fp_rate:.1%}")
    print(f"evasion corpus:  {len(cases)} cases, {len(cases) - len(missed)} blocked in their category: "
          f"block rate {block_rate:.1%}")  # fmt: skip
    print(f"time: {elapsed * 1000 / (len(texts) + len(cases)):.2f} ms per item")
    for text, category in false_positives:
        print(f"  false positive ({category}): {text!r}")
    for case, category in missed:
        print(f"  missed ({case.why}; expected {case.category}, got {category}): {case.text!r}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                    "ordinary": len(texts),
                    "false_positive_rate": fp_rate,
                    "evasions": len(cases),
                    "block_rate": block_rate,
                    "false_positives": [{"text": t, "category": c} for t, c in false_positives],
                    "missed": [{"text": e.text, "why": e.why, "expected": e.category, "got": c} for e, c in missed],
                },
                indent=2,
                ensure_ascii=False,
            )
        )


if __name__ == "__main__":
    main()
