"""The real app for tests: `python app.py --model tiny` in a subprocess on a free loopback port,
and slow jobs that keep its slots busy or fill its queue.

The fixtures over it (`app_server`, `backend_server`) are in tests/conftest.py; they depend on the
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

import httpx
from gradio_client import Client
from gradio_client.client import Job
from gradio_client.utils import Status

from cli import parse_args
from harness.local_processes import serve_app
from pipeline import LoadOptions

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
    """A running app: its URL, the folder where it saves every finished image, and how many
    generations it runs at once (one on the local backend, one per replica on Ray)."""

    url: str
    output_dir: Path
    slots: int = 1


def app_load_options() -> LoadOptions:
    """What the apps of the tests load: `app.py --model tiny --no-warmup`, as `serve_app` starts them."""
    return parse_args(["--model", "tiny", "--no-warmup"]).load


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


def cancel(job: Job, timeout: float = 60) -> None:
    """Cancel `job` and wait until it has ended.

    Gradio tells the job it is over at once, but answers the /cancel request only after the
    handler has stopped at the end of its current step, and gradio_client gives that answer 5 s
    (httpx's default): a 1536² step with guidance takes longer than that on a loaded 2-core
    machine (7 tests failed so in one full run). A late answer is therefore no failure; a job that
    does not end is.
    """
    try:
        job.cancel()
    except httpx.TimeoutException:
        pass
    wait_until(job.done, timeout, what="the cancelled job's end")


def submit_slow(url: str, seed: int) -> Job:
    """A slow /generate in a session of its own: Gradio cancels by session and endpoint, so
    cancelling one of several jobs of a session would cancel (and wait for) all of them."""
    return Client(url, verbose=False).submit(prompt="busy", seed=seed, **SLOW_REQUEST, api_name="/generate")


@contextmanager
def slow_jobs(url: str, count: int, first_seed: int = 0) -> Iterator[list[Job]]:
    """`count` slow /generate jobs (seeds from `first_seed`), each past its first preview, so each
    holds a slot of the server (on Ray, a replica); those still going are cancelled afterwards."""
    jobs = [submit_slow(url, seed) for seed in range(first_seed, first_seed + count)]
    try:
        # The seed comes first, before the engine starts; a preview means a step has run.
        wait_until(lambda: all(len(job.outputs()) >= 2 for job in jobs), what="a preview of every slow job")
        yield jobs
    finally:
        for job in jobs:
            cancel(job)


@contextmanager
def full_queue(url: str, slots: int = 1) -> Iterator[None]:
    """A slow /generate running in each of the server's `slots` and `MAX_QUEUE_SIZE` more waiting;
    all cancelled afterwards."""
    with slow_jobs(url, slots) as running:
        waiting = [submit_slow(url, seed) for seed in range(len(running), len(running) + MAX_QUEUE_SIZE)]
        try:
            wait_until(lambda: all(job.status().code == Status.IN_QUEUE for job in waiting), what="queueing")
            yield
        finally:
            for job in reversed(waiting):  # before the running ones, so that none of them starts
                cancel(job)


@contextmanager
def serving(folder: Path, *args: str, slots: int = 1) -> Iterator[AppServer]:
    """`app.py --model tiny` with `args` (that run `slots` generations at once), serving until the
    block ends; its log goes to `folder`."""
    output_dir = folder / "outputs"
    with serve_app(["--output-dir", str(output_dir), *args], folder / "app.log", {**os.environ, **QUIET_ENV}) as app:
        yield AppServer(app.url.rstrip("/"), output_dir, slots)
