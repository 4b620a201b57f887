"""Compiling the pipeline so that no user waits for it: the repeated transformer blocks compiled
regionally with dynamic sizes, Inductor's caches kept across restarts, and on ZeroGPU the
`spaces` package's ahead-of-time compilation, falling back to eager when it fails.

Why regional and dynamic (measured on CPU with the tiny SD3, see benchmarks/cold_start.py
--compile): SD3's 38 `JointTransformerBlock`s are two graphs (37 alike, the last one
`context_pre_only`), compiled once each instead of one 38-block graph; with static shapes every
new image size or batch size recompiled (49 s for the first 1152x896 after a 1024² warm-up);
with dynamic sizes, one step at a batch of 2 and the batch-1 warm-up cover every size, batch,
guidance and T5 length (tests/test_compile.py counts the recompiles).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch
from diffusers import StableDiffusion3Pipeline

logger = logging.getLogger(__name__)

BLOCK_CLASS = "JointTransformerBlock"
CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"
# The ahead-of-time capture runs the pipeline once per kind of block at this size and batch: the
# batch of 2 keeps the batch dimension dynamic when exported (a size-1 example would fix it to 1).
AOT_EXAMPLE_SIZE = 1024
AOT_EXAMPLE_BATCH = 2
# GPU seconds asked of ZeroGPU for the capture and the compilation of both kinds of block.
AOT_GPU_SECONDS = 600


def compile_cache_dir() -> Path:
    """The project's folder for Inductor's caches: `$XDG_CACHE_HOME` (else ~/.cache)/turbo-studio/torch-compile."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "turbo-studio" / "torch-compile"


def use_compile_cache() -> Path:
    """Point Inductor's caches (FX graphs, AOT autograd, kernels) at `compile_cache_dir()` unless
    `TORCHINDUCTOR_CACHE_DIR` names another folder, and return the folder used.

    Torch's default is /tmp/torchinductor_<user>, which a restarted container or Space has lost; on a
    Space with persistent storage, set TORCHINDUCTOR_CACHE_DIR=/data/torch-compile.
    """
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    chosen = os.environ.get(CACHE_ENV)
    # Importing diffusers already wrote torch's default into the variable (Inductor's cache_dir()
    # does), so the default counts as unset: with setdefault, the cache stayed in /tmp.
    if chosen is None or os.path.abspath(chosen) == os.path.abspath(default_cache_dir()):
        os.environ[CACHE_ENV] = str(compile_cache_dir())
    return Path(os.environ[CACHE_ENV])


def compile_regions(pipe: StableDiffusion3Pipeline) -> None:
    """`torch.compile` each transformer block and the VAE decoder, with dynamic sizes, cached on disk."""
    use_compile_cache()
    transformer = pipe.transformer
    # diffusers 0.42.1 names no repeated blocks for SD3 (compile_repeated_blocks raises without them).
    transformer._repeated_blocks = [BLOCK_CLASS]
    transformer.compile_repeated_blocks(fullgraph=True, dynamic=True)
    # The decoder module, not `vae.decode`: with slicing, decode loops over the batch in Python,
    # so its compiled graph would depend on the batch size; the decoder always sees one image.
    pipe.vae.decoder.compile(fullgraph=True, dynamic=True)


def compile_batches(pipe: StableDiffusion3Pipeline, size: int = 1024) -> None:
    """One step at a batch of 2 and a non-square size, before the app's batch-1 square warm-up.

    Measured (TORCH_LOGS=recompiles, tiny SD3) after a 1024² batch-1 warm-up alone: the blocks' graphs
    were specialised to batch 1 (torch fixes sizes 0 and 1), so a batch of 3 recompiled them; the
    decoder's height and width shared one symbol ("duck sizing": both 128), so the first non-square
    size recompiled it (setting use_duck_shape = False did not stop it). Compiled here first, batches
    of 2 and more and every size share these graphs; the warm-up adds the blocks' batch-1 graphs.
    """
    with torch.no_grad():
        pipe(prompt=["compile"] * 2, width=size, height=size * 3 // 4, num_inference_steps=1)


def compile_ahead_of_time(pipe: StableDiffusion3Pipeline, size: int = AOT_EXAMPLE_SIZE) -> bool:
    """ZeroGPU: export one block of each kind with dynamic batch, image and text lengths, compile it
    with `spaces.aoti_compile` inside a GPU call, and patch every block of that kind with it.

    Returns whether the blocks are compiled; on any failure they stay eager and a warning says why.
    Off a Space, `spaces.GPU` runs the function in this process (how the tests run it on a CPU).
    """
    import spaces

    kinds = _blocks_by_kind(pipe.transformer)

    # No arguments: ZeroGPU pickles a GPU call's arguments to its forked worker, which inherits `pipe`.
    def export_and_compile() -> list:
        return _export_and_compile(pipe, kinds, size)

    try:
        compiled = spaces.GPU(duration=AOT_GPU_SECONDS)(export_and_compile)()
        from spaces.zero.torch.aoti import LazyAOTIModel

        for blocks, archive in zip(kinds, compiled):
            model = LazyAOTIModel(archive)  # one loaded package per kind; each block brings its weights
            for block in blocks:
                spaces.aoti_patch(block, model)
    except Exception as error:  # noqa: BLE001 - any failure leaves a working eager pipeline
        logger.warning(
            "Ahead-of-time compilation failed (%s: %s); the transformer runs eager (slower, same images).",
            type(error).__name__, str(error).splitlines()[0] if str(error) else "",
        )
        return False
    logger.info("Ahead-of-time compiled %d kind(s) of transformer block.", len(compiled))
    return True


def _blocks_by_kind(transformer: torch.nn.Module) -> list[list[torch.nn.Module]]:
    """The transformer's blocks grouped by structure: SD3.5 Large's last block is `context_pre_only`."""
    kinds: dict[tuple, list[torch.nn.Module]] = {}
    for block in transformer.transformer_blocks:
        kinds.setdefault((block.context_pre_only, block.use_dual_attention), []).append(block)
    return list(kinds.values())


def _export_and_compile(pipe: StableDiffusion3Pipeline, kinds: list[list[torch.nn.Module]], size: int) -> list:
    """In the GPU call: capture each kind's first block's inputs, export and AoT-compile it; the packages."""
    import spaces

    packages = []
    for blocks in kinds:
        with spaces.aoti_capture(blocks[0]) as call:
            pipe(prompt=["capture"] * AOT_EXAMPLE_BATCH, width=size, height=size, num_inference_steps=1)
        exported = export_block(blocks[0], call.args, call.kwargs)
        packages.append(spaces.aoti_compile(exported).archive_file)
    return packages


def export_block(block: torch.nn.Module, args: tuple, kwargs: dict) -> torch.export.ExportedProgram:
    """`torch.export` a transformer block from one captured call, with dynamic batch, image-token and
    text-token lengths (so every size, batch and T5 length runs the one compiled block)."""
    dynamic = torch.export.Dim.DYNAMIC
    tokens = {0: dynamic, 1: dynamic}
    shapes = {"hidden_states": tokens, "encoder_hidden_states": tokens, "temb": {0: dynamic}}
    shapes = {name: shapes.get(name) for name in kwargs}  # joint_attention_kwargs: None, not a tensor
    return torch.export.export(block, args=args, kwargs=kwargs, dynamic_shapes=shapes)
