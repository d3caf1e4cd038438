#!/usr/bin/env bash
# System packages videoapi needs beyond PyPI: espeak-ng (text-to-speech), fontconfig and fonts with
# Latin and CJK glyphs (text overlays, subtitles); Chromium for the browser tests (Playwright drives the
# system one: no browser download). Installs only what is missing; safe to re-run.
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
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
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
  brew install espeak-ng fontconfig && brew install --cask font-noto-sans-cjk-sc chromium
else
  echo "please install: ${missing[*]} (espeak-ng, fontconfig, Noto CJK and DejaVu fonts, chromium)" >&2
  exit 1
fi
