"""Engine benchmark on the tiny SD3, CPU, one thread: what the engine adds over bare diffusers.

    python benchmarks/engine_cpu.py           # 1024x1024, 4 steps: about three minutes
    python benchmarks/engine_cpu.py --quick   # 512x512, fewer runs: a smoke run (~30 s)

Every variant runs the same request (prompt, seed, size, 4 steps, guidance 0) on the same
pipeline object; the variants are interleaved in a new random order each round, after warm-up
runs, and the figures are ratios of medians. The tiny model's step is cheap, so any fixed
overhead of the engine weighs far more here than on the real model: these ratios are upper bounds.
"""

import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks import cold_start, common  # noqa: E402  (common sets the environment first)
from pipeline import Engine, Preview  # noqa: E402
from pipeline.previews import TAESD3_MODEL, Previewer, estimate_clean_latents, load_previewer  # noqa: E402

BARE_TEXT = "diffusers, prompt text"
BARE_EMBEDS = "diffusers, precomputed embeddings"
BARE_STAMPED = "diffusers, embeddings + step timestamps"
ENGINE_OFF = "engine, cached prompt, previews off"
ENGINE_ON = "engine, cached prompt, previews on"
ENGINE_NEW_OFF = "engine, new prompt, previews off"
ENGINE_NEW_ON = "engine, new prompt, previews on"
STEP = "one step (between step callbacks)"
FIRST_CACHED = "first preview, cached prompt"
FIRST_NEW = "first preview, new prompt"
ENCODE_MISS = "encode, cache miss"
ENCODE_HIT = "encode, cache hit"
PREVIEW_RGB = "latent→RGB preview (x0 + decode + PIL)"
PREVIEW_TAESD = "TAESD3 preview (x0 + decode + PIL)"
PREVIEW_IN_ENGINE = "preview decode inside the engine, per step"
OUTSIDE = "outside the diffusers call"


@dataclass(frozen=True)
class Settings:
    """Image size and how many runs make each median."""

    size: int
    rounds: int
    warmup: int
    micro_rounds: int
    cold_runs: int

    def describe(self) -> str:
        return (
            f"tiny SD3, {self.size}×{self.size}, {common.STEPS} steps, guidance {common.GUIDANCE:g}, seed "
            f"{common.SEED}; medians of {self.rounds} interleaved runs after {self.warmup} warm-up run(s) "
            f"({self.micro_rounds} for encode/preview timings, {self.cold_runs} fresh process(es) for cold start)"
        )


FULL = Settings(size=1024, rounds=15, warmup=2, micro_rounds=100, cold_runs=3)
QUICK = Settings(size=512, rounds=3, warmup=1, micro_rounds=20, cold_runs=1)


def pipeline_arguments(size: int) -> dict:
    """The arguments a user of bare diffusers passes for the benchmark's request."""
    request = common.make_request(size)
    return {
        "width": size,
        "height": size,
        "num_inference_steps": request.steps,
        "guidance_scale": request.guidance_scale,
        "max_sequence_length": request.max_sequence_length,
    }


def precomputed_embeddings(engine: Engine, size: int) -> dict:
    """The prompt's embeddings from diffusers' own `encode_prompt`, as pipeline arguments.

    Under no_grad, as `pipe(prompt=...)` encodes: with autograd on, torch picks another attention
    kernel for the text encoders, the embeddings move by ~4e-6 and the image by 1/255.
    """
    with torch.no_grad():
        tokens, _, pooled, _ = engine.pipeline.encode_prompt(
            prompt=common.PROMPT,
            prompt_2=None,
            prompt_3=None,
            do_classifier_free_guidance=False,
            max_sequence_length=common.make_request(size).max_sequence_length,
        )
    return {"prompt_embeds": tokens, "pooled_prompt_embeds": pooled}


def seeded() -> torch.Generator:
    return torch.Generator("cpu").manual_seed(common.SEED)


def diffusers_variants(engine: Engine, size: int) -> dict[str, common.Variant]:
    """Bare diffusers calls on the engine's pipeline object, as a diffusers user writes them."""
    pipe, arguments, embeddings = engine.pipeline, pipeline_arguments(size), precomputed_embeddings(engine, size)

    def with_text(run):
        pipe(prompt=common.PROMPT, generator=seeded(), **arguments)

    def with_embeddings(run):
        pipe(generator=seeded(), **embeddings, **arguments)

    def stamped(run):
        stamps = []

        def stamp(pipe, index, timestep, tensors):
            stamps.append(time.perf_counter())
            return tensors

        pipe(generator=seeded(), callback_on_step_end=stamp, **embeddings, **arguments)
        return {STEP: [later - earlier for earlier, later in zip(stamps, stamps[1:])]}

    return {BARE_TEXT: with_text, BARE_EMBEDS: with_embeddings, BARE_STAMPED: stamped}


class CallTimer:
    """Stands in for a callable object (the pipeline, the previewer) and adds up the time spent in its calls."""

    def __init__(self, target) -> None:
        self.target = target
        self.seconds = 0.0

    def __getattr__(self, name: str):
        return getattr(self.target, name)

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self.target(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started

    def take(self) -> float:
        """The seconds added up since the last `take`."""
        seconds, self.seconds = self.seconds, 0.0
        return seconds


def engine_variants(engine: Engine, size: int) -> dict[str, common.Variant]:
    """The engine streaming the same request: cached or new prompt, previews on or off.

    The engine's pipeline and previewer are wrapped in `CallTimer`s, so each run also reports
    the engine's own time (outside the diffusers call) and its time spent decoding previews.
    """
    fresh = common.FreshPrompts()
    pipeline, previewer = CallTimer(engine.pipeline), CallTimer(engine.previewer)
    timed = Engine(pipeline, engine.info, max_batch_size=engine.max_batch_size, previewer=previewer)

    def run(label: str, prompt: str, previews: bool, first_key: str | None):
        pipeline.take(), previewer.take()
        started = time.perf_counter()
        events = timed.generate(common.make_request(size, prompt), previews=previews)
        first = common.seconds_to_first(events, lambda event: isinstance(event, Preview))
        extra = {f"{label}: {OUTSIDE}": time.perf_counter() - started - pipeline.take()}
        if previews:
            extra[PREVIEW_IN_ENGINE] = previewer.take() / common.STEPS
            extra[first_key] = first
        return extra

    return {
        ENGINE_OFF: lambda index: run(ENGINE_OFF, common.PROMPT, False, None),
        ENGINE_ON: lambda index: run(ENGINE_ON, common.PROMPT, True, FIRST_CACHED),
        ENGINE_NEW_OFF: lambda index: run(ENGINE_NEW_OFF, fresh(), False, None),
        ENGINE_NEW_ON: lambda index: run(ENGINE_NEW_ON, fresh(), True, FIRST_NEW),
    }


def pixel_differences(engine: Engine, size: int) -> dict[str, int]:
    """The largest pixel difference between the engine's image and bare diffusers' (0 to 255)."""
    pipe, arguments = engine.pipeline, pipeline_arguments(size)
    ours = np.asarray(engine.generate_images(common.make_request(size))[0].image, dtype=np.int16)
    theirs = {
        "embeddings": pipe(generator=seeded(), **precomputed_embeddings(engine, size), **arguments).images[0],
        "prompt text": pipe(prompt=common.PROMPT, generator=seeded(), **arguments).images[0],
    }
    return {name: int(np.abs(ours - np.asarray(image, dtype=np.int16)).max()) for name, image in theirs.items()}


def preview_variant(previewer: Previewer, size: int) -> common.Variant:
    """One preview as the engine makes it: the x0 estimate, the decode, the PIL image."""
    latents = torch.randn(2, 1, 16, size // 8, size // 8, generator=seeded())

    def preview(run):
        previewer(estimate_clean_latents(latents[0], latents[1], 0.9, 0.7))

    return preview


def encode_variants(engine: Engine, size: int) -> dict[str, common.Variant]:
    """The prompt cache: a new prompt each time versus the same prompt."""
    fresh, length = common.FreshPrompts(), common.make_request(size).max_sequence_length
    return {
        ENCODE_MISS: lambda index: engine.prompts.encode(fresh(), length) and None,
        ENCODE_HIT: lambda index: engine.prompts.encode(common.PROMPT, length) and None,
    }


def overhead_figures(samples: common.Samples, differences: dict[str, int]) -> list[common.Figure]:
    """Figure 1: engine versus bare diffusers, ratios of median times (and of paired runs, in the note)."""
    rows = (
        ("1a", "previews off (both given embeddings)", ENGINE_OFF, BARE_EMBEDS, "<= 1.03",
         f"isolates the engine's overhead; max pixel difference {differences['embeddings']}/255"),
        ("1b", "previews on (both given embeddings)", ENGINE_ON, BARE_EMBEDS, "<= 1.05", "diffusers makes no previews"),
        ("1c", "previews off, new prompt (both encode it)", ENGINE_NEW_OFF, BARE_TEXT, "<= 1.03",
         f"`pipe(prompt=...)` as a diffusers user calls it; max pixel difference {differences['prompt text']}/255"),
        ("1d", "previews on, new prompt (both encode it)", ENGINE_NEW_ON, BARE_TEXT, "<= 1.05", ""),
    )
    figures = [
        common.Figure(
            key, f"Engine / diffusers, {label}", common.ratio(samples, engine, bare), target=target,
            note="; ".join(filter(None, [f"paired runs: {common.paired_ratio(samples, engine, bare):.3f}×", note])),
        )
        for key, label, engine, bare, target, note in rows
    ]
    own = (("1e", ENGINE_OFF), ("1f", ENGINE_NEW_ON))
    return figures + [own_time_figure(samples, key, label) for key, label in own]


def own_time_figure(samples: common.Samples, key: str, label: str) -> common.Figure:
    """The engine's own time per request, outside the diffusers call, as a share of the request."""
    own, total = common.median(samples[f"{label}: {OUTSIDE}"]), common.median(samples[label])
    return common.Figure(
        key, f"Engine's own time outside the diffusers call ({label.removeprefix('engine, ')})", 100 * own / total, "%",
        note=f"{own * 1e3:.2f} ms of {total * 1e3:.0f} ms: less noisy than the ratios",
    )


def preview_figures(samples: common.Samples, settings: Settings) -> list[common.Figure]:
    """Figure 2: the cost of one preview as a percentage of one step."""
    step = common.median(samples[STEP])
    rgb = common.median(samples[PREVIEW_RGB])
    in_engine = common.median(samples[PREVIEW_IN_ENGINE])
    size = f"{settings.size // 8}² preview of a {settings.size}² image"
    figures = [
        common.Figure(
            "2a", "Latent→RGB preview / step", 100 * rgb / step, "%", "< 2",
            note=f"{rgb * 1e3:.2f} ms per preview, {step * 1e3:.1f} ms per step; {size}",
        ),
        common.Figure(
            "2b", "Preview decode in the engine's runs / step", 100 * in_engine / step, "%", "< 2",
            note=f"{in_engine * 1e3:.2f} ms, timed inside 1b's and 1d's runs",
        ),
    ]
    if PREVIEW_TAESD in samples:
        taesd = common.median(samples[PREVIEW_TAESD])
        note = f"{taesd * 1e3:.1f} ms"
        figures.append(common.Figure("2c", "TAESD3 preview / step", 100 * taesd / step, "%", note=note))
    else:
        figures.append(common.Figure(
            "2c", "TAESD3 preview / step", None, "%", note=f"not available: {TAESD3_MODEL} is not in the local cache"
        ))
    return figures


def first_preview_figures(samples: common.Samples) -> list[common.Figure]:
    """Figure 3: time to the first preview, in steps."""
    step = common.median(samples[STEP])
    return [
        common.Figure(
            f"3{letter}", f"Time to first preview / one step, {label}", common.median(samples[key]) / step,
            note=f"{common.median(samples[key]) * 1e3:.1f} ms",
        )
        for letter, label, key in (("a", "cached prompt", FIRST_CACHED), ("b", "new prompt", FIRST_NEW))
    ]


def prompt_cache_figures(samples: common.Samples) -> list[common.Figure]:
    """Figure 6: what the prompt cache saves, per encode and per image."""
    miss, hit = common.median(samples[ENCODE_MISS]), common.median(samples[ENCODE_HIT])
    saved = common.median(samples[ENGINE_NEW_OFF]) - common.median(samples[ENGINE_OFF])
    return [
        common.Figure(
            "6a", "Prompt encode, miss / hit", miss / hit, note=f"miss {miss * 1e3:.2f} ms, hit {hit * 1e6:.1f} µs"
        ),
        common.Figure(
            "6b", "Second run of a prompt: new / cached, end to end", common.ratio(samples, ENGINE_NEW_OFF, ENGINE_OFF),
            note=f"saves {saved * 1e3:.1f} ms per image (previews off)",
        ),
    ]


def measure(engine: Engine, settings: Settings) -> common.Samples:
    """All the timings: generations, previews, encodes, cold starts."""
    variants = {**diffusers_variants(engine, settings.size), **engine_variants(engine, settings.size)}
    samples = common.interleave(variants, settings.rounds, settings.warmup)
    previewers = {PREVIEW_RGB: engine.previewer}
    taesd = load_previewer(TAESD3_MODEL, "cpu", torch.float32)
    if getattr(taesd, "name", "") == "taesd3":
        previewers[PREVIEW_TAESD] = taesd
    micro = {name: preview_variant(previewer, settings.size) for name, previewer in previewers.items()}
    variants = {**micro, **encode_variants(engine, settings.size)}
    samples.update(common.interleave(variants, settings.micro_rounds, warmup=3))
    samples.update(cold_start.measure(settings.cold_runs, settings.size))
    return samples


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512x512 and fewer runs: a smoke run for CI")
    parser.add_argument("--rounds", type=int, help="interleaved runs per variant (default 15, quick 3)")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = Settings(**{**settings.__dict__, "rounds": args.rounds})
    common.quiet_libraries()
    common.use_threads(1)
    engine = common.load_tiny_engine()
    differences = pixel_differences(engine, settings.size)
    samples = measure(engine, settings)
    figures = (
        overhead_figures(samples, differences)
        + preview_figures(samples, settings)
        + first_preview_figures(samples)
        + prompt_cache_figures(samples)
        + cold_start.figures(samples)
    )
    common.publish(common.Report("Engine on the tiny SD3 (CPU)", settings.describe(), figures, samples), args.json)


if __name__ == "__main__":
    main()
