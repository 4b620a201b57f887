"""PNG metadata: infotext format, exact round trips, hostile files, atomic saving."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import datetime

import pytest
from PIL import Image, ImageFile, PngImagePlugin

from pipeline import metadata
from pipeline.errors import RequestError
from pipeline.metadata import (
    MODEL_LABEL_DEFAULT,
    format_infotext,
    parse_infotext,
    png_bytes,
    read_request,
    save_png_atomically,
)
from pipeline.request import GenerationRequest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PROMPTS = [
    "a lighthouse at dusk",
    'a sign that says "OPEN, 24: 7", oil painting',
    "first line\nsecond line: with colon\n\nafter a blank line",
    "  leading and trailing spaces  ",
    "Steps: 4, Seed: 1, Size: 512x512",
    "a fox 🦊 in the snow ❄️",
    "一只在雪地里的狐狸，水墨画",
    "שועל בשלג, ציור שמן",
    "ثعلب في الثلج: لوحة زيتية",
]
NEGATIVES = ["", "blurry, lowres", 'no "text": none\nno watermark', "模糊 🙅"]


def request_for(prompt: str, negative: str = "", **values) -> GenerationRequest:
    defaults = {"seed": 1234, "steps": 4, "guidance_scale": 0.0}
    return GenerationRequest(prompt=prompt, negative_prompt=negative, **{**defaults, **values})


def small_image() -> Image.Image:
    return Image.new("RGB", (32, 16), (200, 30, 60))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_chunks(*chunks: tuple[bytes, bytes], size: tuple[int, int] = (1, 1)) -> bytes:
    """A hand-made RGB PNG: IHDR claiming `size`, the given chunks, one tiny IDAT, IEND."""
    header = struct.pack(">IIBBBBB", *size, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + b"\x00\x00\x00")
    body = [png_chunk(b"IHDR", header), *(png_chunk(*chunk) for chunk in chunks), png_chunk(b"IDAT", pixels)]
    return PNG_SIGNATURE + b"".join(body) + png_chunk(b"IEND", b"")


def png_with_parameters_only(text: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    buffer = io.BytesIO()
    small_image().save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def test_infotext_has_the_a1111_layout():
    request = request_for("a cat, sitting", "blurry", guidance_scale=3.5, width=768, height=1344)
    assert format_infotext(request, MODEL_LABEL_DEFAULT) == (
        "a cat, sitting\n"
        "Negative prompt: blurry\n"
        "Steps: 4, Sampler: Euler, CFG scale: 3.5, Seed: 1234, Size: 768x1344, "
        "Model: sd3.5_large_turbo, T5 length: 256"
    )


def test_infotext_omits_an_empty_negative_prompt_and_quotes_awkward_values():
    text = format_infotext(request_for("a cat"), 'my "model", v2: final')
    assert text.split("\n") == [
        "a cat",
        'Steps: 4, Sampler: Euler, CFG scale: 0.0, Seed: 1234, Size: 1024x1024, '
        'Model: "my \\"model\\", v2: final", T5 length: 256',
    ]


def test_infotext_records_a_variation_with_the_a1111_keys_only_above_strength_0():
    varied = request_for("a cat", seed=7, variation_seed=4294967295, variation_strength=0.15)
    assert format_infotext(varied, "tiny").split("\n")[-1] == (
        "Steps: 4, Sampler: Euler, CFG scale: 0.0, Seed: 7, Size: 1024x1024, Model: tiny, T5 length: 256, "
        "Variation seed: 4294967295, Variation seed strength: 0.15"
    )
    unvaried = request_for("a cat", seed=7, variation_seed=99, variation_strength=0.0)
    assert "Variation" not in format_infotext(unvaried, "tiny")
    assert parse_infotext(format_infotext(unvaried, "tiny")) == request_for("a cat", seed=7)


@pytest.mark.parametrize("strength", [1e-06, 0.15, 1 / 3, 1.0])
def test_a_variation_round_trips_through_the_infotext_and_the_json_chunk(strength):
    request = request_for("a cat, sitting", "blurry", variation_seed=42, variation_strength=strength)
    assert parse_infotext(format_infotext(request, MODEL_LABEL_DEFAULT)) == request
    data = png_bytes(small_image(), request, MODEL_LABEL_DEFAULT)
    assert read_request(data) == read_request(png_with_parameters_only(format_infotext(request, MODEL_LABEL_DEFAULT)))
    assert read_request(data) == (request, MODEL_LABEL_DEFAULT)


def test_a_variation_from_an_a1111_infotext_is_restored():
    text = (
        "a cat\nSteps: 8, Sampler: Euler a, CFG scale: 7, Seed: 1, Variation seed: 12345, "
        "Variation seed strength: 0.3, Seed resize from: 512x512, Size: 512x512"
    )
    request = parse_infotext(text)
    assert (request.seed, request.variation_seed, request.variation_strength) == (1, 12345, 0.3)


@pytest.mark.parametrize("negative", NEGATIVES)
@pytest.mark.parametrize("prompt", PROMPTS)
def test_infotext_round_trip_is_exact(prompt, negative):
    request = request_for(prompt, negative, guidance_scale=2.25, seed=4294967295, max_sequence_length=77)
    assert parse_infotext(format_infotext(request, MODEL_LABEL_DEFAULT)) == request


@pytest.mark.parametrize("negative", NEGATIVES)
@pytest.mark.parametrize("prompt", PROMPTS)
def test_png_round_trip_through_the_json_chunk_is_exact(prompt, negative):
    request = request_for(prompt, negative, width=512, height=768, steps=8, guidance_scale=1.5)
    assert read_request(png_bytes(small_image(), request, "model: a, b")) == (request, "model: a, b")


@pytest.mark.parametrize("prompt", PROMPTS)
def test_png_round_trip_through_the_infotext_alone_is_exact(prompt):
    request = request_for(prompt, "blurry, 模糊")
    data = png_with_parameters_only(format_infotext(request, MODEL_LABEL_DEFAULT))
    assert read_request(data) == (request, MODEL_LABEL_DEFAULT)


def test_non_latin1_text_is_stored_as_itxt_and_latin1_as_text():
    assert b"iTXt" in png_bytes(small_image(), request_for("一只狐狸 🦊"), MODEL_LABEL_DEFAULT)
    assert b"iTXt" not in png_bytes(small_image(), request_for("café au lait"), MODEL_LABEL_DEFAULT)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L"])
def test_png_bytes_keeps_every_pixel_and_puts_the_text_before_them(mode):
    noise = Image.effect_noise((61, 37), 80).convert(mode)
    data = png_bytes(noise, request_for("a cat"), MODEL_LABEL_DEFAULT)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.mode == ("RGBA" if mode == "RGBA" else "RGB")
        assert decoded.tobytes() == noise.convert(decoded.mode).tobytes()
    assert data.index(b"tEXtparameters") < data.index(b"tEXtturbo_studio") < data.index(b"IDAT")


def test_read_request_accepts_a_path_bytes_and_a_pil_image(tmp_path):
    request = request_for("a cat", seed=7)
    data = png_bytes(small_image(), request, MODEL_LABEL_DEFAULT)
    path = tmp_path / "cat.png"
    path.write_bytes(data)
    with Image.open(path) as opened:
        sources = [path, str(path), data, bytearray(data), opened]
        assert all(read_request(source) == (request, MODEL_LABEL_DEFAULT) for source in sources)


def test_read_request_never_decodes_pixels(monkeypatch):
    data = png_bytes(small_image(), request_for("a cat"), MODEL_LABEL_DEFAULT)

    def refuse(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    assert read_request(data)[0].prompt == "a cat"


def test_infotext_from_another_tool():
    text = (
        "masterpiece, a cat: sitting on a chair\n"
        "Negative prompt: blurry, lowres\n"
        "Steps: 8, Sampler: DPM++ 2M Karras, Schedule type: Karras, CFG scale: 7, Seed: 3141592653, "
        'Size: 512x768, Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Lora hashes: "foo: 1a2b, bar: 3c4d", '
        "Version: v1.10.1"
    )
    request = parse_infotext(text)
    assert request == GenerationRequest(
        prompt="masterpiece, a cat: sitting on a chair",
        negative_prompt="blurry, lowres",
        steps=8,
        guidance_scale=7.0,
        seed=3141592653,
        width=512,
        height=768,
    )
    assert read_request(png_with_parameters_only(text)) == (request, "sd_xl_base_1.0")


def test_missing_keys_take_the_request_defaults_and_crlf_is_tolerated():
    assert parse_infotext("a cat\r\non a mat\r\nSeed: 5, Sampler: Euler\r\n") == GenerationRequest(
        prompt="a cat\non a mat", seed=5
    )
    assert read_request(png_with_parameters_only("a cat\nSteps: 2"))[1] == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("a cat\nSteps: 20, Size: 512x512", "Steps must be between"),
        ("a cat\nSize: 500x700", "multiple of 16"),
        ("a cat\nSteps: many", "Steps in the parameters is 'many', not a number"),
        ("a cat\nSize: big", "expected WIDTHxHEIGHT"),
        ("a cat\nSeed: " + "9" * 5000, "not a number"),
        ("Steps: 4, Seed: 1", "Prompt is empty"),
        ("a cat\nSeed: 1, Variation seed strength: 1.5", "Variation strength must be between 0 and 1"),
        ("a cat\nSeed: 1, Variation seed: -1, Variation seed strength: 0.5", "Variation seed must be between"),
    ],
)
def test_invalid_values_in_an_infotext_are_refused(text, message):
    with pytest.raises(RequestError, match=message):
        parse_infotext(text)


@pytest.mark.parametrize("text", ["", "just a prompt, no parameters", "a cat\nportrait: a dog, smiling"])
def test_text_that_is_not_an_infotext_is_refused(text):
    with pytest.raises(RequestError, match="not a generation parameters text"):
        parse_infotext(text)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"this is not an image", "not a PNG image"),
        (b"", "not a PNG image"),
        (PNG_SIGNATURE + b"\x00\x00", "truncated or corrupt"),
    ],
)
def test_read_request_refuses_what_is_not_a_png(data, message):
    with pytest.raises(RequestError, match=message):
        read_request(data)


def test_read_request_refuses_a_jpeg():
    buffer = io.BytesIO()
    small_image().save(buffer, format="JPEG")
    with pytest.raises(RequestError, match="not a PNG image"):
        read_request(buffer.getvalue())


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_read_request_refuses_a_truncated_png(keep):
    data = png_bytes(small_image(), request_for("a cat"), MODEL_LABEL_DEFAULT)
    with pytest.raises(RequestError, match="truncated or corrupt"):
        read_request(data[: int(len(data) * keep)])


def test_read_request_refuses_a_png_with_a_bad_checksum():
    data = bytearray(png_bytes(small_image(), request_for("a cat"), MODEL_LABEL_DEFAULT))
    idat = data.index(b"IDAT")
    data[idat + 6] ^= 0xFF
    with pytest.raises(RequestError, match="truncated or corrupt"):
        read_request(bytes(data))


def test_read_request_refuses_a_decompression_bomb():
    data = png_with_chunks((b"tEXt", b"parameters\x00a cat\nSteps: 4"), size=(50_000, 50_000))
    with pytest.raises(RequestError, match="too large to inspect safely"):
        read_request(data)


def test_a_10_mb_parameters_chunk_is_refused_clearly():
    huge = b"parameters\x00" + b"a" * 10_000_000 + b"\nSteps: 4"
    with pytest.raises(RequestError, match="characters long; at most"):
        read_request(png_with_chunks((b"tEXt", huge)))


def test_a_10_mb_chunk_of_another_key_is_ignored():
    text = format_infotext(request_for("a cat"), MODEL_LABEL_DEFAULT).encode()
    data = png_with_chunks((b"tEXt", b"comment\x00" + b"a" * 10_000_000), (b"tEXt", b"parameters\x00" + text))
    assert read_request(data) == (request_for("a cat"), MODEL_LABEL_DEFAULT)


def test_read_request_refuses_an_image_without_parameters():
    buffer = io.BytesIO()
    small_image().save(buffer, format="PNG")
    with pytest.raises(RequestError, match="no generation parameters"):
        read_request(buffer.getvalue())
    with pytest.raises(RequestError, match="no generation parameters"):
        read_request(small_image())


@pytest.mark.parametrize(
    "json_text, message",
    [("{not json", "not valid JSON"), ("[1, 2]", "not a JSON object"), ('{"seed": 3}', "is not a request")],
)
def test_a_broken_json_chunk_is_refused(json_text, message):
    data = png_with_chunks((b"tEXt", b"turbo_studio\x00" + json_text.encode()))
    with pytest.raises(RequestError, match=message):
        read_request(data)


def test_read_request_reports_a_missing_file(tmp_path):
    with pytest.raises(RequestError, match="Could not open"):
        read_request(tmp_path / "missing.png")


def test_save_png_atomically_writes_a_readable_png_with_a_unique_name(tmp_path, monkeypatch):
    class FrozenClock(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2025, 1, 2, 3, 4, 5, 678901)

    monkeypatch.setattr(metadata, "datetime", FrozenClock)
    request = request_for("a cat", seed=42)
    data = png_bytes(small_image(), request, MODEL_LABEL_DEFAULT)
    first = save_png_atomically(tmp_path / "outputs", data, request.seed)
    second = save_png_atomically(tmp_path / "outputs", data, request.seed)
    assert (first.name, second.name) == ("20250102-030405-678901-42.png", "20250102-030405-678901-42-1.png")
    assert read_request(first) == read_request(second) == (request, MODEL_LABEL_DEFAULT)
    assert {path.name for path in first.parent.iterdir()} == {first.name, second.name}


def test_save_png_atomically_uses_a_timestamp_and_the_seed(tmp_path):
    path = save_png_atomically(tmp_path, png_bytes(small_image(), request_for("a cat"), MODEL_LABEL_DEFAULT), 99)
    assert re.fullmatch(r"\d{8}-\d{6}-\d{6}-99\.png", path.name)


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_save_png_atomically_leaves_no_file_when_the_write_fails(tmp_path, monkeypatch, failing):
    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(metadata.os, failing, fail)
    with pytest.raises(OSError, match="disk full"):
        save_png_atomically(tmp_path, png_bytes(small_image(), request_for("a cat"), MODEL_LABEL_DEFAULT), 1234)
    assert list(tmp_path.iterdir()) == []
