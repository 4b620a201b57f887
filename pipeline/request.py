"""Generation requests and the one place where their fields are validated.

Defaults are the Turbo ones (4 steps, guidance 0.0, 1024x1024). Nothing is silently changed:
a value out of bounds raises `RequestError` saying what was wrong and what is allowed.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import asdict, dataclass, fields, replace
from numbers import Integral, Real
from typing import Any, NamedTuple

from pipeline.errors import RequestError

SIZE_MIN, SIZE_MAX, SIZE_MULTIPLE = 256, 1536, 16
STEPS_MIN, STEPS_MAX = 1, 12
GUIDANCE_MIN, GUIDANCE_MAX = 0.0, 10.0
VARIATION_STRENGTH_MIN, VARIATION_STRENGTH_MAX = 0.0, 1.0
# Above this guidance the negative prompt is used: real classifier-free guidance, twice the work.
CFG_THRESHOLD = 1.0
SEED_MIN, SEED_MAX = 0, 2**32 - 1
PROMPT_MAX_CHARS = 4000
SEQUENCE_MIN, SEQUENCE_MAX = 77, 512

DEFAULT_SIZE = 1024
DEFAULT_STEPS = 4
DEFAULT_GUIDANCE = 0.0
DEFAULT_SEQUENCE_LENGTH = 256


def random_seed() -> int:
    """A uniformly random seed in the valid range."""
    return secrets.randbelow(SEED_MAX + 1)


def nearest_sizes(value: int) -> tuple[int, ...]:
    """The valid sizes closest to `value` (one or two of them)."""
    clamped = min(max(value, SIZE_MIN), SIZE_MAX)
    below = clamped - clamped % SIZE_MULTIPLE
    above = below if below == clamped else below + SIZE_MULTIPLE
    return tuple(sorted({max(below, SIZE_MIN), min(above, SIZE_MAX)}))


def _integer(name: str, value: Any) -> int:
    """`value` as an int; integral floats (1024.0, as JSON numbers arrive) are accepted."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        raise RequestError(f"{name} must be a whole number, got {value!r}.")
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    raise RequestError(f"{name} must be a whole number, got {value!r}.")


def _bounded_integer(name: str, value: Any, low: int, high: int) -> int:
    number = _integer(name, value)
    if not low <= number <= high:
        raise RequestError(f"{name} must be between {low} and {high}, got {number}.")
    return number


def _size(name: str, value: Any) -> int:
    number = _integer(name, value)
    if not SIZE_MIN <= number <= SIZE_MAX or number % SIZE_MULTIPLE:
        options = " or ".join(str(size) for size in nearest_sizes(number))
        raise RequestError(
            f"{name} must be a multiple of {SIZE_MULTIPLE} from {SIZE_MIN} to {SIZE_MAX}, got {number}; "
            f"the nearest valid {name.lower()} is {options}."
        )
    return number


def _bounded_real(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise RequestError(f"{name} must be a finite number, got {value!r}.")
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g}, got {value:g}.")
    return float(value)


def _seed(name: str, value: Any) -> int:
    number = _integer(name, value)
    if not SEED_MIN <= number <= SEED_MAX:
        raise RequestError(
            f"{name} must be between {SEED_MIN} and {SEED_MAX}, got {number}; "
            "ask for a random seed instead of using -1."
        )
    return number


def _text(name: str, value: Any, *, required: bool) -> str:
    if not isinstance(value, str):
        raise RequestError(f"{name} must be text, got {type(value).__name__}.")
    if required and not value.strip():
        raise RequestError(f"{name} is empty: describe the image you want.")
    if len(value) > PROMPT_MAX_CHARS:
        raise RequestError(f"{name} is {len(value)} characters long; the limit is {PROMPT_MAX_CHARS}.")
    if "\x00" in value:
        raise RequestError(f"{name} contains a NUL character; remove it.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        position = error.start
        raise RequestError(f"{name} contains invalid Unicode at position {position}; remove that character.") from None
    return value


class BatchKey(NamedTuple):
    """What the images of one transformer batch share: one text encoding, one latent size, one
    schedule and one guidance scale. Seeds and variations differ per image."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    max_sequence_length: int


@dataclass(frozen=True)
class GenerationRequest:
    """Everything that determines an image. Build it with `GenerationRequest.create`.

    Attributes:
        prompt: what to draw; 1 to `PROMPT_MAX_CHARS` characters.
        negative_prompt: what to avoid; only used when `guidance_scale` > 1.
        seed: `SEED_MIN`..`SEED_MAX`; the same seed and settings give the same image.
        width, height: multiples of 16 from 256 to 1536 (default 1024).
        steps: 1 to 12 (default 4, what the Turbo model was distilled for).
        guidance_scale: 0 to 10 (default 0). Above 1 it doubles the work per step.
        max_sequence_length: T5 tokens kept from the prompt, 77 to 512 (default 256).
        variation_seed: a second seed in the `seed` range (default 0), whose noise is mixed in.
        variation_strength: 0 to 1 (default 0): how far the initial noise moves, by spherical
            interpolation, from the noise of `seed` (0) to that of `variation_seed` (1).
    """

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    width: int = DEFAULT_SIZE
    height: int = DEFAULT_SIZE
    steps: int = DEFAULT_STEPS
    guidance_scale: float = DEFAULT_GUIDANCE
    max_sequence_length: int = DEFAULT_SEQUENCE_LENGTH
    variation_seed: int = 0
    variation_strength: float = 0.0

    def __post_init__(self) -> None:
        checked = {
            "prompt": _text("Prompt", self.prompt, required=True),
            "negative_prompt": _text("Negative prompt", self.negative_prompt, required=False),
            "seed": _seed("Seed", self.seed),
            "width": _size("Width", self.width),
            "height": _size("Height", self.height),
            "steps": _bounded_integer("Steps", self.steps, STEPS_MIN, STEPS_MAX),
            "guidance_scale": _bounded_real("Guidance scale", self.guidance_scale, GUIDANCE_MIN, GUIDANCE_MAX),
            "max_sequence_length": _bounded_integer(
                "T5 sequence length", self.max_sequence_length, SEQUENCE_MIN, SEQUENCE_MAX
            ),
            "variation_seed": _seed("Variation seed", self.variation_seed),
            "variation_strength": _bounded_real(
                "Variation strength", self.variation_strength, VARIATION_STRENGTH_MIN, VARIATION_STRENGTH_MAX
            ),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def create(cls, *, seed: int | None = None, **values: Any) -> "GenerationRequest":
        """Validate `values` into a request; `seed=None` draws a random seed."""
        unknown = set(values) - {field.name for field in fields(cls)}
        if unknown:
            raise RequestError(f"Unknown request fields: {', '.join(sorted(unknown))}.")
        return cls(seed=random_seed() if seed is None else seed, **values)

    @property
    def uses_negative_prompt(self) -> bool:
        """True when guidance is above 1, which runs classifier-free guidance."""
        return self.guidance_scale > CFG_THRESHOLD

    @property
    def batch_key(self) -> BatchKey:
        """The fields that must be equal for requests to share one transformer batch.

        The negative prompt counts only when guidance uses it, so a comparison without
        guidance batches images whatever their (ignored) negative prompts.
        """
        return BatchKey(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt if self.uses_negative_prompt else "",
            width=self.width,
            height=self.height,
            steps=self.steps,
            guidance_scale=self.guidance_scale,
            max_sequence_length=self.max_sequence_length,
        )

    def with_seed(self, seed: int) -> "GenerationRequest":
        """The same request with another seed."""
        return replace(self, seed=seed)

    def with_steps(self, steps: int) -> "GenerationRequest":
        """The same request with another step count."""
        return replace(self, steps=steps)

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain JSON-friendly values."""
        return asdict(self)

