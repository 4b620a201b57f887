"""Turbo Studio servers for the reliability tests, on 127.0.0.1 only.

`in_process` serves the real app over the session's engine in this process, so a test can
inject faults into the engine; `app_process` runs `python app.py` as a subprocess (like
`app_server.serving`, but with its own environment, no output folder unless asked, and its
process at hand), for what only a separate process shows: the address it binds, its memory,
its files and its logs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from gradio_client import Client

from harness.local_processes import free_port, serve_app
from pipeline import Engine
from ui.options import ServerOptions, StudioOptions
from ui.studio import build_app, launch

REPO = Path(__file__).resolve().parents[2]
# Small and quick on the tiny model: what every reliability test asks for unless it needs more.
QUICK = {"width": 256, "height": 256, "steps": 1, "guidance_scale": 0.0}
# The parameters after the size and steps, at their defaults.
ADVANCED = {"variation_seed": 0, "variation_strength": 0.0, "max_sequence_length": 256}


def generate_args(prompt: str = "a lighthouse at dusk", seed: int = 1, **values) -> dict:
    """Every argument of the `/generate` endpoint, in its order: a fixed seed, small and quick by default."""
    arguments = {"prompt": prompt, "negative_prompt": "", "seed": seed, "randomize_seed": False, **QUICK, **ADVANCED}
    return {**arguments, **values}


def compare_args(prompt: str = "a lighthouse at dusk", seeds: str = "1-4", **values) -> dict:
    """Every argument of the `/compare` endpoint, in its order: seeds only (no axis) by default."""
    arguments = {
        "prompt": prompt, "negative_prompt": "", "seeds": seeds, "axis": "none", "axis_values": "", **QUICK, **ADVANCED
    }
    return {**arguments, **values}


@dataclass
class Server:
    """A running Turbo Studio: its URL, and its process when it has one of its own."""

    url: str
    process: subprocess.Popen | None = None
    log: Path | None = None
    temp_dir: Path | None = None

    def client(self, downloads: Path, **kwargs) -> Client:
        """A `gradio_client` for this server that saves result files under `downloads`."""
        return Client(self.url, verbose=False, download_files=str(downloads), **kwargs)

    def output(self) -> str:
        """What the subprocess wrote so far (stdout and stderr)."""
        return self.log.read_text(errors="replace") if self.log else ""


@contextmanager
def in_process(
    engine: Engine,
    temp_dir: Path,
    *,
    output_dir: Path | None = None,
    max_queue_size: int = 64,
    auth: tuple[str, str] | None = None,
) -> Iterator[Server]:
    """The app over `engine`, served from this process with Gradio's files under `temp_dir`."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(temp_dir))
        studio = StudioOptions(output_dir=output_dir)
        server = ServerOptions(port=free_port(), auth=auth, max_queue_size=max_queue_size)
        blocks = build_app(engine, studio)
        launch(blocks, server, prevent_thread_lock=True, quiet=True)
        try:
            yield Server(url=blocks.local_url, temp_dir=temp_dir)
        finally:
            blocks.close()


def app_environment(temp_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment for `python app.py`, with Gradio's files under `temp_dir`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("GRADIO_SERVER", "HF_TOKEN"))}
    env.update(GRADIO_TEMP_DIR=str(temp_dir), PYTHONUNBUFFERED="1", **extra)
    return env


@contextmanager
def app_process(folder: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[Server]:
    """`python app.py --model tiny --no-warmup ARGS` serving on a free port until the block ends."""
    temp_dir = folder / "gradio-temp"
    temp_dir.mkdir(parents=True, exist_ok=True)
    log = folder / f"app-{len(list(folder.glob('app-*.log')))}.log"
    with serve_app(args, log, env or app_environment(temp_dir)) as app:
        yield Server(url=app.url, process=app.process, log=log, temp_dir=temp_dir)


def report(config: pytest.Config, line: str) -> None:
    """Print a measured figure in the test run's output, even while output is captured."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)
