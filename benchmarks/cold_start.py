"""Cold start: process start to the first answered request, split into its parts (tiny SD3, CPU).

    python benchmarks/cold_start.py [--runs 3] [--size 1024]

Each run is a fresh Python process (this file with `--child`) that times its own phases —
interpreter start, imports, loading, warm-up, the first request — and prints them as one JSON
line. engine_cpu.py reports the same figures through `measure`.
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
    args = parser.parse_args()
    common.use_threads(1)
    samples = measure(args.runs, args.size)
    settings = f"tiny SD3, {args.size}² requests, 4 steps, medians of {args.runs} fresh processes, 1 thread"
    common.publish(common.Report("Cold start (CPU, tiny SD3)", settings, figures(samples), samples), args.json)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        _spawned, _size, _warmup = float(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
        print(json.dumps(_child(_spawned, _size, _warmup)))
    else:
        main()
