"""Fixed-cost benchmark: what the engine, the page's path and gradio_client add to one image, in ms.

    python benchmarks/fixed_costs.py              # 256x256, 4 steps, 60 rounds (~1 min)
    python benchmarks/fixed_costs.py --size 1024  # the same at 1024x1024 (~1.5 min)
    python benchmarks/fixed_costs.py --quick      # 3 rounds: a smoke run

At 256² the tiny SD3's own work is tens of milliseconds, so every cost that is not the model
shows. Four ways of making one image run interleaved, in a new random order each round, each
with a prompt never seen before (no prompt cache helps anyone):

- bare `pipe(prompt=...)` of diffusers, on the engine's pipeline object;
- `engine.generate` with previews, in this process;
- `/generate` as the page runs it: the queue's protocol on one kept-alive connection, the final
  PNG fetched on it (`harness/page_protocol.py`);
- `/generate` through gradio_client (streamed, the final PNG downloaded);
- and, for Gradio's floor, `/generate` of `benchmarks/gradio_floor.py` as the page runs it: an app
  with no model that sends the same messages (outputs, previews, progress, a PNG file).

Then, in this process, one preview yield of Generate's outputs postprocessed by Gradio (each value
through a worker thread) and by `StreamedOutputs` (in the handler's thread), in turn.

The app runs in its own process (one torch thread, as this one), started through this script
(`--serve LOG -- APP_ARGS`) so that its step callbacks log their wall-clock time: the first
preview's arrival at the page is then timed from the end of the step that made it.

Wall-clock times on a shared machine move with its load, so the CPU time each way costs is
measured too (this process's for bare and the engine, the app process's for a served request):
CPU time moves far less with the load than wall time, though a crowded machine's cache misses
still add to it.
"""

import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import torch  # noqa: E402
from gradio_client import Client  # noqa: E402

from benchmarks import common, gradio_floor, server_cpu, server_profile  # noqa: E402  (common sets the environment first)
from harness.local_processes import serve_app  # noqa: E402
from harness.page_protocol import dependency, new_session  # noqa: E402
from pipeline import Engine, Preview  # noqa: E402

BARE = "bare pipe(prompt=...)"
ENGINE = "engine.generate, previews on"
PAGE = "/generate as the page runs it"
CLIENT = "/generate through gradio_client"
FLOOR = "Gradio's floor: the same messages, no model"
ENGINE_FIRST = "engine: first preview after its step"
PAGE_FIRST = "page: first preview after its step"
CPU = "CPU: "  # the CPU-time samples of a way carry this prefix
# The step callback, timed in both processes: its entry is the end of a step.
STEP_TIMER = {"step": "pipeline.engine:_StepCallback.__call__"}


@dataclass(frozen=True)
class Settings:
    """Image size and how many interleaved rounds make each median."""

    size: int
    rounds: int
    warmup: int

    def describe(self) -> str:
        return (
            f"tiny SD3, {self.size}×{self.size}, {common.STEPS} steps, guidance {common.GUIDANCE:g}, a new prompt "
            f"for every call; app and benchmark with one torch thread each; medians of {self.rounds} interleaved "
            f"rounds after {self.warmup} warm-up round(s); differences are medians of the per-round differences"
        )


def settings_for(size: int, quick: bool) -> Settings:
    if quick:
        return Settings(size=size, rounds=3, warmup=1)
    return Settings(size=size, rounds=60 if size <= 512 else 12, warmup=2)


class Steps:
    """The wall-clock times at which step callbacks were entered, in this process or in the app's log."""

    def __init__(self, recorder: server_profile.Recorder, log: Path | None = None):
        self._recorder, self._log = recorder, log

    def first_after(self, moment: float) -> float:
        """The first step end at or after `moment` (the request's start)."""
        records = self._recorder.records if self._log is None else _read(self._log)
        return min(start for label, start, _, _ in records if label == "step" and start >= moment)


def _read(log: Path) -> list:
    import json

    return [tuple(json.loads(line)) for line in log.read_text().splitlines()]


def app_cpu_seconds(pid: int) -> float:
    """The CPU time (user + system) a process has used, every thread of it (10 ms ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_cpu(name: str, way: common.Variant, clock) -> common.Variant:
    """`way`, also reporting the CPU seconds `clock()` advanced during it."""

    def timed(run):
        started = clock()
        extra = way(run) or {}
        return {**extra, CPU + name: clock() - started}

    return timed


def ways(
    engine: Engine, urls: dict[str, str], http: httpx.Client, client: Client, steps: dict[str, Steps], size: int
) -> dict:
    """The four ways of making one image, each with a prompt never seen before, and the floor."""
    fresh = common.FreshPrompts()
    pipe, generator = engine.pipeline, torch.Generator("cpu")
    events = {way: dependency(urls[way], "generate", http) for way in (PAGE, FLOOR)}
    session = new_session()  # one page, one session (a session hash is the server's own)

    def bare(run):
        pipe(
            prompt=fresh(), width=size, height=size, num_inference_steps=common.STEPS,
            guidance_scale=common.GUIDANCE, generator=generator.manual_seed(common.SEED),
        )

    def engine_call(run):
        started, first = time.time(), None
        for item in engine.generate(common.make_request(size, fresh())):
            if first is None and isinstance(item, Preview):
                first = time.time()
        return {ENGINE_FIRST: first - steps["engine"].first_after(started)}

    def as_the_page(way: str) -> float:
        """`/generate` of the app or the floor, as the page runs it; when its first preview arrived."""
        values = list(server_cpu.generate_arguments(size, prompt=fresh()).values())[: len(events[way]["inputs"])]
        return server_cpu.page_generate(urls[way], http, events[way]["id"], values, session)

    def page(run):
        started = time.time()
        return {PAGE_FIRST: as_the_page(PAGE) - steps["app"].first_after(started)}

    def floor(run):
        as_the_page(FLOOR)

    def through_client(run):
        job = client.submit(**server_cpu.generate_arguments(size, prompt=fresh()), api_name="/generate")
        for _ in job:
            pass

    return {BARE: bare, ENGINE: engine_call, PAGE: page, CLIENT: through_client, FLOOR: floor}


def measure(settings: Settings) -> common.Samples:
    """Start the app (its steps logged), then time the four ways in interleaved rounds."""
    engine = common.load_tiny_engine()
    here = server_profile.Recorder()
    server_profile.install_timers(STEP_TIMER, here)
    with tempfile.TemporaryDirectory(prefix="turbo-studio-fixed-") as temp:
        folder, log = Path(temp), Path(temp) / "steps.jsonl"
        (folder / "gradio").mkdir()
        launcher = [str(Path(__file__).resolve()), "--serve", str(log), "--"]
        environment = server_cpu.app_environment(folder / "gradio")
        floor_launcher = [str(Path(__file__).with_name("gradio_floor.py")), "--size", str(settings.size)]
        with (
            serve_app([], folder / "app.log", environment, launcher=launcher) as app,
            serve_app([], folder / "floor.log", environment, launcher=floor_launcher) as floor_app,
            httpx.Client(timeout=120) as http,
        ):
            client = Client(app.url, verbose=False, download_files=str(folder / "downloads"))
            steps = {"engine": Steps(here), "app": Steps(server_profile.Recorder(), log)}
            made = ways(engine, {PAGE: app.url, FLOOR: floor_app.url}, http, client, steps, settings.size)
            served = lambda: app_cpu_seconds(app.process.pid)  # noqa: E731
            clocks = {BARE: time.process_time, ENGINE: time.process_time, PAGE: served, CLIENT: served,
                      FLOOR: lambda: app_cpu_seconds(floor_app.process.pid)}
            timed = {name: with_cpu(name, way, clocks[name]) for name, way in made.items()}
            samples = common.interleave(timed, settings.rounds, settings.warmup)
            client.close()
    return samples | gradio_floor.preview_yield_times(settings.size, rounds=10 * settings.rounds)


def paired_difference(samples: common.Samples, way: str, base: str) -> float:
    """The median over rounds of `way`'s time minus `base`'s, in seconds (interleaved runs)."""
    return common.median(a - b for a, b in zip(samples[way], samples[base]))


def figures(samples: common.Samples) -> list[common.Figure]:
    """Each way's median and its paired difference from bare diffusers; the first previews' delays."""
    bare = common.median(samples[BARE]) * 1e3
    rows = (
        ("9a", ENGINE, "<= 10", "the engine's own work: prompt bookkeeping, worker thread, previews"),
        ("9b", PAGE, "<= 30", "HTTP, Gradio's queue and streaming, the handler, the final PNG written and fetched"),
        ("9c", CLIENT, "", "what a gradio_client user waits for on top of 9b: see 9d"),
    )
    result = [
        common.Figure(
            key, f"{way} − bare diffusers", paired_difference(samples, way, BARE) * 1e3, "ms", target,
            note=f"medians {common.median(samples[way]) * 1e3:.1f} ms vs {bare:.1f} ms; {note}",
        )
        for key, way, target, note in rows
    ]
    result.append(common.Figure(
        "9d", "gradio_client − the page's protocol", paired_difference(samples, CLIENT, PAGE) * 1e3, "ms",
        note="gradio_client's own share: a new HTTP client per request and per download, a 50 ms poll",
    ))
    delays = (("9e", PAGE_FIRST, "<= 10", "message received by the page's protocol, the app in its own process"),
              ("9f", ENGINE_FIRST, "", "the `Preview` event received from `engine.generate`"))
    result += [
        common.Figure(key, name, common.median(samples[name]) * 1e3, "ms", target, note=note)
        for key, name, target, note in delays
    ]
    bare_cpu = statistics.mean(samples[CPU + BARE]) * 1e3
    cpu_rows = (("9g", ENGINE, "this process's, all threads"),
                ("9h", PAGE, "the app process's, all threads, against bare's in this process"))
    result += [
        common.Figure(
            key, f"CPU time: {way} − bare diffusers", statistics.mean(samples[CPU + way]) * 1e3 - bare_cpu, "ms",
            note=f"means {statistics.mean(samples[CPU + way]) * 1e3:.1f} ms vs {bare_cpu:.1f} ms; {note}; "
            "less moved by the load than wall time",
        )
        for key, way, note in cpu_rows
    ]
    beyond = [page - bare - floor for page, bare, floor in zip(samples[PAGE], samples[BARE], samples[FLOOR])]
    floor_cpu = statistics.mean(samples[CPU + FLOOR]) * 1e3
    result += [
        common.Figure(
            "9i", FLOOR, common.median(samples[FLOOR]) * 1e3, "ms",
            note=f"benchmarks/gradio_floor.py as the page runs it, {floor_cpu:.1f} ms "
            "of its process's CPU: Gradio's queue, streaming and HTTP, and our output layer, with nothing to compute",
        ),
        common.Figure(
            "9j", "/generate as the page runs it − bare diffusers − Gradio's floor", common.median(beyond) * 1e3, "ms",
            note="what the app adds beyond the two: the engine, the handler, the PNG encoded and saved, and the "
            "steps and Gradio's work slowing each other on 2 cores",
        ),
    ]
    postprocessing = (("9k", gradio_floor.BY_GRADIO, "each value but a State's through a worker thread and back"),
                      ("9l", gradio_floor.STREAMED, "in the handler's thread, as Generate and Compare do"))
    result += [
        common.Figure(key, way, common.median(samples[way]) * 1e3, "ms", note=f"{note}; in this process, no model")
        for key, way, note in postprocessing
    ]
    return result


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:  # the app's process, started by `measure`
        server_profile.serve(Path(sys.argv[2]), sys.argv[4:], STEP_TIMER)
        return
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image width and height (default 256; try 1024)")
    parser.add_argument("--quick", action="store_true", help="3 rounds: a smoke run for CI")
    args = parser.parse_args()
    settings = settings_for(args.size, args.quick)
    common.quiet_libraries()
    common.use_threads(1)
    from pipeline.random_model import ensure_tiny_model

    ensure_tiny_model()  # the app and this process share it; building it is not part of a run
    samples = measure(settings)
    report = common.Report("Fixed costs on the tiny SD3 (CPU, loopback)", settings.describe(), figures(samples),
                           samples)
    common.publish(report, args.json)


if __name__ == "__main__":
    main()
