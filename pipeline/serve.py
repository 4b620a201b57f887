"""The Ray Serve backend: engine replicas on one machine or a cluster, behind a `RemoteEngine`
with the interface of the local `Engine`.

    engine = connect(LoadOptions(model="tiny"), replicas=2)       # a local Ray, two replicas
    engine = connect(options, address="auto")                      # a running cluster (serve run deploy/serve.yaml)
    for event in engine.generate(request): ...                     # as with pipeline.Engine

Each replica loads the model once with `Engine.load` and streams a batch's events back through a
streaming `DeploymentHandle` call, PIL images swapped for numpy arrays on the way. Ray is
imported only when the backend is used, so the embedded backend runs without it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image

from pipeline.batching import plan_batches
from pipeline.engine import Engine, Event
from pipeline.errors import GenerationCancelled, GenerationError, ModelLoadError, TurboStudioError
from pipeline.events import Finished, Preview
from pipeline.loader import LoadOptions, ModelInfo
from pipeline.request import GenerationRequest
from pipeline.tokens import TokenCounter

logger = logging.getLogger(__name__)

APP_NAME = "turbo-studio"
DEPLOYMENT_NAME = "EngineReplica"
INSTALL_HINT = "pip install -r requirements-ray.txt"
WORKER_STOPPED = "The worker running your request stopped; try again."
CLUSTER_LOST = (
    "The Ray cluster cannot be reached, so your request stopped. Turbo Studio reconnects as soon as the "
    "cluster is back; try again then."
)
# One generation per replica: a replica that is busy refuses a request, so Serve's router sends
# it to a free one. With two, two requests routed at once after an idle spell (the router's
# queue-length cache expired) could both land on one replica while the other idled (measured).
MAX_ONGOING_REQUESTS = 1
# The router retries a request that finds every replica busy after 25 ms, then twice as long each
# time up to 0.5 s, so a replica idled while requests waited: 6 at once on one CPU replica took
# 958 ms where one plain process took 346 ms (256², measured); capped at 50 ms, 548 ms.
ROUTER_MAX_BACKOFF_S = 0.05
# Ray ends a driver whose cluster has been unreachable for 60 s (measured: "Failed to connect to
# GCS within 60 seconds ... The program will terminate"); the front end must outlive an outage.
RECONNECT_TIMEOUT_S = str(365 * 24 * 3600)
# How often a caller that receives nothing checks its cancel event, and the cluster.
POLL_S = 0.05
PROBE_EVERY_S = 2.0
# A GCS that does not answer within this is taken as lost. 1 s was too short on a busy 2-core
# machine (CI, load 10+): the probe timed out, and a driver that had started its own Ray replaced it.
PROBE_TIMEOUT_S = 5.0
RECONNECT_EVERY_S = 2.0
# Ray 2.60 turns token authentication on for clusters that ray.init or `ray start` created with a
# token (measured), and a driver then fails to join, after 20 s, unless it is told so.
TOKEN_HINT = (
    ". If the cluster uses token authentication, set RAY_AUTH_MODE=token for this process too "
    "(the token is read from ~/.ray/auth_token, or RAY_AUTH_TOKEN)."
)
# Loading a real model (download, GPU placement, warm-up) can take minutes.
STARTUP_TIMEOUT_S = 1800.0

Replicas = int | Literal["auto"]


def _ray() -> tuple[Any, Any]:
    """`ray` and `ray.serve`, or a `ModelLoadError` naming the install command."""
    try:
        import ray
        from ray import serve
    except ImportError:
        raise ModelLoadError(f"The Ray backend needs Ray Serve, which is not installed: {INSTALL_HINT}") from None
    return ray, serve


# --- events on the wire ---------------------------------------------------------------------


def to_wire(event: Event) -> Event:
    """`event` with numpy arrays in place of its PIL images: Ray pickles arrays without copies,
    and every other field (indices, requests, warnings, ...) passes through as it is."""
    if isinstance(event, Preview):
        return replace(event, images=[np.asarray(image) for image in event.images])
    return replace(event, images=[replace(image, image=np.asarray(image.image)) for image in event.images])


def from_wire(event: Event) -> Event:
    """The event `to_wire` encoded, with PIL images again."""
    if isinstance(event, Preview):
        return replace(event, images=[Image.fromarray(array) for array in event.images])
    return replace(event, images=[replace(image, image=Image.fromarray(image.image)) for image in event.images])


@dataclass(frozen=True)
class TokenizerFiles:
    """A pipeline's tokenizers as the files `save_pretrained` writes, for a `TokenCounter` elsewhere.

    Not the pickled tokenizers: transformers 5.23's CLIPTokenizer patches its decoder when it is
    constructed, and a pickled copy decodes `fox</w>in</w>` (measured), so dropped words came out wrong.
    """

    clip: dict[str, bytes]
    clip_limit: int
    t5: dict[str, bytes] | None

    @classmethod
    def of(cls, pipeline) -> "TokenizerFiles":
        """The files of a loaded `StableDiffusion3Pipeline`'s CLIP and (when loaded) T5 tokenizers."""
        t5 = None if pipeline.tokenizer_3 is None else _saved(pipeline.tokenizer_3)
        return cls(_saved(pipeline.tokenizer), pipeline.tokenizer_max_length, t5)

    def counter(self) -> TokenCounter:
        """A `TokenCounter` over tokenizers loaded from these files."""
        return TokenCounter(_loaded(self.clip), self.clip_limit, None if self.t5 is None else _loaded(self.t5))


def _saved(tokenizer) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="turbo-studio-tokenizer-") as folder:
        tokenizer.save_pretrained(folder)
        return {path.name: path.read_bytes() for path in Path(folder).iterdir()}


def _loaded(files: dict[str, bytes]):
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory(prefix="turbo-studio-tokenizer-") as folder:
        for name, data in files.items():
            (Path(folder) / name).write_bytes(data)
        return AutoTokenizer.from_pretrained(folder)


# --- the replica ----------------------------------------------------------------------------


class EngineReplica:
    """A Serve replica: one `Engine`, loaded once and warmed up, streaming batches to the front end.

    Args:
        options: how to load the model, as for `Engine.load`.
    """

    def __init__(self, options: LoadOptions):
        ray, serve = _ray()
        import torch

        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU")
        if cpus and not torch.cuda.is_available():
            torch.set_num_threads(max(1, int(cpus)))  # replicas sharing a machine do not fight over its cores
        self.engine = Engine.load(options)
        self._replica = serve.get_replica_context().replica_id.unique_id
        self._batches = 0
        self._transformer_calls: int | None = None  # counted from the first `stats` call on

    def _count_transformer_call(self, module, args, output) -> None:
        self._transformer_calls += 1

    async def describe(self) -> tuple[ModelInfo, int, TokenizerFiles]:
        """What this replica loaded, its largest batch, and its tokenizers."""
        return self.engine.info, self.engine.max_batch_size, TokenizerFiles.of(self.engine.pipeline)

    async def stats(self) -> dict[str, Any]:
        """This replica's id and process, the batches it has run, and the transformer calls since the
        first `stats` call: only the tests and benchmarks that read the count pay for its hook."""
        if self._transformer_calls is None:
            self._transformer_calls = 0
            self.engine.pipeline.transformer.register_forward_hook(self._count_transformer_call)
        return {
            "replica": self._replica,
            "pid": os.getpid(),
            "batches": self._batches,
            "transformer_calls": self._transformer_calls,
        }

    async def run_batch(
        self, requests: list[GenerationRequest], indices: tuple[int, ...], previews: bool
    ):  # -> AsyncIterator[Event], encoded by `to_wire`
        """Stream one batch's events (see `Engine.run_batch`); cancelling the call stops the batch within a step.

        The engine runs on a thread of its own; when Serve cancels this generator (the caller
        cancelled, or went away), `finally` sets the engine's cancel event.
        """
        self._batches += 1
        loop = asyncio.get_running_loop()
        events: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()
        done = object()

        def pump() -> None:
            try:
                for event in self.engine.run_batch(requests, indices=indices, previews=previews, cancel=cancel):
                    loop.call_soon_threadsafe(events.put_nowait, to_wire(event))
            except BaseException as error:  # noqa: BLE001 - handed to the caller, as the local engine raises it
                loop.call_soon_threadsafe(events.put_nowait, error)
            finally:
                loop.call_soon_threadsafe(events.put_nowait, done)

        threading.Thread(target=pump, name="turbo-studio-replica-batch", daemon=True).start()
        try:
            while (item := await events.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancel.set()


def deployment(
    options: LoadOptions,
    replicas: Replicas = 1,
    min_replicas: int = 1,
    max_replicas: int = 1,
    gpu: bool = False,
):
    """The Serve application of `EngineReplica`s: a fixed number, or `"auto"` between a minimum and a maximum.

    Each replica holds one GPU, or else one CPU core. Autoscaling aims at one ongoing request per
    replica, counting the requests queued for the deployment: a waiting request asks for a replica.
    """
    _, serve = _ray()
    if replicas == "auto":
        scaling: dict[str, Any] = {
            "autoscaling_config": {
                "min_replicas": min_replicas,
                "initial_replicas": min_replicas,
                "max_replicas": max_replicas,
                "target_ongoing_requests": 1,
            }
        }
    else:
        scaling = {"num_replicas": replicas}
    return serve.deployment(
        EngineReplica,
        name=DEPLOYMENT_NAME,
        max_ongoing_requests=MAX_ONGOING_REQUESTS,
        ray_actor_options={"num_gpus": 1} if gpu else {"num_cpus": 1},
        logging_config={"enable_access_log": False},
        request_router_config={"max_backoff_s": ROUTER_MAX_BACKOFF_S},
        **scaling,
    ).bind(options)


def build_app(args: dict[str, Any]):
    """The application for a Serve config (`import_path: pipeline.serve:build_app`): `args` are
    `LoadOptions` fields; the config's `deployments` entry sets replicas and resources."""
    return deployment(LoadOptions(**args))


# --- the front end --------------------------------------------------------------------------


@dataclass
class _Batch:
    """One batch of a request list, from its start on a replica to its `Finished`."""

    indices: list[int]
    response: Any = None  # its DeploymentResponseGenerator, once started
    finished: Finished | None = None


_END = object()  # what a batch's pump hands over after the last event of its stream


class RemoteEngine:
    """The local `Engine`'s interface (`info`, `max_batch_size`, `tokens`, `generate`, `compare`) over Serve replicas.

    A comparison's batches (`plan_batches`) are sent to the replicas, `_Link.slots` at once, the
    next as one ends; previews are yielded as they arrive, `Finished` events in plan order.
    Cancelling (the `cancel` event, or closing the iterator) cancels the replica's generation,
    which stops within one step.

    Args:
        link: the connection to the cluster and its deployment.
        info: what the replicas loaded.
        max_batch_size: images per batch.
        tokens: counts prompt tokens here, with the replicas' tokenizers, without a call to the cluster.
    """

    def __init__(self, link: "_Link", info: ModelInfo, max_batch_size: int, tokens: TokenCounter):
        self._link = link
        self.info = info
        self.max_batch_size = max_batch_size
        self.tokens = tokens

    def generate(
        self, request: GenerationRequest, *, previews: bool = True, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Stream a `Preview` after every step (when `previews`), then one `Finished`; indices are `(0,)`."""
        return self._stream([request], [[0]], previews, cancel)

    def compare(
        self,
        requests: Sequence[GenerationRequest],
        *,
        previews: bool = True,
        cancel: threading.Event | None = None,
    ) -> Iterator[Event]:
        """Stream `requests` in `plan_batches` batches spread over the replicas; see `Engine.compare`."""
        requests = list(requests)
        return self._stream(requests, plan_batches(requests, self.max_batch_size), previews, cancel)

    @property
    def concurrency(self) -> int:
        """Requests it runs at once: one per replica (the most replicas when autoscaling)."""
        return self._link.slots

    def status(self) -> str:
        """One line for the page: the replicas by state (running, starting, ...), or that the cluster is lost."""
        return self._link.status()

    def stats(self) -> dict[str, Any]:
        """`EngineReplica.stats` of whichever replica answers (for diagnostics and tests)."""
        return self._link.handle().stats.remote().result(timeout_s=STARTUP_TIMEOUT_S)

    def close(self) -> None:
        """Leave the cluster; a Ray that `connect` started is shut down with its replicas."""
        self._link.close()

    def _stream(
        self,
        requests: list[GenerationRequest],
        plan: list[list[int]],
        previews: bool,
        cancel: threading.Event | None,
    ) -> Iterator[Event]:
        handle = self._link.handle().options(stream=True)
        batches = [_Batch(indices) for indices in plan]
        waiting = iter(batches)
        arrivals: queue.SimpleQueue = queue.SimpleQueue()
        next_out = 0
        quiet_since = time.monotonic()

        def start(batch: _Batch | None) -> None:
            if batch is not None:
                selected = [requests[index] for index in batch.indices]
                batch.response = handle.run_batch.remote(selected, tuple(batch.indices), previews)
                threading.Thread(target=_pump, args=(batch, arrivals), name="turbo-studio-remote", daemon=True).start()

        try:
            for _ in range(self._link.slots):
                start(next(waiting, None))
            while next_out < len(batches):
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("Generation stopped.")
                try:
                    batch, item = arrivals.get(timeout=POLL_S)
                except queue.Empty:
                    if time.monotonic() - quiet_since > PROBE_EVERY_S:
                        self._link.check()  # a caller queued for a replica of a lost cluster would wait forever
                        quiet_since = time.monotonic()
                    continue
                quiet_since = time.monotonic()
                if isinstance(item, Preview):
                    yield item
                elif isinstance(item, Finished):
                    batch.finished = item
                elif item is _END:  # the call is over, so its replica is free for the next batch
                    if batch.finished is None:
                        raise GenerationError(WORKER_STOPPED)  # e.g. a replica shut down while it served the call
                    start(next(waiting, None))
                elif isinstance(item, BaseException) and batch.finished is None:
                    raise self._link.explain(item)
                while next_out < len(batches) and batches[next_out].finished is not None:
                    yield batches[next_out].finished
                    next_out += 1
        finally:
            for batch in batches:
                if batch.response is not None and batch.finished is None:
                    batch.response.cancel()


def _pump(batch: _Batch, arrivals: queue.SimpleQueue) -> None:
    """Hand the events of `batch`'s streaming call to `arrivals`, then any error, then `_END`."""
    try:
        for event in batch.response:
            arrivals.put((batch, from_wire(event)))
    except BaseException as error:  # noqa: BLE001 - the caller's loop decides what it means
        arrivals.put((batch, error))
    arrivals.put((batch, _END))


class _Link:
    """The front end's connection to Ray: it opens it, tells a dead worker from a lost cluster, and
    after losing the cluster reopens it in the background as soon as the cluster answers again.

    Args:
        deployment: opens the connection at an address, the first time and after each loss.
        address: what `deployment` is opened at first; later, the cluster's own GCS address.
    """

    def __init__(self, deployment: "_Deployment", address: str):
        ray, _ = _ray()
        self._deployment = deployment
        self._name = deployment.name
        self._owns_connection = not ray.is_initialized()
        self._started_ray = self._owns_connection and address == "local"
        self._handle, self.slots = deployment.open(address)
        self._address = address if self._started_ray else ray.get_runtime_context().gcs_address
        self._lost = threading.Event()
        self._losing = threading.Lock()
        self._closed = threading.Event()

    def handle(self):
        """The deployment's handle; `GenerationError` while the cluster is lost."""
        if self._lost.is_set():
            raise GenerationError(CLUSTER_LOST)
        return self._handle

    def check(self) -> None:
        """Raise `GenerationError` (and start reconnecting) unless the cluster answers within PROBE_TIMEOUT_S."""
        if not self._alive():
            self._lose()
            raise GenerationError(CLUSTER_LOST)

    def explain(self, error: BaseException) -> BaseException:
        """What to raise to a caller whose streaming call failed with `error`."""
        ray, _ = _ray()
        cause = error.cause if isinstance(error, ray.exceptions.RayTaskError) else error
        if isinstance(cause, TurboStudioError):
            return cause
        if isinstance(error, ray.exceptions.RayActorError):  # the replica died, or cannot be reached
            if not self._alive():
                self._lose()
                return GenerationError(CLUSTER_LOST)
            return GenerationError(WORKER_STOPPED)
        logger.error("The Ray backend failed: %s", error)  # with the worker's traceback, when there is one
        return GenerationError(f"The Ray backend failed: {type(cause).__name__}: {cause}")

    def status(self) -> str:
        """`Ray: 2 replicas: 1 running, 1 starting`, or that the cluster cannot be reached."""
        if self._lost.is_set() or not self._alive():
            return "Ray: the cluster cannot be reached; reconnecting."
        _, serve = _ray()
        application = serve.status().applications.get(self._name)
        if application is None or DEPLOYMENT_NAME not in application.deployments:
            return f"Ray: the {self._name} application is not deployed."
        states = application.deployments[DEPLOYMENT_NAME].replica_states
        total = sum(states.values())
        ordered = sorted(states.items(), key=lambda item: (item[0] != "RUNNING", item[0]))
        return f"Ray: {total} replica{'s' if total != 1 else ''}: " + ", ".join(
            f"{count} {state.lower()}" for state, count in ordered if count
        )

    def close(self) -> None:
        """Disconnect from Ray when this link connected; shut Serve and Ray down when it started them."""
        ray, serve = _ray()
        if self._closed.is_set():
            return
        self._closed.set()  # and stops a reconnection under way
        self._lost.set()
        if self._started_ray and ray.is_initialized() and _gcs_answers(ray):
            serve.shutdown()
        if self._owns_connection:
            ray.shutdown()

    def _alive(self) -> bool:
        ray, _ = _ray()
        return ray.is_initialized() and _gcs_answers(ray)

    def _lose(self) -> None:
        with self._losing:
            if self._lost.is_set() or self._closed.is_set():
                return
            self._lost.set()
        logger.error("The Ray cluster cannot be reached; reconnecting in the background.")
        threading.Thread(target=self._reconnect, name="turbo-studio-ray-reconnect", daemon=True).start()

    def _reconnect(self) -> None:
        ray, _ = _ray()
        while not self._closed.is_set():
            # ray.init to an address where nothing answers, and ray.shutdown while nothing answers,
            # wait for minutes and 30 s (measured): knock first.
            if self._started_ray or _reachable(self._address):
                ray.shutdown()
                try:
                    self._handle, self.slots = self._deployment.open(self._address)
                except Exception as error:  # noqa: BLE001 - keep trying until the cluster is back
                    logger.warning("Reconnecting to Ray failed (%s); retrying.", error)
                else:
                    self._lost.clear()
                    logger.warning("Reconnected to the Ray cluster.")
                    return
            self._closed.wait(RECONNECT_EVERY_S)


def _gcs_answers(ray) -> bool:
    """Whether the cluster's GCS answers within PROBE_TIMEOUT_S: Ray's one private call in this project.

    It is the one GCS call a driver can bound: the public ray.nodes() and serve.status() wait for
    minutes when the cluster is gone (measured with Ray 2.60). Check it when upgrading Ray.
    """
    try:
        ray._private.worker.global_worker.gcs_client.check_alive([], timeout=PROBE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - any failure to answer means the cluster is unreachable
        return False
    return True


def _reachable(address: str) -> bool:
    """Whether something accepts connections at `address` (host:port) within PROBE_TIMEOUT_S."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT_S):
            return True
    except (OSError, ValueError):
        return False


# --- start-up -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Deployment:
    """The engine's Serve application as `connect` was asked for it, opened by `_Link` at an address:
    first when the front end starts, and again after the cluster was lost and came back.

    Args:
        options, replicas, min_replicas, max_replicas, name, num_cpus: as for `connect`.
    """

    options: LoadOptions
    replicas: Replicas
    min_replicas: int
    max_replicas: int | None
    name: str
    num_cpus: int | None

    def open(self, address: str) -> tuple[Any, int]:
        """Join the Ray at `address` (`"local"`: start one) unless this process is connected already,
        deploy the engine unless the cluster runs it, and return its handle and how many batches to
        send it at once."""
        ray, serve = _ray()
        if not ray.is_initialized():
            # Ray copies this package to every node for the replicas, which need only the dependencies.
            runtime_env = {"py_modules": [str(Path(__file__).resolve().parent)]}
            ray.init(
                address=address, num_cpus=self.num_cpus if address == "local" else None, runtime_env=runtime_env,
                include_dashboard=False, logging_level=logging.WARNING,
            )
        resources = ray.cluster_resources()
        gpu = resources.get("GPU", 0) >= 1
        capacity = int(resources.get("GPU" if gpu else "CPU", 1))
        replicas = self.replicas
        if address == "local" and replicas != "auto" and replicas > capacity:
            raise ModelLoadError(
                f"{replicas} replicas need {replicas} {'GPU' if gpu else 'CPU core'}s, one each, and this machine "
                f"has {capacity}: ask for {capacity} replicas or fewer."
            )
        top = self.max_replicas or capacity
        if address != "local" and self.name in serve.status().applications:
            # Its config sets the replicas; there is at most one per GPU (or core) of the cluster.
            return serve.get_app_handle(self.name), top * MAX_ONGOING_REQUESTS
        serve.start(proxy_location="Disabled")
        application = deployment(self.options, replicas, self.min_replicas, top, gpu)
        slots = (top if replicas == "auto" else replicas) * MAX_ONGOING_REQUESTS
        return serve.run(application, name=self.name, route_prefix=None), slots


def connect(
    options: LoadOptions,
    replicas: Replicas = 1,
    *,
    address: str | None = None,
    min_replicas: int = 1,
    max_replicas: int | None = None,
    name: str = APP_NAME,
    num_cpus: int | None = None,
) -> RemoteEngine:
    """A `RemoteEngine` over Serve replicas of the engine, once they have loaded the model.

    Args:
        options: how each replica loads the model.
        replicas: how many replicas, or `"auto"` to scale between `min_replicas` and `max_replicas`
            on queued requests.
        address: a running Ray cluster to join (`"auto"`, or the head's `host:port`); its
            application `name` is used when deployed (`serve run deploy/serve.yaml`), and deployed
            with `options` otherwise. Without it a local Ray is started (unless this process is
            connected to one already) and the replicas are deployed on this machine: one GPU each
            when CUDA is available, else one CPU core each.
        min_replicas, max_replicas: the autoscaling bounds (default: 1 to every GPU, or core, of the cluster).
        name: the Serve application; several, e.g. of two models, can share a cluster.
        num_cpus: the CPUs a local Ray offers (default: the machine's cores).

    Raises:
        ModelLoadError: Ray is not installed, the cluster cannot be reached, there are fewer GPUs
            (or cores) than replicas, or the replicas could not load the model.
    """
    ray, _ = _ray()
    if replicas != "auto" and (isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1):
        raise ModelLoadError(f"Replicas must be a whole number of at least 1, or 'auto'; got {replicas!r}.")
    if min_replicas < 1 or (max_replicas is not None and max_replicas < min_replicas):
        raise ModelLoadError(
            f"Autoscaling needs 1 <= min_replicas <= max_replicas; got {min_replicas} and {max_replicas}."
        )
    if address not in (None, "auto") and not _reachable(address):
        raise ModelLoadError(
            f"No Ray cluster answers at {address}: start one with `ray start --head`, or check the address."
        )
    os.environ.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", RECONNECT_TIMEOUT_S)
    connected = ray.is_initialized()
    try:
        link = _Link(_Deployment(options, replicas, min_replicas, max_replicas, name, num_cpus), address or "local")
        info, max_batch_size, tokenizers = link.handle().describe.remote().result(timeout_s=STARTUP_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - Ray's start-up failures become one message
        if not connected:
            ray.shutdown()
        if isinstance(error, TurboStudioError):
            raise
        hint = TOKEN_HINT if address is not None and isinstance(error, ConnectionError) else ""
        raise ModelLoadError(f"The Ray backend could not start: {type(error).__name__}: {error}{hint}") from None
    return RemoteEngine(link, info, max_batch_size, tokenizers.counter())
