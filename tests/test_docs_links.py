"""No markdown file of the repository links outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parents[1]
# Inline links and images `[text](target)`, and reference definitions `[id]: target`.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")
# Public specifications that docs may cite.
ALLOWED_HOSTS = {
    "www.rfc-editor.org",
    "datatracker.ietf.org",
    "www.standardwebhooks.com",
    "c2pa.org",
    "spec.c2pa.org",
    "spec.openapis.org",
    "prometheus.io",
}


def _markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / name for name in listed if (ROOT / name).is_file()]


def _problems(path: Path) -> list[str]:
    text = CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    out = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        where = f"{path.relative_to(ROOT)}: {target}"
        url = urlparse(target)
        if url.scheme in ("http", "https"):
            if url.hostname not in ALLOWED_HOSTS:
                out.append(f"{where} (external host)")
            continue
        if url.scheme == "mailto":
            continue
        if "shared/" in target:
            out.append(f"{where} (the shared workspace is not part of the repository)")
            continue
        if url.scheme or target.startswith(("/", "~")):
            out.append(f"{where} (absolute or non-http link)")
            continue
        file_part = unquote(url.path)
        if not file_part:  # an anchor in the same page
            continue
        resolved = (path.parent / file_part).resolve()
        if not resolved.is_relative_to(ROOT):
            out.append(f"{where} (outside the repository)")
        elif not resolved.exists():
            out.append(f"{where} (no such file)")
    return out


def test_markdown_links_stay_in_the_repository() -> None:
    files = _markdown_files()
    assert any(p.name == "README.md" for p in files)
    problems = [problem for path in files for problem in _problems(path)]
    assert not problems, "bad links:\n" + "\n".join(problems)
