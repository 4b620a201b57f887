"""Load: 16 `gradio_client` clients each send 5 mixed requests at once (generate, compare 4 seeds,
some cancelled midway). Every request not cancelled completes with exactly what the same request
gives when run alone; nothing is answered twice or with another client's image; and the queue
turns requests away only past its configured size."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.utils import QueueError, Status
from PIL import Image

from helpers.app_server import wait_until
from helpers.faults import Steps, transformer_hook
from helpers.server_process import compare_args, generate_args, in_process, report
from pipeline import Finished, GenerationRequest
from pipeline.metadata import read_request
from ui.settings import request_from

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run

CLIENTS, REQUESTS_PER_CLIENT, SEEDS_PER_COMPARE = 16, 5, 4
# Each client has at most one request in the queue, so this size is never exceeded here.
MAX_QUEUE_SIZE = CLIENTS
STEP_DELAY = 0.01  # seconds added to each transformer step, so that cancels land midway
TIMEOUT = 240
RUNNING = (Status.PROCESSING, Status.PROGRESS, Status.ITERATING)


@dataclass(frozen=True)
class Planned:
    """One request of one client: which endpoint, its arguments, and whether it is cancelled."""

    client: int
    index: int
    api_name: str
    arguments: dict
    cancel: bool

    def request(self) -> GenerationRequest:
        """The engine request for the first (or only) image."""
        return request_from(self.arguments, seed=self.seeds[0])

    @property
    def seeds(self) -> list[int]:
        if self.api_name == "/generate":
            return [self.arguments["seed"]]
        first = int(self.arguments["seeds"].split("-")[0])
        return list(range(first, first + SEEDS_PER_COMPARE))


def plan(client: int) -> list[Planned]:
    """Five requests for `client`: the mix rotates between clients; about one in four is cancelled."""
    planned = []
    for index in range(REQUESTS_PER_CLIENT):
        seed = 10_000 * (client + 1) + 100 * index  # unique: any cross-talk shows in the seeds
        prompt = f"client {client}, request {index}: a lighthouse"
        cancel = (client + index) % 4 == 3
        if (client + index) % 2:
            arguments = compare_args(prompt, seeds=f"{seed}-{seed + SEEDS_PER_COMPARE - 1}", steps=2)
            planned.append(Planned(client, index, "/compare", arguments, cancel))
        else:
            guided = {"guidance_scale": 2.0, "negative_prompt": "fog"} if index == 4 else {}
            planned.append(Planned(client, index, "/generate", generate_args(prompt, seed, steps=2, **guided), cancel))
    return planned


@dataclass
class Outcome:
    """What a planned request got: final images (path per seed), or cancelled, or an error."""

    planned: Planned
    paths: list[str] | None = None
    cancelled: bool = False
    error: str | None = None


def run(client: Client, planned: Planned) -> Outcome:
    job = client.submit(**planned.arguments, api_name=planned.api_name)
    if planned.cancel:
        wait_until(lambda: job.status().code in RUNNING or job.done(), TIMEOUT, "the start of the job")
        job.cancel()
    try:
        result = job.result(timeout=TIMEOUT)
    except Exception as error:  # noqa: BLE001 - recorded and checked below
        if job.status().code == Status.CANCELLED:
            return Outcome(planned, cancelled=True)
        return Outcome(planned, error=f"{type(error).__name__}: {error}")
    if planned.api_name == "/generate":
        path, seed = result
        assert seed == planned.arguments["seed"]
        return Outcome(planned, paths=[path])
    gallery, _grid = result
    return Outcome(planned, paths=[item["image"] for item in gallery])


def pixels(image: Image.Image | str) -> np.ndarray:
    with Image.open(image) if isinstance(image, str) else image as opened:
        return np.asarray(opened.convert("RGB"))


def alone(engine, planned: Planned) -> list[np.ndarray]:
    """The images of `planned` run alone on the engine, in seed order."""
    request = planned.request()
    if planned.api_name == "/generate":
        events = engine.generate(request, previews=False)
    else:
        events = engine.compare([request.with_seed(seed) for seed in planned.seeds], previews=False)
    return [pixels(image.image) for event in events if isinstance(event, Finished) for image in event.images]


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("load")
    with in_process(engine, folder / "gradio", output_dir=folder / "outputs", max_queue_size=MAX_QUEUE_SIZE) as server:
        yield server


@pytest.fixture(scope="module")
def load(server, engine, tmp_path_factory, pytestconfig):
    """Run every client's plan at once; the outcomes and the wall time."""
    downloads = tmp_path_factory.mktemp("downloads")
    clients = [server.client(downloads / f"client-{index}") for index in range(CLIENTS)]

    def client_run(index: int) -> list[Outcome]:
        return [run(clients[index], planned) for planned in plan(index)]

    started = time.perf_counter()
    with transformer_hook(engine, Steps(delay=STEP_DELAY)), ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = [outcome for outcomes in pool.map(client_run, range(CLIENTS)) for outcome in outcomes]
    seconds = time.perf_counter() - started
    completed, cancelled = sum(o.paths is not None for o in outcomes), sum(o.cancelled for o in outcomes)
    report(pytestconfig, f"load: {CLIENTS} clients x {REQUESTS_PER_CLIENT} requests in {seconds:.1f} s: "
           f"{completed} completed, {cancelled} cancelled midway")
    return outcomes


def test_every_request_not_cancelled_completes(load):
    errors = [(o.planned.client, o.planned.index, o.error) for o in load if o.error]
    assert not errors
    assert all(o.paths is not None for o in load if not o.planned.cancel)
    assert len(load) == CLIENTS * REQUESTS_PER_CLIENT


def test_some_cancels_landed_midway(load):
    cancelled = [o for o in load if o.cancelled]
    assert cancelled and all(o.planned.cancel for o in cancelled)


def test_each_result_equals_the_same_request_run_alone(load, engine):
    for outcome in (o for o in load if o.paths is not None):
        expected = alone(engine, outcome.planned)
        assert len(outcome.paths) == len(expected) == len(outcome.planned.seeds)
        for path, reference in zip(outcome.paths, expected):
            where = f"client {outcome.planned.client}, request {outcome.planned.index}"
            assert np.array_equal(pixels(path), reference), where


def test_no_answer_is_another_clients_or_given_twice(load):
    finished = [(o.planned, path, seed) for o in load if o.paths for path, seed in zip(o.paths, o.planned.seeds)]
    for planned, path, seed in finished:
        request, _ = read_request(path)
        assert (request.prompt, request.seed) == (planned.arguments["prompt"], seed)
    assert len({path for _, path, _ in finished}) == len(finished)
    assert len({(read_request(path)[0].prompt, seed) for _, path, seed in finished}) == len(finished)


def wait_for(job, *codes: Status) -> None:
    wait_until(lambda: job.status().code in codes, what=f"status {' or '.join(code.name for code in codes)}")


def test_the_queue_is_full_only_past_its_size(engine, tmp_path):
    """With the engine held mid-step, one request runs and `size` wait; only the next is turned away."""
    size = 3
    gate = threading.Event()
    held = transformer_hook(engine, Steps(gate=gate))
    with in_process(engine, tmp_path / "gradio", max_queue_size=size) as server, held:
        client = server.client(tmp_path / "downloads")
        running = client.submit(**generate_args(seed=1), api_name="/generate")
        wait_for(running, *RUNNING)
        waiting = []
        for seed in range(2, size + 2):
            waiting.append(client.submit(**generate_args(seed=seed), api_name="/generate"))
            wait_for(waiting[-1], Status.IN_QUEUE)
        with pytest.raises(QueueError, match="Queue is full"):
            client.submit(**generate_args(seed=99), api_name="/generate").result(timeout=60)
        gate.set()
        assert [job.result(timeout=60)[1] for job in [running, *waiting]] == list(range(1, size + 2))
