"""Gradio's cache of served images is bounded by age and by size: `ImageStore.prune` deletes files
older than an hour, then the oldest while the rest is past `--max-cache-size`, and empty folders."""

from __future__ import annotations

import os
import time

import pytest
from PIL import Image

from cli import parse_args
from pipeline import GeneratedImage, GenerationRequest
from ui import store
from ui.options import DEFAULT_MAX_CACHE_MB
from ui.store import ImageStore

MIB = 2**20


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "gradio"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def a_file(folder, name: str, mib: int, age_seconds: float):
    """A `mib` MiB file (sparse: no disk used) last modified `age_seconds` ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with open(path, "wb") as file:
        file.truncate(mib * MIB)
    modified = time.time() - age_seconds
    os.utime(path, (modified, modified))
    return path


def test_past_the_bound_the_oldest_files_go_first_and_their_folders(cache):
    image_store = ImageStore(max_cache_mb=10)
    files = [a_file(cache / f"upload-{age}", f"{age}.png", 3, age) for age in (500, 400, 300, 200, 100)]  # 15 MiB
    image_store.prune()
    assert [path.exists() for path in files] == [False, False, True, True, True]  # 9 MiB left
    assert not (cache / "upload-500").exists() and not (cache / "upload-400").exists()
    assert (cache / "upload-300").exists() and os.path.isdir(image_store._run.name)  # this run's folder stays


def test_under_the_bound_only_files_past_their_hour_go(cache):
    image_store = ImageStore(max_cache_mb=100)
    old = a_file(cache / "a", "old.png", 1, store.TEMPORARY_KEEP_SECONDS + 60)
    recent = [a_file(cache / "b", f"{n}.png", 1, 60 * n) for n in range(1, 4)]
    image_store.prune()
    assert not old.exists() and all(path.exists() for path in recent)


def test_saving_a_tenth_of_the_bound_starts_a_prune_before_its_ten_minutes(cache):
    image_store = ImageStore(max_cache_mb=1)
    request = GenerationRequest(prompt="noise", seed=3, width=256, height=256, steps=1)
    noise = Image.frombytes("RGB", (256, 256), os.urandom(256 * 256 * 3))  # ~200 kB as PNG: past a tenth of 1 MiB
    image_store.save(GeneratedImage(noise, request, "tiny"))  # the first save starts one at once
    image_store.pruning.join()
    first = image_store.pruning
    a_file(cache / "old", "big.png", 2, 60)  # within its hour, but past the bound
    image_store.save(GeneratedImage(noise, request, "tiny"))
    assert image_store.pruning is not first  # started by size: the next by time is 10 minutes away
    image_store.pruning.join()
    assert not (cache / "old").exists()


def test_the_bound_is_an_option_and_an_environment_variable():
    assert parse_args([]).studio.max_cache_mb == DEFAULT_MAX_CACHE_MB == 2048
    assert parse_args(["--max-cache-size", "500"]).studio.max_cache_mb == 500
    assert parse_args([], {"TURBO_STUDIO_MAX_CACHE_MB": "300"}).studio.max_cache_mb == 300
    with pytest.raises(SystemExit):
        parse_args(["--max-cache-size", "0"])
