"""Scale-out benchmark on the tiny SD3, CPU: the Ray Serve backend with one and two replicas.

    python benchmarks/scale_cpu.py           # about three minutes
    python benchmarks/scale_cpu.py --quick   # 256x256, fewer runs: a smoke run (~1 min)

One local Ray, started by the backend's own `connect`, holds two applications of the engine: one
with a single replica and one with two, each replica one CPU slot and one torch thread. Ray is
offered three CPU slots on this machine's cores: the applications never run at the same time.
The local engine runs in this process, also with one thread; two plain worker processes, each
with its own engine and no Ray, show what this machine's cores allow (figure 8f). Every variant
runs in a new random order each round, after warm-up runs; the figures are ratios of medians.
"""

import multiprocessing
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from benchmarks import common  # noqa: E402  (before torch and Ray: common sets the environment)
from pipeline import Finished, LoadOptions  # noqa: E402
from pipeline.serve import connect  # noqa: E402

CLIENTS = 6
SEEDS = 16
ONE = "1 replica"
TWO = "2 replicas"
LOCAL_ONE = "local engine: one request"
RAY_ONE = "Ray, 1 replica: one request"
LOCAL_CPU = "local engine: CPU time of one request"
REPLICA_CPU = "Ray: the replica's CPU time of one request"
FRONT_CPU = "Ray: this process's CPU time of one request"
PLAIN = "plain processes, no Ray"

_worker_engine = None  # the engine of a plain worker process


@dataclass(frozen=True)
class Settings:
    """Image sizes and how many runs make each median."""

    size: int
    latency_size: int
    rounds: int
    warmup: int

    def describe(self) -> str:
        return (
            f"tiny SD3, {common.STEPS} steps, guidance {common.GUIDANCE:g}, previews on; {CLIENTS} concurrent clients "
            f"and {SEEDS}-seed comparisons at {self.size}×{self.size}, single requests at "
            f"{self.latency_size}×{self.latency_size}; CPU replicas with one torch thread each; medians of "
            f"{self.rounds} interleaved runs after {self.warmup} warm-up run(s)"
        )


FULL = Settings(size=512, latency_size=1024, rounds=11, warmup=2)
QUICK = Settings(size=256, latency_size=256, rounds=3, warmup=1)


def images(events) -> list:
    return [image.image for event in events if isinstance(event, Finished) for image in event.images]


def _start_worker() -> None:
    global _worker_engine
    common.use_threads(1)
    _worker_engine = common.load_tiny_engine()


def _generate_in_worker(request) -> None:
    for _ in _worker_engine.generate(request):
        pass


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def variants(engines: dict, workers: dict, local, settings: Settings) -> dict[str, common.Variant]:
    """Six clients at once on each application and on each set of plain workers, a 16-seed comparison
    on each application, and one request on Ray and locally with the CPU time it took: less
    sensitive to a shared machine's load than wall time."""
    pool = ThreadPoolExecutor(CLIENTS)
    single = common.make_request(settings.latency_size)
    seeds = [common.make_request(settings.size, seed=common.SEED + index) for index in range(SEEDS)]

    def clients(engine):
        def run(index):
            list(pool.map(lambda request: list(engine.generate(request)), seeds[:CLIENTS]))

        return run

    def comparison(engine):
        return lambda index: list(engine.compare(seeds)) and None

    def plain(processes):
        return lambda index: processes.map(_generate_in_worker, seeds[:CLIENTS], chunksize=1) and None

    measured = {}
    for label, engine in engines.items():
        measured[f"{CLIENTS} clients, {label}"] = clients(engine)
        measured[f"{SEEDS}-seed comparison, {label}"] = comparison(engine)
    for label, processes in workers.items():
        measured[f"{CLIENTS} clients, {label}, {PLAIN}"] = plain(processes)
    replica = psutil.Process(engines[ONE].stats()["pid"])

    def through_ray(index):
        front, worker = time.process_time(), cpu_seconds(replica)
        list(engines[ONE].generate(single))
        return {REPLICA_CPU: cpu_seconds(replica) - worker, FRONT_CPU: time.process_time() - front}

    def in_process(index):
        started = time.process_time()
        list(local.generate(single))
        return {LOCAL_CPU: time.process_time() - started}

    measured[RAY_ONE] = through_ray
    measured[LOCAL_ONE] = in_process
    return measured


def largest_difference(engine, local, size: int) -> int:
    """The largest pixel difference (0 to 255) between the backend's image and the local engine's."""
    request = common.make_request(size)
    (theirs,), (ours,) = images(engine.generate(request)), images(local.generate(request))
    return int(np.abs(np.asarray(theirs, dtype=np.int16) - np.asarray(ours, dtype=np.int16)).max())


def ratio_figure(
    samples: common.Samples, key: str, name: str, slower: str, faster: str, target: str, note: str = ""
) -> common.Figure:
    """`slower`'s median time over `faster`'s, with the median of the per-round ratios in the note."""
    paired = f"paired runs: {common.paired_ratio(samples, slower, faster):.3f}×"
    ratio = common.ratio(samples, slower, faster)
    return common.Figure(key, name, ratio, target=target, note="; ".join(filter(None, [paired, note])))


def figures(samples: common.Samples, difference: int, settings: Settings) -> list[common.Figure]:
    """Figure 8: what a second replica gives, and what going through Ray costs one request, in time and CPU."""
    clients, seeds = f"{CLIENTS} clients, ", f"{SEEDS}-seed comparison, "
    return [
        ratio_figure(
            samples, "8a", f"Throughput of {CLIENTS} concurrent clients, 2 replicas / 1 replica",
            clients + ONE, clients + TWO, ">= 1.7",
        ),
        ratio_figure(
            samples, "8b", f"One request's latency, Ray / local engine, {settings.latency_size}²", RAY_ONE, LOCAL_ONE,
            "<= 1.10", f"max pixel difference {difference}/255",
        ),
        ratio_figure(
            samples, "8c", f"{SEEDS}-seed comparison throughput, 2 replicas / 1 replica", seeds + ONE, seeds + TWO,
            ">= 1.7", "batches of 4",
        ),
        common.Figure(
            "8d", f"CPU time of one request, the replica / the local engine, {settings.latency_size}²",
            common.ratio(samples, REPLICA_CPU, LOCAL_CPU),
            note=f"{common.median(samples[REPLICA_CPU]):.2f} s and {common.median(samples[LOCAL_CPU]):.2f} s: "
            "what Ray adds on the replica's side, whatever the machine's load",
        ),
        common.Figure(
            "8e", "CPU time of one request in this process (the front end), through Ray",
            common.median(samples[FRONT_CPU]) * 1e3, "ms", note="handle call, routing, streaming and decoding",
        ),
        ratio_figure(
            samples, "8f", f"The same {CLIENTS} requests in 2 plain processes / 1, no Ray", f"{clients}{ONE}, {PLAIN}",
            f"{clients}{TWO}, {PLAIN}", "", "the ceiling of 8a on this machine: one engine per process, nothing else",
        ),
    ]


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256 and fewer runs: a smoke run for CI")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    common.quiet_libraries()
    common.use_threads(1)
    local = common.load_tiny_engine()
    options = LoadOptions(model="tiny", warmup=False, preview_decoder="")
    two = connect(options, replicas=2, name="two", num_cpus=3)
    one = connect(options, replicas=1, name="one")
    spawn = multiprocessing.get_context("spawn")  # not fork: this process runs Ray's threads
    workers = {ONE: spawn.Pool(1, _start_worker), TWO: spawn.Pool(2, _start_worker)}
    try:
        engines = {ONE: one, TWO: two}
        difference = largest_difference(two, local, settings.latency_size)
        samples = common.interleave(variants(engines, workers, local, settings), settings.rounds, settings.warmup)
    finally:
        for processes in workers.values():
            processes.terminate()
        one.close()
        two.close()
    report = common.Report(
        "Scale-out on Ray Serve, tiny SD3 (CPU)", settings.describe(), figures(samples, difference, settings), samples
    )
    common.publish(report, args.json)


if __name__ == "__main__":
    main()
