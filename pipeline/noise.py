"""The initial noise of each image: its seed's noise, moved toward a variation seed's by slerp."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from pipeline.request import GenerationRequest

# Above this cosine two noise vectors are treated as parallel and mixed linearly, as A1111 does:
# slerp divides by sin(angle), which vanishes there (exactly 0 when both seeds are the same).
PARALLEL_COSINE = 0.9995


def slerp(strength: float, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation from `low` (strength 0) to `high` (strength 1).

    Tensors are (batch, channels, height, width); the angle is taken per spatial position over
    the channel axis (A1111's variation seeds). Both ends are returned exactly: each weight is
    sin(...) / sin(angle), which is 1.0 or 0.0 there.
    """
    cosine = (torch.nn.functional.normalize(low, dim=1) * torch.nn.functional.normalize(high, dim=1)).sum(
        dim=1, keepdim=True
    )
    angle = torch.acos(cosine.clamp(-1.0, 1.0))
    sine = torch.sin(angle)
    spherical = torch.sin((1.0 - strength) * angle) / sine * low + torch.sin(strength * angle) / sine * high
    linear = (1.0 - strength) * low + strength * high
    return torch.where(cosine > PARALLEL_COSINE, linear, spherical)


def initial_noise(
    requests: Sequence[GenerationRequest], shape: tuple[int, int, int], dtype: torch.dtype
) -> torch.Tensor:
    """The starting latents of a batch, on the CPU: one `shape` (channels, height, width) draw per request.

    A request's noise is drawn with a CPU generator seeded with its seed, exactly as diffusers'
    `prepare_latents` draws it with a list of generators: an image is the same on every device,
    in every batch, and as it was before variation seeds existed. With a variation strength
    above 0, the variation seed's noise is drawn alike and the two are slerped in float32.
    """
    return torch.cat([_request_noise(request, shape, dtype) for request in requests])


def _request_noise(request: GenerationRequest, shape: tuple[int, int, int], dtype: torch.dtype) -> torch.Tensor:
    noise = _draw(request.seed, shape, dtype)
    if request.variation_strength == 0:
        return noise
    variation = _draw(request.variation_seed, shape, dtype)
    return slerp(request.variation_strength, noise.float(), variation.float()).to(dtype)


def _draw(seed: int, shape: tuple[int, int, int], dtype: torch.dtype) -> torch.Tensor:
    return torch.randn((1, *shape), generator=torch.Generator("cpu").manual_seed(seed), dtype=dtype)
