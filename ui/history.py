"""The history: every finished image, from Generate and Compare, newest first, kept in the browser.

Each entry holds the image's request, a small JPEG thumbnail and where the full image is served,
in Gradio's `BrowserState` (the browser's localStorage), at most `HISTORY_SIZE` entries, so the
history survives a reload. Entries come back from the browser, so nothing in them is trusted: a
request is validated again, a thumbnail is decoded only when small, and the full image's path is
used only with this server's signature (made with a key that lives as long as the process).
Selecting an entry restores its settings; when its full image is gone, the thumbnail stands in
and Generate makes the image again, exactly, from those settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from pipeline import GenerationRequest
from pipeline.errors import RequestError
from ui.inline_previews import JPEG_DATA_URL, PreviewGallery, jpeg_data_url
from ui.runs import SavedImage, caption
from ui.send_to_generate import SendToGenerate

HISTORY_SIZE = 24
THUMBNAIL_SIZE = 128
THUMBNAIL_QUALITY = 80
MAX_THUMBNAIL_CHARS = 64 * 1024
STORAGE_KEY = "turbo-studio-history"
IMAGE_GONE = "Its full image is no longer on the server: press Generate to make it again, exactly."
_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class History:
    """The history gallery and the entries it shows (in the browser)."""

    gallery: gr.Gallery
    entries: gr.BrowserState


def build_history() -> History:
    """Lay out the history gallery (call where it should appear)."""
    gallery = PreviewGallery(  # the thumbnails inline (ui/inline_previews.py): no file per thumbnail
        label="History: select one to restore it",
        columns=6,
        height="auto",
        allow_preview=False,
        interactive=False,
        elem_id="history",
    )
    return History(gallery, gr.BrowserState([], storage_key=STORAGE_KEY))


def add_to_history(new: SavedImage | list[SavedImage | None] | None, entries: list) -> tuple:
    """The gallery and its entries with `new` (one image, or a comparison's finished cells) first."""
    added = [saved for saved in (new if isinstance(new, list) else [new]) if saved is not None]
    if not added:
        return gr.skip(), gr.skip()
    entries = [*(_entry(saved) for saved in reversed(added)), *_valid(entries)][:HISTORY_SIZE]
    return gallery_items(entries), entries


def gallery_items(entries: list) -> list[tuple[Image.Image, str]]:
    """Gallery values of the valid `entries`: each thumbnail and the whole caption."""
    return [(_thumbnail(entry), caption(_request(entry))) for entry in _valid(entries)]


def choices(entries: list) -> list[tuple[str, int]]:
    """Dropdown choices for the valid `entries`: each caption, numbered, and its position."""
    return [(f"{index + 1}. {caption(_request(entry))}", index) for index, entry in enumerate(_valid(entries))]


def pick(entries: list, index: int) -> tuple[GenerationRequest, str | Image.Image, bool] | None:
    """The request and image of the valid entry at `index` (None when there is none), and whether
    the image is the full one (else its thumbnail stands in)."""
    valid = _valid(entries)
    if not isinstance(index, int) or not 0 <= index < len(valid):
        return None
    entry = valid[index]
    if _full_image(entry):
        return _request(entry), entry["image"], True
    return _request(entry), _thumbnail(entry), False


def wire_history(history: History, send: SendToGenerate, app: gr.Blocks) -> None:
    """Fill the gallery when the page loads; selecting an entry sends it to Generate."""

    def restore(entries: list, selected: gr.SelectData) -> dict:
        picked = pick(entries, selected.index)
        if picked is None:
            return gr.skip()
        request, image, complete = picked
        return send.values(request, image) if complete else send.values(request, image, IMAGE_GONE)

    app.load(
        gallery_items, history.entries, history.gallery, queue=False, api_visibility="private", show_progress="hidden"
    )
    send.on(history.gallery.select, restore, history.entries)


def _entry(saved: SavedImage) -> dict:
    with Image.open(saved.path) as image:
        image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        thumbnail = jpeg_data_url(image, THUMBNAIL_QUALITY)
    return {
        "request": saved.request.to_dict(),
        "thumbnail": thumbnail,
        "image": saved.path,
        "signature": _signature(saved.path),
    }


def _signature(path: str) -> str:
    return hmac.new(_KEY, path.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _full_image(entry: dict) -> bool:
    """Whether the entry's full image was saved by this server and is still there."""
    path, signature = entry.get("image"), entry.get("signature")
    return (
        isinstance(path, str)
        and isinstance(signature, str)
        and hmac.compare_digest(signature, _signature(path))
        and Path(path).is_file()
    )


def _request(entry: dict) -> GenerationRequest:
    return GenerationRequest(**entry["request"])


def _thumbnail(entry: dict) -> Image.Image:
    data = base64.b64decode(entry["thumbnail"].removeprefix(JPEG_DATA_URL), validate=True)
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
        if max(image.size) > THUMBNAIL_SIZE:
            raise ValueError(f"a thumbnail of {image.size} is larger than {THUMBNAIL_SIZE} pixels")
        return image.convert("RGB")


def _valid(entries) -> list[dict]:
    """The entries that hold a valid request and thumbnail (the browser may hand back anything)."""
    if not isinstance(entries, list):
        return []
    valid = []
    for entry in entries[:HISTORY_SIZE]:
        try:
            if len(entry["thumbnail"]) > MAX_THUMBNAIL_CHARS:
                continue
            _request(entry)
            _thumbnail(entry)
        except (RequestError, KeyError, TypeError, ValueError, OSError):
            continue
        valid.append(entry)
    return valid
