"""Step previews: the model's estimate of the finished image, decoded cheaply.

After an Euler step of flow matching, `x_next = x + (sigma_next - sigma) * v`, so the velocity
and the estimate of the clean latent follow from two consecutive latents:
`v = (x_next - x) / (sigma_next - sigma)` and `x0 = x_next - sigma_next * v`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
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


def to_pixels(rgb: torch.Tensor) -> torch.Tensor:
    """A (batch, 3, h, w) tensor in [-1, 1] as (batch, h, w, 3) bytes, on its own device."""
    return ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1)


def pil_images(pixels: torch.Tensor) -> list[Image.Image]:
    """(batch, h, w, 3) bytes in host memory as PIL images."""
    return [Image.fromarray(array) for array in pixels.numpy()]


class Previewer(Protocol):
    """Turns clean-latent estimates (in the transformer's scaled space) into images.

    A previewer may also offer `pixels(latents)`, the images as (batch, h, w, 3) bytes on the
    latents' device: on a GPU, `start_preview` then decodes without waiting for the device.
    """

    def __call__(self, latents: torch.Tensor) -> list[Image.Image]: ...


class LatentRGBPreviewer:
    """A 16x3 linear map: costs next to nothing, images at 1/8 of the final size."""

    def __init__(self) -> None:
        # The map per (device, dtype), placed once: copying it from pageable host memory to a GPU
        # at every step would wait for the device, and so stall the step loop.
        self._placed: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def pixels(self, latents: torch.Tensor) -> torch.Tensor:
        key = (latents.device, latents.dtype)
        if key not in self._placed:
            factors, bias = torch.tensor(SD3_LATENT_RGB_FACTORS), torch.tensor(SD3_LATENT_RGB_BIAS)
            self._placed[key] = (factors.to(*key), bias.to(*key))
        factors, bias = self._placed[key]
        return to_pixels(torch.einsum("bchw,cr->brhw", latents, factors) + bias[None, :, None, None])

    def __call__(self, latents: torch.Tensor) -> list[Image.Image]:
        return pil_images(self.pixels(latents).cpu())


class TinyAutoencoderPreviewer:
    """TAESD3 (diffusers `AutoencoderTiny`): near-final previews at full size in a few ms on a GPU."""

    def __init__(self, decoder) -> None:
        self._decoder = decoder

    @torch.no_grad()
    def pixels(self, latents: torch.Tensor) -> torch.Tensor:
        config = self._decoder.config
        unscaled = latents / config.scaling_factor + config.shift_factor
        return to_pixels(self._decoder.decode(unscaled.to(self._decoder.dtype), return_dict=False)[0].float())

    def __call__(self, latents: torch.Tensor) -> list[Image.Image]:
        return pil_images(self.pixels(latents).cpu())


PendingPreview = Callable[[], list[Image.Image]]


def start_preview(previewer: Previewer, latents: Callable[[], torch.Tensor]) -> PendingPreview:
    """Begin a preview of the clean latents that `latents()` computes, without waiting for a device;
    the function returned finishes it, in whichever thread calls it (not the step loop's).

    On a GPU, the estimate, the decode and a `non_blocking` copy into pinned memory are queued now,
    behind the step that made the latents, and the copy's CUDA event is what the finishing thread
    waits for: the step loop never synchronises. Elsewhere (a CPU, or a previewer without `pixels`)
    all the work is left to the finishing thread.
    """
    pixels = getattr(previewer, "pixels", None)
    if pixels is None or not torch.cuda.is_available():
        return lambda: previewer(latents())
    on_device = latents()
    if on_device.device.type != "cuda":
        return lambda: previewer(on_device)
    decoded = pixels(on_device)
    host = torch.empty(decoded.shape, dtype=decoded.dtype, pin_memory=True)
    host.copy_(decoded, non_blocking=True)
    copied = torch.cuda.Event()
    copied.record()

    def finish() -> list[Image.Image]:
        copied.synchronize()
        return pil_images(host)

    return finish


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
