"""ZeroGPU's ahead-of-time compilation, checked against the installed `spaces` package (0.51.3): the
calls we make exist with these signatures, a failure falls back to eager with a warning naming
why (on this CPU torch, `spaces`' AoT module itself cannot load), and a block exported from a
captured call runs every size, batch and text length."""

import ast
import inspect
import logging
from pathlib import Path

import pytest
import spaces
import torch

from pipeline import LoadOptions
from pipeline.compilation import export_block
from pipeline.loader import load_pipeline

AOTI_SOURCE = Path(inspect.getfile(spaces)).parent / "zero" / "torch" / "aoti.py"


def parameters(node: ast.FunctionDef) -> list[str]:
    return [argument.arg for argument in node.args.args]


def test_the_spaces_api_we_call_matches_the_installed_package():
    # spaces.zero.torch.aoti imports CUDA-only pieces on a CPU torch, so its source is read, not imported.
    tree = ast.parse(AOTI_SOURCE.read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert parameters(functions["aoti_capture"]) == ["module", "call_method"]
    assert parameters(functions["aoti_compile"]) == ["exported_program", "inductor_configs"]
    assert parameters(functions["aoti_patch"]) == ["module", "aoti_model", "call_method"]
    compiled_init = next(node for node in classes["ZeroGPUCompiledModel"].body if node.name == "__init__")
    assert "self.archive_file = archive_file" in ast.unparse(compiled_init)
    lazy_init = next(node for node in classes["LazyAOTIModel"].body if node.name == "__init__")
    assert parameters(lazy_init) == ["self", "archive_file"]
    assert {"aoti_capture", "aoti_compile", "aoti_patch", "GPU"} <= set(spaces.__all__)

    def handler():
        return "ran here"

    assert spaces.GPU(duration=600)(handler) is handler  # off a Space: the function itself, run in this process


def latents(pipe) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return pipe(prompt="a cat", width=256, height=192, num_inference_steps=2, generator=generator,
                output_type="latent").images


def test_a_failed_aot_compilation_leaves_an_eager_pipeline_and_says_why(tiny_model_dir, caplog):
    eager, _ = load_pipeline(LoadOptions(model=str(tiny_model_dir), warmup=False))
    with caplog.at_level(logging.WARNING, logger="pipeline.compilation"):
        pipe, _ = load_pipeline(LoadOptions(model=str(tiny_model_dir), warmup=False, zero_gpu=True, compile=True))
    warning = next(record.getMessage() for record in caplog.records if record.name == "pipeline.compilation")
    # The real package's failure on a CPU torch (no CUDA version): named, then eager.
    assert warning.startswith("Ahead-of-time compilation failed (AttributeError: ")
    assert warning.endswith("the transformer runs eager (slower, same images).")
    assert all(inspect.ismethod(block.forward) for block in pipe.transformer.transformer_blocks)
    assert torch.equal(latents(pipe), latents(eager))


class _Captured(Exception):
    def __init__(self, args, kwargs):
        super().__init__()
        self.call = (args, kwargs)


def captured_call(pipe, block, width: int, height: int, batch: int) -> tuple[tuple, dict]:
    """The arguments `block` is called with in a pipeline run (as spaces.aoti_capture records them)."""

    def capture(module, args, kwargs):
        raise _Captured(args, kwargs)

    handle = block.register_forward_pre_hook(capture, with_kwargs=True)
    try:
        pipe(prompt=["a cat"] * batch, width=width, height=height, num_inference_steps=1, max_sequence_length=77)
    except _Captured as captured:
        return captured.call
    finally:
        handle.remove()
    raise AssertionError("the block was not called")


@pytest.mark.slow  # torch.export of both kinds of block: ~20 s on 2 cores
@pytest.mark.parametrize("index", [0, -1], ids=["block", "last block (context_pre_only)"])
def test_an_exported_block_runs_other_sizes_batches_and_text_lengths(tiny_model_dir, index):
    pipe, _ = load_pipeline(LoadOptions(model=str(tiny_model_dir), warmup=False))
    block = pipe.transformer.transformer_blocks[index]
    args, kwargs = captured_call(pipe, block, 256, 256, batch=2)
    exported = export_block(block, args, kwargs).module()
    other_args, other = captured_call(pipe, block, 1216, 832, batch=3)
    other["encoder_hidden_states"] = torch.cat([other["encoder_hidden_states"]] * 2, dim=1)  # a longer text
    expected = block(*other_args, **other)
    with torch.no_grad():
        for mine, theirs in zip(exported(*other_args, **other), expected):
            assert (mine is None and theirs is None) or torch.allclose(mine, theirs, atol=1e-5)


def test_blocks_are_grouped_by_kind_one_compiled_package_each(tiny_model_dir):
    from pipeline.compilation import _blocks_by_kind
    from pipeline.random_model import LARGE, build_random_pipeline

    large = build_random_pipeline(LARGE, device="meta", dtype=torch.bfloat16).transformer
    assert [len(blocks) for blocks in _blocks_by_kind(large)] == [37, 1]
    assert _blocks_by_kind(large)[1][0] is large.transformer_blocks[-1]


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="spaces' AoT module needs a CUDA build of torch")
def test_aot_compilation_end_to_end_on_a_gpu(tiny_model_dir):
    """Where CUDA exists (off a Space, spaces.GPU runs in this process): the real capture, export,
    aoti_compile and aoti_patch, then the same latents as eager."""
    eager, _ = load_pipeline(LoadOptions(model=str(tiny_model_dir), warmup=False, memory_mode="gpu"))
    expected = latents(eager)
    from pipeline.compilation import compile_ahead_of_time

    assert compile_ahead_of_time(eager, size=256)
    assert all(not inspect.ismethod(block.forward) for block in eager.transformer.transformer_blocks)
    assert torch.allclose(latents(eager), expected, atol=2e-2)
