#!/usr/bin/env bash
# Installs everything the test suite needs (Python packages, Debian's Chromium for the browser
# tests) and runs the whole suite. Usage: bash tests/run.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Chromium for the browser tests; the emoji font so the 🎲 ♻️ buttons render in screenshots.
if [ ! -x /usr/bin/chromium ] || [ ! -d /usr/share/fonts/truetype/noto ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
python -m pytest "$@"
