"""--compile on the tiny SD3 (CPU): the transformer compiled block by block, no recompile for any
size preset, batch or guidance after the warm-up, and Inductor's disk cache in the app's folder.
Counted with torch's own compile counters, never timed (benchmarks/cold_start.py --compile times it).

The module compiles into the app's compile cache (`use_compile_cache`), which tests/conftest.py's
fresh XDG_CACHE_HOME makes empty at each test session's start. In a whole run the GPU dry run
(tests/test_benchmarks.py, the same `compiles` group, before this module) has filled it, so these
graphs are read from it (20 s, not 110 s of compiling them again); alone, the module compiles them.
"""

import os

import pytest
from torch._dynamo.utils import counters

from pipeline import Engine, GenerationRequest, LoadOptions
from pipeline.compilation import CACHE_ENV, compile_cache_dir, use_compile_cache
from ui.settings import PRESETS

pytestmark = [pytest.mark.slow, pytest.mark.compiles]  # compiles: minutes on 2 loaded cores

# Dynamo graphs --compile makes at start (TORCH_LOGS=recompiles): the blocks' two kinds (the last block
# is context_pre_only) at batch 2+ and at batch 1 (torch fixes sizes of 1), and the decoder twice (its
# second call at start failed a guard on an argument that is None).
GRAPHS = 6


@pytest.fixture(scope="module")
def compiled(tiny_model_dir):
    """An engine loaded with --compile and warmed up (at 1024², batch 1), and torch's counters then."""
    counters.clear()
    engine = Engine.load(LoadOptions(model=str(tiny_model_dir), compile=True, preview_decoder=""))
    return engine, {name: dict(counters[name]) for name in ("inductor", "stats")}


def graphs_compiled() -> int:
    """Graphs dynamo has compiled in this process: a recompile adds one."""
    return counters["stats"]["unique_graphs"]


def test_the_transformer_is_compiled_block_by_block(compiled):
    engine, at_start = compiled
    transformer = engine.pipeline.transformer
    assert transformer._compiled_call_impl is None  # not one whole-model graph
    assert all(block._compiled_call_impl is not None for block in transformer.transformer_blocks)
    assert engine.pipeline.vae.decoder._compiled_call_impl is not None
    inductor = at_start["inductor"]
    assert at_start["stats"]["unique_graphs"] == GRAPHS
    assert inductor.get("fxgraph_cache_miss", 0) + inductor.get("fxgraph_cache_hit", 0) == GRAPHS


def test_no_recompile_for_any_preset_batch_or_guidance_after_warm_up(compiled):
    engine, _ = compiled
    graphs = graphs_compiled()
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
    assert graphs_compiled() == graphs, "a request recompiled"


def test_the_compile_cache_is_the_apps_own_folder_which_a_restart_reads(compiled):
    """Inductor's graphs go to the app's folder, which outlives the process (torch's default,
    /tmp/torchinductor_<user>, a restarted Space has lost); a fresh process reading it back is
    `tests/test_benchmarks.py`'s GPU dry run (its warm start: every graph a cache hit, none missed)."""
    folder = compile_cache_dir()
    assert os.environ[CACHE_ENV] == str(folder) == str(use_compile_cache())
    assert folder.is_relative_to(os.environ["XDG_CACHE_HOME"])
    assert len(list((folder / "fxgraph").rglob("*"))) >= GRAPHS  # what the warm-up compiled
