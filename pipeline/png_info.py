"""What any PNG says about how it was made, and the nearest request Turbo Studio can run from it.

Read are Turbo Studio's own chunks (`turbo_studio` JSON, a comparison grid's `turbo_studio_grid`),
the `parameters` text most tools write (AUTOMATIC1111, Forge, ...) and ComfyUI's `prompt` graph.
Values are kept as the image states them, even outside Turbo Studio's limits; `fit_request`
then brings them within those limits and says, value by value, what it changed or left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import RequestError
from pipeline.grid import GRID_KEY, GridFile, read_grid
from pipeline.metadata import (
    INFOTEXT_KEY,
    JSON_KEY,
    MAX_TEXT_CHARS,
    Source,
    check_json_depth,
    check_text_length,
    format_infotext,
    read_request,
    read_text_chunks,
    split_infotext,
)
from pipeline.request import (
    DEFAULT_GUIDANCE,
    DEFAULT_SEQUENCE_LENGTH,
    DEFAULT_SIZE,
    DEFAULT_STEPS,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    PROMPT_MAX_CHARS,
    SEED_MAX,
    SEED_MIN,
    SEQUENCE_MAX,
    SEQUENCE_MIN,
    SIZE_MAX,
    SIZE_MIN,
    SIZE_MULTIPLE,
    STEPS_MAX,
    STEPS_MIN,
    VARIATION_STRENGTH_MAX,
    VARIATION_STRENGTH_MIN,
    GenerationRequest,
    nearest_sizes,
    random_seed,
)

COMFY_PROMPT_KEY = "prompt"
COMFY_WORKFLOW_KEY = "workflow"
# The text chunks shown as they are, with what wrote them.
KNOWN_CHUNKS = {
    INFOTEXT_KEY: "parameters",
    JSON_KEY: "Turbo Studio settings (JSON)",
    GRID_KEY: "Turbo Studio comparison grid (JSON)",
    COMFY_PROMPT_KEY: "ComfyUI prompt (JSON)",
    COMFY_WORKFLOW_KEY: "ComfyUI workflow (JSON)",
}
# A ComfyUI workflow of a few hundred nodes fits.
COMFY_MAX_CHARS = 1024 * 1024
SAMPLER = "Euler"
NO_PARAMETERS = (
    "This image carries no generation parameters: it was not made by Turbo Studio or a tool that "
    "writes them (a 'parameters' text, or ComfyUI's workflow), or the metadata was stripped (many "
    "sites and messengers do that)."
)
# Keys that describe what Turbo Studio does anyway, or that the grid listing shows instead.
_QUIET_KEYS = frozenset({"Grid"})
# ComfyUI graphs are followed this many links deep from the sampler.
_MAX_HOPS = 12
_JSON_CHUNKS = (JSON_KEY, GRID_KEY, COMFY_PROMPT_KEY, COMFY_WORKFLOW_KEY)


@dataclass(frozen=True)
class FoundSettings:
    """Settings as an image states them, unchecked.

    Attributes:
        source: what they were read from, for people: "Turbo Studio", "parameters text", "ComfyUI".
        prompt: the prompt ('' when none was found).
        negative_prompt: the negative prompt.
        values: every other setting as text, by the infotext's key: `Steps`, `Sampler`,
            `CFG scale`, `Seed`, `Size` (`WxH`), `Model`, and whatever else the image names.
    """

    source: str
    prompt: str
    negative_prompt: str = ""
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Fitted:
    """The request Turbo Studio runs for some `FoundSettings` (None without a prompt), and each
    change made on the way, for people: "Steps 20 → 12 (the most Turbo Studio allows)"."""

    request: GenerationRequest | None
    changes: tuple[str, ...]


@dataclass(frozen=True)
class PngInfo:
    """Everything read from one PNG.

    Attributes:
        chunks: the known text chunks (`KNOWN_CHUNKS`) as written, by key.
        settings: the settings found, or None.
        grid: the comparison when the image is a Turbo Studio grid, else None.
        notes: what could not be read, and why.
    """

    chunks: dict[str, str]
    settings: FoundSettings | None
    grid: GridFile | None
    notes: tuple[str, ...]


def read_png_info(source: Source) -> PngInfo:
    """Read every known chunk of a PNG (a path, PNG bytes or a PIL image).

    Raises `RequestError` only when the file itself cannot be read (not a PNG, truncated,
    too large) or a known chunk is too long or too deeply nested to read; anything else is a note.
    """
    texts = read_text_chunks(source)
    chunks = {key: texts[key] for key in KNOWN_CHUNKS if isinstance(texts.get(key), str)}
    for key, text in chunks.items():
        comfy = key in (COMFY_PROMPT_KEY, COMFY_WORKFLOW_KEY)
        if key != GRID_KEY:  # read_grid checks its own, larger bound
            check_text_length(key, text, COMFY_MAX_CHARS if comfy else MAX_TEXT_CHARS)
        if key in _JSON_CHUNKS:
            check_json_depth(key, text)
    notes: list[str] = []
    grid = None
    if GRID_KEY in chunks:
        try:
            grid = read_grid(source)
        except RequestError as error:
            notes.append(str(error))
    settings = _settings(source, chunks, notes)
    if settings is None and grid is None and not notes:
        notes.append(NO_PARAMETERS)
    return PngInfo(chunks, settings, grid, tuple(notes))


def settings_of(request: GenerationRequest, model: str) -> FoundSettings:
    """The settings of an exact request, as `read_png_info` finds them in Turbo Studio's images."""
    _, _, values = split_infotext(format_infotext(request, model))
    return FoundSettings("Turbo Studio", request.prompt, request.negative_prompt, values or {})


def fit_request(settings: FoundSettings, model: str) -> Fitted:
    """The nearest request within Turbo Studio's limits, and what was changed or not used.

    Args:
        settings: as found in an image.
        model: the label of the model loaded here; another model named by the image is noted.
    """
    changes: list[str] = []
    prompt = _fitted_text("Prompt", settings.prompt, changes)
    negative = _fitted_text("Negative prompt", settings.negative_prompt, changes)
    values = dict(settings.values)
    fields: dict = {"negative_prompt": negative}
    for key, (name, fit) in _FITTERS.items():
        if key in values:
            fields[name] = fit(values.pop(key), changes)
    if "seed" not in fields:
        fields["seed"] = random_seed()
        changes.append(f"No seed was given: {fields['seed']} is drawn at random")
    size = values.pop("Size", None)
    if size is not None:
        fields["width"], fields["height"] = _fitted_size(size, changes)
    sampler = values.pop("Sampler", SAMPLER)
    if sampler.strip().lower() != SAMPLER.lower():
        changes.append(f"Sampler {sampler} not used (Turbo Studio samples with {SAMPLER})")
    image_model = values.pop("Model", "")
    if image_model and image_model != model:
        changes.append(f"Model {image_model} not used (this is {model})")
    unused = [key for key in values if key not in _QUIET_KEYS]
    if unused:
        changes.append(f"Not used: {', '.join(unused)}")
    if not prompt.strip():
        return Fitted(None, ("No prompt was found, so there is nothing to send to Generate", *changes))
    return Fitted(GenerationRequest.create(prompt=prompt, **fields), tuple(changes))


def _settings(source: Source, chunks: dict[str, str], notes: list[str]) -> FoundSettings | None:
    """The settings of the first chunk that yields them: our JSON, the parameters text, ComfyUI's graph."""
    if JSON_KEY in chunks:
        try:
            return settings_of(*read_request(source))
        except RequestError as error:
            notes.append(f"{error} The parameters text is read instead.")
    if INFOTEXT_KEY in chunks:
        prompt, negative, values = split_infotext(chunks[INFOTEXT_KEY])
        if values is None:
            notes.append("The parameters text has no settings line; all of it is read as the prompt.")
        return FoundSettings("parameters text", prompt, negative, values or {})
    if COMFY_PROMPT_KEY in chunks:
        try:
            return comfy_settings(json.loads(chunks[COMFY_PROMPT_KEY]))
        except (json.JSONDecodeError, ValueError) as error:
            notes.append(f"ComfyUI's prompt graph could not be read ({error}).")
    elif COMFY_WORKFLOW_KEY in chunks:
        notes.append("Only ComfyUI's workflow is stored (no prompt graph): it is shown, not read.")
    return None


def comfy_settings(graph: dict) -> FoundSettings:
    """The settings of a ComfyUI prompt graph (its API format: node id -> class_type and inputs),
    read from its sampler (a node with positive, negative and steps inputs) and the nodes it uses."""
    if not isinstance(graph, dict):
        raise ValueError("it is not a JSON object of nodes")
    nodes = {key: node.get("inputs", {}) for key, node in graph.items() if isinstance(node, dict)}
    sampler = next(
        (inputs for inputs in nodes.values() if isinstance(inputs, dict) and {"positive", "steps"} <= inputs.keys()),
        None,
    )
    if sampler is None:
        raise ValueError("no sampler node (with positive and steps inputs) was found")

    def follow(value, wanted: tuple[str, ...]):
        """The first of `wanted` inputs met following `value`'s links ([node id, output]) upstream."""
        for _ in range(_MAX_HOPS):
            if not (isinstance(value, list) and value and str(value[0]) in nodes):
                return value
            inputs = nodes[str(value[0])]
            found = next((inputs[key] for key in wanted if key in inputs and not isinstance(inputs[key], list)), None)
            if found is not None:
                return found
            value = next((inputs[key] for key in wanted + _PASS_THROUGH if isinstance(inputs.get(key), list)), None)
        return None

    def setting(*keys: str):
        """The sampler's first input of `keys`, followed to its value when it is a link (a primitive node)."""
        key = next((key for key in keys if key in sampler), None)
        return None if key is None else follow(sampler[key], (*keys, "value"))

    texts = ("text", "t5xxl", "clip_l", "clip_g", "string", "value")
    values = {
        "Steps": setting("steps"),
        "CFG scale": setting("cfg"),
        "Seed": setting("seed", "noise_seed"),
        "Sampler": setting("sampler_name"),
        "Schedule type": setting("scheduler"),
        "Model": follow(sampler.get("model"), ("ckpt_name", "unet_name")),
    }
    width = follow(sampler.get("latent_image"), ("width",))
    height = follow(sampler.get("latent_image"), ("height",))
    if width is not None and height is not None:
        values["Size"] = f"{width}x{height}"
    prompt = follow(sampler.get("positive"), texts)
    negative = follow(sampler.get("negative"), texts)
    return FoundSettings(
        "ComfyUI",
        prompt if isinstance(prompt, str) else "",
        negative if isinstance(negative, str) else "",
        {key: str(value) for key, value in values.items() if value is not None and not isinstance(value, (list, dict))},
    )


# Inputs through which ComfyUI nodes pass a model, conditioning or latent on (LoRA loaders,
# conditioning combiners, latent upscalers, ...).
_PASS_THROUGH = ("model", "conditioning", "conditioning_1", "conditioning_to", "samples", "clip", "latent")


def _fitted_text(name: str, text: str, changes: list[str]) -> str:
    cleaned = text.replace("\x00", "")
    if cleaned != text:
        changes.append(f"{name}: NUL characters removed")
    if len(cleaned) > PROMPT_MAX_CHARS:
        changes.append(f"{name} cut to its first {PROMPT_MAX_CHARS:,} of {len(cleaned):,} characters")
        cleaned = cleaned[:PROMPT_MAX_CHARS]
    return cleaned


def _number(convert: Callable[[str], int | float], text: str) -> int | float | None:
    try:
        value = convert(text.strip())
    except (ValueError, OverflowError):
        return None
    return value if value == value and abs(value) != float("inf") else None  # not NaN or infinite


def _bounded(key: str, convert, low, high, default) -> Callable[[str, list[str]], int | float]:
    """A fitter of `key`'s text: a number clamped to [low, high]; `default` when it is no number."""

    def fit(text: str, changes: list[str]) -> int | float:
        value = _number(convert, text)
        if value is None:
            changes.append(f"{key} {text!r} is not a valid number; {default:g} is used")
            return default
        if value < low:
            changes.append(f"{key} {text} → {low:g} (the least Turbo Studio allows)")
            return low
        if value > high:
            changes.append(f"{key} {text} → {high:g} (the most Turbo Studio allows)")
            return high
        return value

    return fit


def _integer(text: str) -> int:
    number = float(text)
    if not number.is_integer():
        raise ValueError(text)
    return int(number)


def _fitted_seed(key: str) -> Callable[[str, list[str]], int]:
    def fit(text: str, changes: list[str]) -> int:
        value = _number(_integer, text)
        if value is not None and SEED_MIN <= value <= SEED_MAX:
            return value
        seed = random_seed()
        changes.append(f"{key} {text} → {seed} (drawn at random: seeds here go from {SEED_MIN} to {SEED_MAX})")
        return seed

    return fit


def _fitted_size(text: str, changes: list[str]) -> tuple[int, int]:
    sides = text.lower().replace(" ", "").split("x")
    numbers = [_number(_integer, side) for side in sides] if len(sides) == 2 else [None]
    if None in numbers:
        changes.append(f"Size {text!r} is not WIDTHxHEIGHT; {DEFAULT_SIZE}x{DEFAULT_SIZE} is used")
        return DEFAULT_SIZE, DEFAULT_SIZE
    fitted = tuple(max(nearest_sizes(number)) for number in numbers)
    if fitted != tuple(numbers):
        rule = f"sides are multiples of {SIZE_MULTIPLE} from {SIZE_MIN} to {SIZE_MAX}"
        changes.append(f"Size {text} → {fitted[0]}x{fitted[1]} ({rule})")
    return fitted


# Infotext key -> (request field, fitter of its text).
_FITTERS: dict[str, tuple[str, Callable[[str, list[str]], int | float]]] = {
    "Steps": ("steps", _bounded("Steps", _integer, STEPS_MIN, STEPS_MAX, DEFAULT_STEPS)),
    "CFG scale": ("guidance_scale", _bounded("CFG scale", float, GUIDANCE_MIN, GUIDANCE_MAX, DEFAULT_GUIDANCE)),
    "Seed": ("seed", _fitted_seed("Seed")),
    "T5 length": (
        "max_sequence_length",
        _bounded("T5 length", _integer, SEQUENCE_MIN, SEQUENCE_MAX, DEFAULT_SEQUENCE_LENGTH),
    ),
    "Variation seed": ("variation_seed", _fitted_seed("Variation seed")),
    "Variation seed strength": (
        "variation_strength",
        _bounded("Variation seed strength", float, VARIATION_STRENGTH_MIN, VARIATION_STRENGTH_MAX, 0.0),
    ),
}
