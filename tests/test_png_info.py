"""PNG info for any PNG: every known chunk read as written, settings parsed even outside Turbo
Studio's limits, and the nearest runnable request with each change it needed."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from helpers.bad_inputs import text_png
from pipeline.comparison import plan_comparison
from pipeline.errors import RequestError
from pipeline.grid import GRID_KEY, grid_png
from pipeline.metadata import JSON_KEY, MAX_JSON_DEPTH, json_depth, png_bytes
from pipeline.png_info import (
    COMFY_PROMPT_KEY,
    COMFY_WORKFLOW_KEY,
    NO_PARAMETERS,
    Fitted,
    FoundSettings,
    comfy_settings,
    fit_request,
    read_png_info,
)
from pipeline.request import GenerationRequest

MODEL = "sd3.5_large_turbo"
A1111 = (
    "masterpiece, a red fox in fresh snow\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M Karras, Schedule type: Karras, CFG scale: 7, Seed: 1234567, "
    "Size: 1000x1400, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Clip skip: 2, Version: v1.9.4"
)
# ComfyUI's default workflow in its API ("prompt") format, with a LoRA between checkpoint and sampler.
COMFY_GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 156680208700286, "steps": 20, "cfg": 8, "sampler_name": "euler", "scheduler": "normal",
        "denoise": 1, "model": ["10", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
    }},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd3.5_large.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 768, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["11", 0], "clip": ["10", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["10", 1]}},
    "10": {"class_type": "LoraLoader", "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": "x.safetensors"}},
    "11": {"class_type": "PrimitiveString", "inputs": {"value": "beautiful scenery, a glass bottle"}},
}


def test_an_a1111_png_is_read_as_written_even_beyond_our_limits():
    info = read_png_info(text_png(parameters=A1111))
    assert info.chunks == {"parameters": A1111} and info.notes == () and info.grid is None
    settings = info.settings
    assert settings.prompt == "masterpiece, a red fox in fresh snow" and settings.negative_prompt == "blurry, lowres"
    assert settings.values["Steps"] == "20" and settings.values["Size"] == "1000x1400"
    assert settings.values["Sampler"] == "DPM++ 2M Karras" and settings.values["Model"] == "sd_xl_base_1.0"


def test_sending_an_a1111_png_fits_it_and_lists_every_change():
    fitted = fit_request(read_png_info(text_png(parameters=A1111)).settings, MODEL)
    request = fitted.request
    assert (request.steps, request.width, request.height, request.guidance_scale) == (12, 1008, 1408, 7.0)
    assert request.seed == 1234567 and request.negative_prompt == "blurry, lowres"
    assert fitted.changes == (
        "Steps 20 → 12 (the most Turbo Studio allows)",
        "Size 1000x1400 → 1008x1408 (sides are multiples of 16 from 256 to 1536)",
        "Sampler DPM++ 2M Karras not used (Turbo Studio samples with Euler)",
        f"Model sd_xl_base_1.0 not used (this is {MODEL})",
        "Not used: Schedule type, Model hash, Clip skip, Version",
    )


def test_our_own_png_fits_exactly_without_changes():
    request = GenerationRequest(prompt="a lighthouse", negative_prompt="fog", seed=7, width=512, height=768,
                                steps=3, guidance_scale=2.5, variation_seed=9, variation_strength=0.25)
    info = read_png_info(png_bytes(Image.new("RGB", (32, 32)), request, MODEL))
    assert set(info.chunks) == {"parameters", JSON_KEY} and info.settings.source == "Turbo Studio"
    assert fit_request(info.settings, MODEL) == Fitted(request, ())


def test_a_comfyui_png_is_read_from_its_prompt_graph_following_links():
    workflow = json.dumps({"nodes": [], "links": []})
    info = read_png_info(text_png(prompt=json.dumps(COMFY_GRAPH), workflow=workflow))
    assert set(info.chunks) == {COMFY_PROMPT_KEY, COMFY_WORKFLOW_KEY}
    settings = info.settings
    assert settings.source == "ComfyUI"
    assert settings.prompt == "beautiful scenery, a glass bottle" and settings.negative_prompt == "text, watermark"
    assert settings.values == {
        "Steps": "20", "CFG scale": "8", "Seed": "156680208700286", "Sampler": "euler", "Schedule type": "normal",
        "Model": "sd3.5_large.safetensors", "Size": "512x768",
    }
    fitted = fit_request(settings, MODEL)
    assert (fitted.request.width, fitted.request.height, fitted.request.steps) == (512, 768, 12)
    seed = next(change for change in fitted.changes if change.startswith("Seed 156680208700286 → "))
    assert "drawn at random" in seed
    assert not any(change.startswith("Sampler") for change in fitted.changes)  # ComfyUI's euler is ours


def test_a_comfyui_graph_without_a_sampler_is_noted_and_its_chunks_still_shown():
    info = read_png_info(text_png(prompt=json.dumps({"1": {"class_type": "SaveImage", "inputs": {}}})))
    assert info.settings is None and COMFY_PROMPT_KEY in info.chunks
    assert "no sampler node" in info.notes[0]
    with pytest.raises(ValueError):
        comfy_settings([1, 2])


def test_a_parameters_text_without_a_settings_line_is_all_prompt():
    info = read_png_info(text_png(parameters="a watercolor fox\nNegative prompt: ugly"))
    settings = info.settings
    assert (settings.prompt, settings.negative_prompt, settings.values) == ("a watercolor fox", "ugly", {})
    assert "all of it is read as the prompt" in info.notes[0]
    fitted = fit_request(info.settings, MODEL)
    assert fitted.request.prompt == "a watercolor fox" and fitted.changes[0].startswith("No seed was given: ")


@pytest.mark.parametrize(
    ("values", "change"),
    [
        ({"Steps": "0"}, "Steps 0 → 1 (the least Turbo Studio allows)"),
        ({"Steps": "<b>many</b>"}, "Steps '<b>many</b>' is not a valid number; 4 is used"),
        ({"CFG scale": "30"}, "CFG scale 30 → 10 (the most Turbo Studio allows)"),
        ({"CFG scale": "nan"}, "CFG scale 'nan' is not a valid number; 0 is used"),
        ({"Size": "huge"}, "Size 'huge' is not WIDTHxHEIGHT; 1024x1024 is used"),
        ({"Size": "64x5000"}, "Size 64x5000 → 256x1536 (sides are multiples of 16 from 256 to 1536)"),
        ({"T5 length": "1000"}, "T5 length 1000 → 512 (the most Turbo Studio allows)"),
        ({"Variation seed strength": "2"}, "Variation seed strength 2 → 1 (the most Turbo Studio allows)"),
    ],
)
def test_values_outside_the_limits_are_changed_and_said(values, change):
    line = ", ".join(f"{key}: {value}" for key, value in {"Seed": "1", **values}.items())
    assert change in fit_request(read_png_info(text_png(parameters=f"a cat\n{line}")).settings, MODEL).changes


def test_an_overlong_or_nul_prompt_is_fitted_not_refused():
    fitted = fit_request(FoundSettings("parameters text", "a\x00b " + "x" * 5000, values={"Seed": "1"}), MODEL)
    assert fitted.request.prompt == ("ab " + "x" * 5000)[:4000]
    assert fitted.changes == ("Prompt: NUL characters removed", "Prompt cut to its first 4,000 of 5,003 characters")


def test_no_prompt_means_nothing_to_send_but_the_settings_are_shown():
    settings = read_png_info(text_png(parameters="\nSteps: 4, Seed: 3")).settings
    fitted = fit_request(settings, MODEL)
    assert fitted.request is None and fitted.changes[0].startswith("No prompt was found")


def test_a_grid_is_read_with_its_cells():
    base = GenerationRequest(prompt="a red fox", width=256, height=256, steps=2)
    comparison = plan_comparison(base, "1, 7", "steps", "1, 2")
    data = grid_png(comparison, [Image.new("RGB", (256, 256))] * 3 + [None], "tiny")
    info = read_png_info(data)
    assert set(info.chunks) == {"parameters", GRID_KEY}
    assert info.grid.comparison == comparison and info.grid.finished == (True, True, True, False)
    assert info.settings.prompt == "a red fox"  # the base settings, from the parameters text


def test_an_image_without_parameters_says_so_and_a_broken_file_is_refused():
    assert read_png_info(text_png()).notes == (NO_PARAMETERS,)
    with pytest.raises(RequestError, match="not a PNG image"):
        read_png_info(b"GIF89a not a png")
    with pytest.raises(RequestError, match="The parameters text is 70,000 characters long"):
        read_png_info(text_png(parameters="a" * 70_000))


@pytest.mark.parametrize("key", [JSON_KEY, GRID_KEY, COMFY_PROMPT_KEY, COMFY_WORKFLOW_KEY])
def test_deeply_nested_json_in_a_chunk_gets_a_clear_message_not_a_recursion_error(key):
    """Python's JSON parser fails with a RecursionError near a thousand levels; the depth is checked first."""
    nested = "[" * 10_000 + "]" * 10_000  # within every chunk's length limit
    with pytest.raises(RequestError, match=rf"The {key} metadata nests 10,000 levels deep; at most {MAX_JSON_DEPTH}"):
        read_png_info(text_png(**{key: nested}))


def test_json_depth_counts_brackets_outside_strings_only():
    assert json_depth('{"a": [1, {"b": "[[[[\\"["}]}') == 3
    assert json_depth("[]") == 1 and json_depth("") == 0 and json_depth('"{{{"') == 0
