"""GPU benchmark: SD3.5 Large (Turbo) at 1024², 4 steps, guidance 0, for each memory mode and option.

    python benchmarks/gpu.py                          # CUDA: the random full-size SD3.5 Large
    python benchmarks/gpu.py --model stabilityai/stable-diffusion-3.5-large-turbo   # real weights
    python benchmarks/gpu.py --modes gpu,no-t5,compile --batches 1,4   # a subset; rows merge into gpu.json
    python benchmarks/gpu.py --smoke                  # tiny SD3 at 256², seconds: the same code, for CI

For every mode (gpu, no-t5, model-offload, nf4, nf4-no-t5, int8, fp8, compile, fp8-compile) and batch size: the
time per image split into text encoding, the 4 transformer steps, the VAE decode and the
conversion to PIL (CUDA events at the phase boundaries, one synchronisation per run); the same
request through the engine, previews off and on; peak VRAM (`torch.cuda.max_memory_allocated`,
reset per configuration); load and compile times; and each time as a multiple of the FLOP floor
(see flops.py; the arithmetic is printed). Every mode is loaded by the app's own loader.

The random model is built on the GPU (never materialised on the CPU) and saved once, in bf16, to
$TURBO_STUDIO_LARGE_DIR (default ~/.cache/turbo-studio/sd35-large-random, ~27 GB), so that each
mode loads it exactly as it would load the real weights. On a GPU the results go to
benchmarks/results/gpu.json and gpu.md (rows of earlier runs on the same GPU and model are kept);
--smoke writes to a temporary folder, or --output, and never touches them.
"""

import argparse
import gc
import importlib.util
import json
import logging
import os
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

    def skip_reason(self, cuda: bool) -> str | None:
        """Why this mode cannot run here, or None."""
        if self.cuda_only and not cuda:
            return "skipped: needs a CUDA GPU"
        if self.package and importlib.util.find_spec(self.package) is None:
            return f"skipped: pip install {self.package}"
        return None

    def load_options(self, folder: Path, cuda: bool) -> LoadOptions:
        """The app's load options for this mode (on a CPU the memory mode is `auto`, i.e. the CPU)."""
        values = {"memory_mode": "gpu" if cuda else "auto", **self.options}
        return LoadOptions(model=str(folder), warmup=False, preview_decoder="", **values)


MODES = {
    mode.name: mode
    for mode in (
        Mode("gpu", seconds_target=0.7, memory_target_gb=32),
        Mode("no-t5", {"text_encoder_3": False}, memory_target_gb=21),
        Mode("model-offload", {"memory_mode": "model-offload"}, cuda_only=True),
        Mode("nf4", {"quantization": "nf4"}, package="bitsandbytes", cuda_only=True),
        Mode("nf4-no-t5", {"quantization": "nf4", "text_encoder_3": False}, package="bitsandbytes", cuda_only=True,
             memory_target_gb=14),
        Mode("int8", {"quantization": "int8"}, package="torchao"),
        Mode("fp8", {"quantization": "fp8"}, package="torchao", cuda_only=True),
        Mode("compile", {"compile": True}, package="triton", cuda_only=True, seconds_target=0.45),
        Mode("fp8-compile", {"quantization": "fp8", "compile": True}, package="torchao", cuda_only=True),
    )
}


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
    smoke: bool


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
    reason = mode.skip_reason(cuda)
    if reason:
        return [{**base, "batch": batch, "status": reason} for batch in settings.batches]
    free_memory()
    started = time.perf_counter()
    try:
        pipe, info = load_pipeline(mode.load_options(folder, cuda))
    except Exception as error:  # noqa: BLE001 - a mode that cannot load is a result, not a crash
        return [{**base, "batch": batch, "status": f"failed to load: {_describe(error)}"} for batch in settings.batches]
    base.update(
        memory_mode=info.memory_mode, dtype=info.dtype, load_s=time.perf_counter() - started,
        weights_gb=torch.cuda.memory_allocated() / GB if cuda else None,
    )
    rows = []
    for batch in settings.batches:
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
        rows += [row for row in previous["results"] if (row["mode"], row["batch"]) not in done]
    order = list(MODES)
    return sorted(rows, key=lambda row: (order.index(row["mode"]), row["batch"]))


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value * 1e3:.0f}"


def _cells(row: dict) -> list[str]:
    if row["status"] != "ok":
        return [row["mode"], str(row["batch"]), *[""] * 10, row["status"]]
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
        "" if row["x_floor"] is None else f"{row['x_floor']:.2f}×",
        "" if row["peak_gb"] is None else f"{row['peak_gb']:.1f}", _ms(row["png_s"]), targets, "; ".join(notes),
    ]


def markdown(document: dict) -> str:
    """The results as markdown: what ran where, the floor's arithmetic, and the table."""
    header = [
        "Mode", "Batch", "Text ms", "4 steps ms", "VAE decode ms", "To PIL ms", "Diffusers s",
        "Engine s (off / previews)",
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
    )


def write_results(document: dict, output: Path) -> None:
    """Write gpu.json and gpu.md to `output`, keeping rows of earlier runs on the same device and model."""
    output.mkdir(parents=True, exist_ok=True)
    json_path = output / "gpu.json"
    previous = json.loads(json_path.read_text()) if json_path.is_file() else None
    document = {**document, "results": merge_rows(previous, document)}
    json_path.write_text(json.dumps(document, indent=2) + "\n")
    (output / "gpu.md").write_text(markdown(document))
    print(f"Results written to {json_path} and {output / 'gpu.md'}", file=sys.stderr)


# --- the command line -----------------------------------------------------------------------


def parse_settings(argv: list[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="the tiny SD3 at 256², 2 runs, batches 1 and 2 (CI)")
    parser.add_argument(
        "--model", help=f"hub id or folder of real weights (default: {RANDOM_LARGE}; tiny with --smoke)"
    )
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, from: {', '.join(MODES)}")
    parser.add_argument("--batches", help="comma-separated batch sizes (default 1,4; smoke 1,2)")
    parser.add_argument("--repeats", type=int, help="timed runs per configuration (default 3; smoke 2)")
    parser.add_argument("--size", type=int, help="image size (default 1024; smoke 256)")
    parser.add_argument("--output", type=Path, help="folder for gpu.json and gpu.md (default: benchmarks/results on a "
                        "GPU, a temporary folder with --smoke)")
    parser.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak, when it is not in flops.py")
    args = parser.parse_args(argv)
    modes = tuple(name.strip() for name in args.modes.split(",") if name.strip())
    unknown = [name for name in modes if name not in MODES]
    if unknown:
        parser.error(f"unknown mode(s) {', '.join(unknown)}; choose from {', '.join(MODES)}")
    if not args.smoke and not torch.cuda.is_available():
        parser.error("no CUDA GPU here: run `python benchmarks/gpu.py --smoke` for the CPU smoke run")
    output = args.output or (Path(tempfile.mkdtemp(prefix="turbo-studio-gpu-smoke-")) if args.smoke else common.RESULTS)
    return Settings(
        model=args.model or ("tiny" if args.smoke else RANDOM_LARGE),
        size=args.size or (256 if args.smoke else 1024),
        batches=tuple(int(batch) for batch in (args.batches or ("1,2" if args.smoke else "1,4")).split(",")),
        repeats=args.repeats or (2 if args.smoke else 3),
        modes=modes,
        output=output,
        peak_tflops=args.peak_tflops,
        smoke=args.smoke,
    )


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    settings = parse_settings(argv)
    common.quiet_libraries()
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
    for name in settings.modes:
        rows = measure_mode(MODES[name], folder, settings, cuda, floor)
        for row in rows:
            print(f"{row['mode']} batch {row['batch']}: {row['status']}", file=sys.stderr, flush=True)
        document["results"] += rows
        write_results(document, settings.output)  # after every mode: a run cut short keeps what it measured
    print((settings.output / "gpu.md").read_text(), flush=True)

if __name__ == "__main__":
    main()
