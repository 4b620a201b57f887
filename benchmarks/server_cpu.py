"""Server benchmark: the real app (`python app.py --model tiny`) through gradio_client on loopback.

    python benchmarks/server_cpu.py           # 1024x1024: about three minutes
    python benchmarks/server_cpu.py --quick   # 256x256, fewer runs: a smoke run (~40 s)
    python benchmarks/server_cpu.py --profile # where one served /generate spends its time (~1.5 min;
                                              # benchmarks/server_profile.py)
    python benchmarks/server_cpu.py --baseline ../old-checkout  # before/after in one run (~6 min)

The app runs in its own process with one torch thread; the direct engine calls it is compared
with run in this process on the same tiny model, one thread, same requests and seeds, in
interleaved rounds. The client downloads every file the app streams, as a real API user's does.
With `--baseline DIR`, the app of another checkout (a `git worktree` of an older commit) is served
beside this one and interleaved with it in the same rounds: on a shared machine whose load moves
by the minute, only that makes a before/after comparison fair.
"""

import io
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from gradio_client import Client  # noqa: E402
from gradio_client.utils import apply_diff  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks import common, server_profile  # noqa: E402  (common sets the environment first)
from harness.local_processes import serve_app  # noqa: E402
from harness.page_protocol import dependency, new_session, queue_messages  # noqa: E402
from pipeline import Engine, Finished, Preview  # noqa: E402
from pipeline.metadata import png_bytes  # noqa: E402

START_TIMEOUT_S = 180
SERVER_GENERATE = "/generate, whole round trip"
DIRECT_GENERATE = "engine.generate, previews on"
SERVER_FIRST = "/generate: first streamed preview"
PAGE_GENERATE = "page's protocol: /generate, whole round trip"
PAGE_FIRST = "page's protocol: /generate, first streamed preview"
DIRECT_FIRST = "engine.generate: first preview"
SERVER_COMPARE = "/compare, 8 seeds"
SERVER_SINGLES = "/generate × 8 seeds"
DIRECT_COMPARE = "engine.compare, 8 seeds"
DIRECT_SINGLES = "engine.generate × 8 seeds"
PNG_PHOTO = "png_bytes, photo-like image"
PNG_TINY = "png_bytes, the tiny model's image"
PNG_PIL_PHOTO = "PIL PNG at compress_level=1 (the encoder before fpng), photo-like image"
SERVER_READY = "server: process start to serving"
SERVER_FIRST_ANSWER = "server: first /generate after serving (no warm-up)"
BASELINE = "baseline: "  # the timings of the --baseline app carry this prefix


@dataclass(frozen=True)
class Settings:
    """Image size and how many runs make each median."""

    size: int
    rounds: int
    compare_rounds: int
    warmup: int
    seeds: int = 8

    def describe(self) -> str:
        return (
            f"tiny SD3, {self.size}×{self.size}, {common.STEPS} steps, guidance {common.GUIDANCE:g}; app and engine "
            f"with one torch thread each; medians of {self.rounds} interleaved runs ({self.compare_rounds} for the "
            f"{self.seeds}-seed figures) after {self.warmup} warm-up run(s); gradio_client on 127.0.0.1"
        )


FULL = Settings(size=1024, rounds=9, compare_rounds=3, warmup=1)
QUICK = Settings(size=256, rounds=3, compare_rounds=1, warmup=1)
PNG_ROUNDS = 5


# --- the app process ------------------------------------------------------------------------


def app_environment(temp_dir: Path) -> dict[str, str]:
    """The app's environment: offline, quiet, one torch thread, Gradio's files in `temp_dir`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("GRADIO_SERVER", "HF_TOKEN"))}
    env.update(common.QUIET_ENVIRONMENT)
    env.update(OMP_NUM_THREADS="1", GRADIO_TEMP_DIR=str(temp_dir), PYTHONUNBUFFERED="1")
    return env


@contextmanager
def app_server(folder: Path, launcher: Sequence[str] = ("app.py",), repo: Path = common.REPO):
    """`python app.py --model tiny --no-warmup` of `repo` on a free port (`launcher`: what runs
    app.py with the arguments that follow); yields its URL and seconds to serving."""
    (folder / "gradio").mkdir(parents=True)
    started = time.perf_counter()
    with serve_app([], folder / "app.log", app_environment(folder / "gradio"), launcher=launcher, repo=repo) as app:
        yield app.url, time.perf_counter() - started


# --- the measurements -----------------------------------------------------------------------


def generate_arguments(size: int, seed: int = common.SEED, prompt: str = common.PROMPT) -> dict:
    """Every `/generate` argument of the benchmark's request, in order."""
    return {
        "prompt": prompt, "negative_prompt": "", "seed": seed, "randomize_seed": False, "width": size,
        "height": size, "steps": common.STEPS, "guidance_scale": common.GUIDANCE, "variation_seed": 0,
        "variation_strength": 0.0, "max_sequence_length": 256,
    }


def seed_range(settings: Settings) -> list[int]:
    return list(range(common.SEED, common.SEED + settings.seeds))


def server_variants(client: Client, settings: Settings, prefix: str = "") -> dict[str, common.Variant]:
    """`/generate` streamed (first preview and whole call) through the client; names start with `prefix`."""

    def generate(run):
        job = client.submit(**generate_arguments(settings.size), api_name="/generate")
        # The first output holds only the seed; the first preview is the first with an image.
        return {prefix + SERVER_FIRST: common.seconds_to_first(job, lambda output: output[0] is not None)}

    return {prefix + SERVER_GENERATE: generate}


def page_generate(url: str, http: httpx.Client, index: int, values: list, session: str) -> float | None:
    """One `/generate` as the page runs it: the queue's own protocol on the kept-alive connection
    `http`, then the final image fetched as the page's `<img>` does; the wall-clock time
    (`time.time()`) at which the first preview arrived."""
    first, image, streamed = None, None, False
    for message in queue_messages(url, index, values, http, session):
        if message["msg"] == "process_generating":  # the first output whole, then diffs of the last
            value = message["output"]["data"][0]
            image, streamed = apply_diff(image, value) if streamed else value, True
            if first is None and image is not None:
                first = time.time()
        elif message["msg"] == "process_completed":
            http.get(message["output"]["data"][0]["url"]).raise_for_status()
    return first


def page_variants(url: str, http: httpx.Client, settings: Settings, prefix: str = "") -> dict[str, common.Variant]:
    """`/generate` as the page runs it (`page_generate`: no gradio_client, so no new HTTP client per
    call and no 50 ms poll); names start with `prefix`."""
    event = dependency(url, "generate", http)
    index, values = event["id"], list(generate_arguments(settings.size).values())[: len(event["inputs"])]
    session = new_session()  # one page, one session, as gradio_client's one per Client

    def generate(run):
        started = time.time()
        first = page_generate(url, http, index, values, session)
        return {prefix + PAGE_FIRST: None if first is None else first - started}

    return {prefix + PAGE_GENERATE: generate}


def direct_variants(engine: Engine, settings: Settings) -> dict[str, common.Variant]:
    """The same request straight on the engine, previews on, as the app runs it."""

    def generate(run):
        events = engine.generate(common.make_request(settings.size))
        return {DIRECT_FIRST: common.seconds_to_first(events, lambda event: isinstance(event, Preview))}

    return {DIRECT_GENERATE: generate}


def server_comparisons(client: Client, settings: Settings, prefix: str = "") -> dict[str, common.Variant]:
    """8 seeds through the app: one comparison versus 8 single generations; names start with `prefix`."""
    seeds = seed_range(settings)
    single_only = ("seed", "randomize_seed")
    shape = {key: value for key, value in generate_arguments(settings.size).items() if key not in single_only}

    def compare(run):
        client.predict(seeds=f"{seeds[0]}-{seeds[-1]}", axis="none", axis_values="", **shape, api_name="/compare")

    def singles(run):
        for seed in seeds:
            client.predict(**generate_arguments(settings.size, seed), api_name="/generate")

    return {prefix + SERVER_COMPARE: compare, prefix + SERVER_SINGLES: singles}


def direct_comparisons(engine: Engine, settings: Settings) -> dict[str, common.Variant]:
    """The same 8 seeds on the engine: one batched comparison versus 8 single generations."""
    seeds, request = seed_range(settings), common.make_request(settings.size)

    def direct_compare(run):
        events = engine.compare([request.with_seed(seed) for seed in seeds])
        finished = [event for event in events if isinstance(event, Finished)]
        assert sum(len(event.images) for event in finished) == len(seeds)

    def direct_singles(run):
        for seed in seeds:
            list(engine.generate(request.with_seed(seed)))

    return {DIRECT_COMPARE: direct_compare, DIRECT_SINGLES: direct_singles}


def photo_like(size: int) -> Image.Image:
    """A smooth image that compresses like a photograph (unlike the tiny model's noise): 32² random
    colours upscaled bicubically, plus a little grain."""
    generator = np.random.default_rng(0)
    small = Image.fromarray(generator.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    pixels = np.asarray(small.resize((size, size), Image.BICUBIC), dtype=np.int16)
    grain = generator.integers(-3, 4, pixels.shape)
    return Image.fromarray((pixels + grain).clip(0, 255).astype(np.uint8))


def encode_png_pil(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def png_variants(engine: Engine, settings: Settings) -> tuple[dict[str, common.Variant], dict[str, int]]:
    """The app's PNG encoding of the final image (what the server does after each generation), and sizes."""
    generated = engine.generate_images(common.make_request(settings.size))[0]
    photo = photo_like(settings.size)

    def encode(image):
        return lambda run: png_bytes(image, generated.request, generated.model) and None

    sizes = {
        "photo": len(png_bytes(photo, generated.request, generated.model)),
        "photo, PIL": len(encode_png_pil(photo)),
    }
    variants = {
        PNG_PHOTO: encode(photo), PNG_TINY: encode(generated.image),
        PNG_PIL_PHOTO: lambda run: encode_png_pil(photo) and None,
    }
    return variants, sizes


def first_answer(client: Client, size: int) -> float:
    """Seconds for the first `/generate` of a freshly started app."""
    started = time.perf_counter()
    client.predict(**generate_arguments(size), api_name="/generate")
    return time.perf_counter() - started


def serving_figures(samples: common.Samples, settings: Settings, prefix: str = "") -> list[common.Figure]:
    """Figures 4a, 4b, 4e, 4f and 5a of the app whose timings carry `prefix` (the baseline's: B4a, ...)."""
    key, name = ("B", "Baseline: ") if prefix else ("", "")
    names = (SERVER_GENERATE, SERVER_FIRST, PAGE_GENERATE, PAGE_FIRST, SERVER_COMPARE, SERVER_SINGLES)
    generate, first, page, page_first, compare, singles = (prefix + name for name in names)
    direct_first = common.median(samples[DIRECT_FIRST])

    def round_trip(number: str, how: str, served: str, note: str) -> common.Figure:
        added = common.median(samples[served]) - common.median(samples[DIRECT_GENERATE])
        paired = common.paired_ratio(samples, served, DIRECT_GENERATE)
        return common.Figure(
            f"{key}{number}", f"{name}/generate round trip {how} / direct engine call",
            common.ratio(samples, served, DIRECT_GENERATE), target="<= 1.10",
            note=f"{added * 1e3:+.0f} ms (paired runs: {paired:.3f}×); {note}",
        )

    def first_preview(number: str, how: str, served: str, note: str) -> common.Figure:
        server_first = common.median(samples[served])
        return common.Figure(
            f"{key}{number}", f"{name}First streamed preview {how} − direct engine's first preview",
            (server_first - direct_first) * 1e3, "ms", target="<= 20",
            note=f"{server_first * 1e3:.0f} ms vs {direct_first * 1e3:.0f} ms; {note}",
        )

    return [
        round_trip(
            "4a", "(gradio_client)", generate,
            "includes the final PNG (written with metadata, downloaded by the client) and every streamed preview",
        ),
        first_preview(
            "4b", "(gradio_client)", first,
            "the client has the preview (the first output, with only the seed, does not count); 4b − 4f is "
            "gradio_client's own share (a new HTTP client per call, a 50 ms poll: server-profile.md)",
        ),
        round_trip(
            "4e", "(the page's protocol)", page, "the queue's messages on one kept-alive connection, as a browser's"
        ),
        first_preview("4f", "(the page's protocol)", page_first, "what a person at the page waits for"),
        common.Figure(
            f"{key}5a", f"{name}Throughput, /compare / {settings.seeds} × /generate",
            common.ratio(samples, singles, compare), target=">= 1",
            note=f"paired runs: {common.paired_ratio(samples, singles, compare):.3f}×; {settings.seeds} seeds in "
            "batches of the app's default size (4)",
        ),
    ]


def figures(samples: common.Samples, settings: Settings, png_sizes: dict[str, int]) -> list[common.Figure]:
    """Figures 4 (round trip, PNG encoding), 5 (seed comparison throughput) and the server's cold start;
    with a baseline, its own 4a, 4b and 5a, and this app's round trip over the baseline's (4d)."""
    larger = 100 * (png_sizes["photo"] / png_sizes["photo, PIL"] - 1)
    round_trip, first, page_round_trip, page_first, comparison = serving_figures(samples, settings)
    extra = []
    if BASELINE + SERVER_GENERATE in samples:
        ratio = common.ratio(samples, SERVER_GENERATE, BASELINE + SERVER_GENERATE)
        paired = common.paired_ratio(samples, SERVER_GENERATE, BASELINE + SERVER_GENERATE)
        extra = [
            *serving_figures(samples, settings, BASELINE),
            common.Figure(
                "4d", "/generate round trip, this app / the baseline", ratio, note=f"paired runs: {paired:.3f}×"
            ),
        ]
    return [
        round_trip,
        first,
        page_round_trip,
        page_first,
        common.Figure(
            "4c", f"The app's final PNG encoding, photo-like {settings.size}² image",
            common.median(samples[PNG_PHOTO]) * 1e3, "ms",
            note=f"tiny model's noisy image: {common.median(samples[PNG_TINY]) * 1e3:.0f} ms; PIL at compress_level=1: "
            f"{common.median(samples[PNG_PIL_PHOTO]) * 1e3:.0f} ms; fpng's file {larger:+.0f} % in size",
        ),
        comparison,
        common.Figure(
            "5b", f"Throughput, engine.compare / {settings.seeds} × engine.generate",
            common.ratio(samples, DIRECT_SINGLES, DIRECT_COMPARE),
            note=f"paired runs: {common.paired_ratio(samples, DIRECT_SINGLES, DIRECT_COMPARE):.3f}×; the same without "
            "the server: what batching gives on this CPU",
        ),
        common.Figure("7h", "Server: process start to serving", common.median(samples[SERVER_READY]), "s"),
        common.Figure(
            "7i", "Server: first /generate (no warm-up)", common.median(samples[SERVER_FIRST_ANSWER]), "s",
            note=f"steady: {common.median(samples[SERVER_GENERATE]):.2f} s",
        ),
        *extra,
    ]


def measure(settings: Settings, baseline: Path | None) -> tuple[common.Samples, dict[str, int]]:
    """Start the app (and the baseline's), then time them against the engine in interleaved rounds."""
    engine = common.load_tiny_engine()
    with tempfile.TemporaryDirectory(prefix="turbo-studio-bench-") as temp, ExitStack() as servers:
        url, ready = servers.enter_context(app_server(Path(temp) / "app"))
        urls = {"": url}
        if baseline:
            urls[BASELINE] = servers.enter_context(app_server(Path(temp) / "baseline", repo=baseline))[0]
        downloads = str(Path(temp) / "downloads")
        clients = {prefix: Client(url, verbose=False, download_files=downloads) for prefix, url in urls.items()}
        http = servers.enter_context(httpx.Client(timeout=START_TIMEOUT_S))
        samples = {SERVER_READY: [ready], SERVER_FIRST_ANSWER: [first_answer(clients[""], settings.size)]}
        single, comparisons = direct_variants(engine, settings), direct_comparisons(engine, settings)
        for prefix, client in clients.items():
            single.update(server_variants(client, settings, prefix))
            single.update(page_variants(urls[prefix], http, settings, prefix))
            comparisons.update(server_comparisons(client, settings, prefix))
        samples.update(common.interleave(single, settings.rounds, settings.warmup))
        samples.update(common.interleave(comparisons, settings.compare_rounds, warmup=0))
        for client in clients.values():
            client.close()
    variants, png_sizes = png_variants(engine, settings)
    samples.update(common.interleave(variants, PNG_ROUNDS, warmup=1))
    return samples, png_sizes


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="256x256 and fewer runs: a smoke run for CI")
    parser.add_argument("--profile", action="store_true", help="instead, where a served /generate spends its time")
    parser.add_argument(
        "--baseline", type=Path, help="also serve the app of this checkout, interleaved with this one (before/after)"
    )
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    common.quiet_libraries()
    common.use_threads(1)
    from pipeline.random_model import ensure_tiny_model

    ensure_tiny_model()  # the app and this process share it; building it is not part of a start
    if args.profile:
        print(server_profile.report(server_profile.run(settings.size, app_server), settings.describe()), flush=True)
        return
    samples, png_sizes = measure(settings, args.baseline)
    report = common.Report(
        "App server on the tiny SD3 (CPU, loopback)", settings.describe(), figures(samples, settings, png_sizes),
        samples,
    )
    common.publish(report, args.json)


if __name__ == "__main__":
    main()
