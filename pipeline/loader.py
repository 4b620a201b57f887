"""Loading the SD3.5 Large Turbo pipeline (or the tiny random SD3) once, with clear failures.

Every failure is a `ModelLoadError` whose message names the cause and the remedy. A hub id is
first resolved to a local snapshot holding only what the pipeline needs (~28 GB of a ~70 GB
repo), then the same `from_pretrained` call loads a hub model, a local folder and `tiny`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import StableDiffusion3Pipeline
from huggingface_hub import snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
)

from pipeline.compilation import compile_ahead_of_time, compile_batches, compile_regions
from pipeline.errors import ModelLoadError
from pipeline.previews import TAESD3_MODEL
from pipeline.random_model import ensure_tiny_model

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "stabilityai/stable-diffusion-3.5-large-turbo"
TINY_MODEL = "tiny"
MEMORY_MODES = ("auto", "gpu", "model-offload", "sequential-offload")
QUANTIZATIONS = ("none", "nf4", "int8", "fp8")
# torch._scaled_mm, which float8 matmuls need, exists from Ada (8.9) and Hopper (9.0) on.
FP8_MIN_CAPABILITY = (8, 9)
# Linear layers left in bf16 under fp8 (names end with one of these): the adaLN modulations
# (norm1.linear, norm1_context.linear, norm_out.linear) and the time/pooled-text embedding run on one
# row per image, the caption projection on the ~333 text tokens, the final layer has 64 outputs:
# quantising their activations costs more than the fp8 matmul saves, and their errors shift every
# token. What is quantised: the attention projections and feed-forwards of the blocks, ~99 % of the FLOPs.
FP8_KEPT_IN_BF16 = ("norm1.linear", "norm1_context.linear", "norm_out", "time_text_embed", "context_embedder",
                    "pos_embed", "proj_out")
# fp8 in eager mode was slower than bf16 on an H200 (benchmarks/results/gpu.md): the activation
# quantisation runs as separate kernels unless compiled into the matmuls' neighbours.
FP8_NEEDS_COMPILE = (
    "--quantization fp8 needs --compile: uncompiled, its activation quantisation made images slower than bf16 "
    "(1.24 s against 0.56 s on an H200). Add --compile."
)
PIPELINE_CLASS = "StableDiffusion3Pipeline"
T5_COMPONENTS = ("text_encoder_3", "tokenizer_3")
COMPONENTS = ("transformer", "vae", "scheduler", "text_encoder", "tokenizer", "text_encoder_2", "tokenizer_2")
# Only these files are downloaded; the repo also holds a single-file checkpoint, a second
# (fp16) copy of T5 and a text_encoders/ folder for other tools.
IGNORED_FILES = ("*.fp16.*", "*.fp16-*", "text_encoders/*", "*.md", "*.jpg", "*.png")
# Headroom for activations at 1024x1024 when deciding whether everything fits on the GPU.
ACTIVATION_HEADROOM_BYTES = 4 * 1024**3
LICENCE_HELP = (
    "accept the Stability Community License at https://huggingface.co/{model}, then create a token at "
    "https://huggingface.co/settings/tokens and set it as HF_TOKEN (or run `hf auth login`)"
)


@dataclass(frozen=True)
class LoadOptions:
    """How to load the pipeline (app.py's command line fills it from its options).

    Attributes:
        model: a hub id, a local diffusers folder, or `tiny` (a random SD3 for trying things out).
        memory_mode: `auto` (all on the GPU when it fits, otherwise model CPU offload), `gpu`,
            `model-offload` or `sequential-offload`. Ignored without CUDA (the CPU is used).
        text_encoder_3: load T5-XXL; without it (~9.5 GB less) prompt following is weaker.
        quantization: `none`, `nf4` (bitsandbytes 4-bit transformer), `int8` (torchao weight-only) or
            `fp8` (torchao float8 weights and activations, row-wise scales; needs an Ada/Hopper GPU).
        compile: compile the transformer blocks and the VAE decoder (`pipeline.compilation`): with
            `torch.compile` at start (dynamic sizes, cached on disk across restarts), or on
            ZeroGPU ahead of time with `spaces`; fp8 requires it.
        warmup: generate once at load time, so the first user does not pay for it.
        max_batch_size: images per transformer batch in seed comparisons.
        preview_decoder: TAESD3 folder or hub id used for previews when it is on this machine.
        zero_gpu: running on a Hugging Face ZeroGPU Space, where a GPU exists only inside
            `@spaces.GPU` calls: `auto` memory means the GPU, and the warm-up waits for a request.
    """

    model: str = DEFAULT_MODEL
    memory_mode: str = "auto"
    text_encoder_3: bool = True
    quantization: str = "none"
    compile: bool = False
    warmup: bool = True
    max_batch_size: int = 4
    preview_decoder: str = TAESD3_MODEL
    zero_gpu: bool = False

    def __post_init__(self) -> None:
        if self.memory_mode not in MEMORY_MODES:
            raise ModelLoadError(f"Unknown memory mode {self.memory_mode!r}; choose one of {', '.join(MEMORY_MODES)}.")
        if self.quantization not in QUANTIZATIONS:
            raise ModelLoadError(
                f"Unknown quantisation {self.quantization!r}; choose one of {', '.join(QUANTIZATIONS)}."
            )
        if self.quantization == "fp8" and not self.compile:
            raise ModelLoadError(FP8_NEEDS_COMPILE)
        if self.max_batch_size < 1:
            raise ModelLoadError(f"The batch size must be at least 1, got {self.max_batch_size}.")


@dataclass(frozen=True)
class ModelInfo:
    """What was loaded, for display: model, device, dtype and memory mode."""

    model: str
    device: str
    dtype: str
    memory_mode: str


def required_components(text_encoder_3: bool) -> tuple[str, ...]:
    """The pipeline folders to load, without T5 when it is dropped."""
    return COMPONENTS + (T5_COMPONENTS if text_encoder_3 else ())


def check_pipeline_folder(folder: Path, text_encoder_3: bool = True) -> None:
    """Raise `ModelLoadError` unless `folder` is a diffusers SD3 pipeline with every needed component."""
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise ModelLoadError(
            f"{folder} is not a diffusers pipeline folder: it has no model_index.json. Point the model at "
            f"a folder saved with save_pretrained, or at a hub id such as {DEFAULT_MODEL}."
        )
    try:
        index = json.loads(index_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelLoadError(f"{index_file} is not valid JSON ({error}); re-download the model.") from None
    if index.get("_class_name") != PIPELINE_CLASS:
        raise ModelLoadError(
            f"{folder} holds a {index.get('_class_name')!r} pipeline, not {PIPELINE_CLASS}: "
            "Turbo Studio needs a Stable Diffusion 3 / 3.5 model."
        )
    for component in required_components(text_encoder_3):
        entry = index.get(component)
        if not entry or entry[0] is None or not (folder / component).is_dir():
            raise ModelLoadError(
                f"{folder} lacks the `{component}` component (no {component}/ folder). "
                "Re-download the model, or copy that folder from the original repo."
            )


def resolve_model_folder(model: str, text_encoder_3: bool = True) -> Path:
    """A local folder for `model`: the tiny random SD3, an existing folder, or a hub snapshot."""
    if model == TINY_MODEL:
        return ensure_tiny_model()
    path = Path(model).expanduser()
    if path.is_dir():
        check_pipeline_folder(path, text_encoder_3)
        return path
    if path.is_absolute() or model.startswith(".") or model.count("/") != 1:
        raise ModelLoadError(
            f"Model {model!r} is neither an existing folder nor a hub id like {DEFAULT_MODEL}."
        )
    folder = Path(_download(model, text_encoder_3))
    check_pipeline_folder(folder, text_encoder_3)
    return folder


def _download(model: str, text_encoder_3: bool) -> str:
    patterns = ["model_index.json"] + [f"{component}/*" for component in required_components(text_encoder_3)]
    licence = LICENCE_HELP.format(model=model)
    refused = f"The hub refused the token for {model} (HTTP {{status}}): {licence}."
    try:
        return snapshot_download(model, allow_patterns=patterns, ignore_patterns=list(IGNORED_FILES))
    except GatedRepoError as error:
        # The hub answers 401 when no token was sent, 403 when the token's account lacks access.
        problem = "no token was given" if _status(error) == 401 else "this token has no access to it"
        raise ModelLoadError(f"{model} is gated and {problem}: {licence}.") from None
    except RepositoryNotFoundError:
        raise ModelLoadError(
            f"{model} was not found, or it is private and no valid token was given. Check the id; if it "
            f"is gated, {licence}."
        ) from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as error:
        # Not cached; the cause tells a refusal or an error page from no connection at all.
        status = _status(error.__cause__)
        if status in (401, 403):
            raise ModelLoadError(refused.format(status=status)) from None
        if status is not None:
            raise ModelLoadError(
                f"{model} is not in the local Hugging Face cache and the hub answered HTTP {status}. Try "
                "again later, or point the model at a local folder."
            ) from None
        raise ModelLoadError(
            f"{model} is not in the local Hugging Face cache and the hub cannot be reached (offline, or "
            "HF_HUB_OFFLINE=1). Connect once to download it, or point the model at a local folder."
        ) from None
    except HfHubHTTPError as error:
        status = _status(error)
        if status in (401, 403):
            raise ModelLoadError(refused.format(status=status)) from None
        raise ModelLoadError(f"Downloading {model} failed: {error}. Try again later.") from None


def _status(error: BaseException | None) -> int | None:
    """The HTTP status of a hub error, None for any other error."""
    return getattr(getattr(error, "response", None), "status_code", None) if isinstance(error, HfHubHTTPError) else None


def pick_device(memory_mode: str) -> str:
    """`cuda` when available; an explicit GPU memory mode without CUDA is an error."""
    if torch.cuda.is_available():
        return "cuda"
    if memory_mode != "auto":
        raise ModelLoadError(
            f"Memory mode {memory_mode!r} needs a CUDA GPU and none was found (torch "
            f"{torch.__version__}). Use --memory-mode auto to run on the CPU (slow), or install a CUDA build of torch."
        )
    return "cpu"


def _require_package(package: str, feature: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise ModelLoadError(f"{feature} needs the `{package}` package: pip install {package}")


def fp8_quantized(name: str, module: torch.nn.Module) -> bool:
    """Whether fp8 quantises the transformer's module `name`: a Linear outside `FP8_KEPT_IN_BF16`."""
    return isinstance(module, torch.nn.Linear) and not any(
        f".{kept}." in f".{name}." for kept in FP8_KEPT_IN_BF16
    )


def fp8_kept_modules(transformer: torch.nn.Module) -> list[str]:
    """The full names of the Linear layers `fp8_quantized` leaves in bf16 (diffusers' `modules_to_not_convert`)."""
    return [
        name for name, module in transformer.named_modules()
        if isinstance(module, torch.nn.Linear) and not fp8_quantized(name, module)
    ]


def fp8_config(folder: Path):
    """The `TorchAoConfig` of `--quantization fp8` for the transformer in `folder`: float8 weights and
    dynamic activations, row-wise scales, every layer but `FP8_KEPT_IN_BF16`'s."""
    from diffusers import SD3Transformer2DModel, TorchAoConfig
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow

    with torch.device("meta"):  # the module tree only, no weights
        skeleton = SD3Transformer2DModel.from_config(SD3Transformer2DModel.load_config(folder, subfolder="transformer"))
    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    return TorchAoConfig(config, modules_to_not_convert=fp8_kept_modules(skeleton))


def _quantization_config(quantization: str, folder: Path):
    from diffusers import BitsAndBytesConfig, TorchAoConfig

    if quantization == "nf4":
        _require_package("bitsandbytes", "NF4 quantisation")
        return BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16
        )
    if quantization == "fp8":
        _require_fp8_gpu()
        _require_package("torchao", "fp8 quantisation")
        return fp8_config(folder)
    _require_package("torchao", "int8 quantisation")
    from torchao.quantization import Int8WeightOnlyConfig

    return TorchAoConfig(Int8WeightOnlyConfig())


def _require_fp8_gpu() -> None:
    """Raise unless this machine has a CUDA GPU with float8 matrix units (compute capability 8.9+)."""
    found = "no CUDA GPU was found"
    if torch.cuda.is_available():
        capability = torch.cuda.get_device_capability()
        if capability >= FP8_MIN_CAPABILITY:
            return
        found = f"{torch.cuda.get_device_name()} has compute capability {capability[0]}.{capability[1]}"
    raise ModelLoadError(
        "fp8 quantisation needs an NVIDIA GPU with float8 support (compute capability 8.9 or higher: "
        f"L4, L40S, RTX 40xx, H100, H200 or newer), but {found}. Use --quantization int8 or nf4 instead."
    )


def _weights_bytes(folder: Path, components: tuple[str, ...]) -> int:
    return sum(
        file.stat().st_size for component in components for file in (folder / component).glob("*.safetensors")
    )


def _place(pipe: StableDiffusion3Pipeline, memory_mode: str, needed_bytes: int, zero_gpu: bool) -> str:
    """Move the pipeline to the GPU or set up offloading; return the mode actually used."""
    if memory_mode == "auto" and zero_gpu:
        memory_mode = "gpu"  # ZeroGPU attaches a whole GPU per call; `.to("cuda")` is deferred until then
    if memory_mode == "auto":
        free_bytes, _ = torch.cuda.mem_get_info()
        memory_mode = "gpu" if needed_bytes + ACTIVATION_HEADROOM_BYTES <= free_bytes else "model-offload"
        logger.info(
            "Memory mode auto: %.1f GB of weights, %.1f GB free -> %s",
            needed_bytes / 1e9, free_bytes / 1e9, memory_mode,
        )
    if memory_mode == "gpu":
        try:
            pipe.to("cuda")
        except torch.OutOfMemoryError:
            pipe.to("cpu")
            torch.cuda.empty_cache()
            raise ModelLoadError(
                f"Not enough GPU memory for the whole pipeline ({needed_bytes / 1e9:.1f} GB of weights). Use "
                "--memory-mode model-offload (fits ~12 GB with NF4), --no-t5 (~9.5 GB less), --quantization nf4, "
                "or --memory-mode sequential-offload (slowest, fits almost any GPU)."
            ) from None
    elif memory_mode == "model-offload":
        pipe.enable_model_cpu_offload()
    else:
        pipe.enable_sequential_cpu_offload()
    return memory_mode


def load_pipeline(options: LoadOptions) -> tuple[StableDiffusion3Pipeline, ModelInfo]:
    """Load, place and optionally compile the pipeline described by `options`."""
    device = pick_device(options.memory_mode)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    folder = resolve_model_folder(options.model, options.text_encoder_3)
    extra = {} if options.text_encoder_3 else {"text_encoder_3": None, "tokenizer_3": None}
    if options.quantization != "none":
        from diffusers import SD3Transformer2DModel

        extra["transformer"] = SD3Transformer2DModel.from_pretrained(
            folder,
            subfolder="transformer",
            quantization_config=_quantization_config(options.quantization, folder),
            dtype=dtype,
        )
    try:
        pipe = StableDiffusion3Pipeline.from_pretrained(folder, dtype=dtype, **extra)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"Could not load the pipeline from {folder}: {error}") from None
    pipe.set_progress_bar_config(disable=True)
    pipe.vae.enable_slicing()  # decode a batch one image at a time: less memory, no slower
    memory_mode = "cpu"
    if device == "cuda":
        needed = _weights_bytes(folder, required_components(options.text_encoder_3))
        memory_mode = _place(pipe, options.memory_mode, needed, options.zero_gpu)
    if options.compile and options.zero_gpu:
        compile_ahead_of_time(pipe)
    elif options.compile:
        compile_regions(pipe)
        if options.warmup:
            compile_batches(pipe)
    label = "tiny (random SD3)" if options.model == TINY_MODEL else options.model
    info = ModelInfo(model=label, device=device, dtype=str(dtype).removeprefix("torch."), memory_mode=memory_mode)
    return pipe, info
