"""The page on the Ray backend (two replicas) shows the engine's status under the footer, and a
replica starting again after one was killed."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from playwright.sync_api import expect

from helpers.pages import axe_violations, open_page

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.ray]

RUNNING = "Ray: 2 replicas: 2 running"
REPLICA = "ray::ServeReplica:turbo-studio:EngineReplica"
# Serve notices a dead replica and starts another: tens of seconds on a busy 2-core machine.
RECOVERY_MS = 120_000


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


# The server first: starting the session's Ray makes blocking Ray calls, which Ray refuses beside
# the asyncio loop that Playwright keeps running (see `browser` in tests/conftest.py).
@pytest.mark.parametrize("backend_server", ["ray"], indirect=True)
def test_the_page_shows_the_replicas_and_one_starting_after_it_died(backend_server, browser):
    page = open_page(browser, backend_server.url)
    line = page.locator("#engine-status")
    expect(line).to_have_text(RUNNING)
    assert axe_violations(page) == []
    # The newest replica is this server's: an earlier module's replicas may still be shutting down
    # (Serve gives them a grace period), which made "exactly two" fail in a full run, not alone.
    victim = max(replicas(), key=psutil.Process.create_time)
    os.kill(victim.pid, signal.SIGKILL)
    expect(line).to_contain_text("1 starting", timeout=RECOVERY_MS)
    expect(line).to_have_text(RUNNING, timeout=RECOVERY_MS)  # replaced: the next tests have both again
