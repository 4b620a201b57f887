"""The one table of bad inputs, with the message fragment each must get.

Every case is checked on the engine (`GenerationRequest`, `parse_seed_list`, `read_request`)
and through the app: `/generate` and `/compare` with `gradio_client` and raw HTTP, and the
PNG info upload as the page sends it. A case's `field` says where its value goes:

- a request field (`prompt`, `width`, `seed`, ...): a `/generate` argument;
- `seeds`: the seed list of `/compare`;
- `upload`: the bytes of a file dropped on the PNG info tab (`UPLOAD_CASES` are refused with the
  message; `FITTED_UPLOADS` are read, and the message says what was changed to use them);
- `upload-value`: what a caller sends as the PNG info event's file instead of an upload (a URL,
  a number): refused with the message, naming no path;
- `history-entry`: one entry of the history as the browser hands it back; it is left out and the
  rest of the history shown (`message` is None: nothing is said).

`message` is None for odd inputs that are valid (emoji, right-to-left text, control
characters): those must generate, and their prompt must come back unchanged.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image, PngImagePlugin

from pipeline import GenerationRequest
from pipeline import request as limits
from pipeline.metadata import png_bytes
from ui.components import JPEG_DATA_URL
from ui.png_info_tab import UPLOAD_AGAIN

# HTML and script that must only ever be shown as text.
HOSTILE_HTML = '<img src=x onerror="document.body.dataset.pwned=1"><script>document.body.dataset.pwned=1</script>'


@dataclass(frozen=True)
class Case:
    """One bad (or odd but valid) input and what must be answered."""

    id: str
    field: str
    value: Any
    message: str | None

    @property
    def param(self):
        """This case as a pytest parameter named by its id."""
        return pytest.param(self, id=self.id)

    @property
    def json_safe(self) -> bool:
        """Whether strict JSON can carry the value (gradio_client refuses NaN, infinities, lone surrogates)."""
        if isinstance(self.value, float) and not math.isfinite(self.value):
            return False
        return not (isinstance(self.value, str) and any(0xD800 <= ord(c) <= 0xDFFF for c in self.value))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def handmade_png(*chunks: tuple[bytes, bytes], size: tuple[int, int] = (1, 1)) -> bytes:
    """An RGB PNG whose header claims `size`, with `chunks` before one tiny IDAT."""
    header = struct.pack(">IIBBBBB", *size, 8, 2, 0, 0, 0)
    body = [_png_chunk(b"IHDR", header), *(_png_chunk(*chunk) for chunk in chunks)]
    body.append(_png_chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00")))
    return b"\x89PNG\r\n\x1a\n" + b"".join(body) + _png_chunk(b"IEND", b"")


def text_png(**chunks: str) -> bytes:
    """A small real PNG carrying `chunks` as its text chunks, by key."""
    info = PngImagePlugin.PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 200)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def infotext_png(text: str) -> bytes:
    """A small real PNG carrying `text` as its `parameters` chunk."""
    return text_png(parameters=text)


def turbo_png(prompt: str) -> bytes:
    """A PNG as Turbo Studio writes it, for a request with `prompt`."""
    request = GenerationRequest(prompt=prompt, seed=7, width=256, height=256, steps=1)
    return png_bytes(Image.new("RGB", (64, 64), (200, 60, 30)), request, "tiny")


def jpeg_claiming(size: tuple[int, int]) -> bytes:
    """A small JPEG whose header (its SOF0 segment) claims `size`."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0") + 5  # marker, length (2), precision (1), then height and width
    data[frame:frame + 4] = struct.pack(">HH", size[1], size[0])
    return bytes(data)


def history_entry(seed: int = 7, thumbnail: bytes | None = None, **values) -> dict:
    """A history entry as the page keeps it: a request and a JPEG thumbnail (no full image)."""
    if thumbnail is None:
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), (30, 90, 160)).save(buffer, format="JPEG")
        thumbnail = buffer.getvalue()
    request = GenerationRequest(prompt="a lighthouse at dusk", seed=seed, width=256, height=256, steps=1).to_dict()
    return {"request": request, "thumbnail": JPEG_DATA_URL + base64.b64encode(thumbnail).decode("ascii"), **values}


_whole_png = turbo_png("a lighthouse at dusk")

REQUEST_CASES = [
    # Prompts.
    Case("prompt-empty", "prompt", "", "Prompt is empty: describe the image you want"),
    Case("prompt-whitespace", "prompt", " \n\t ", "Prompt is empty"),
    Case("prompt-4001-chars", "prompt", "x" * (limits.PROMPT_MAX_CHARS + 1),
         "Prompt is 4001 characters long; the limit is 4000"),
    Case("prompt-100000-chars", "prompt", "x" * 100_000, "Prompt is 100000 characters long"),
    Case("prompt-nul", "prompt", "a\x00b", "Prompt contains a NUL character"),
    Case("prompt-lone-surrogate", "prompt", "a\ud800b", "Prompt contains invalid Unicode at position 1"),
    Case("prompt-none", "prompt", None, "Prompt must be text, got NoneType"),
    Case("negative-4001-chars", "negative_prompt", "y" * (limits.PROMPT_MAX_CHARS + 1),
         "Negative prompt is 4001 characters long"),
    Case("negative-nul", "negative_prompt", "n\x00", "Negative prompt contains a NUL character"),
    # Sizes.
    Case("width-240", "width", limits.SIZE_MIN - 16,
         "Width must be a multiple of 16 from 256 to 1536, got 240; the nearest valid width is 256"),
    Case("width-1552", "width", limits.SIZE_MAX + 16, "got 1552; the nearest valid width is 1536"),
    Case("height-1000", "height", 1000,
         "Height must be a multiple of 16 from 256 to 1536, got 1000; the nearest valid height is 992 or 1008"),
    Case("height-0", "height", 0, "got 0; the nearest valid height is 256"),
    Case("width-0", "width", 0, "Width must be a multiple of 16 from 256 to 1536, got 0"),
    Case("width-negative", "width", -64, "got -64"),
    Case("width-100000", "width", 100_000, "got 100000; the nearest valid width is 1536"),
    Case("height-100000", "height", 100_000, "Height must be a multiple of 16 from 256 to 1536, got 100000"),
    Case("width-string", "width", "1024", "Width must be a whole number, got '1024'"),
    Case("height-string", "height", "abc", "Height must be a whole number, got 'abc'"),
    Case("width-none", "width", None, "Width must be a whole number, got None"),
    Case("width-float", "width", 1024.5, "Width must be a whole number, got 1024.5"),
    # Steps.
    Case("steps-0", "steps", 0, "Steps must be between 1 and 12, got 0"),
    Case("steps-13", "steps", limits.STEPS_MAX + 1, "Steps must be between 1 and 12, got 13"),
    Case("steps-negative", "steps", -1, "Steps must be between 1 and 12, got -1"),
    Case("steps-million", "steps", 10**6, "Steps must be between 1 and 12, got 1000000"),
    # Guidance.
    Case("guidance-below-0", "guidance_scale", -0.1, "Guidance scale must be between 0 and 10, got -0.1"),
    Case("guidance-minus-1", "guidance_scale", -1, "Guidance scale must be between 0 and 10, got -1"),
    Case("guidance-10.1", "guidance_scale", limits.GUIDANCE_MAX + 0.1, "got 10.1"),
    Case("guidance-1000", "guidance_scale", 1000, "Guidance scale must be between 0 and 10, got 1000"),
    Case("guidance-nan", "guidance_scale", math.nan, "Guidance scale must be a finite number, got nan"),
    Case("guidance-inf", "guidance_scale", math.inf, "Guidance scale must be a finite number, got inf"),
    Case("guidance-minus-inf", "guidance_scale", -math.inf, "Guidance scale must be a finite number, got -inf"),
    Case("guidance-string", "guidance_scale", "high", "Guidance scale must be a finite number, got 'high'"),
    # Seeds.
    Case("seed-minus-1", "seed", -1, "Seed must be between 0 and 4294967295, got -1; ask for a random seed"),
    Case("seed-2-32", "seed", limits.SEED_MAX + 1, "Seed must be between 0 and 4294967295, got 4294967296"),
    Case("seed-2-64", "seed", 2**64, "Seed must be between 0 and 4294967295, got 18446744073709551616"),
    Case("seed-10-100", "seed", 10**100, "Seed must be between 0 and 4294967295"),
    Case("seed-string", "seed", "abc", "Seed must be a whole number, got 'abc'"),
    Case("seed-bool", "seed", True, "Seed must be a whole number, got True"),
    # Engine only (not an API argument).
    Case("t5-length-76", "max_sequence_length", limits.SEQUENCE_MIN - 1,
         "T5 sequence length must be between 77 and 512, got 76"),
    Case("t5-length-513", "max_sequence_length", limits.SEQUENCE_MAX + 1, "got 513"),
    # Variation seeds.
    Case("variation-strength-below-0", "variation_strength", -0.1,
         "Variation strength must be between 0 and 1, got -0.1"),
    Case("variation-strength-1.5", "variation_strength", 1.5, "Variation strength must be between 0 and 1, got 1.5"),
    Case("variation-strength-nan", "variation_strength", math.nan,
         "Variation strength must be a finite number, got nan"),
    Case("variation-strength-string", "variation_strength", "x", "Variation strength must be a finite number, got 'x'"),
    Case("variation-seed-minus-1", "variation_seed", -1,
         "Variation seed must be between 0 and 4294967295, got -1; ask for a random seed"),
]

# Odd prompts that are valid: they must generate and come back unchanged in the image's metadata.
ODD_BUT_VALID = [
    Case("prompt-control-characters", "prompt", "bell\x07 escape\x1b[31m red\x1b[0m delete\x7f cr\r end", None),
    Case("prompt-right-to-left", "prompt", "שועל בשלג \u202eevil\u202c ثعلب في الثلج", None),
    Case("prompt-emoji", "prompt", "a fox 🦊 in the snow ❄️ 👩‍👩‍👧‍👦", None),
    Case("prompt-html", "prompt", HOSTILE_HTML, None),
    Case("prompt-4000-chars", "prompt", "x" * limits.PROMPT_MAX_CHARS, None),
]

SEED_LIST_CASES = [
    Case("seeds-empty", "seeds", "", "The seed list is empty: enter seeds like 1, 7, 42"),
    Case("seeds-blank", "seeds", "  \n ", "The seed list is empty"),
    Case("seeds-huge-range", "seeds", "1-1000000", "The range 1-1000000 has 1000000 seeds; at most 64 are allowed"),
    Case("seeds-double-comma", "seeds", "1,,2", "In the seed list, an entry is empty (two separators in a row"),
    Case("seeds-backwards", "seeds", "5-1", "The range 5-1 goes backwards; write it as 1-5"),
    Case("seeds-open-range", "seeds", "1-", "In the seed list, '1-' is neither a whole number nor a range"),
    Case("seeds-word", "seeds", "abc", "In the seed list, 'abc' is neither a whole number nor a range"),
    Case("seeds-2-64", "seeds", str(2**64), "Seed 18446744073709551616 is out of range"),
    Case("seeds-10-100", "seeds", "1" + "0" * 100, "(101 digits) is out of range"),
]

UPLOAD_CASES = [
    Case("upload-not-an-image", "upload", b"GIF89a? no, just text pretending to be an image\n" * 20,
         "This is not a PNG image"),
    Case("upload-truncated-png", "upload", _whole_png[: len(_whole_png) // 2],
         "This PNG image is truncated or corrupt"),
    Case(
        "upload-decompression-bomb",
        "upload",
        handmade_png((b"tEXt", b"parameters\x00a cat\nSteps: 4"), size=(50_000, 50_000)),
        "This image is too large to inspect safely",
    ),
    Case(
        "upload-10-mb-text-chunk",
        "upload",
        handmade_png((b"tEXt", b"parameters\x00" + b"a" * 10_000_000 + b"\nSteps: 4")),
        "The parameters text is 10,000,009 characters long; at most 65,536 are read",
    ),
    Case(
        "upload-deeply-nested-json",
        "upload",
        text_png(turbo_studio="[" * 10_000 + "]" * 10_000),
        "The turbo_studio metadata nests 10,000 levels deep; at most 64 are read",
    ),
]

# What a caller may send as the PNG info event's file instead of an upload.
UPLOAD_VALUE_CASES = [
    Case("upload-value-url", "upload-value", "https://example.com/a.png", UPLOAD_AGAIN),
    Case("upload-value-url-as-path", "upload-value",
         {"path": "https://example.com/a.png", "meta": {"_type": "gradio.FileData"}}, UPLOAD_AGAIN),
    Case("upload-value-number", "upload-value", 42, UPLOAD_AGAIN),
    # Paths on the server that were never uploaded: a file, a folder, nothing (Gradio refuses them first).
    Case("upload-value-server-file", "upload-value", {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}},
         UPLOAD_AGAIN),
    Case("upload-value-server-folder", "upload-value", {"path": "/etc", "meta": {"_type": "gradio.FileData"}},
         UPLOAD_AGAIN),
    Case("upload-value-missing-path", "upload-value",
         {"path": "/no/such/file.png", "meta": {"_type": "gradio.FileData"}}, UPLOAD_AGAIN),
    Case("upload-value-no-path", "upload-value", {"url": "https://example.com/a.png", "path": None,
                                                  "meta": {"_type": "gradio.FileData"}}, UPLOAD_AGAIN),
]

# History entries the browser may hand back: each is left out, and the rest of the history shown.
_good = history_entry()
HISTORY_ENTRIES = [
    Case("history-entry-not-an-object", "history-entry", "a string", None),
    Case("history-entry-null", "history-entry", None, None),
    Case("history-entry-request-a-list", "history-entry", {**_good, "request": [1, 2]}, None),
    Case("history-entry-request-unknown-field", "history-entry",
         {**_good, "request": {**_good["request"], "sampler": "x"}}, None),
    Case("history-entry-request-bad-value", "history-entry", {**_good, "request": {**_good["request"], "steps": 99}},
         None),
    Case("history-entry-thumbnail-a-list", "history-entry", {**_good, "thumbnail": ["x"]}, None),
    Case("history-entry-thumbnail-not-base64", "history-entry", {**_good, "thumbnail": JPEG_DATA_URL + "%%%"}, None),
    Case("history-entry-thumbnail-a-png", "history-entry", history_entry(thumbnail=text_png()), None),
    Case("history-entry-thumbnail-65000-square", "history-entry",
         history_entry(thumbnail=jpeg_claiming((65_000, 65_000))), None),
    Case("history-entry-thumbnail-200-square", "history-entry",
         history_entry(thumbnail=jpeg_claiming((200, 200))), None),
]

# Uploads with a value Turbo Studio cannot use: PNG info shows them, and says what it uses instead.
FITTED_UPLOADS = [
    Case(
        "upload-html-in-a-bad-value",
        "upload",
        infotext_png(f"a cat\nSteps: {HOSTILE_HTML}, Seed: 1"),
        f"Steps '{HOSTILE_HTML}' is not a valid number; 4 is used",
    ),
]

# Valid uploads whose prompt is HTML: it must come back as the same text, never rendered.
HOSTILE_UPLOADS = [
    Case("upload-html-in-json-prompt", "upload", turbo_png(HOSTILE_HTML), None),
    Case("upload-html-in-infotext", "upload", infotext_png(f"{HOSTILE_HTML}\nSteps: 4, Seed: 1, Size: 256x256"), None),
]

# The `/generate` arguments a request case can replace.
API_FIELDS = (
    "prompt", "negative_prompt", "seed", "width", "height", "steps", "guidance_scale", "variation_seed",
    "variation_strength",
)
API_REQUEST_CASES = [case for case in REQUEST_CASES if case.field in API_FIELDS]
