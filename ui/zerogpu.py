"""ZeroGPU support: on a ZeroGPU Space the runs on the engine (`Runner.generate` and `compare`)
run under `spaces.GPU`, with a duration estimated from their requests. Anywhere else nothing is
imported and nothing changes.

app.py imports this module first: `spaces` must patch torch before anything imports torch, so
this module imports neither torch, diffusers, huggingface_hub nor `pipeline`, and it reads
SPACES_ZERO_GPU (which Hugging Face sets) itself: cli.py, the reader of the app's own variables,
imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TypeVar

Handler = TypeVar("Handler", bound=Callable)

# Hugging Face sets this variable on ZeroGPU Spaces.
ON_ZEROGPU = os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "t", "true")
if ON_ZEROGPU:
    import spaces

# Generous for SD3.5 Large on a ZeroGPU slice (about 0.2 s per megapixel-step in bf16), plus
# the time to move the weights onto the GPU for the first call.
SECONDS_FIXED = 15
SECONDS_PER_MEGAPIXEL_STEP = 0.5


def estimated_seconds(requests: Iterable) -> int:
    """GPU seconds to ask for: the fixed time plus, per image, steps x megapixels, doubled by
    classifier-free guidance. `requests` are `GenerationRequest`s (any objects with their fields)."""
    from pipeline.request import CFG_THRESHOLD  # called by then: torch is loaded

    work = sum(
        request.steps * request.width * request.height / 2**20 * (2 if request.guidance_scale > CFG_THRESHOLD else 1)
        for request in requests
    )
    return round(SECONDS_FIXED + work * SECONDS_PER_MEGAPIXEL_STEP)


def on_gpu(requests_of: Callable[..., Iterable]) -> Callable[[Handler], Handler]:
    """`spaces.GPU` on ZeroGPU, asking for the `estimated_seconds` of the requests that
    `requests_of` picks from the function's arguments (it is called with the same ones);
    elsewhere the function itself."""
    if not ON_ZEROGPU:
        return lambda function: function

    def seconds(*args, **kwargs) -> int:
        return estimated_seconds(requests_of(*args, **kwargs))

    return spaces.GPU(duration=seconds)
