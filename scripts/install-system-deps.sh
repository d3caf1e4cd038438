#!/usr/bin/env bash
# System packages videoapi needs beyond PyPI: espeak-ng (text-to-speech), fontconfig and fonts with
# Latin and CJK glyphs (text overlays, subtitles), and chromium for the web console's browser test
# (Playwright drives /usr/bin/chromium; it never downloads a browser). Installs only what is missing;
# safe to re-run.
set -euo pipefail

missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v fc-list >/dev/null 2>&1 || missing+=(fontconfig)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh family 2>/dev/null)" ]; then
  missing+=(fonts-noto-cjk)
fi
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list 'DejaVu Sans' family 2>/dev/null)" ]; then
  missing+=(fonts-dejavu-core)
fi
# Debian's chromium package (with H.264 through its bundled ffmpeg); elsewhere tests/console says what is missing.
if command -v apt-get >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
  missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing system packages: ${missing[*]}"
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y --no-install-recommends "${missing[@]}" || {
    $sudo apt-get update && $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  }
elif command -v brew >/dev/null 2>&1; then
  brew install espeak-ng fontconfig && brew install --cask font-noto-sans-cjk-sc
else
  echo "please install: ${missing[*]} (espeak-ng, fontconfig, Noto CJK and DejaVu fonts)" >&2
  exit 1
fi
