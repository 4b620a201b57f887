"""Loading: the real code path on the tiny SD3, each failure's message, and the random builders."""

import json
import shutil

import httpx2
import pytest
import torch
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

from pipeline import Engine, GenerationRequest, LoadOptions, loader
from pipeline.errors import ModelLoadError
from pipeline.previews import LatentRGBPreviewer, TinyAutoencoderPreviewer, load_previewer
from pipeline.random_model import LARGE, TINY, build_random_pipeline


def load_error(**options) -> str:
    with pytest.raises(ModelLoadError) as raised:
        loader.load_pipeline(LoadOptions(warmup=False, **options))
    return str(raised.value)


def test_a_folder_that_is_not_a_pipeline(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0")
    message = load_error(model=str(tmp_path))
    assert f"{tmp_path} is not a diffusers pipeline folder: it has no model_index.json" in message


def test_a_pipeline_folder_missing_a_component(tiny_model_dir, tmp_path):
    broken = tmp_path / "no-vae"
    shutil.copytree(tiny_model_dir, broken)
    shutil.rmtree(broken / "vae")
    assert "lacks the `vae` component (no vae/ folder)" in load_error(model=str(broken))


def test_a_folder_missing_t5_loads_when_t5_is_dropped(tiny_model_dir, tmp_path):
    no_t5 = tmp_path / "no-t5"
    shutil.copytree(tiny_model_dir, no_t5)
    shutil.rmtree(no_t5 / "text_encoder_3")
    assert "lacks the `text_encoder_3` component" in load_error(model=str(no_t5))
    pipe, info = loader.load_pipeline(LoadOptions(model=str(no_t5), text_encoder_3=False, warmup=False))
    assert pipe.text_encoder_3 is None and info.device == "cpu"
    engine = Engine(pipe, info)
    request = GenerationRequest.create(prompt="a cat", seed=1, width=256, height=256, steps=1)
    assert engine.generate_images(request)[0].image.size == (256, 256)


def test_a_pipeline_of_another_kind(tmp_path):
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    message = load_error(model=str(tmp_path))
    assert "holds a 'StableDiffusionXLPipeline' pipeline, not StableDiffusion3Pipeline" in message


def test_an_uncached_hub_id_offline():
    message = load_error(model="stabilityai/stable-diffusion-3.5-large-turbo")
    assert "is not in the local Hugging Face cache and the hub cannot be reached" in message


def test_neither_a_folder_nor_a_hub_id():
    assert "is neither an existing folder nor a hub id" in load_error(model="./no/such/folder")


def _http_error(kind, status):
    response = httpx2.Response(status, request=httpx2.Request("GET", "https://huggingface.co/api/models/x"))
    return kind(f"{status} error", response=response)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_http_error(GatedRepoError, 403),
         "is gated and this token has no access to it: accept the Stability Community License"),
        (_http_error(HfHubHTTPError, 401),
         "The hub refused the token for stabilityai/stable-diffusion-3.5-large-turbo (HTTP 401)"),
    ],
)
def test_gated_repo_and_bad_token_name_the_licence_and_hf_token(monkeypatch, error, expected):
    def refuse(*args, **kwargs):
        raise error

    monkeypatch.setattr(loader, "snapshot_download", refuse)
    message = load_error(model=loader.DEFAULT_MODEL)
    assert expected in message and "HF_TOKEN" in message


def test_only_the_needed_files_are_downloaded(monkeypatch, tiny_model_dir):
    asked = {}

    def fake_download(repo_id, allow_patterns, ignore_patterns):
        asked.update(allow=allow_patterns, ignore=ignore_patterns)
        return str(tiny_model_dir)

    monkeypatch.setattr(loader, "snapshot_download", fake_download)
    assert loader.resolve_model_folder(loader.DEFAULT_MODEL, text_encoder_3=False) == tiny_model_dir
    assert "transformer/*" in asked["allow"] and "text_encoder_3/*" not in asked["allow"]
    assert {"*.fp16.*", "text_encoders/*"} <= set(asked["ignore"])
    assert not any(pattern.endswith(".safetensors") and "/" not in pattern for pattern in asked["allow"])


def test_gpu_memory_modes_without_cuda():
    assert "Memory mode 'gpu' needs a CUDA GPU and none was found" in load_error(model="tiny", memory_mode="gpu")


def test_optional_packages_are_named_when_missing(tiny_model_dir, monkeypatch):
    monkeypatch.setattr(loader.importlib.util, "find_spec", lambda name: None)
    assert "NF4 quantisation needs the `bitsandbytes` package: pip install bitsandbytes" in load_error(
        model=str(tiny_model_dir), quantization="nf4"
    )
    assert "pip install torchao" in load_error(model=str(tiny_model_dir), quantization="int8")


def test_fp8_without_a_float8_gpu_names_what_it_needs(tiny_model_dir):
    message = load_error(model=str(tiny_model_dir), quantization="fp8", compile=True)
    assert "fp8 quantisation needs an NVIDIA GPU with float8 support (compute capability 8.9" in message
    assert "no CUDA GPU was found" in message and "--quantization int8" in message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"memory_mode": "fast"},
         "Unknown memory mode 'fast'; choose one of auto, gpu, model-offload, sequential-offload"),
        ({"quantization": "fp4"}, "Unknown quantisation 'fp4'"),
        ({"max_batch_size": 0}, "The batch size must be at least 1"),
    ],
)
def test_bad_options(options, expected):
    with pytest.raises(ModelLoadError, match=expected):
        LoadOptions(**options)


def test_the_tiny_model_is_deterministic():
    first, second = (build_random_pipeline(TINY, seed=3) for _ in range(2))
    for name in ("transformer", "vae", "text_encoder", "text_encoder_3"):
        for a, b in zip(getattr(first, name).parameters(), getattr(second, name).parameters()):
            assert torch.equal(a, b)


def test_the_large_random_model_has_sd35_large_shapes():
    pipe = build_random_pipeline(LARGE, device="meta", dtype=torch.bfloat16)
    names = ("transformer", "text_encoder_3")
    billions = {name: sum(p.numel() for p in getattr(pipe, name).parameters()) / 1e9 for name in names}
    assert 8.0 < billions["transformer"] < 8.2 and 4.7 < billions["text_encoder_3"] < 4.8
    assert pipe.transformer.config.caption_projection_dim == 2432
    assert pipe.vae_scale_factor == 8 and pipe.scheduler.config.shift == 3.0


def test_the_tiny_model_warms_up_through_engine_load(tiny_model_dir):
    engine = Engine.load(LoadOptions(model=str(tiny_model_dir), preview_decoder=""))
    assert engine.info.model == str(tiny_model_dir) and engine.info.dtype == "float32"
    # The warm-up prompt was encoded: encoding it again runs no text encoder (it comes from the cache).
    calls = []
    hook = engine.pipeline.text_encoder.register_forward_hook(lambda *_: calls.append(1))
    try:
        engine.prompts.encode("warm-up", GenerationRequest(prompt="warm-up").max_sequence_length)
        engine.prompts.encode("not warmed up", GenerationRequest(prompt="warm-up").max_sequence_length)
    finally:
        hook.remove()
    assert calls == [1]  # only the prompt never seen before ran the encoder


def test_previews_use_taesd3_when_its_weights_are_local(engine, tmp_path):
    from diffusers import AutoencoderTiny

    torch.manual_seed(0)
    AutoencoderTiny(
        latent_channels=16, encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
        scaling_factor=1.5305, shift_factor=0.0609,
    ).save_pretrained(tmp_path)
    previewer = load_previewer(str(tmp_path), "cpu", torch.float32)
    assert isinstance(previewer, TinyAutoencoderPreviewer)
    images = previewer(torch.randn(2, 16, 32, 40))
    assert [image.size for image in images] == [(320, 256)] * 2
    assert isinstance(load_previewer("madebyollin/taesd3", "cpu", torch.float32), LatentRGBPreviewer)


def test_int8_weight_only_transformer_loads_and_generates(tiny_model_dir):
    engine = Engine.load(LoadOptions(model=str(tiny_model_dir), quantization="int8", warmup=False, preview_decoder=""))
    assert type(engine.pipeline.transformer.proj_out.weight).__name__ == "Int8Tensor"
    request = GenerationRequest.create(prompt="a cat", seed=1, width=256, height=256, steps=2)
    assert engine.generate_images(request)[0].image.size == (256, 256)
