"""fp8: refused without --compile, and which layers the GPU's config quantises, decided by diffusers'
own quantiser over the real module tree of SD3.5 Large (meta device) and of the tiny SD3."""

import pytest
import torch
from diffusers import SD3Transformer2DModel
from diffusers.quantizers import DiffusersAutoQuantizer
from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow

from cli import parse_args
from pipeline import LoadOptions
from pipeline.errors import ModelLoadError
from pipeline.loader import fp8_config
from pipeline.random_model import LARGE, build_random_pipeline

# Every block's attention projections and feed-forwards; the last block of SD3 has no context outputs.
BLOCK_LAYERS = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj",
                "attn.to_out.0", "ff.net.0.proj", "ff.net.2")
CONTEXT_OUTPUT_LAYERS = ("attn.to_add_out", "ff_context.net.0.proj", "ff_context.net.2")
KEPT_IN_BF16 = ("time_text_embed.timestep_embedder.linear_1", "time_text_embed.timestep_embedder.linear_2",
                "time_text_embed.text_embedder.linear_1", "time_text_embed.text_embedder.linear_2",
                "context_embedder", "norm_out.linear", "proj_out")


def test_fp8_without_compile_is_refused_with_the_fix():
    with pytest.raises(ModelLoadError, match=r"--quantization fp8 needs --compile: .* Add --compile"):
        LoadOptions(quantization="fp8")
    assert LoadOptions(quantization="fp8", compile=True).compile


def test_the_command_line_refuses_fp8_without_compile(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--quantization", "fp8"], environ={})
    assert "--quantization fp8 needs --compile" in capsys.readouterr().err
    assert parse_args(["--quantization", "fp8", "--compile"], environ={}).load.quantization == "fp8"


def quantised_layers(folder) -> tuple[set[str], torch.nn.Module, object]:
    """The Linear layers whose weights diffusers' torchao quantiser converts with `fp8_config(folder)`."""
    config = fp8_config(folder)
    quantizer = DiffusersAutoQuantizer.from_config(config, pre_quantized=False)
    with torch.device("meta"):
        model = SD3Transformer2DModel.from_config(SD3Transformer2DModel.load_config(folder, subfolder="transformer"))
    quantizer._process_model_before_weight_loading(model, device_map=None)
    chosen = {
        name.removesuffix(".weight") for name, parameter in model.named_parameters()
        if quantizer.check_if_quantized_param(model, parameter, name, {})
    }
    return chosen, model, config


def expected_layers(layers: int) -> set[str]:
    expected = set()
    for index in range(layers):
        names = BLOCK_LAYERS + (CONTEXT_OUTPUT_LAYERS if index < layers - 1 else ())
        expected |= {f"transformer_blocks.{index}.{name}" for name in names}
    return expected


def test_fp8_quantises_the_blocks_of_sd35_large_and_keeps_small_layers_in_bf16(tmp_path):
    build_random_pipeline(LARGE, device="meta", dtype=torch.bfloat16).transformer.save_config(tmp_path / "transformer")
    chosen, model, config = quantised_layers(tmp_path)
    assert chosen == expected_layers(38)
    linears = {name: module for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    kept = set(linears) - chosen
    assert kept == set(KEPT_IN_BF16) | {
        f"transformer_blocks.{index}.{norm}" for index in range(38) for norm in ("norm1.linear", "norm1_context.linear")
    }
    # The adaLN and time layers run once per image; of the layers run on every token, the quantised
    # ones hold nearly all the weights (so nearly all the matmul work).
    weights = {name: module.weight.numel() for name, module in linears.items()}
    once_per_image = {name for name in kept if "norm" in name or name.startswith("time_text_embed")}
    per_token = set(linears) - once_per_image
    assert sum(weights[name] for name in chosen) / sum(weights[name] for name in per_token) > 0.99
    # The config is the one the GPU runs: float8 weights and dynamic activations, row-wise scales.
    assert isinstance(config.quant_type, Float8DynamicActivationFloat8WeightConfig)
    assert all(isinstance(granularity, PerRow) for granularity in config.quant_type.granularity)


def test_fp8_selection_on_the_tiny_model(tiny_model_dir):
    chosen, _, _ = quantised_layers(tiny_model_dir)
    assert chosen == expected_layers(2)
