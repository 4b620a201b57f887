"""Cold start: process start to the first answered request, split into its parts (tiny SD3, CPU).

    python benchmarks/cold_start.py [--runs 3] [--size 1024]
    python benchmarks/cold_start.py --compile        # --compile: cold vs warm cache, dynamic vs static

Each run is a fresh Python process (this file with `--child`) that times its own phases —
interpreter start, imports, loading, warm-up, the first request — and prints them as one JSON
line. engine_cpu.py reports the same figures through `measure`.

With `--compile`, three fresh processes load the tiny SD3 with `--compile` and warm up at the size:
the app's regional compile with dynamic sizes on an empty Inductor cache, then again on the cache
it left (a restart), then the same blocks compiled with static shapes (the alternative) on an empty
cache; each then makes a 1152x896 image (another size preset) twice. Figures 9a-9g.
"""

import time

CHILD_STARTED = time.time()  # first thing: everything before it is interpreter start-up

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PHASES = ("interpreter start", "import", "load", "warm-up", "first request")
STEADY = "steady request"


def _child(spawned: float, size: int, warmup: bool) -> dict[str, float]:
    """Runs in the fresh process: the seconds each phase took, measured on the wall clock."""
    sys.path.insert(0, str(REPO))
    import torch

    torch.set_num_threads(1)
    from pipeline import Engine, GenerationRequest, LoadOptions

    marks = [spawned, CHILD_STARTED, time.time()]
    engine = Engine.load(LoadOptions(model="tiny", warmup=False, preview_decoder=""))
    marks.append(time.time())
    if warmup:
        engine.warm_up()
    marks.append(time.time())
    for prompt in ("a first request", "a second request"):
        engine.generate_images(GenerationRequest(prompt=prompt, seed=1, width=size, height=size))
        marks.append(time.time())
    durations = [later - earlier for earlier, later in zip(marks, marks[1:])]
    return dict(zip(PHASES + (STEADY,), durations))


COMPILE_RUNS = ("dynamic, empty cache", "dynamic, cache of the first run", "static, empty cache")
OTHER_PRESET = (1152, 896)


def _compile_child(shapes: str, size: int) -> dict[str, float]:
    """Runs in the fresh process: load with --compile (`shapes`: the app's `dynamic`, or `static` blocks),
    warm up at `size`, then two requests at another preset; seconds, recompiles and cache counters."""
    sys.path.insert(0, str(REPO))
    import torch
    from torch._dynamo.utils import counters

    torch.set_num_threads(1)
    from pipeline import Engine, GenerationRequest, LoadOptions
    from pipeline.compilation import BLOCK_CLASS, compile_batches, use_compile_cache

    started = time.time()
    engine = Engine.load(LoadOptions(model="tiny", warmup=False, preview_decoder="", compile=shapes == "dynamic"))
    if shapes == "static":
        use_compile_cache()
        transformer = engine.pipeline.transformer
        transformer._repeated_blocks = [BLOCK_CLASS]
        transformer.compile_repeated_blocks(fullgraph=True, dynamic=False)
        engine.pipeline.vae.decoder.compile(fullgraph=True, dynamic=False)
    marks = [started, time.time()]
    if shapes == "dynamic":
        compile_batches(engine.pipeline, size)  # as Engine.load does with --compile
    engine.generate_images(GenerationRequest(prompt="warm-up", seed=1, width=size, height=size))
    marks.append(time.time())
    compiled = counters["stats"]["unique_graphs"]  # dynamo's graphs so far: a recompile adds one
    width, height = OTHER_PRESET
    for prompt in ("another size", "again"):
        engine.generate_images(GenerationRequest(prompt=prompt, seed=1, width=width, height=height))
        marks.append(time.time())
    seconds = [later - earlier for earlier, later in zip(marks, marks[1:])]
    return {
        **dict(zip(("load", "warm-up", "first other size", "steady other size"), seconds)),
        "recompiles after warm-up": counters["stats"]["unique_graphs"] - compiled,
        "cache hits": counters["inductor"]["fxgraph_cache_hit"],
        "cache misses": counters["inductor"]["fxgraph_cache_miss"],
    }


def measure_compile(size: int) -> dict[str, dict[str, float]]:
    """The three `COMPILE_RUNS`, each a fresh process; the first two share an Inductor cache folder."""
    import os
    import tempfile

    results = {}
    with tempfile.TemporaryDirectory() as shared, tempfile.TemporaryDirectory() as alone:
        for run, shapes, cache in zip(COMPILE_RUNS, ("dynamic", "dynamic", "static"), (shared, shared, alone)):
            command = [sys.executable, __file__, "--compile-child", shapes, str(size)]
            environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache}
            finished = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
            if finished.returncode != 0:
                raise RuntimeError(f"compile child failed ({finished.returncode}):\n{finished.stderr[-3000:]}")
            results[run] = json.loads(finished.stdout.strip().splitlines()[-1])
    return results


def compile_figures(results: dict[str, dict[str, float]]) -> list:
    """Figures 9a-9g: what compiling costs at start, from the cache, and at a new size."""
    from benchmarks.common import Figure

    cold, warm, static = (results[run] for run in COMPILE_RUNS)
    size_note = f"first {OTHER_PRESET[0]}x{OTHER_PRESET[1]} after the warm-up"
    return [
        Figure("9a", "--compile warm-up, empty cache (dynamic sizes)", cold["warm-up"], "s",
               note=f"{cold['cache misses']} graphs compiled"),
        Figure("9b", "--compile warm-up, restart on the cache", warm["warm-up"], "s",
               note=f"{warm['cache hits']} cache hits, {warm['cache misses']} misses"),
        Figure("9c", "Warm-up from the cache / empty cache", warm["warm-up"] / cold["warm-up"]),
        Figure("9d", "Dynamic: " + size_note, cold["first other size"], "s",
               note=f"{cold['recompiles after warm-up']:.0f} recompiles; steady {cold['steady other size']:.2f} s"),
        Figure("9e", "Static shapes: " + size_note, static["first other size"], "s",
               note=f"{static['recompiles after warm-up']:.0f} recompiles; steady {static['steady other size']:.2f} s"),
        Figure("9f", "Static shapes: warm-up, empty cache", static["warm-up"], "s"),
        Figure("9g", "Steady request, dynamic / static", cold["steady other size"] / static["steady other size"]),
    ]


def run_once(size: int, warmup: bool = True) -> dict[str, float]:
    """Start one fresh process and return its phase times (seconds)."""
    from pipeline.random_model import ensure_tiny_model

    ensure_tiny_model()  # built beforehand: building it is not part of a start
    spawned = time.time()
    command = [sys.executable, __file__, "--child", str(spawned), str(size), str(int(warmup))]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"cold-start child failed ({finished.returncode}):\n{finished.stderr[-3000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def measure(runs: int, size: int) -> dict[str, list[float]]:
    """Phase times over `runs` fresh processes with warm-up, and one without (`no warm-up: ...`)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        for phase, seconds in run_once(size).items():
            samples.setdefault(phase, []).append(seconds)
    cold = run_once(size, warmup=False)
    samples["no warm-up: first request"] = [cold["first request"]]
    return samples


def figures(samples: dict[str, list[float]]) -> list:
    """Figures 7a-7g: each phase (median), the total, and what warming up saves the first user."""
    from benchmarks.common import Figure, median

    phase_figures = [
        Figure(f"7{letter}", f"Cold start: {phase}", median(samples[phase]), "s")
        for letter, phase in zip("abcde", PHASES)
    ]
    total = sum(median(samples[phase]) for phase in PHASES)
    first, steady = median(samples["first request"]), median(samples[STEADY])
    unwarmed = median(samples["no warm-up: first request"])
    return phase_figures + [
        Figure("7f", "Cold start: process start to first answer", total, "s", note="sum of 7a-7e"),
        Figure(
            "7g",
            "First request / steady request, with warm-up",
            first / steady,
            note=f"without warm-up: {unwarmed / steady:.2f}× ({unwarmed:.2f} s vs {steady:.2f} s)",
        ),
    ]


def main() -> None:
    """Print the cold-start table."""
    sys.path.insert(0, str(REPO))
    from benchmarks import common

    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes with warm-up (default 3)")
    parser.add_argument("--size", type=int, default=1024, help="image size of the requests (default 1024)")
    parser.add_argument("--compile", action="store_true", help="--compile: empty vs warm cache, dynamic vs static")
    args = parser.parse_args()
    common.use_threads(1)
    if args.compile:
        results = measure_compile(args.size)
        settings = f"tiny SD3, --compile, warm-up at {args.size}², 4 steps, one fresh process per row, 1 thread"
        samples = {f"{run}: {phase}": [value] for run, row in results.items() for phase, value in row.items()
                   if phase in ("load", "warm-up", "first other size", "steady other size")}
        report = common.Report("Cold start with --compile (CPU, tiny SD3)", settings, compile_figures(results), samples)
        common.publish(report, args.json)
        return
    samples = measure(args.runs, args.size)
    settings = f"tiny SD3, {args.size}² requests, 4 steps, medians of {args.runs} fresh processes, 1 thread"
    common.publish(common.Report("Cold start (CPU, tiny SD3)", settings, figures(samples), samples), args.json)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _spawned, _size, _warmup = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
        print(json.dumps(_child(_spawned, _size, _warmup)))
    elif len(sys.argv) == 4 and sys.argv[1] == "--compile-child":
        print(json.dumps(_compile_child(sys.argv[2], int(sys.argv[3]))))
    else:
        main()
