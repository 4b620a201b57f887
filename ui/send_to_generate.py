"""Send to Generate: a chosen image's settings go into the settings column, the image into the
Generate tab, which is selected (its Explore button then explores around that image). History,
Compare and PNG info all use this one action."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from pipeline import GenerationRequest
from ui.controls import Controls
from ui.status import status_line

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
        trigger(fn, inputs, self.outputs, api_visibility="private", show_progress="hidden")

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
