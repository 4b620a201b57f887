"""What the benchmarks share: an offline environment, interleaved timing, figures and their report.

Scripts run as `python benchmarks/<script>.py`: each puts the repository root on `sys.path` and
imports this module before torch, so the environment below is set before any library reads it.
Heavy libraries are imported inside functions, so a cold-start child can import this cheaply.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import platform
import random
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

# No network, no telemetry, no progress bars: the same quiet environment for every process we start.
QUIET_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "DIFFUSERS_VERBOSITY": "error",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}
for _name, _value in QUIET_ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)

PROMPT = "a lighthouse on a cliff at dusk, crashing waves, oil painting"
SEED = 1234
STEPS = 4
GUIDANCE = 0.0

# A measurement run: gets the run index (negative while warming up) and may return extra
# named measurements in seconds (one value or a list), collected next to its own wall time.
Variant = Callable[[int], Mapping[str, float | list[float]] | None]
Samples = dict[str, list[float]]


def quiet_libraries() -> None:
    """Silence diffusers' and transformers' progress bars and warnings (they go to stderr anyway)."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def use_threads(count: int) -> None:
    """Pin torch to `count` intra-op threads so timings are stable on a small, shared machine."""
    import torch

    torch.set_num_threads(count)


# --- timing ---------------------------------------------------------------------------------


def interleave(variants: Mapping[str, Variant], rounds: int, warmup: int, seed: int = 0) -> Samples:
    """Time each variant `rounds` times after `warmup` runs, in a new random order every round.

    Interleaving spreads a noisy machine's drift over all variants alike, so ratios of medians
    stay meaningful where absolute times do not.
    """
    order = list(variants)
    for run in range(-warmup, 0):
        for name in order:
            variants[name](run)
    samples: Samples = {name: [] for name in order}
    shuffler = random.Random(seed)
    for run in range(rounds):
        shuffler.shuffle(order)
        for name in order:
            started = time.perf_counter()
            extra = variants[name](run)
            samples[name].append(time.perf_counter() - started)
            for key, value in (extra or {}).items():
                samples.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return samples


def median(values: Iterable[float]) -> float:
    """The median of `values`."""
    return statistics.median(values)


def ratio(samples: Samples, numerator: str, denominator: str) -> float:
    """The ratio of two variants' median times."""
    return median(samples[numerator]) / median(samples[denominator])


def paired_ratio(samples: Samples, numerator: str, denominator: str) -> float:
    """The median of the per-round ratios of two interleaved variants: less sensitive to drift."""
    return median(a / b for a, b in zip(samples[numerator], samples[denominator]))


def quartiles(values: list[float]) -> tuple[float, float]:
    """The first and third quartiles (both equal to the value for a single run)."""
    if len(values) < 2:
        return values[0], values[0]
    first, _, third = statistics.quantiles(values, n=4, method="inclusive")
    return first, third


# --- figures and reports --------------------------------------------------------------------

_COMPARISONS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_SYMBOLS = {"<=": "≤", "<": "<", ">=": "≥", ">": ">"}


@dataclass(frozen=True)
class Figure:
    """One reported figure: a value in `unit` (× for ratios), its target (e.g. "<= 1.03") and a note.

    `value` is None when the figure could not be measured here; the note says why.
    """

    key: str
    name: str
    value: float | None
    unit: str = "×"
    target: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None without a target or a value)."""
        if not self.target or self.value is None:
            return None
        comparison, limit = self.target.split()
        return _COMPARISONS[comparison](self.value, float(limit))

    def cells(self) -> list[str]:
        """The figure as a markdown table row."""
        target = ""
        if self.target:
            comparison, limit = self.target.split()
            target = f"{_SYMBOLS[comparison]} {format_value(float(limit), self.unit)}"
        met = {True: "yes", False: "**no**", None: ""}[self.met]
        return [self.key, self.name, format_value(self.value, self.unit), target, met, self.note]


def format_value(value: float | None, unit: str) -> str:
    """`value` for a table: ratios with three decimals, times with a precision that suits them."""
    if value is None:
        return "n/a"
    if unit == "×":
        return f"{value:.3f}×"
    if unit == "ms" and abs(value) < 10:
        return f"{value:.2f} ms"
    if unit in ("ms", "µs"):
        return f"{value:.1f} {unit}"
    return f"{value:.2f} {unit}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


@dataclass
class Report:
    """A benchmark's result: figures with targets, the raw timings behind them, and the conditions."""

    title: str
    settings: str
    figures: list[Figure]
    samples: Samples = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=lambda: machine())

    def markdown(self) -> str:
        """Title, machine, settings, the figures table and the timings table."""
        parts = [
            f"## {self.title}",
            f"Machine: {describe_machine(self.machine)}.  \nSettings: {self.settings}.",
            markdown_table(["#", "Figure", "Measured", "Target", "Met", "Note"], [f.cells() for f in self.figures]),
        ]
        if self.samples:
            parts.append(timings_table(self.samples))
        return "\n\n".join(parts) + "\n"

    def to_json(self) -> dict:
        """Everything in plain JSON types."""
        return {
            "title": self.title,
            "settings": self.settings,
            "machine": self.machine,
            "figures": [{**asdict(f), "met": f.met} for f in self.figures],
            "samples_s": self.samples,
        }


def timings_table(samples: Samples) -> str:
    """Median, interquartile range and run count of every measurement, in milliseconds."""
    rows = []
    for name, values in samples.items():
        first, third = quartiles(values)
        rows.append([name, f"{median(values) * 1e3:.2f}", f"{first * 1e3:.2f}–{third * 1e3:.2f}", str(len(values))])
    return markdown_table(["Timing", "Median (ms)", "Q1–Q3 (ms)", "Runs"], rows)


def publish(report: Report, json_path: Path | None) -> None:
    """Print the report as markdown; also write it as JSON to `json_path` when given."""
    print(report.markdown(), flush=True)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report.to_json(), indent=2) + "\n")


def base_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark has."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    return parser


# --- the machine ----------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or what the platform says)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _commit() -> str:
    """The repository's commit, marked `+changes` when the working tree differs from it."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)

    try:
        head, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--untracked-files=no")
    except OSError:
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def machine() -> dict[str, str]:
    """The conditions of a measurement: CPU, cores, threads, GPU and library versions."""
    import torch

    info = {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": f"{os.getloadavg()[0]:.1f}",
        "commit": _commit(),
    }
    info.update({package: _version(package) for package in ("torch", "diffusers", "transformers", "gradio")})
    if torch.cuda.is_available():
        properties = torch.cuda.get_device_properties(0)
        info["gpu"] = f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB)"
        info["cuda"] = str(torch.version.cuda)
    return info


def describe_machine(info: Mapping[str, str]) -> str:
    """One line about the machine, for a report's header."""
    gpu = f", GPU {info['gpu']} (CUDA {info['cuda']})" if "gpu" in info else ", no GPU"
    return (
        f"{info['cpu']}, {info['cores']} cores (torch uses {info['torch_threads']} thread(s)){gpu}; "
        f"torch {info['torch']}, diffusers {info['diffusers']}, transformers {info['transformers']}, "
        f"gradio {info['gradio']}, Python {info['python']}, {info['system']}; load average {info['load_average']} "
        f"at the start; commit {info['commit']}"
    )


# --- the engine on the tiny model -----------------------------------------------------------


def load_tiny_engine():
    """An engine over the tiny random SD3, loaded by the app's own loader, without warm-up or TAESD3."""
    from pipeline import Engine, LoadOptions

    return Engine.load(LoadOptions(model="tiny", warmup=False, preview_decoder=""))


def make_request(size: int, prompt: str = PROMPT, seed: int = SEED):
    """The benchmark's request: `size`², 4 steps, guidance 0."""
    from pipeline import GenerationRequest

    return GenerationRequest(prompt=prompt, seed=seed, width=size, height=size, steps=STEPS, guidance_scale=GUIDANCE)


class FreshPrompts:
    """Prompts never seen before, so the prompt cache misses: `PROMPT, variation N`."""

    def __init__(self) -> None:
        self._count = 0

    def __call__(self) -> str:
        self._count += 1
        return f"{PROMPT}, variation {self._count}"


def seconds_to_first(events: Iterable, wanted: Callable[[object], bool]) -> float | None:
    """Consume a whole event stream; seconds from asking for the first event to the first `wanted` one."""
    started = time.perf_counter()
    first = None
    for event in events:
        if first is None and wanted(event):
            first = time.perf_counter() - started
    return first
