#!/usr/bin/env bash
# Installs everything the test suite needs (Python packages, Debian's Chromium for the browser
# tests) and runs the whole suite. Usage: bash tests/run.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

# Chromium for the browser tests; the emoji font so the 🎲 ♻️ buttons render in screenshots; npm
# for axe-core, the accessibility audit the browser tests inject into the page. Only what is
# missing: Node.js on this machine image ships its own npm, and Debian's `npm` package conflicts
# with it ("held broken packages"), so Debian's is asked for only where no npm exists at all.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || missing+=(fonts-noto-color-emoji)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing Debian's ${missing[*]}…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# axe-core at the version tests/package-lock.json pins, into tests/node_modules (git-ignored).
if [ ! -f tests/node_modules/axe-core/axe.min.js ]; then
    npm ci --prefix tests --no-audit --no-fund --silent
fi
python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 GRADIO_ANALYTICS_ENABLED=False
# Two workers (pytest-xdist): most tests wait on an app or a browser in another process, so two
# modules at a time fill the 2 cores. A worker takes a whole module, or all the Ray tests, at a
# time (tests/conftest.py), in the order given: the Ray tests, then the other slow modules.
python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder "$@"
