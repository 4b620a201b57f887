"""Where a served `/generate` spends its time: `python benchmarks/server_cpu.py --profile`.

The app runs in its own process, as in the benchmark, but started through this module
(`--serve LOG -- APP_ARGS`), which first wraps the functions a served image passes through
(`SERVER_TIMERS`) with timers that append their wall-clock start and duration to LOG. In this
process the client's message handling and downloads are timed the same way (`CLIENT_TIMERS`).
Both clocks are the machine's, so each request's records line up into one timeline, which is
split into the phases of `PHASES`; the direct engine calls it is compared with run here,
interleaved with the served ones. `results/server-profile.md` holds its output, before and after.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import common  # noqa: E402  (sets the environment first)

PROFILED_REQUESTS = 7
# "module:Qualified.name" of the functions timed in the app's process, under their record label.
# A name that does not exist (any more) is skipped, so the same script profiles old and new code.
# Wrapped in this order, before app.py runs: a module that imports a function by name (ui.store
# imports png_bytes) must be imported after that function is wrapped.
SERVER_TIMERS = {
    "png": "pipeline.metadata:png_bytes",
    "engine": "pipeline.engine:Engine.generate",
    "save": "ui.store:ImageStore.save",
    "copy": "gradio.processing_utils:save_file_to_cache",
    "hash": "gradio.processing_utils:hash_file",
    "preview": "gradio.processing_utils:save_pil_to_cache",
    "send": "gradio.queueing:Queue.send_message",
}
# gradio_client's message loop sleeps this long whenever no message is waiting (gradio_client 2.7.2,
# utils.stream_sse_v1plus).
CLIENT_POLL_S = 0.05
CLIENT_TIMERS = {
    "receive": "gradio_client.client:Endpoint.process_predictions",
    "download": "gradio_client.client:Endpoint._download_file",
}


# --- timers ---------------------------------------------------------------------------------


class Recorder:
    """Collects `(label, wall-clock start, seconds, detail)` records, in memory and, when given a
    path, as JSON lines (the app's process writes them there for the benchmark to read)."""

    def __init__(self, path: Path | None = None):
        self.records: list[tuple[str, float, float, str]] = []
        self._file = open(path, "a", buffering=1) if path else None
        self._lock = threading.Lock()

    def add(self, label: str, start: float, seconds: float, detail: str = "") -> None:
        with self._lock:
            self.records.append((label, start, seconds, detail))
            if self._file:
                self._file.write(json.dumps([label, start, seconds, detail]) + "\n")


def _timed(function: Callable, label: str, recorder: Recorder) -> Callable:
    """`function` recording each call; an iterator it returns is timed from the call to its last
    item (not to its exhaustion, which waits for the consumer); a message's detail is its type."""

    def detail(args: tuple) -> str:
        return type(args[-1]).__name__ if label == "send" else ""

    def items(iterator: Iterator, start: float, began: float) -> Iterator:
        last = began
        try:
            for item in iterator:
                last = time.perf_counter()
                yield item
        finally:
            recorder.add(label, start, last - began)

    @functools.wraps(function)
    def timed(*args, **kwargs):
        start, began = time.time(), time.perf_counter()
        result = function(*args, **kwargs)
        if inspect.isgenerator(result):
            return items(result, start, began)
        recorder.add(label, start, time.perf_counter() - began, detail(args))
        return result

    return timed


def install_timers(timers: dict[str, str], recorder: Recorder) -> None:
    """Wrap every function of `timers` that exists."""
    for label, target in timers.items():
        module_name, _, qualified = target.partition(":")
        owner = importlib.import_module(module_name)
        *path, name = qualified.split(".")
        for part in path:
            owner = getattr(owner, part)
        if hasattr(owner, name):
            setattr(owner, name, _timed(getattr(owner, name), label, recorder))


def serve(log: Path, app_args: list[str], timers: dict[str, str] = SERVER_TIMERS) -> None:
    """Run app.py with `app_args`, the functions of `timers` timed into `log` (before app.py imports
    what it names, so `from x import y` gets the timed function)."""
    install_timers(timers, Recorder(log))
    import runpy

    sys.argv = ["app.py", *app_args]
    runpy.run_path(str(common.REPO / "app.py"), run_name="__main__")


# --- one request's timeline -----------------------------------------------------------------


@dataclass
class Request:
    """One served `/generate`: the client's submit and end, and every record in between."""

    submitted: float
    ended: float
    records: list[tuple[str, float, float, str]] = field(default_factory=list)

    def of(self, label: str) -> list[tuple[float, float, str]]:
        return [(start, seconds, detail) for name, start, seconds, detail in self.records if name == label]

    def total(self, label: str, after: float = 0.0) -> float:
        return sum(seconds for start, seconds, _ in self.of(label) if start >= after)

    def phases(self, direct: float) -> dict[str, float]:
        """Seconds per phase of `PHASES`; they add up to the round trip minus `direct`."""
        (engine_start, engine_seconds, _), = self.of("engine")
        engine_end = engine_start + engine_seconds
        save = sum(seconds for _, seconds, _ in self.of("save"))
        png, copy = self.total("png", after=engine_end), self.total("copy", after=engine_end)
        final_sent = [start for start, _, kind in self.of("send") if kind == "ProcessGeneratingMessage"][-1]
        final_received = self.of("receive")[-2][0]  # the last is the completed call's (`job.result()`)
        download = self.total("download", after=final_received) - self.completion_download()
        return {
            "start": engine_start - self.submitted,
            "engine": engine_seconds - direct,
            "png": png,
            "write": save - png,
            "copy": copy,
            "postprocess": final_sent - engine_end - save - copy,
            "sse": final_received - final_sent,
            "download": download,
            "end": self.ended - final_received - download,
        }

    def completion_download(self) -> float:
        """Seconds the client spends handling the completed call (`job.result()`, `predict`)."""
        return self.total("download", after=self.of("receive")[-1][0])

    def previews(self) -> dict[str, float]:
        """The preview frames: how many, and the seconds each side spent on them."""
        sends = [record for record in self.of("send") if record[2] == "ProcessGeneratingMessage"]
        return {
            "frames": len(sends) - 2,  # less the handler's first yield (the seed) and the final image
            "server": self.total("preview"),
            "client": sum(seconds for _, seconds, _ in self.of("download")[:-2]),
        }


PHASES = {
    "start": "submit → engine starts (HTTP join, queue, the handler's first yield)",
    "engine": "engine in the server − direct engine call (the same work, sharing 2 cores with the "
    "server and client handling the previews meanwhile)",
    "png": "PNG encoding of the final image (`png_bytes`)",
    "write": "writing the PNG file (`ImageStore.save` minus the encoding)",
    "copy": "Gradio: hash + copy of the final file into its cache (`save_file_to_cache`)",
    "postprocess": "rest of the final output's postprocessing until its SSE message is queued",
    "sse": "SSE: final message queued → the client handles it (its loop polls every 50 ms)",
    "download": "client: download of the final image (`_download_file`)",
    "end": "completion message, end of the client's iteration",
}


# --- the run ----------------------------------------------------------------------------------


def _median_ms(values) -> str:
    values = list(values)
    return f"{common.median(values) * 1e3:.1f}" if values else "n/a"


def _bytes(image: str | dict) -> int:
    """What a streamed image weighs: its downloaded file, or its inline data URL."""
    return Path(image).stat().st_size if isinstance(image, str) else len(image["url"])


def _split(records: list, requests: list[Request]) -> None:
    """Hand each record to the request whose window (its submit to the next one's) holds it."""
    bounds = [request.submitted for request in requests[1:]] + [float("inf")]
    for request, bound in zip(requests, bounds):
        request.records = [record for record in records if request.submitted <= record[1] < bound]


@dataclass
class Profile:
    """What `run` measured: the profiled requests, the direct engine calls, the streamed images'
    sizes, and gradio_client's own costs (seconds, by `client_costs`)."""

    requests: list[Request]
    direct: list[float]
    sizes: dict[str, int]
    client: dict[str, list[float]]


def run(size: int, launch: Callable) -> Profile:
    """Profile `PROFILED_REQUESTS` served requests after a warm-up, each followed by a direct engine
    call; `launch(folder, launcher)` is `server_cpu.app_server`."""
    import tempfile

    from gradio_client import Client

    from benchmarks.server_cpu import generate_arguments

    engine, client_records = common.load_tiny_engine(), Recorder()
    install_timers(CLIENT_TIMERS, client_records)
    requests, direct = [], []
    with tempfile.TemporaryDirectory(prefix="turbo-studio-profile-") as temp:
        folder, log = Path(temp), Path(temp) / "timers.jsonl"
        with launch(folder, [str(Path(__file__).resolve()), "--serve", str(log), "--"]) as (url, _):
            client = Client(url, verbose=False, download_files=str(folder / "downloads"))
            for run_index in range(-1, PROFILED_REQUESTS):
                submitted = time.time()
                job = client.submit(**generate_arguments(size), api_name="/generate")
                images = [output[0] for output in job if output[0]]
                ended = time.time()
                job.result()  # the client's handling of the completed call, kept out of the next window
                started = time.perf_counter()
                list(engine.generate(common.make_request(size)))
                if run_index >= 0:
                    direct.append(time.perf_counter() - started)
                    requests.append(Request(submitted, ended))
            client.close()
            records = [tuple(json.loads(line)) for line in log.read_text().splitlines()] + client_records.records
            costs = client_costs(url, generate_arguments(size))  # after the records: its call is not profiled
        sizes = {"preview": _bytes(images[0]), "final": _bytes(images[-1])}
    _split(sorted(records, key=lambda record: record[1]), requests)
    return Profile(requests, direct, sizes, costs)


def client_costs(url: str, arguments: dict) -> dict[str, list[float]]:
    """What gradio_client spends by itself here: a new `httpx.Client` (it makes one for every request
    and every download), and a GET of a final image on a new client and on a kept-alive one."""
    import httpx
    from gradio_client import Client

    image, _ = Client(url, verbose=False, download_files=False).predict(**arguments, api_name="/generate")
    kept = httpx.Client()
    costs = {"client": lambda: httpx.Client().close(), "fresh": lambda: httpx.get(image["url"]).content,
             "kept": lambda: kept.get(image["url"]).content}
    return {name: [_seconds(cost) for _ in range(PROFILED_REQUESTS)] for name, cost in costs.items()}


def _seconds(call: Callable) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def report(profile: Profile, settings: str) -> str:
    """The breakdown as markdown: the critical path phase by phase, the preview frames, and the
    floor that gradio_client sets by itself."""
    requests, sizes, client = profile.requests, profile.sizes, profile.client
    direct_median = common.median(profile.direct)
    round_trips = [request.ended - request.submitted for request in requests]
    phases = [request.phases(direct_median) for request in requests]
    previews = [request.previews() for request in requests]
    notes = {
        "copy": f"of which hashing: {_median_ms(request.total('hash') for request in requests)} ms",
        "end": "then `job.result()` / `predict` download the final image once more: "
        f"{_median_ms(request.completion_download() for request in requests)} ms",
    }
    overhead = common.median(round_trips) - direct_median
    path = [
        ["served round trip (submit → the client's iteration ends)", _median_ms(round_trips), ""],
        ["direct `engine.generate`, previews on, in the benchmark's process", _median_ms(profile.direct), ""],
        ["**overhead**", f"**{overhead * 1e3:.1f}**", f"ratio {common.median(round_trips) / direct_median:.3f}×"],
        *([f"{key}: {what}", _median_ms(p[key] for p in phases), notes.get(key, "")] for key, what in PHASES.items()),
    ]
    frames = [
        ["frames per request", f"{common.median(p['frames'] for p in previews):.0f}", ""],
        ["server: encode + hash + write into Gradio's cache, all frames", _median_ms(p["server"] for p in previews),
         ""],
        ["client: downloads, all frames", _median_ms(p["client"] for p in previews), ""],
        ["bytes: one preview (file or inline data URL) / the final image", f"{sizes['preview']:,} / {sizes['final']:,}",
         ""],
    ]
    floor = common.median(client["client"]) + CLIENT_POLL_S / 2 + common.median(client["fresh"])
    own = [
        ["a new `httpx.Client()` (its SSL context): one per request and per download", _median_ms(client["client"]),
         ""],
        ["GET of the final image: new client / one kept-alive connection",
         f"{_median_ms(client['fresh'])} / {_median_ms(client['kept'])}", ""],
        ["wait before a message is handled: its loop sleeps 50 ms when none is waiting", f"{CLIENT_POLL_S / 2e-3:.1f}",
         "on average (`stream_sse_v1plus`)"],
        ["**floor**: the submit's client + the final message's wait + the final GET on a new client",
         f"**{floor * 1e3:.1f}**", "of the overhead above, whatever the server does"],
    ]
    return "\n\n".join([
        f"Machine: {common.describe_machine(common.machine())}.  \nSettings: {settings}; "
        f"{len(requests)} profiled requests after a warm-up; medians (the phases add up to each request's "
        "overhead, their medians need not).",
        common.markdown_table(["Critical path", "ms", "note"], path),
        "The preview frames are made while the engine computes the next step: they cost the round trip "
        "only through the CPU they take from it (the engine row).",
        common.markdown_table(["Preview frames", "ms", "note"], frames),
        "gradio_client's own costs on this machine, measured against the same server:",
        common.markdown_table(["gradio_client", "ms", "note"], own),
    ]) + "\n"


if __name__ == "__main__" and sys.argv[1:2] == ["--serve"]:
    serve(Path(sys.argv[2]), sys.argv[4:])
