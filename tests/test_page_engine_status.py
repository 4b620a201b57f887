"""The page on the Ray backend (two replicas) shows the engine's status under the footer, and a
replica starting again after one was killed."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from playwright.sync_api import expect

from helpers.app_server import wait_until
from helpers.pages import axe_violations, open_page

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.ray]

RUNNING = "Ray: 2 replicas: 2 running"
REPLICA = "ray::ServeReplica:turbo-studio:EngineReplica"
# Serve notices a dead replica and starts another: tens of seconds on a busy 2-core machine.
RECOVERY_MS = 120_000
RECOVERY_S = RECOVERY_MS / 1000


def replicas() -> list[psutil.Process]:
    """The engine replicas of the session's Ray: processes under this one (it started that Ray)
    that Ray named after the deployment."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            if " ".join(child.cmdline()).startswith(REPLICA):
                found.append(child)
        except psutil.Error:  # gone since the listing, or a zombie
            continue
    return found


def new_replicas(before: list[psutil.Process]) -> list[psutil.Process]:
    """The replica processes started since `before` was listed."""
    return [process for process in replicas() if process not in before]


# The server first: starting the session's Ray makes blocking Ray calls, which Ray refuses beside
# the asyncio loop that Playwright keeps running (see `browser` in tests/conftest.py).
@pytest.mark.parametrize("backend_server", ["ray"], indirect=True)
def test_the_page_shows_the_replicas_and_one_starting_after_it_died(backend_server, browser):
    page = open_page(browser, backend_server.url)
    line = page.locator("#engine-status")
    expect(line).to_have_text(RUNNING)
    assert axe_violations(page) == []
    before = replicas()
    os.kill(before[0].pid, signal.SIGKILL)
    # The replacement is held while it starts, until the page has shown it starting: on a quiet
    # machine it starts (imports torch, loads the model) in about as long as the page's 5 s refresh,
    # so the page could go from "1 running" to "2 running" without a refresh that saw it starting.
    wait_until(lambda: new_replicas(before), RECOVERY_S, "a replacement replica")
    (replacement,) = new_replicas(before)
    replacement.suspend()
    try:
        expect(line).to_contain_text("1 starting", timeout=RECOVERY_MS)
    finally:
        replacement.resume()
    expect(line).to_have_text(RUNNING, timeout=RECOVERY_MS)  # replaced: the next tests have both again
