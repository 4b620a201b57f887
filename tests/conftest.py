"""Session-wide set-up: offline, no telemetry, one tiny SD3 built and loaded per session, one local
Ray for the tests of the Ray backend (run last), and the real app on either backend."""

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

from helpers.app_server import MAX_QUEUE_SIZE, MAX_SEEDS, AppServer, app_load_options, serving  # noqa: E402
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


@pytest.fixture
def page(browser, app_server):
    """A fresh page of the module's app (its own browser context, closed after the test)."""
    from helpers.pages import open_page

    page = open_page(browser, app_server.url)
    yield page
    page.context.close()


# What the tests' apps are started with: a small queue and seed cap the tests can reach.
SERVER_OPTIONS = ("--max-queue-size", str(MAX_QUEUE_SIZE), "--max-seeds", str(MAX_SEEDS))
RAY_REPLICAS = 2


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests marked `ray` last, in their order: the session's Ray starts with the first of them
    and stops with the session, so it idles through no other test (idle, with its two replicas, it
    takes about a tenth of a core: measured with top)."""
    items.sort(key=lambda item: item.get_closest_marker("ray") is not None)


@pytest.fixture(scope="module")
def app_server(tiny_model_dir, tmp_path_factory) -> Iterator[AppServer]:
    """One app per test module, on the local backend."""
    with serving(tmp_path_factory.mktemp("app"), *SERVER_OPTIONS) as server:
        yield server


@pytest.fixture(scope="session")
def remote(tiny_model_dir):
    """The session's one local Ray, started by the backend's own `connect`, with two CPU replicas
    of the tiny SD3 loaded as `app.py --model tiny --no-warmup` loads it: the apps started on the
    Ray backend join it and serve this deployment (in about 10 s; a Ray of their own takes 20 s)."""
    from pipeline.serve import connect

    engine = connect(app_load_options(), replicas=RAY_REPLICAS)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def ray_address(remote) -> str:
    """The address of the session's Ray, for `app.py --ray-address` (its environment already names
    the token authentication that the `connect` of `remote` turned on)."""
    import ray

    return ray.get_runtime_context().gcs_address


@pytest.fixture(scope="module", params=["local", pytest.param("ray", marks=pytest.mark.ray)])
def backend_server(request, tiny_model_dir, tmp_path_factory) -> Iterator[AppServer]:
    """One app per test module on each backend: embedded, then Ray Serve with two replicas (the
    session's Ray)."""
    args, slots = SERVER_OPTIONS, 1
    if request.param == "ray":
        address = request.getfixturevalue("ray_address")
        args += ("--backend", "ray", "--replicas", str(RAY_REPLICAS), "--ray-address", address)
        slots = RAY_REPLICAS
    with serving(tmp_path_factory.mktemp(f"app-{request.param}"), *args, slots=slots) as server:
        yield server
