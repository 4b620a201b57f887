"""What the engine streams: a `Preview` after every step, then a `Finished` per batch."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image

from pipeline.request import GenerationRequest
from pipeline.tokens import DroppedWords


@dataclass(frozen=True)
class Preview:
    """The model's current estimate of the finished image(s), after `step` of `total_steps`.

    `images` are cheap decodes (1/8 of the final size for the latent-to-RGB previewer),
    one per image of the batch, in the order of `requests`; `indices` are those images'
    positions in the requests given to the engine (`(0,)` for `Engine.generate`).
    """

    step: int
    total_steps: int
    images: list[Image.Image]
    requests: list[GenerationRequest]
    indices: tuple[int, ...]


@dataclass(frozen=True)
class GeneratedImage:
    """A final image and the exact request that made it."""

    image: Image.Image
    request: GenerationRequest
    model: str


@dataclass(frozen=True)
class Finished:
    """A batch is done: its images, their positions in the requests given to the engine (as
    `Preview.indices`), and the prompt words each text encoder dropped (found when the prompt was
    encoded, so nobody needs to tokenise it again; `str()` of each says it in a sentence)."""

    images: list[GeneratedImage]
    indices: tuple[int, ...]
    dropped: tuple[DroppedWords, ...] = ()
