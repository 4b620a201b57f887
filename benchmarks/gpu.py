"""GPU benchmark: SD3.5 Large (Turbo) at 1024², 4 steps, guidance 0, for each memory mode and option.

    python benchmarks/gpu.py --all                    # the prepared run (~8 min on one H100/H200), see ALL
    python benchmarks/gpu.py --model stabilityai/stable-diffusion-3.5-large-turbo   # real weights
    python benchmarks/gpu.py --modes gpu,no-t5,compile --batches 1,4   # a subset; rows merge into gpu.json
    python benchmarks/gpu.py --all --dry-run          # tiny SD3 at 256² on the CPU: the same code, for CI

`--all` measures bf16 eager, bf16 `--compile` (regional) at batch 1 and 4, fp8 + `--compile` at batch 1
and 4 and `--no-t5`, each beside bare diffusers; a fresh process's start with `--compile` on an empty
compile cache and again on the cache it left; and `/generate` as the page runs it through `app.py`
(bf16 and fp8, compiled). It prints the issue's targets beside the figures (`TARGETS`).

For every mode (gpu, no-t5, model-offload, nf4, nf4-no-t5, int8, compile, fp8-compile) and batch size: the
time per image split into text encoding, the 4 transformer steps, the VAE decode and the
conversion to PIL (CUDA events at the phase boundaries, one synchronisation per run); the same
request through the engine, previews off and on; peak VRAM (`torch.cuda.max_memory_allocated`,
reset per configuration); load and compile times; and each time as a multiple of the FLOP floor
(see flops.py; the arithmetic is printed). Every mode is loaded by the app's own loader.

The random model is built on the GPU (never materialised on the CPU) and saved once, in bf16, to
$TURBO_STUDIO_LARGE_DIR (default ~/.cache/turbo-studio/sd35-large-random, ~27 GB), so that each
mode loads it exactly as it would load the real weights. On a GPU the results go to
benchmarks/results/gpu.json and gpu.md (rows of earlier runs on the same GPU and model are kept);
--dry-run writes to a temporary folder, or --output, and never touches them. Any part that fails
becomes a row saying why, and the rest go on.
"""

import argparse
import gc
import importlib.util
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks import common  # noqa: E402  (sets the environment first)
from benchmarks.flops import Floor, datasheet_peak_tflops  # noqa: E402
from pipeline import Engine, Finished, GeneratedImage, LoadOptions  # noqa: E402
from pipeline.loader import load_pipeline, resolve_model_folder  # noqa: E402
from pipeline.metadata import png_bytes  # noqa: E402

logger = logging.getLogger("benchmarks.gpu")
LARGE_DIR_ENV = "TURBO_STUDIO_LARGE_DIR"
RANDOM_LARGE = "random-sd3.5-large"
PHASES = ("text", "steps", "decode", "to_pil")
GB = 1e9  # targets are in GB


@dataclass(frozen=True)
class Mode:
    """A way of loading the pipeline, as app.py options, with the package it needs and its targets."""

    name: str
    options: dict = field(default_factory=dict)
    package: str | None = None
    cuda_only: bool = False
    seconds_target: float | None = None  # per image, through the engine with previews
    memory_target_gb: float | None = None
    all_batches: tuple[int, ...] = ()  # the batch sizes `--all` runs (none: not in `--all`)

    def skip_reason(self, cuda: bool) -> str | None:
        """Why this mode cannot run here, or None."""
        if self.cuda_only and not cuda:
            return "skipped: needs a CUDA GPU"
        if self.package and importlib.util.find_spec(self.package) is None:
            return f"skipped: pip install {self.package}"
        return None

    def load_options(self, folder: Path, cuda: bool) -> LoadOptions:
        """The app's load options for this mode (on a CPU the memory mode is `auto`, i.e. the CPU).

        With `warmup`, a compiled mode also compiles its batch-2 graphs at load, as the app does, so
        its graphs are those of the start measurement and read from its cache (without: 54 s of
        compiling at 256² in the dry run, 14 s with)."""
        values = {"memory_mode": "gpu" if cuda else "auto", **self.options}
        return LoadOptions(model=str(folder), warmup=True, preview_decoder="", **values)


MODES = {
    mode.name: mode
    for mode in (
        Mode("gpu", memory_target_gb=32, all_batches=(1,)),
        Mode("no-t5", {"text_encoder_3": False}, memory_target_gb=21, all_batches=(1,)),
        Mode("model-offload", {"memory_mode": "model-offload"}, cuda_only=True),
        Mode("nf4", {"quantization": "nf4"}, package="bitsandbytes", cuda_only=True),
        Mode("nf4-no-t5", {"quantization": "nf4", "text_encoder_3": False}, package="bitsandbytes", cuda_only=True,
             memory_target_gb=14),
        Mode("int8", {"quantization": "int8"}, package="torchao"),
        Mode("compile", {"compile": True}, seconds_target=0.35, memory_target_gb=32, all_batches=(1, 4)),
        Mode("fp8-compile", {"quantization": "fp8", "compile": True}, package="torchao", cuda_only=True,
             seconds_target=0.28, all_batches=(1, 4)),
    )
}
ALL = tuple(name for name, mode in MODES.items() if mode.all_batches)
# The targets on an H100/H200 (issue 17 §2), printed beside the figures.
ENGINE_OVER_BARE_MS = 10
SERVED_TARGETS_S = {"compile": 0.35, "fp8-compile": 0.28}
PEAK_WITH_T5_GB = 32
WARM_START_S = 20
SERVED_REPEATS = 5
COMPILED_START_TIMEOUT_S = 900  # app.py --compile compiles before it serves: 310 s once on a loaded 2-core CPU


@dataclass(frozen=True)
class Settings:
    """What to run, and where the results go."""

    model: str
    size: int
    batches: tuple[int, ...]
    repeats: int
    modes: tuple[str, ...]
    output: Path
    peak_tflops: float | None
    dry_run: bool
    all: bool
    compile_cache: Path


# --- the model ------------------------------------------------------------------------------


def large_model_dir() -> Path:
    """Where the random full-size model is saved: `$TURBO_STUDIO_LARGE_DIR` or the user's cache."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "turbo-studio" / "sd35-large-random"
    return Path(os.environ.get(LARGE_DIR_ENV, default))


def ensure_large_model(folder: Path) -> Path:
    """Build the random SD3.5 Large on the GPU and save it in bf16 to `folder`, unless it is there."""
    from pipeline.random_model import LARGE, build_random_pipeline

    if (folder / "model_index.json").is_file():
        return folder
    logger.warning("Building the random SD3.5 Large on the GPU and saving it to %s (~27 GB, once)", folder)
    started = time.perf_counter()
    staging = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    pipe = build_random_pipeline(LARGE, seed=0, dtype=torch.bfloat16, device="cuda")
    pipe.save_pretrained(staging)
    del pipe
    free_memory()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging.rename(folder)
    logger.warning("Built and saved in %.0f s", time.perf_counter() - started)
    return folder


def model_folder(settings: Settings) -> Path:
    """The pipeline folder to benchmark: tiny, the random full-size model, or `--model`."""
    if settings.model == RANDOM_LARGE:
        return ensure_large_model(large_model_dir())
    return resolve_model_folder(settings.model)


def floor_for(folder: Path, settings: Settings, device_name: str) -> Floor:
    """The FLOP floor of the folder's architecture on this device."""
    from diffusers import AutoencoderKL, SD3Transformer2DModel

    peak, source = settings.peak_tflops, "--peak-tflops"
    if peak is None:
        peak = datasheet_peak_tflops(device_name)
        source = f"{device_name} datasheet, dense bf16" if peak else f"no datasheet peak for {device_name}"
    return Floor.of(
        SD3Transformer2DModel.load_config(folder, subfolder="transformer"),
        AutoencoderKL.load_config(folder, subfolder="vae"),
        settings.size, common.STEPS, common.make_request(settings.size).max_sequence_length, peak, source,
    )


# --- timing ---------------------------------------------------------------------------------


class PhaseClock:
    """Marks at phase boundaries: CUDA events on a GPU (synchronised once, at the end), else the wall clock."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda
        self.marks: list = []

    def mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def durations(self) -> list[float]:
        """Seconds between consecutive marks."""
        if self.cuda:
            torch.cuda.synchronize()
            return [start.elapsed_time(end) / 1e3 for start, end in zip(self.marks, self.marks[1:])]
        return [end - start for start, end in zip(self.marks, self.marks[1:])]


@torch.no_grad()
def run_phases(pipe, prompt: str, seeds: list[int], size: int, cuda: bool) -> dict[str, float]:
    """One batch through bare diffusers, phase by phase; seconds per phase and in all (`wall`)."""
    started, clock = time.perf_counter(), PhaseClock(cuda)
    clock.mark()
    tokens, _, pooled, _ = pipe.encode_prompt(
        prompt=prompt, prompt_2=None, prompt_3=None, do_classifier_free_guidance=False,
        max_sequence_length=common.make_request(size).max_sequence_length,
    )
    clock.mark()
    latents = pipe(
        prompt_embeds=tokens.repeat(len(seeds), 1, 1),
        pooled_prompt_embeds=pooled.repeat(len(seeds), 1),
        width=size, height=size, num_inference_steps=common.STEPS, guidance_scale=common.GUIDANCE,
        generator=[torch.Generator("cpu").manual_seed(seed) for seed in seeds],
        output_type="latent",
    ).images
    clock.mark()
    config = pipe.vae.config
    pixels = pipe.vae.decode(latents / config.scaling_factor + config.shift_factor, return_dict=False)[0]
    clock.mark()
    pipe.image_processor.postprocess(pixels, output_type="pil")
    clock.mark()
    durations = dict(zip(PHASES, clock.durations()))
    return {**durations, "wall": time.perf_counter() - started}


def engine_run(
    engine: Engine, prompt: str, seeds: list[int], size: int, previews: bool
) -> tuple[float, GeneratedImage]:
    """Seconds for the engine to make one batch of `seeds` (a new prompt: the text encoders run), and an image."""
    started = time.perf_counter()
    requests = [common.make_request(size, prompt).with_seed(seed) for seed in seeds]
    finished = [event for event in engine.compare(requests, previews=previews) if isinstance(event, Finished)]
    return time.perf_counter() - started, finished[-1].images[0]


def png_seconds(generated: GeneratedImage, repeats: int = 3) -> float:
    """Median seconds for the app's PNG encoding (with metadata) of one finished image, on this CPU."""
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        png_bytes(generated.image, generated.request, generated.model)
        timings.append(time.perf_counter() - started)
    return common.median(timings)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def reset_peak(cuda: bool) -> None:
    if cuda:
        torch.cuda.reset_peak_memory_stats()


# --- one configuration ----------------------------------------------------------------------


def measure_batch(pipe, info, batch: int, settings: Settings, cuda: bool) -> dict:
    """Phase times, engine times and peak memory for one loaded mode at one batch size (per image)."""
    seeds, prompts = [common.SEED + index for index in range(batch)], common.FreshPrompts()
    reset_peak(cuda)
    first = run_phases(pipe, prompts(), seeds, settings.size, cuda)["wall"]  # warm-up; compiles when compiling
    reset_peak(cuda)
    runs = [run_phases(pipe, prompts(), seeds, settings.size, cuda) for _ in range(settings.repeats)]
    engine = Engine(pipe, info, max_batch_size=batch)
    # The engine's own warm-up: its first compiled call re-traces (measured on an H200: 13.9 s, not 0.5 s).
    engine_run(engine, prompts(), seeds, settings.size, True)
    engine_off = [engine_run(engine, prompts(), seeds, settings.size, False) for _ in range(settings.repeats)]
    engine_on = [engine_run(engine, prompts(), seeds, settings.size, True) for _ in range(settings.repeats)]
    wall = common.median(run["wall"] for run in runs)
    return {
        **{f"{phase}_s": common.median(run[phase] for run in runs) / batch for phase in PHASES},
        "per_image_s": wall / batch,
        "engine_s": common.median(seconds for seconds, _ in engine_off) / batch,
        "engine_previews_s": common.median(seconds for seconds, _ in engine_on) / batch,
        "png_s": png_seconds(engine_on[-1][1]),
        "peak_gb": torch.cuda.max_memory_allocated() / GB if cuda else None,
        "first_call_s": first,
        "first_call_extra_s": first - wall,
        "repeats": settings.repeats,
    }


def measure_mode(mode: Mode, folder: Path, settings: Settings, cuda: bool, floor: Floor) -> list[dict]:
    """Load `mode` with the app's loader and measure every batch size; a row per batch, failures included."""
    base = {"mode": mode.name}
    batches = settings.batches
    if settings.all:  # the prepared run's batches; a dry run's batch of 4 becomes 2 (tiny, CPU)
        batches = tuple(min(batch, 2) for batch in mode.all_batches) if settings.dry_run else mode.all_batches
    reason = mode.skip_reason(cuda)
    if reason:
        return [{**base, "batch": batch, "status": reason} for batch in batches]
    free_memory()
    started = time.perf_counter()
    try:
        pipe, info = load_pipeline(mode.load_options(folder, cuda))
    except Exception as error:  # noqa: BLE001 - a mode that cannot load is a result, not a crash
        return [{**base, "batch": batch, "status": f"failed to load: {_describe(error)}"} for batch in batches]
    base.update(
        memory_mode=info.memory_mode, dtype=info.dtype, load_s=time.perf_counter() - started,
        weights_gb=torch.cuda.memory_allocated() / GB if cuda else None,
    )
    rows = []
    for batch in batches:
        try:
            measured = measure_batch(pipe, info, batch, settings, cuda)
            row = with_judgement({**base, "batch": batch, "status": "ok", **measured}, mode, floor)
        except Exception as error:  # noqa: BLE001 - out of memory and friends are reported per row
            row = {**base, "batch": batch, "status": f"failed: {_describe(error)}"}
        free_memory()  # after the `except` block, which holds the failed run's tensors through its traceback
        rows.append(row)
    del pipe
    free_memory()
    torch._dynamo.reset()
    return rows


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).splitlines()[0][:200] if str(error) else ''}"


def with_judgement(row: dict, mode: Mode, floor: Floor) -> dict:
    """Add the compile time, the multiple of the floor and whether the mode's targets are met."""
    row["compile_s"] = row["first_call_extra_s"] if mode.options.get("compile") else None
    row["engine_over_bare_ms"] = (row["engine_previews_s"] - row["per_image_s"]) * 1e3
    row["x_floor"] = row["engine_previews_s"] / floor.seconds if floor.seconds else None
    targets = {}
    if mode.seconds_target is not None:
        targets[f"<= {mode.seconds_target} s"] = row["engine_previews_s"] <= mode.seconds_target
    if mode.memory_target_gb is not None and row["peak_gb"] is not None:
        targets[f"<= {mode.memory_target_gb} GB"] = row["peak_gb"] <= mode.memory_target_gb
    row["targets"] = targets
    return row


# --- results --------------------------------------------------------------------------------


def merge_rows(previous: dict | None, document: dict) -> list[dict]:
    """This run's rows, plus earlier rows for other (mode, batch) on the same device, model and size."""
    rows = list(document["results"])
    same = previous and all(previous.get(key) == document[key] for key in ("device", "model", "size"))
    if same:
        done = {(row["mode"], row["batch"]) for row in rows}
        rows += [row for row in previous["results"] if (row["mode"], row["batch"]) not in done and row["mode"] in MODES]
    order = list(MODES)
    return sorted(rows, key=lambda row: (order.index(row["mode"]), row["batch"]))


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value * 1e3:.0f}"


def _cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [row["mode"], str(row["batch"]), *[""] * 11, row["status"]]
    targets = ", ".join(
        f"{target.replace('<=', '≤')}: {'yes' if met else '**no**'}" for target, met in row["targets"].items()
    )
    notes = [f"{row['repeats']} runs", f"load {row['load_s']:.0f} s"]
    if row.get("compile_s") is not None:
        notes.append(f"compile {row['compile_s']:.0f} s")
    if row.get("weights_gb") is not None:
        notes.append(f"weights {row['weights_gb']:.1f} GB")
    return [
        row["mode"], str(row["batch"]), *(_ms(row[f"{phase}_s"]) for phase in PHASES),
        f"{row['per_image_s']:.3f}", f"{row['engine_s']:.3f} / {row['engine_previews_s']:.3f}",
        f"{row.get('engine_over_bare_ms', float('nan')):+.0f}",
        "" if row["x_floor"] is None else f"{row['x_floor']:.2f}×",
        "" if row["peak_gb"] is None else f"{row['peak_gb']:.1f}", _ms(row["png_s"]), targets, "; ".join(notes),
    ]


def markdown(document: dict) -> str:
    """The results as markdown: what ran where, the floor's arithmetic, and the table."""
    header = [
        "Mode", "Batch", "Text ms", "4 steps ms", "VAE decode ms", "To PIL ms", "Diffusers s",
        "Engine s (off / previews)", "Engine − bare ms",
        "× floor", "Peak GB", "PNG ms", "Targets", "Notes",
    ]
    floor = "\n".join(document["floor"]["arithmetic"])
    return (
        f"## GPU benchmark: {document['device']}\n\n"
        f"Model: {document['model']}; {document['size']}×{document['size']}, {common.STEPS} steps, guidance "
        f"{common.GUIDANCE:g}; medians of the runs in Notes after one warm-up run (the engine's too), "
        "each run with a new prompt.  \n"
        f"Machine: {common.describe_machine(document['machine'])}.  \n"
        "Times are per image. Text, steps, decode and to-PIL are bare diffusers phase by phase (CUDA events); "
        "\"Diffusers s\" is their wall-clock sum; the engine runs the same request, without and with previews; "
        "× floor and the targets use the engine with previews. Peak: `torch.cuda.max_memory_allocated` in GB (10⁹ B). "
        "PNG: the app's PNG encoding (with metadata) of one finished image on this machine's CPU, after generation.\n\n"
        f"```\n{floor}\n```\n\n" + common.markdown_table(header, [_cells(row) for row in document["results"]]) + "\n"
        + _targets_markdown(document)
    )


def _targets_markdown(document: dict) -> str:
    """The targets table of an `--all` run: each target beside its figure."""
    if "start" not in document:
        return ""
    figures = target_figures(document)
    table = common.markdown_table(["#", "Figure", "Measured", "Target", "Met", "Note"], [f.cells() for f in figures])
    return f"\n### Targets (issue 17, on an H100/H200)\n\n{table}\n"


def write_results(document: dict, output: Path) -> None:
    """Write gpu.json and gpu.md to `output`, keeping rows of earlier runs on the same device and model."""
    output.mkdir(parents=True, exist_ok=True)
    json_path = output / "gpu.json"
    previous = json.loads(json_path.read_text()) if json_path.is_file() else None
    document = {**document, "results": merge_rows(previous, document)}
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    (output / "gpu.md").write_text(markdown(document))
    print(f"Results written to {json_path} and {output / 'gpu.md'}", file=sys.stderr)


# --- start and serving with --compile ----------------------------------------------------


def start_seconds(folder: Path, options: dict, cache: Path) -> dict:
    """A fresh process: seconds from its start to an engine warmed up as the app's (imports, load, compile),
    and the compile-cache counters; `cache` is its TORCHINDUCTOR_CACHE_DIR."""
    spawned = time.time()
    command = [sys.executable, __file__, "--start-child", str(folder), json.dumps(options), str(spawned)]
    environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(cache)}
    finished = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"exit {finished.returncode}: {finished.stderr.strip().splitlines()[-1:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def _start_child(folder: str, options: str, spawned: float) -> dict:
    from torch._dynamo.utils import counters

    Engine.load(LoadOptions(model=folder, preview_decoder="", **json.loads(options)))  # with the app's warm-up
    ready = time.time()
    return {"start_s": ready - spawned, "cache_hits": counters["inductor"]["fxgraph_cache_hit"],
            "cache_misses": counters["inductor"]["fxgraph_cache_miss"]}


def measure_start(folder: Path, settings: Settings, cuda: bool) -> dict:
    """Cold start with --compile (empty compile cache) and warm start (the cache the cold one left)."""
    options = {"memory_mode": "gpu" if cuda else "auto", "compile": True}
    result = {"cache": str(settings.compile_cache)}
    for name in ("cold", "warm"):
        try:
            result[name] = {"status": "ok", **start_seconds(folder, options, settings.compile_cache)}
        except Exception as error:  # noqa: BLE001 - reported, the run goes on
            result[name] = {"status": f"failed: {_describe(error)}"}
    return result


def measure_served(folder: Path, settings: Settings, cuda: bool) -> dict:
    """Seconds per `/generate` as the page runs it (queue protocol, final PNG fetched) through `app.py`
    started with --compile, bf16 and fp8; medians of `SERVED_REPEATS` after one, a new prompt each."""
    rows = {}
    for name in SERVED_TARGETS_S:
        reason = MODES[name].skip_reason(cuda) or _missing("gradio", "httpx")
        try:
            served = {} if reason else _serve(MODES[name], folder, settings, cuda)
            rows[name] = {"status": reason or "ok", **served}
        except Exception as error:  # noqa: BLE001 - reported, the run goes on
            rows[name] = {"status": f"failed: {_describe(error)}"}
    return rows


def _missing(*packages: str) -> str | None:
    missing = [package for package in packages if importlib.util.find_spec(package) is None]
    return f"skipped: pip install {' '.join(missing)} (-r requirements.txt)" if missing else None


def _serve(mode: Mode, folder: Path, settings: Settings, cuda: bool) -> dict:
    import httpx

    from benchmarks.server_cpu import generate_arguments, page_generate
    from harness.local_processes import serve_app
    from harness.page_protocol import dependency, new_session

    args = ["--model", str(folder), "--warmup", "--memory-mode", "gpu" if cuda else "auto"]
    args += ["--compile"] + (["--quantization", mode.options["quantization"]] if "quantization" in mode.options else [])
    environment = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(settings.compile_cache)}
    prompts, started = common.FreshPrompts(), time.perf_counter()
    # Compiling at start (on a 2-core CPU under load, minutes) comes before serving.
    with tempfile.TemporaryDirectory() as logs, \
            serve_app(args, Path(logs) / "app.log", environment, start_timeout=COMPILED_START_TIMEOUT_S) as app, \
            httpx.Client() as http:
        start_s = time.perf_counter() - started
        event, session = dependency(app.url, "generate", http), new_session()
        timings = []
        for _ in range(SERVED_REPEATS + 1):
            values = list(generate_arguments(settings.size, prompt=prompts()).values())[: len(event["inputs"])]
            began = time.perf_counter()
            page_generate(app.url, http, event["id"], values, session)
            timings.append(time.perf_counter() - began)
    return {"served_s": common.median(timings[1:]), "app_start_s": start_s, "runs": SERVED_REPEATS}


# --- targets --------------------------------------------------------------------------------


def target_figures(document: dict) -> list[common.Figure]:
    """The issue's targets beside what was measured (n/a, with the reason, where a part did not run)."""
    ok = [row for row in document["results"] if row["status"] == "ok"]
    figures = []
    for row in ok:
        figures.append(common.Figure(f"{row['mode']} b{row['batch']}", "engine − bare, per image",
                                     row["engine_over_bare_ms"], "ms", f"<= {ENGINE_OVER_BARE_MS}"))
    for name, target in SERVED_TARGETS_S.items():
        served = document.get("served", {}).get(name, {"status": "not run"})
        figures.append(common.Figure(f"served {name}", f"/generate as the page runs it, {name}",
                                     served.get("served_s"), "s", f"<= {target}", _why(served)))
    peak = next((row["peak_gb"] for row in ok if row["mode"] == "gpu" and row["peak_gb"] is not None), None)
    figures.append(common.Figure("peak", "peak memory with T5, bf16 eager", peak, "GB", f"<= {PEAK_WITH_T5_GB}",
                                 "" if peak is not None else "not available: no CUDA or the gpu mode failed"))
    start = document.get("start", {})
    for name in ("cold", "warm"):
        run = start.get(name, {"status": "not run"})
        figures.append(common.Figure(f"start {name}", f"{name} start with --compile, process to warmed up",
                                     run.get("start_s"), "s", f"<= {WARM_START_S}" if name == "warm" else "",
                                     _why(run) or f"{run['cache_hits']} cache hits, {run['cache_misses']} misses"))
    return figures


def _why(part: dict) -> str:
    return "" if part.get("status") == "ok" else f"not available: {part.get('status')}"


# --- the command line -----------------------------------------------------------------------


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help=f"the prepared run: modes {', '.join(ALL)} at their "
                        "batches, start with --compile (cold, warm) and /generate through app.py")
    parser.add_argument("--dry-run", action="store_true", help="the tiny SD3 at 256² on this machine (CPU is fine), "
                        "1 run, batches 1 and 2, results in a temporary folder: the same code, for CI")
    parser.add_argument(
        "--model", help=f"hub id or folder of real weights (default: {RANDOM_LARGE}; tiny with --dry-run)"
    )
    parser.add_argument("--modes", help=f"comma-separated, from: {', '.join(MODES)} (default: all; --all: {ALL})")
    parser.add_argument("--batches", help="comma-separated batch sizes (default 1,4; dry run 1,2)")
    parser.add_argument("--repeats", type=int, help="timed runs per configuration (default 3; dry run 1)")
    parser.add_argument("--size", type=int, help="image size (default 1024; dry run 256)")
    parser.add_argument("--output", type=Path, help="folder for gpu.json and gpu.md (default: benchmarks/results on a "
                        "GPU, a temporary folder with --dry-run)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, when it is not in flops.py")
    parser.add_argument("--compile-cache", type=Path, help="Inductor's cache folder for the run (default: a new "
                        "one); empty for --all, whose cold start fills it")
    args = parser.parse_args(argv)
    if args.all and args.compile_cache and args.compile_cache.exists() and any(args.compile_cache.iterdir()):
        parser.error(f"--compile-cache {args.compile_cache} is not empty: --all's cold start needs an empty one")
    chosen = args.modes or ",".join(ALL if args.all else MODES)
    modes = tuple(name.strip() for name in chosen.split(",") if name.strip())
    unknown = [name for name in modes if name not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    if not args.dry_run and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run `python benchmarks/gpu.py --all --dry-run` for the CPU dry run")
    scratch = Path(tempfile.mkdtemp(prefix="turbo-studio-gpu-"))
    return Settings(
        model=args.model or ("tiny" if args.dry_run else RANDOM_LARGE),
        size=args.size or (256 if args.dry_run else 1024),
        batches=tuple(int(batch) for batch in (args.batches or ("1,2" if args.dry_run else "1,4")).split(",")),
        repeats=args.repeats or (1 if args.dry_run else 3),
        modes=modes,
        output=args.output or (scratch / "results" if args.dry_run else common.RESULTS),
        peak_tflops=args.peak_tflops,
        dry_run=args.dry_run,
        all=args.all,
        compile_cache=args.compile_cache or scratch / "torch-compile",
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    settings = parse_settings(argv)
    common.quiet_libraries()
    # One compile cache for the run, empty at first: the cold start fills it, everything after reads it.
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(settings.compile_cache)
    cuda = torch.cuda.is_available()
    machine = common.machine()
    device = machine.get("gpu", f"CPU: {machine['cpu']}")
    folder = model_folder(settings)
    floor = floor_for(folder, settings, device)
    print("\n".join(floor.arithmetic()), flush=True)
    model = "SD3.5 Large architecture, random weights (bf16)" if settings.model == RANDOM_LARGE else settings.model
    document = {
        "device": device, "model": model, "size": settings.size, "repeats": settings.repeats,
        "machine": machine, "floor": floor.to_json(), "results": [],
    }
    if settings.all:  # first, while the compile cache is empty
        document["start"] = measure_start(folder, settings, cuda)
        print(f"start: {document['start']}", file=sys.stderr, flush=True)
    for name in settings.modes:
        rows = measure_mode(MODES[name], folder, settings, cuda, floor)
        for row in rows:
            print(f"{row['mode']} batch {row['batch']}: {row['status']}", file=sys.stderr, flush=True)
        document["results"] += rows
        write_results(document, settings.output)  # after every mode: a run cut short keeps what it measured
    if settings.all:
        document["served"] = measure_served(folder, settings, cuda)
        print(f"served: {document['served']}", file=sys.stderr, flush=True)
        write_results(document, settings.output)
    print((settings.output / "gpu.md").read_text(), flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--start-child":
        print(json.dumps(_start_child(sys.argv[2], sys.argv[3], float(sys.argv[4]))))
    else:
        main()
