"""Faults while serving: a client that hangs up, a cancel at every step, an exception or an
out-of-memory error in the middle of a step, a preview decoder that raises, a full or read-only
output folder. After each, the next request is answered correctly and no partial image is left.

The app runs in this process over the session's engine, so faults go straight into it: a
forward hook on the transformer, a previewer that raises, `open` failing under the output folder.
"""

from __future__ import annotations

import errno
import os
import re
import time
from pathlib import Path

import pytest
import torch
from gradio_client.exceptions import AppError
from gradio_client.utils import Status
from PIL import Image

from helpers import gradio_http
from helpers.app_server import wait_until
from helpers.faults import Steps, failing_disk, transformer_hook
from helpers.server_process import compare_args, generate_args, in_process
from pipeline.errors import GenerationError
from pipeline.metadata import encode_png, read_request
from ui.store import ImageStore

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run

STEPS = 4
STEP_DELAY = 0.3  # long enough for a cancel to land (and Gradio to close the generator) within a step
RUNNING = (Status.PROCESSING, Status.PROGRESS, Status.ITERATING)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("faults") / "outputs"


@pytest.fixture(scope="module")
def server(engine, outputs):
    with in_process(engine, outputs.parent / "gradio", output_dir=outputs) as server:
        yield server


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return server.client(tmp_path_factory.mktemp("downloads"))


def saved_seeds(outputs: Path) -> list[int]:
    """The seeds of the images in the output folder, after checking each is a whole PNG and
    that nothing else (a temporary or partial file) is there."""
    files = sorted(path for path in outputs.iterdir() if not path.name.startswith("comparison-"))
    assert all(path.suffix == ".png" and not path.name.startswith(".") for path in files), files
    seeds = []
    for path in files:
        with Image.open(path) as image:
            image.load()  # decodes every pixel: a truncated file fails here
        seeds.append(read_request(path)[0].seed)
    return seeds


def assert_recovered(client, outputs: Path, seed: int) -> None:
    """The next request is answered with its own image, and the folder holds only whole PNGs."""
    path, answered = client.predict(**generate_args(seed=seed), api_name="/generate")
    assert answered == seed and read_request(path)[0].seed == seed
    assert seed in saved_seeds(outputs)


def wait_for_previews(job, count: int) -> None:
    """Wait until `count` previews have streamed (for 0, until the job runs)."""
    if count:
        wait_until(lambda: sum(image is not None for image, _ in job.outputs()) >= count, what=f"{count} previews")
    else:
        wait_until(lambda: job.status().code in RUNNING, what="the start of the job")


@pytest.mark.parametrize("previews_seen", range(STEPS))
def test_a_cancel_at_each_step_stops_the_engine_and_saves_nothing(client, engine, outputs, previews_seen):
    seed = 100 + previews_seen
    with transformer_hook(engine, Steps(delay=STEP_DELAY)) as steps:
        job = client.submit(**generate_args(seed=seed, steps=STEPS), api_name="/generate")
        wait_for_previews(job, previews_seen)
        job.cancel()
        wait_until(lambda: job.status().code == Status.CANCELLED, 10, "the cancel")
        time.sleep(3 * STEP_DELAY)  # a step still running would be counted by now
        # The engine runs ahead of the consumer by one step, and Gradio closes the generator at
        # its next yield: the step in progress and the one after may run, none later.
        assert steps.calls <= previews_seen + 2, f"{steps.calls} steps ran after a cancel at step {previews_seen}"
    assert seed not in saved_seeds(outputs)
    assert_recovered(client, outputs, seed=200 + previews_seen)


@pytest.mark.parametrize("via", ["api", "page"])
def test_a_client_hanging_up_midway_stops_its_generation(server, client, engine, outputs, via):
    seed = {"api": 300, "page": 301}[via]
    arguments = generate_args(seed=seed, steps=STEPS)
    with transformer_hook(engine, Steps(delay=STEP_DELAY)) as steps:
        # The first output is the seed alone; the second, the first preview: leave after it.
        if via == "api":
            gradio_http.hang_up_call(server.url, "generate", gradio_http.data_body(list(arguments.values())), after=2)
        else:
            gradio_http.hang_up(server.url, "generate", list(arguments.values()), after=2)
        left_at = steps.calls
        time.sleep((STEPS + 2) * STEP_DELAY)
        # Gradio cancels the event of a client that went away: the engine stops as on a cancel.
        assert 1 <= left_at and steps.calls <= left_at + 2
    assert seed not in saved_seeds(outputs)
    assert_recovered(client, outputs, seed=seed + 10)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        pytest.param(RuntimeError("injected fault"), "Generation failed: RuntimeError: injected fault", id="exception"),
        pytest.param(
            torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
            re.escape("Out of GPU memory generating 1 image(s) at 256x256. Memory was freed"),
            id="out-of-memory",
        ),
    ],
)
def test_an_error_in_the_middle_of_a_step(client, engine, outputs, error, message):
    with transformer_hook(engine, Steps(fail_at=2, error=error)):
        with pytest.raises(AppError, match=message):
            client.predict(**generate_args(seed=400, steps=STEPS), api_name="/generate")
    assert 400 not in saved_seeds(outputs)
    assert_recovered(client, outputs, seed=401)


def test_an_error_in_a_later_batch_keeps_the_images_already_finished(client, engine, outputs):
    """Eight seeds are two batches of four: the first batch is saved, the second fails."""
    with transformer_hook(engine, Steps(fail_at=2, error=RuntimeError("injected fault"))):
        with pytest.raises(AppError, match="injected fault"):
            client.predict(**compare_args(seeds="500-507"), api_name="/compare")
    assert {500, 501, 502, 503} <= set(saved_seeds(outputs))
    assert not {504, 505, 506, 507} & set(saved_seeds(outputs))
    assert_recovered(client, outputs, seed=508)


def test_a_preview_decoder_that_raises_costs_the_previews_not_the_image(client, engine, outputs, monkeypatch):
    def broken_previewer(latents):
        raise RuntimeError("preview decoder broke")

    monkeypatch.setattr(engine, "previewer", broken_previewer)
    path, seed = client.predict(**generate_args(seed=600, steps=2), api_name="/generate")
    assert seed == 600 and read_request(path)[0].seed == 600
    monkeypatch.undo()
    assert_recovered(client, outputs, seed=601)


@pytest.mark.parametrize(
    ("code", "after_bytes"),
    [pytest.param(errno.ENOSPC, 2000, id="full"), pytest.param(errno.EROFS, None, id="read-only"),
     pytest.param(errno.EACCES, None, id="no-permission")],
)
def test_an_output_folder_that_cannot_be_written(client, outputs, code, after_bytes):
    with failing_disk(outputs, code, after_bytes), pytest.raises(AppError) as raised:
        client.predict(**generate_args(seed=700), api_name="/generate")
    assert f"Could not save the image in {outputs}: {os.strerror(code)}" in str(raised.value)
    assert 700 not in saved_seeds(outputs)
    assert_recovered(client, outputs, seed=701)


def test_a_full_disk_leaves_no_partial_grid(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))  # where the store writes what it serves
    store = ImageStore()
    grid = encode_png(Image.effect_noise((512, 512), 64).convert("RGB"), {})
    with failing_disk(tmp_path, errno.ENOSPC, after_bytes=4096), pytest.raises(GenerationError) as raised:
        store.save_grid(grid)
    assert f"Could not save the image in {tmp_path}: {os.strerror(errno.ENOSPC)}" in str(raised.value)
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
