"""The physical floor of one image: FLOPs of the transformer passes and the VAE decode, over the GPU's peak.

The transformer is counted twice: by formula from its architecture (shown, so it can be checked
by hand) and by `torch.utils.flop_counter` running the model on the meta device (no memory, no
compute). The VAE decode is only counted. Both run on the pipeline's own configs, so the floor
follows whatever model is loaded (SD3.5 Large, or the tiny one in smoke runs).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

CLIP_TOKENS = 77
MLP_RATIO = 4
LATENT_FACTOR = 8  # VAE downsampling

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from NVIDIA's datasheets, matched in this
# order against torch.cuda.get_device_name(): the more specific names first.
PEAK_BF16_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H200", 989.4),
    ("GH200", 989.4),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("L40S", 362.1),
    ("L4", 121.0),
    ("RTX 4090", 165.2),
)


def datasheet_peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of the GPU called `device_name`, when it is in the table."""
    for fragment, tflops in PEAK_BF16_TFLOPS:
        if fragment in device_name:
            return tflops
    return None


@dataclass(frozen=True)
class Shape:
    """What the transformer's FLOPs depend on."""

    layers: int
    hidden: int
    image_tokens: int
    text_tokens: int

    @classmethod
    def of(cls, transformer_config, size: int, sequence_length: int) -> "Shape":
        """The shape of a transformer with `transformer_config` (a dict) at `size`² with a T5 of `sequence_length`."""
        return cls(
            layers=transformer_config["num_layers"],
            hidden=transformer_config["num_attention_heads"] * transformer_config["attention_head_dim"],
            image_tokens=(size // LATENT_FACTOR // transformer_config["patch_size"]) ** 2,
            text_tokens=CLIP_TOKENS + sequence_length,
        )

    @property
    def tokens(self) -> int:
        return self.image_tokens + self.text_tokens

    def linear_flops(self) -> float:
        """Per layer: QKV (3h²), output (h²) and MLP (2·4h²) multiply-adds per token, 2 FLOPs each."""
        return 2 * (4 + 2 * MLP_RATIO) * self.hidden**2 * self.tokens

    def attention_flops(self) -> float:
        """Per layer: QKᵀ and attention·V over the joint sequence, N²·h multiply-adds each."""
        return 2 * 2 * self.tokens**2 * self.hidden

    def pass_flops(self) -> float:
        """One transformer pass by formula (embedders, norms and modulation are < 0.5 % and left out)."""
        return self.layers * (self.linear_flops() + self.attention_flops())


def format_flops(flops: float) -> str:
    """FLOPs with an SI prefix that suits them (so the tiny model's arithmetic is readable too)."""
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6)):
        if flops >= scale:
            return f"{flops / scale:,.2f} {prefix}FLOP"
    return f"{flops:,.0f} FLOP"


def count_flops(run) -> float:
    """FLOPs of `run()` as counted by torch on the meta device."""
    with torch.device("meta"), FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def counted_pass_flops(transformer_config, size: int, sequence_length: int) -> float:
    """One transformer pass at `size`², counted on a meta-device copy of the architecture."""
    from diffusers import SD3Transformer2DModel

    def run():
        model = SD3Transformer2DModel.from_config(transformer_config)
        config, latent = model.config, size // LATENT_FACTOR
        model(
            hidden_states=torch.empty(1, config.in_channels, latent, latent),
            encoder_hidden_states=torch.empty(1, CLIP_TOKENS + sequence_length, config.joint_attention_dim),
            pooled_projections=torch.empty(1, config.pooled_projection_dim),
            timestep=torch.empty(1),
        )

    return count_flops(run)


def counted_decode_flops(vae_config, size: int) -> float:
    """One VAE decode to `size`², counted on a meta-device copy of the architecture."""
    from diffusers import AutoencoderKL

    def run():
        vae = AutoencoderKL.from_config(vae_config)
        latent = size // LATENT_FACTOR
        vae.decode(torch.empty(1, vae.config.latent_channels, latent, latent))

    return count_flops(run)


@dataclass(frozen=True)
class Floor:
    """The FLOPs of one image and the shortest time they can take at a given peak."""

    shape: Shape
    steps: int
    pass_formula: float
    pass_counted: float
    decode_counted: float
    peak_tflops: float | None
    peak_source: str

    @classmethod
    def of(
        cls, transformer_config, vae_config, size: int, steps: int, sequence_length: int,
        peak_tflops: float | None, peak_source: str,
    ) -> "Floor":
        """The floor for the models of these configs (dicts, as saved in a pipeline folder)."""
        shape = Shape.of(transformer_config, size, sequence_length)
        return cls(
            shape=shape,
            steps=steps,
            pass_formula=shape.pass_flops(),
            pass_counted=counted_pass_flops(transformer_config, size, sequence_length),
            decode_counted=counted_decode_flops(vae_config, size),
            peak_tflops=peak_tflops,
            peak_source=peak_source,
        )

    @property
    def image_flops(self) -> float:
        return self.steps * self.pass_counted + self.decode_counted

    @property
    def seconds(self) -> float | None:
        """The floor per image, or None when the peak is unknown."""
        return None if self.peak_tflops is None else self.image_flops / (self.peak_tflops * 1e12)

    def arithmetic(self) -> list[str]:
        """The derivation, line by line, for the script's output and the markdown table."""
        s, f = self.shape, format_flops
        lines = [
            f"Transformer pass: {s.layers} layers × (24·h²·N + 4·N²·h), h = {s.hidden}, "
            f"N = {s.image_tokens} image + {s.text_tokens} text tokens = {s.tokens}",
            f"  = {s.layers} × ({f(s.linear_flops())} + {f(s.attention_flops())}) = {f(self.pass_formula)} by formula; "
            f"{f(self.pass_counted)} counted by torch",
            f"{self.steps} steps × {f(self.pass_counted)} + VAE decode {f(self.decode_counted)} (counted) "
            f"= {f(self.image_flops)} per image (guidance 0: one pass per step)",
        ]
        if self.seconds is None:
            lines.append(f"Peak unknown ({self.peak_source}): pass --peak-tflops to get the floor")
        else:
            lines.append(
                f"Floor: {format_flops(self.image_flops)} / {self.peak_tflops:g} TFLOP/s ({self.peak_source}) "
                f"= {self.seconds:.3f} s per image"
            )
        return lines

    def to_json(self) -> dict:
        return {
            "layers": self.shape.layers,
            "hidden": self.shape.hidden,
            "image_tokens": self.shape.image_tokens,
            "text_tokens": self.shape.text_tokens,
            "steps": self.steps,
            "transformer_pass_tflop_formula": self.pass_formula / 1e12,
            "transformer_pass_tflop_counted": self.pass_counted / 1e12,
            "vae_decode_tflop_counted": self.decode_counted / 1e12,
            "image_tflop": self.image_flops / 1e12,
            "peak_tflops": self.peak_tflops,
            "peak_source": self.peak_source,
            "floor_s": self.seconds,
            "arithmetic": self.arithmetic(),
        }
