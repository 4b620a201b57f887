"""The history of finished images, kept in the browser, and Send to Generate, the one action that
puts a chosen image's settings back in the column (from History, Compare and PNG info)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from PIL import Image

from pipeline import GenerationRequest
from pipeline.errors import RequestError
from ui.components import JPEG_DATA_URL, PreviewGallery, jpeg_data_url, page_only
from ui.runs import HISTORY_THUMBNAIL_SIZE, SavedImage, caption
from ui.settings import Controls
from ui.status import status_line

# --- send to generate --------------------------------------------------------------------------

GENERATE_TAB_ID = "generate"
# Alt text: the prompt's start and the seed; screen readers read the whole prompt in its box.
ALT_TEXT_CHARS = 150


def alt_text(request: GenerationRequest) -> str:
    """What an image of `request` shows, for screen readers: its prompt (cut on a word) and seed."""
    prompt = " ".join(request.prompt.split())
    if len(prompt) > ALT_TEXT_CHARS:
        prompt = prompt[:ALT_TEXT_CHARS].rsplit(" ", 1)[0] + "…"
    return f"{prompt} (seed {request.seed})"


@dataclass(frozen=True)
class SendToGenerate:
    """Where a chosen image goes: its settings into the column, itself into the Generate tab, and
    its request into `shown` (what the Generate tab shows)."""

    controls: Controls
    image: gr.Image
    status: gr.HTML
    tabs: gr.Tabs
    shown: gr.State

    @property
    def outputs(self) -> list:
        """The components `values` sets."""
        return [*self.controls.restorable, self.image, self.status, self.tabs, self.shown]

    def on(self, trigger: Callable, fn: Callable, inputs) -> None:
        """Run `fn` (which returns `values(...)`) on `trigger`, e.g. a gallery's `select`: privately,
        and queued, since the page runs a State's `.change` listeners (which enable Explore) only
        for the state changes of queued events."""
        trigger(fn, inputs, self.outputs, **page_only(queued=True))

    def values(self, request: GenerationRequest | None, image: str | Image.Image | None = None, note: str = "") -> dict:
        """The settings of `request`, `image` in the Generate tab (cleared when None), a status line
        (with `note`, a sentence on how the settings or image differ), and the Generate tab selected
        (nothing changes without a request)."""
        if request is None:
            return gr.skip()
        ending = f". {note}" if note else "; press Generate to make it again."
        text = f"Settings of seed {request.seed} restored{ending}"
        return {
            **self.controls.restored(request),
            self.image: gr.Image(image, alt_text=alt_text(request) if image is not None else None),
            self.status: status_line(text),
            self.tabs: gr.Tabs(selected=GENERATE_TAB_ID),
            self.shown: request,
        }


# --- history -----------------------------------------------------------------------------------

HISTORY_SIZE = 24
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

    def with_added(self, new: SavedImage | list[SavedImage | None] | None, entries: object) -> dict:
        """The gallery and its entries, keyed, with `new` (one image, or a comparison's finished cells)
        first; nothing changes when there is nothing new. Each older entry is checked (its thumbnail
        decoded) once; the new ones are made from the run's own thumbnails, not read back."""
        added = [saved for saved in (new if isinstance(new, list) else [new]) if saved is not None]
        if not added:
            return {}
        kept = [*(_entry(saved) for saved in reversed(added)), *checked(entries)][:HISTORY_SIZE]
        return {self.gallery: _gallery(kept), self.entries: [entry.stored for entry in kept]}

    def add_after(self, event, result: gr.State, images: Callable = lambda saved: saved) -> None:
        """When `event` succeeds, put `images(result's value)` first, outside the queue: a run's closing
        step must not wait in line behind other work."""
        event.success(
            lambda value, entries: self.with_added(images(value), entries), [result, self.entries],
            [self.gallery, self.entries], **page_only(),
        )


def build_history() -> History:
    """Lay out the history gallery (call where it should appear)."""
    gallery = PreviewGallery(  # the thumbnails inline (ui/components.py): no file per thumbnail
        label="History: select one to restore it",
        columns=6,
        height="auto",
        allow_preview=False,
        interactive=False,
        elem_id="history",
    )
    return History(gallery, gr.BrowserState([], storage_key=STORAGE_KEY))


@dataclass(frozen=True)
class Entry:
    """A history entry that passed every check.

    Attributes:
        request: its settings, validated again.
        thumbnail: its small image, decoded.
        image: the full image's path when this server signed it and it is still there, else None.
        stored: the entry as the browser keeps it.
    """

    request: GenerationRequest
    thumbnail: Image.Image
    image: str | None
    stored: dict


def gallery_items(entries: object) -> list[tuple[Image.Image, str]]:
    """Gallery values of the valid `entries`: each thumbnail and the whole caption."""
    return _gallery(checked(entries))


def _gallery(entries: list[Entry]) -> list[tuple[Image.Image, str]]:
    return [(entry.thumbnail, caption(entry.request)) for entry in entries]


def choices(entries: object) -> list[tuple[str, int]]:
    """Dropdown choices for the valid `entries`: each caption, numbered, and its position."""
    return [(f"{index + 1}. {caption(entry.request)}", index) for index, entry in enumerate(checked(entries))]


def pick(entries: object, index: object) -> Entry | None:
    """The valid entry at `index` of the valid `entries`, or None when there is none."""
    valid = checked(entries)
    return valid[index] if isinstance(index, int) and 0 <= index < len(valid) else None


def checked(entries: object) -> list[Entry]:
    """The entries (as the browser hands them back, so anything) that hold a valid request and a
    small JPEG thumbnail; any other is left out, and the rest still shown."""
    if not isinstance(entries, list):
        return []
    return [entry for entry in map(_checked, entries[:HISTORY_SIZE]) if entry is not None]


def wire_history(history: History, send: SendToGenerate, app: gr.Blocks) -> None:
    """Fill the gallery when the page loads; selecting an entry sends it to Generate."""

    def restore(entries: list, selected: gr.SelectData) -> dict:
        entry = pick(entries, selected.index)
        if entry is None:
            return gr.skip()
        if entry.image is None:
            return send.values(entry.request, entry.thumbnail, IMAGE_GONE)
        return send.values(entry.request, entry.image)

    app.load(gallery_items, history.entries, history.gallery, **page_only())
    send.on(history.gallery.select, restore, history.entries)


def _entry(saved: SavedImage) -> Entry:
    """The entry of a new image, from what the run kept (its request, thumbnail and path)."""
    stored = {
        "request": saved.request.to_dict(),
        "thumbnail": jpeg_data_url(saved.thumbnail, THUMBNAIL_QUALITY),
        "image": saved.path,
        "signature": _signature(saved.path),
    }
    return Entry(saved.request, saved.thumbnail, saved.path, stored)


def _signature(path: str) -> str:
    return hmac.new(_KEY, path.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _full_image(entry: dict) -> str | None:
    """The entry's full image when this server signed its path and the file is still there."""
    path, signature = entry.get("image"), entry.get("signature")
    if isinstance(path, str) and isinstance(signature, str) and hmac.compare_digest(signature, _signature(path)):
        return path if Path(path).is_file() else None
    return None


def _checked(entry: object) -> Entry | None:
    if not isinstance(entry, dict):
        return None
    request, thumbnail = entry.get("request"), entry.get("thumbnail")
    if not (isinstance(request, dict) and isinstance(thumbnail, str) and len(thumbnail) <= MAX_THUMBNAIL_CHARS):
        return None
    try:
        return Entry(GenerationRequest(**request), _thumbnail(thumbnail), _full_image(entry), entry)
    except (RequestError, TypeError, ValueError, OSError, Image.DecompressionBombError):
        return None  # TypeError: a request with unknown fields; ValueError: not base64 or too large


def _thumbnail(data_url: str) -> Image.Image:
    data = base64.b64decode(data_url.removeprefix(JPEG_DATA_URL), validate=True)
    # Opening reads only the header: a size claimed past Pillow's bound raises DecompressionBombError.
    with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
        if max(image.size) > HISTORY_THUMBNAIL_SIZE:
            raise ValueError(f"a thumbnail of {image.size} is larger than {HISTORY_THUMBNAIL_SIZE} pixels")
        return image.convert("RGB")
