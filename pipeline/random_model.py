"""Randomly initialised SD3 pipelines built from the real classes, with no download.

`TINY` is small enough to make a 1024x1024 image on one CPU core in well under a second;
`LARGE` has the shapes of Stable Diffusion 3.5 Large (Turbo shares them), so its timings and
memory match the real model's. Both are saved with `save_pretrained` and loaded back through
`pipeline.loader`, the same code that loads the real weights.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    FlowMatchEulerDiscreteScheduler,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
)

CLIP_MAX_TOKENS = 77
T5_MAX_TOKENS = 512


@dataclass(frozen=True)
class ModelShape:
    """Every size that differs between the tiny model and SD3.5 Large."""

    name: str
    layers: int
    heads: int
    head_dim: int
    clip_l: tuple[int, int, int, int]  # hidden, layers, heads, intermediate
    clip_g: tuple[int, int, int, int]
    t5: tuple[int, int, int, int, int]  # d_model, d_ff, layers, heads, d_kv
    vae_channels: tuple[int, int, int, int]
    vae_layers: int
    vae_groups: int
    vae_mid_attention: bool
    clip_vocab: int
    t5_vocab: int


TINY = ModelShape(
    name="tiny",
    layers=2,
    heads=2,
    head_dim=8,
    clip_l=(32, 2, 2, 37),
    clip_g=(32, 2, 2, 37),
    t5=(64, 37, 2, 2, 16),
    vae_channels=(4, 4, 4, 4),
    vae_layers=1,
    vae_groups=2,
    vae_mid_attention=False,
    clip_vocab=256,
    t5_vocab=256,
)

LARGE = ModelShape(
    name="sd3.5-large-random",
    layers=38,
    heads=38,
    head_dim=64,
    clip_l=(768, 12, 12, 3072),
    clip_g=(1280, 32, 20, 5120),
    t5=(4096, 10240, 24, 64, 64),
    vae_channels=(128, 256, 512, 512),
    vae_layers=2,
    vae_groups=32,
    vae_mid_attention=True,
    clip_vocab=49408,
    t5_vocab=32128,
)

# Printable ASCII is enough for tokenizers built offline: one token per character.
_CHARACTERS = [chr(code) for code in range(33, 127)]


def build_clip_tokenizer() -> CLIPTokenizer:
    """A character-level CLIP tokenizer (77 tokens, like CLIP's) built without a download."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for suffix in ("", "</w>"):
        for char in _CHARACTERS:
            vocab[char + suffix] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=CLIP_MAX_TOKENS)


def build_t5_tokenizer() -> T5Tokenizer:
    """A character-level T5 (unigram) tokenizer built without a download."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(char, -2.0) for char in _CHARACTERS]
    pieces += [("\u2581" + char, -1.5) for char in _CHARACTERS]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=T5_MAX_TOKENS)


def _clip_encoder(sizes: tuple[int, int, int, int], vocab: int) -> CLIPTextModelWithProjection:
    hidden, layers, heads, intermediate = sizes
    config = CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        projection_dim=hidden,
        max_position_embeddings=CLIP_MAX_TOKENS,
        hidden_act="gelu",
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextModelWithProjection(config)


def _t5_encoder(sizes: tuple[int, int, int, int, int], vocab: int) -> T5EncoderModel:
    d_model, d_ff, layers, heads, d_kv = sizes
    config = T5Config(
        vocab_size=vocab,
        d_model=d_model,
        d_ff=d_ff,
        num_layers=layers,
        num_heads=heads,
        d_kv=d_kv,
        feed_forward_proj="gated-gelu",
    )
    return T5EncoderModel(config)


@contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_random_pipeline(
    shape: ModelShape = TINY, seed: int = 0, dtype: torch.dtype = torch.float32, device: str = "cpu"
) -> StableDiffusion3Pipeline:
    """Build an SD3 pipeline of `shape` with weights drawn from `seed` (same seed, same weights)."""
    clip_l_hidden, clip_g_hidden = shape.clip_l[0], shape.clip_g[0]
    inner_dim = shape.heads * shape.head_dim
    with torch.device(device), _default_dtype(dtype):  # built in `dtype`: no float32 copy of 8 B weights
        torch.manual_seed(seed)
        transformer = SD3Transformer2DModel(
            sample_size=128,
            patch_size=2,
            in_channels=16,
            out_channels=16,
            num_layers=shape.layers,
            attention_head_dim=shape.head_dim,
            num_attention_heads=shape.heads,
            joint_attention_dim=shape.t5[0],
            caption_projection_dim=inner_dim,
            pooled_projection_dim=clip_l_hidden + clip_g_hidden,
            pos_embed_max_size=192,
            qk_norm="rms_norm",
        )
        vae = AutoencoderKL(
            in_channels=3,
            out_channels=3,
            down_block_types=("DownEncoderBlock2D",) * 4,
            up_block_types=("UpDecoderBlock2D",) * 4,
            block_out_channels=shape.vae_channels,
            layers_per_block=shape.vae_layers,
            latent_channels=16,
            norm_num_groups=shape.vae_groups,
            mid_block_add_attention=shape.vae_mid_attention,
            sample_size=1024,
            scaling_factor=1.5305,
            shift_factor=0.0609,
            use_quant_conv=False,
            use_post_quant_conv=False,
        )
        text_encoder = _clip_encoder(shape.clip_l, shape.clip_vocab)
        text_encoder_2 = _clip_encoder(shape.clip_g, shape.clip_vocab)
        text_encoder_3 = _t5_encoder(shape.t5, shape.t5_vocab)
    pipeline = StableDiffusion3Pipeline(
        transformer=transformer,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=build_clip_tokenizer(),
        text_encoder_2=text_encoder_2,
        tokenizer_2=build_clip_tokenizer(),
        text_encoder_3=text_encoder_3,
        tokenizer_3=build_t5_tokenizer(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
    )
    return pipeline.to(dtype=dtype)


def tiny_model_dir() -> Path:
    """Where the tiny model is saved: the user's cache folder (`$XDG_CACHE_HOME`, else ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "turbo-studio" / "tiny-sd3"


def ensure_tiny_model(folder: Path | None = None) -> Path:
    """Save the tiny pipeline to `folder` unless it is already there; return the folder."""
    folder = Path(folder) if folder is not None else tiny_model_dir()
    if not (folder / "model_index.json").is_file():
        staging = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        build_random_pipeline(TINY).save_pretrained(staging)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(folder)
        except OSError:  # another process saved it first
            shutil.rmtree(staging, ignore_errors=True)
    return folder
