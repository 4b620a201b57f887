#!/usr/bin/env bash
# Installs everything the test suite needs (Python packages, Debian's Chromium for the browser
# tests) and runs the whole suite. Usage: bash tests/run.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Chromium for the browser tests; the emoji font so the 🎲 ♻️ buttons render in screenshots; npm
# for axe-core, the accessibility audit the browser tests inject into the page.
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/noto ] || ! command -v npm >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji npm >/dev/null
fi
# axe-core at the version tests/package-lock.json pins, into tests/node_modules (git-ignored).
if [ ! -f tests/node_modules/axe-core/axe.min.js ]; then
    npm ci --prefix tests --no-audit --no-fund --silent
fi
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
python -m pytest "$@"
