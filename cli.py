"""The command line of app.py: every option can also be set by an environment variable, so a
Hugging Face Space configures the app from its settings.

It reads the app's own variables, TURBO_STUDIO_*. Two are read before it, where they must be, as
this module imports the pipeline and so torch: TURBO_STUDIO_VERBOSE, first by startup_noise.py
(whether to quiet the libraries before they import; here it is for --help and its value's check),
and Hugging Face's SPACES_ZERO_GPU, only by ui/zerogpu.py (`spaces` must be imported before torch)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline import LoadOptions
from pipeline.errors import ModelLoadError
from pipeline.loader import MEMORY_MODES, QUANTIZATIONS
from pipeline.seeds import DEFAULT_MAX_SEEDS
from startup_noise import VERBOSE_ENV, VERBOSE_FLAG, VERBOSE_HELP, boolean
from ui.options import (
    DEFAULT_HOST,
    DEFAULT_MAX_CACHE_MB,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_PORT,
    ServerOptions,
    StudioOptions,
)
from ui.zerogpu import ON_ZEROGPU


@dataclass(frozen=True)
class BackendOptions:
    """Where the engine runs: embedded in this process (`local`) or as Ray Serve replicas (`ray`).

    Attributes:
        kind: `local` or `ray`.
        replicas: engine replicas (one GPU each), or `auto` to scale between the bounds on queued requests.
        min_replicas, max_replicas: the autoscaling bounds (None: every GPU, or core, of the cluster).
        ray_address: a running Ray cluster to join; None starts a local Ray on this machine.
    """

    kind: str = "local"
    replicas: int | str = 1
    min_replicas: int = 1
    max_replicas: int | None = None
    ray_address: str | None = None


@dataclass(frozen=True)
class AppOptions:
    """Everything `python app.py` was asked for."""

    load: LoadOptions
    server: ServerOptions
    studio: StudioOptions
    backend: BackendOptions = BackendOptions()


def _credentials(text: str) -> tuple[str, str]:
    user, colon, password = text.partition(":")
    if not (user and colon and password):
        raise argparse.ArgumentTypeError(f"expected USER:PASSWORD, got {text!r}")
    return user, password


def _replicas(text: str) -> int | str:
    return "auto" if text == "auto" else _positive(text)


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {number}")
    return number


class _Options:
    """Adds options, in titled groups, whose default comes from an environment variable named in their help."""

    def __init__(self, parser: argparse.ArgumentParser, environ: Mapping[str, str]):
        self._parser = parser
        self._environ = environ
        self._group: argparse._ActionsContainer = parser

    def group(self, title: str) -> None:
        """Start a new group of options."""
        self._group = self._parser.add_argument_group(title)

    def value(self, flag: str, env: str, default, help: str, **kwargs) -> None:
        """An option taking a value; its default is `env`'s value when set, converted by `type` like a typed one."""
        self._group.add_argument(flag, default=self._environ.get(env, default), help=f"{help} [env {env}]", **kwargs)

    def switch(self, flag: str, env: str, default: bool, help: str) -> None:
        """An on/off option (`--x` / `--no-x`) whose default `env` can set to true or false."""
        raw = self._environ.get(env)
        try:
            value = default if raw is None else boolean(raw)
        except argparse.ArgumentTypeError as error:
            self._parser.error(f"{env}: {error}")
        self._group.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=value, help=f"{help} [env {env}]"
        )


def build_parser(environ: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """The parser of app.py, with defaults read from `environ` (the process environment by default)."""
    environ = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="Turbo Studio: a web app for Stable Diffusion 3.5 Large Turbo.",
        epilog="Try the interface without a GPU or a download: python app.py --model tiny",
    )
    load = LoadOptions()
    options = _Options(parser, environ)
    options.group("model")
    options.value("--model", "TURBO_STUDIO_MODEL", load.model, "hub id, diffusers folder, or 'tiny' (random, offline)")
    options.value(
        "--memory-mode", "TURBO_STUDIO_MEMORY_MODE", load.memory_mode, "where the weights live", choices=MEMORY_MODES
    )
    options.switch("--t5", "TURBO_STUDIO_TEXT_ENCODER_3", load.text_encoder_3, "load the T5-XXL text encoder (~9.5 GB)")
    options.value(
        "--quantization", "TURBO_STUDIO_QUANTIZATION", load.quantization, "transformer weights", choices=QUANTIZATIONS
    )
    options.switch(
        "--compile", "TURBO_STUDIO_COMPILE", load.compile,
        "compile the transformer blocks and VAE decoder at start (cached on disk; ZeroGPU: ahead of time)",
    )
    options.switch("--warmup", "TURBO_STUDIO_WARMUP", load.warmup, "generate once before serving")
    options.value(
        "--batch-size", "TURBO_STUDIO_MAX_BATCH_SIZE", str(load.max_batch_size),
        "images per batch when comparing seeds", type=_positive,
    )
    options.group("backend (scale-out on Ray Serve; needs pip install -r requirements-ray.txt)")
    options.value(
        "--backend", "TURBO_STUDIO_BACKEND", "local", "local: the engine in this process; ray: Ray Serve replicas",
        choices=("local", "ray"),
    )
    options.value(
        "--replicas", "TURBO_STUDIO_REPLICAS", "1", "engine replicas (one GPU each), or 'auto' to scale on the queue",
        type=_replicas,
    )
    options.value(
        "--min-replicas", "TURBO_STUDIO_MIN_REPLICAS", "1", "with --replicas auto: the fewest", type=_positive
    )
    options.value(
        "--max-replicas", "TURBO_STUDIO_MAX_REPLICAS", None, "with --replicas auto: the most (default: every GPU)",
        type=_positive,
    )
    options.value(
        "--ray-address", "RAY_ADDRESS", None, "join this running Ray cluster (default: start one on this machine)"
    )
    options.group("server")
    options.value("--host", "GRADIO_SERVER_NAME", DEFAULT_HOST, "address to listen on (0.0.0.0 for every interface)")
    options.value("--port", "GRADIO_SERVER_PORT", str(DEFAULT_PORT), "port to listen on", type=int)
    options.switch("--share", "TURBO_STUDIO_SHARE", False, "also serve on a public gradio.live link")
    options.value("--auth", "TURBO_STUDIO_AUTH", None, "require this login", metavar="USER:PASSWORD", type=_credentials)
    options.value(
        "--max-queue-size", "TURBO_STUDIO_MAX_QUEUE_SIZE", str(DEFAULT_MAX_QUEUE_SIZE),
        "waiting requests before new ones are turned away", type=_positive,
    )
    options.switch(
        "--mcp", "TURBO_STUDIO_MCP", False,
        "also serve the generate and compare tools to AI assistants at /gradio_api/mcp/ (MCP)",
    )
    options.group("studio")
    options.value(
        "--max-seeds", "TURBO_STUDIO_MAX_SEEDS", str(DEFAULT_MAX_SEEDS), "most seeds in one comparison", type=_positive
    )
    options.value(
        "--output-dir", "TURBO_STUDIO_OUTPUT_DIR", None, "save every finished image here, with its parameters",
        type=Path,
    )
    options.value(
        "--max-cache-size", "TURBO_STUDIO_MAX_CACHE_MB", str(DEFAULT_MAX_CACHE_MB),
        "MiB of served images and uploads kept; the oldest go first past it (and any after an hour)", type=_positive,
    )
    options.switch(VERBOSE_FLAG, VERBOSE_ENV, False, VERBOSE_HELP)
    return parser


def parse_args(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> AppOptions:
    """The options of `argv` (the command line by default), falling back to `environ`."""
    parser = build_parser(environ)
    args = parser.parse_args(argv)
    try:
        load = LoadOptions(
            model=args.model,
            memory_mode=args.memory_mode,
            text_encoder_3=args.t5,
            quantization=args.quantization,
            compile=args.compile,
            warmup=args.warmup,
            max_batch_size=args.batch_size,
            zero_gpu=ON_ZEROGPU,
        )
    except ModelLoadError as error:
        parser.error(str(error))
    server = ServerOptions(
        host=args.host, port=args.port, share=args.share, auth=args.auth, max_queue_size=args.max_queue_size,
        mcp=args.mcp,
    )
    backend = BackendOptions(args.backend, args.replicas, args.min_replicas, args.max_replicas, args.ray_address)
    studio = StudioOptions(max_seeds=args.max_seeds, output_dir=args.output_dir, max_cache_mb=args.max_cache_size)
    return AppOptions(load, server, studio, backend)
