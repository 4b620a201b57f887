"""Local app processes: `python app.py` on a free loopback port, waited for until it serves, and stopped."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT_S = 180
# The port `free_port` found can be taken before app.py binds it, seconds later (torch imports
# first): by another test worker's app, or by any outgoing connection. Gradio then exits with this.
PORT_TAKEN = "Cannot find empty port"
START_TRIES = 3


@dataclass(frozen=True)
class ServedApp:
    """A running `python app.py`: its URL (with a trailing slash), its process and its log."""

    url: str
    process: subprocess.Popen
    log: Path


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """Terminate a process we started, killing it if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def serve_app(
    args: Sequence[str],
    log: Path,
    env: Mapping[str, str],
    *,
    launcher: Sequence[str] = ("app.py",),
    repo: Path = REPO,
    start_timeout: float = START_TIMEOUT_S,
) -> Iterator[ServedApp]:
    """`python app.py --model tiny --no-warmup --port PORT ARGS` serving until the block ends.

    Args:
        args: more options of app.py.
        log: where its output goes (stdout and stderr).
        env: its whole environment.
        launcher: what runs app.py with the options that follow (e.g. a wrapper script).
        repo: the checkout whose app.py runs (another one, to compare versions side by side).
        start_timeout: how long it may take to serve (a start with --compile compiles first).
    """
    for _ in range(START_TRIES):
        port = free_port()
        command = [sys.executable, *launcher, "--model", "tiny", "--no-warmup", "--port", str(port), *args]
        with open(log, "wb") as sink:
            process = subprocess.Popen(command, cwd=repo, env=dict(env), stdout=sink, stderr=subprocess.STDOUT)
        app = ServedApp(f"http://127.0.0.1:{port}/", process, log)
        try:
            if _wait_until_serving(app, start_timeout):
                break
        except BaseException:
            stop(process)
            raise
    else:
        raise RuntimeError(f"app.py found its port taken {START_TRIES} times:\n{_tail(log)}")
    try:
        yield app
    finally:
        stop(process)


def _wait_until_serving(app: ServedApp, timeout: float) -> bool:
    """True once the app answers HTTP, False if it exited because its port was taken meanwhile;
    raise with its output if it exits otherwise or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.process.poll() is not None:
            if PORT_TAKEN in _tail(app.log):
                return False
            raise RuntimeError(f"app.py exited with {app.process.returncode}:\n{_tail(app.log)}")
        try:
            with urllib.request.urlopen(f"{app.url}gradio_api/info", timeout=2):
                return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"app.py did not serve within {timeout:.0f} s:\n{_tail(app.log)}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]
