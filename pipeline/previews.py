"""Step previews: the model's estimate of the finished image, decoded cheaply.

After an Euler step of flow matching, `x_next = x + (sigma_next - sigma) * v`, so the velocity
and the estimate of the clean latent follow from two consecutive latents:
`v = (x_next - x) / (sigma_next - sigma)` and `x0 = x_next - sigma_next * v`.
"""

from __future__ import annotations

import logging
from typing import Protocol

import torch
from PIL import Image

logger = logging.getLogger(__name__)

# Linear map from the 16 SD3 latent channels to RGB, and its bias (widely used factors).
SD3_LATENT_RGB_FACTORS = (
    (-0.0922, -0.0175, 0.0749),
    (0.0311, 0.0633, 0.0954),
    (0.1994, 0.0927, 0.0458),
    (0.0856, 0.0339, 0.0902),
    (0.0587, 0.0272, -0.0496),
    (-0.0006, 0.1104, 0.0309),
    (0.0978, 0.0306, 0.0427),
    (-0.0042, 0.1038, 0.1358),
    (-0.0194, 0.0020, 0.0669),
    (-0.0488, 0.0130, -0.0268),
    (0.0922, 0.0988, 0.0951),
    (-0.0278, 0.0524, -0.0542),
    (0.0332, 0.0456, 0.0895),
    (-0.0069, -0.0030, -0.0810),
    (-0.0596, -0.0465, -0.0293),
    (-0.1448, -0.1463, -0.1189),
)
SD3_LATENT_RGB_BIAS = (0.2394, 0.2135, 0.1925)
TAESD3_MODEL = "madebyollin/taesd3"


def estimate_clean_latents(
    previous: torch.Tensor, current: torch.Tensor, sigma: float, sigma_next: float
) -> torch.Tensor:
    """The x0 estimate from the latents before and after one flow-matching Euler step."""
    velocity = (current - previous) / (sigma_next - sigma)
    return current - sigma_next * velocity


def to_images(rgb: torch.Tensor) -> list[Image.Image]:
    """A (batch, 3, h, w) tensor in [-1, 1] as PIL images."""
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return [Image.fromarray(array) for array in pixels.permute(0, 2, 3, 1).cpu().numpy()]


class Previewer(Protocol):
    """Turns clean-latent estimates (in the transformer's scaled space) into images."""

    def __call__(self, latents: torch.Tensor) -> list[Image.Image]: ...


class LatentRGBPreviewer:
    """A 16x3 linear map: costs next to nothing, images at 1/8 of the final size."""

    def __init__(self) -> None:
        self._factors = torch.tensor(SD3_LATENT_RGB_FACTORS)
        self._bias = torch.tensor(SD3_LATENT_RGB_BIAS)

    def __call__(self, latents: torch.Tensor) -> list[Image.Image]:
        factors = self._factors.to(latents.device, latents.dtype)
        bias = self._bias.to(latents.device, latents.dtype)
        rgb = torch.einsum("bchw,cr->brhw", latents, factors) + bias[None, :, None, None]
        return to_images(rgb)


class TinyAutoencoderPreviewer:
    """TAESD3 (diffusers `AutoencoderTiny`): near-final previews at full size in a few ms on a GPU."""

    def __init__(self, decoder) -> None:
        self._decoder = decoder

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor) -> list[Image.Image]:
        config = self._decoder.config
        unscaled = latents / config.scaling_factor + config.shift_factor
        decoded = self._decoder.decode(unscaled.to(self._decoder.dtype), return_dict=False)[0]
        return to_images(decoded.float())


def load_previewer(source: str | None, device: str, dtype: torch.dtype) -> Previewer:
    """TAESD3 from `source` when its weights are on this machine, else the latent-to-RGB map.

    `source` is a folder or a hub id, read from the local cache only (never downloaded here).
    """
    if not source:
        return LatentRGBPreviewer()
    from diffusers import AutoencoderTiny

    try:
        decoder = AutoencoderTiny.from_pretrained(source, local_files_only=True, dtype=dtype)
    except (OSError, ValueError) as error:
        logger.info("TAESD3 weights not available (%s); using latent-to-RGB previews.", error)
        return LatentRGBPreviewer()
    return TinyAutoencoderPreviewer(decoder.to(device).eval())
