"""ZeroGPU support: on a ZeroGPU Space the generation handlers run under `spaces.GPU`, with a
duration estimated from the request. Anywhere else nothing is imported and nothing changes.

Import this module before the model loads: on ZeroGPU, `spaces` must patch torch before CUDA starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pipeline.loader import on_zero_gpu
from pipeline.request import CFG_THRESHOLD

Handler = TypeVar("Handler", bound=Callable)

# Generous for SD3.5 Large on a ZeroGPU slice (about 0.2 s per megapixel-step in bf16), plus
# the time to move the weights onto the GPU for the first call.
SECONDS_FIXED = 15
SECONDS_PER_MEGAPIXEL_STEP = 0.5

ON_ZEROGPU = on_zero_gpu()
if ON_ZEROGPU:
    import spaces


def estimated_seconds(images: int, steps: int, width: int, height: int, guidance_scale: float) -> int:
    """GPU seconds to ask for: images x steps x megapixels, doubled by classifier-free guidance.

    Values that are not numbers get the fixed time: the handler refuses them with a clear error.
    """
    try:
        passes = 2 if guidance_scale > CFG_THRESHOLD else 1
        work = images * steps * width * height / 2**20 * passes
    except TypeError:
        return SECONDS_FIXED
    return round(SECONDS_FIXED + work * SECONDS_PER_MEGAPIXEL_STEP)


def on_gpu(duration: Callable[..., int]) -> Callable[[Handler], Handler]:
    """`spaces.GPU(duration=duration)` on ZeroGPU; elsewhere the handler itself."""
    if ON_ZEROGPU:
        return spaces.GPU(duration=duration)
    return lambda handler: handler
