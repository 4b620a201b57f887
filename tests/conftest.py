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
# tests (`app.py --model tiny`) reuse it. Under pytest-xdist the workers inherit the controller's
# folder, so they share one model (`ensure_tiny_model` saves it atomically: a worker that loses the
# race drops its copy, 0.3 s of work).
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
RAY_ENGINE = pytest.StashKey()  # the session's `remote`, once started
LAST_RAY_TEST = pytest.StashKey()  # the last test marked `ray`, in the order they run


def pytest_itemcollected(item: pytest.Item) -> None:
    """Under `pytest -n N --dist loadgroup` (tests/run.sh), the unit xdist gives a worker: all tests
    marked `ray` together, so one worker starts the session's one Ray; all marked `compiles` together, so
    the compile cache the first fills is there for the next; a test marked `apart` alone
    (its module has no module-scoped fixture); any other test with its module, so a module's app
    and browser (module-scoped fixtures) start once."""
    if item.get_closest_marker("ray"):
        group = "ray"
    elif item.get_closest_marker("compiles"):
        group = "compiles"
    elif item.get_closest_marker("apart"):
        group = item.nodeid
    else:
        group = item.nodeid.split("::")[0]
    item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tests marked `ray` last, in their order: the session's Ray starts with the first of them
    and stops with the session, so it idles through no other test (idle, with its two replicas, it
    takes about a tenth of a core: measured with top).

    On a pytest-xdist worker the tests marked `minutes` come first instead, then the `ray` group,
    then the other slow modules: with `--no-loadscope-reorder`, xdist hands out groups in this
    order, and the longest first keeps the workers' ends close together (a test of minutes handed
    out late would keep one worker busy long after the other has finished); that worker's Ray
    stops after its last `ray` test (`pytest_runtest_teardown`)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=lambda item: tuple(item.get_closest_marker(name) is None for name in ("minutes", "ray", "slow")))
    else:
        items.sort(key=lambda item: item.get_closest_marker("ray") is not None)
    ray_tests = [item for item in items if item.get_closest_marker("ray")]
    if ray_tests:
        config.stash[LAST_RAY_TEST] = ray_tests[-1]


@pytest.fixture(scope="module")
def app_server(tiny_model_dir, tmp_path_factory) -> Iterator[AppServer]:
    """One app per test module, on the local backend."""
    with serving(tmp_path_factory.mktemp("app"), *SERVER_OPTIONS) as server:
        yield server


@pytest.fixture(scope="session")
def remote(request, tiny_model_dir):
    """The session's one local Ray, started by the backend's own `connect`, with two CPU replicas
    of the tiny SD3 loaded as `app.py --model tiny --no-warmup` loads it: the apps started on the
    Ray backend join it and serve this deployment (in about 10 s; a Ray of their own takes 20 s)."""
    from pipeline.serve import connect

    engine = connect(app_load_options(), replicas=RAY_REPLICAS)
    request.config.stash[RAY_ENGINE] = engine
    yield engine
    engine.close()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    """Stop the session's Ray once the last test marked `ray` is torn down (closing it again at the
    session's end does nothing): under pytest-xdist other modules follow on the same worker, and
    its two idle replicas would take memory, and CPU while one killed by a test is still starting."""
    if item is item.config.stash.get(LAST_RAY_TEST, None) and RAY_ENGINE in item.config.stash:
        item.config.stash[RAY_ENGINE].close()


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
