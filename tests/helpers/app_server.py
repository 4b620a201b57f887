"""The real app for tests: `python app.py --model tiny` in a subprocess on a free loopback port.

Test modules import `app_server` (a module-scoped fixture) from here; it depends on the
session's `tiny_model_dir`, so the subprocess finds the tiny SD3 already built.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gradio_client import Client
from gradio_client.utils import Status

from benchmarks.local_processes import serve_app

ROOT = Path(__file__).resolve().parents[2]
QUIET_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
# Small enough that a test can fill the queue, large enough for the tests of a module.
MAX_QUEUE_SIZE = 2
MAX_SEEDS = 8
# Seconds of work on the tiny model, a preview every step: slow enough to stop midway, or to keep
# the app busy while a test fills its queue.
SLOW_REQUEST = {
    "negative_prompt": "", "randomize_seed": False, "width": 1536, "height": 1536, "steps": 12, "guidance_scale": 5
}


@dataclass(frozen=True)
class AppServer:
    """A running app: its URL and the folder where it saves every finished image."""

    url: str
    output_dir: Path


def run_app(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run app.py to completion (for options that make it exit) and capture its output."""
    return subprocess.run(
        [sys.executable, "app.py", *args],
        cwd=ROOT,
        env={**os.environ, **QUIET_ENV},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_until(condition, timeout: float = 60, what: str = "the condition") -> None:
    """Poll `condition()` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


@contextmanager
def full_queue(url: str) -> Iterator[None]:
    """One slow /generate running and `MAX_QUEUE_SIZE` more waiting; all cancelled afterwards.

    Each job has a session of its own: Gradio cancels by session and endpoint, so cancelling one
    of several jobs of a session would cancel (and wait for) all of them.
    """
    def submit(seed: int):
        return Client(url, verbose=False).submit(prompt="busy", seed=seed, **SLOW_REQUEST, api_name="/generate")

    jobs = [submit(0)]
    try:
        wait_until(lambda: jobs[0].outputs(), what="the first preview of the running job")
        jobs += [submit(seed) for seed in range(1, MAX_QUEUE_SIZE + 1)]
        wait_until(lambda: all(job.status().code == Status.IN_QUEUE for job in jobs[1:]), what="queueing")
        yield
    finally:
        for job in reversed(jobs):  # the waiting ones first, so that none of them starts
            job.cancel()


@contextmanager
def serving(folder: Path, *args: str) -> Iterator[AppServer]:
    """`app.py --model tiny` with `args`, serving until the block ends; its log goes to `folder`."""
    output_dir = folder / "outputs"
    with serve_app(["--output-dir", str(output_dir), *args], folder / "app.log", {**os.environ, **QUIET_ENV}) as app:
        yield AppServer(app.url.rstrip("/"), output_dir)
