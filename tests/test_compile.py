"""--compile on the tiny SD3 (CPU): the transformer compiled block by block, no recompile for any
size preset, batch or guidance after the warm-up, and a restart that reads Inductor's disk cache.
Counted with torch's own compile counters, never timed (benchmarks/cold_start.py --compile times it)."""

import json
import os
import subprocess
import sys

import pytest
from torch._dynamo.utils import counters

from pipeline import Engine, GenerationRequest, LoadOptions
from pipeline.compilation import CACHE_ENV
from ui.presets import PRESETS

pytestmark = pytest.mark.slow  # compiles: minutes on 2 loaded cores

# A fresh process that loads the tiny SD3 with --compile (warm-up included) and prints torch's counters.
WARM_START = """
import json, sys
from torch._dynamo.utils import counters
from pipeline import Engine, LoadOptions
Engine.load(LoadOptions(model=sys.argv[1], compile=True, preview_decoder=""))
print(json.dumps({name: dict(counters[name]) for name in ("inductor", "aot_autograd", "frames")}))
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("torch-compile")
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop(CACHE_ENV)
    else:
        os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="module")
def compiled(cache_dir, tiny_model_dir):
    """An engine loaded with --compile and warmed up (at 1024², batch 1) with an empty compile cache."""
    counters.clear()
    engine = Engine.load(LoadOptions(model=str(tiny_model_dir), compile=True, preview_decoder=""))
    return engine, {name: dict(counters[name]) for name in ("inductor", "frames")}


def test_the_transformer_is_compiled_block_by_block(compiled):
    engine, at_start = compiled
    transformer = engine.pipeline.transformer
    assert transformer._compiled_call_impl is None  # not one whole-model graph
    assert all(block._compiled_call_impl is not None for block in transformer.transformer_blocks)
    assert engine.pipeline.vae.decoder._compiled_call_impl is not None
    # Two block graphs (the last block is context_pre_only) and the decoder's, compiled from scratch.
    assert at_start["frames"]["ok"] == 3 and at_start["inductor"]["fxgraph_cache_miss"] >= 3


def test_no_recompile_for_any_preset_batch_or_guidance_after_warm_up(compiled):
    engine, _ = compiled
    compiled_frames = counters["frames"]["total"]
    for preset in PRESETS:
        request = GenerationRequest(prompt=f"a {preset.ratio} view", seed=1, width=preset.width,
                                    height=preset.height, steps=1)
        assert engine.generate_images(request)[0].image.size == (preset.width, preset.height)
    wide = PRESETS[-2]
    batch = [GenerationRequest(prompt="a batch", seed=seed, width=wide.width, height=wide.height, steps=1)
             for seed in (1, 2, 3)]
    assert len([event for event in engine.compare(batch, previews=True)]) == 2  # one preview, one Finished
    guided = GenerationRequest(prompt="guided", negative_prompt="blur", seed=1, width=832, height=1216, steps=1,
                               guidance_scale=2.0, max_sequence_length=77)
    engine.generate_images(guided)
    assert counters["frames"]["total"] == compiled_frames, "a request recompiled"


def test_a_restart_reads_the_compile_cache(compiled, cache_dir, tiny_model_dir):
    environment = {**os.environ, CACHE_ENV: str(cache_dir), "HF_HUB_OFFLINE": "1"}
    finished = subprocess.run(
        [sys.executable, "-c", WARM_START, str(tiny_model_dir)], capture_output=True, text=True, env=environment,
        timeout=900, check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    warm = json.loads(finished.stdout.strip().splitlines()[-1])
    assert warm["inductor"].get("fxgraph_cache_miss", 0) == 0
    assert warm["inductor"]["fxgraph_cache_hit"] == compiled[1]["inductor"]["fxgraph_cache_miss"]
