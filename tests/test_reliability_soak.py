"""Soak: 300 sequential generations through `python app.py` (tiny model, 256², 1 step). Its
resident memory and open file descriptors stop growing, and its temporary files grow by the
images it serves and nothing else; old temporary images are cleaned, and so is the folder when
the server is stopped. The figures are printed with the test run."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from gradio_client import Client

from helpers.app_server import wait_until
from helpers.server_process import app_environment, app_process, generate_args, in_process, report
from ui import store

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run

GENERATIONS = 300
SAMPLE_EVERY = 30
WARM_UP = 30  # generations before the first sample counts (allocator and caches settle)
RSS_GROWTH_LIMIT = 25 * 2**20
GRADIO_FILES_PER_IMAGE = 1  # the final PNG, in Gradio's cache (previews are sent inline)
STORE_FILES_PER_IMAGE = 0  # nothing in the system's temporary folder (ui/store.py)


@dataclass(frozen=True)
class Sample:
    generations: int
    seconds: float
    rss: int
    fds: int
    gradio_files: int
    store_files: int
    temp_bytes: int


def files(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


@pytest.fixture(scope="module")
def soak(tiny_model_dir, tmp_path_factory, pytestconfig):
    """Run the generations, sampling the server process; then stop it as a service manager does."""
    folder = tmp_path_factory.mktemp("soak")
    (folder / "tmp").mkdir()
    env = app_environment(folder / "gradio-temp", TMPDIR=str(folder / "tmp"))
    samples = []
    with app_process(folder, env=env) as server:
        process = psutil.Process(server.process.pid)
        client = Client(server.url, verbose=False, download_files=False)
        started = time.perf_counter()
        for generation in range(1, GENERATIONS + 1):
            _, seed = client.predict(**generate_args(seed=generation), api_name="/generate")
            assert seed == generation
            if generation % SAMPLE_EVERY == 0:
                temp = files(folder / "gradio-temp") + files(folder / "tmp")
                samples.append(Sample(
                    generation, time.perf_counter() - started, process.memory_info().rss, process.num_fds(),
                    len(files(folder / "gradio-temp")), len(files(folder / "tmp")), sum(p.stat().st_size for p in temp),
                ))
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=30)
    first, last = next(s for s in samples if s.generations >= WARM_UP), samples[-1]
    report(pytestconfig, (
        f"soak: {GENERATIONS} generations in {last.seconds:.1f} s; RSS {first.rss / 2**20:.1f} -> "
        f"{last.rss / 2**20:.1f} MiB (max {max(s.rss for s in samples) / 2**20:.1f}); fds {first.fds} -> {last.fds}; "
        f"temp files {first.gradio_files}+{first.store_files} -> {last.gradio_files}+{last.store_files} "
        f"({last.temp_bytes / 2**20:.1f} MiB)"
    ))
    return folder, samples


def test_resident_memory_stops_growing(soak):
    _, samples = soak
    settled = [s for s in samples if s.generations >= WARM_UP]
    assert max(s.rss for s in settled) - settled[0].rss < RSS_GROWTH_LIMIT


def test_open_file_descriptors_stop_growing(soak):
    _, samples = soak
    settled = [s for s in samples if s.generations >= WARM_UP]
    assert max(s.fds for s in settled) <= settled[0].fds + 2


def test_temporary_files_grow_by_the_served_images_only(soak):
    folder, samples = soak
    for sample in samples:
        assert sample.gradio_files <= GRADIO_FILES_PER_IMAGE * sample.generations
        assert sample.store_files <= STORE_FILES_PER_IMAGE * sample.generations
    leftovers = [path for path in files(folder) if path.suffix in (".tmp", ".partial") or path.name.startswith(".")]
    assert leftovers == []


def test_stopping_the_server_removes_its_images(soak):
    folder, _ = soak
    assert list((folder / "tmp").iterdir()) == []
    assert list((folder / "gradio-temp").rglob("*.png")) == []


def test_old_temporary_images_are_cleaned(engine, tmp_path, monkeypatch):
    """With a one-second lifetime, the files of earlier generations, and their folders, go at the next one."""
    monkeypatch.setattr(store, "TEMPORARY_KEEP_SECONDS", 1)
    monkeypatch.setattr(store, "PRUNE_EVERY_SECONDS", 0)
    with in_process(engine, tmp_path / "gradio") as server:
        client = Client(server.url, verbose=False, download_files=False)
        old = [client.predict(**generate_args(seed=seed), api_name="/generate")[0]["path"] for seed in (1, 2, 3)]
        time.sleep(1.5)
        client.predict(**generate_args(seed=4), api_name="/generate")
        wait_until(lambda: len(files(tmp_path / "gradio")) <= GRADIO_FILES_PER_IMAGE, what="the pruning")
        assert not any(Path(path).parent.exists() for path in old)  # their folders go too
