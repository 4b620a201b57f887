"""Session-wide set-up: offline, no telemetry, and one tiny SD3 built and loaded per session."""

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

os.environ.update(
    HF_HUB_OFFLINE="1",
    HF_HUB_DISABLE_TELEMETRY="1",
    GRADIO_ANALYTICS_ENABLED="False",
)
# A fresh cache folder per session: the tiny model is built once, and subprocesses started by the
# tests (`app.py --model tiny`) reuse it.
os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="turbo-studio-cache-"))

import pytest  # noqa: E402

from helpers.app_server import MAX_QUEUE_SIZE, MAX_SEEDS, AppServer, serving  # noqa: E402
from pipeline import Engine, LoadOptions  # noqa: E402
from pipeline.random_model import ensure_tiny_model  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny random SD3, saved with `save_pretrained` once per test session."""
    return ensure_tiny_model()


@pytest.fixture(scope="session")
def engine(tiny_model_dir) -> Engine:
    """An engine over the tiny SD3, loaded through the real loading code, without warm-up."""
    return Engine.load(LoadOptions(model=str(tiny_model_dir), warmup=False, preview_decoder=""))


# Per module, not per session: Playwright's sync API keeps an asyncio loop in this thread while it
# runs, and Ray's blocking calls refuse to run beside one (the Ray tests came after the browser's).
@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium, driven by Playwright, shared by the browser tests (the only
    importers of Playwright)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (tests/run.sh does).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def app_server(tiny_model_dir, tmp_path_factory) -> Iterator[AppServer]:
    """One app per test module, with a small queue and seed cap the tests can reach."""
    folder = tmp_path_factory.mktemp("app")
    with serving(folder, "--max-queue-size", str(MAX_QUEUE_SIZE), "--max-seeds", str(MAX_SEEDS)) as server:
        yield server
