"""Send to Generate: a chosen image's settings go into the settings column, the image into the
Generate tab, which is selected. History, Compare and PNG info all use this one action."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ui.controls import Controls
from ui.runs import SavedImage
from ui.status import status_message

GENERATE_TAB_ID = "generate"


@dataclass(frozen=True)
class SendToGenerate:
    """Where a chosen image goes: its settings into the column, itself into the Generate tab."""

    controls: Controls
    image: gr.Image
    status: gr.HTML
    tabs: gr.Tabs

    @property
    def outputs(self) -> list:
        """The components `values` sets."""
        return [*self.controls.restorable, self.image, self.status, self.tabs]

    def values(self, saved: SavedImage | None) -> dict:
        """The settings of `saved`, its image, a status line, and the Generate tab selected (nothing
        changes without an image)."""
        if saved is None:
            return gr.skip()
        seed = saved.request.seed
        status = status_message(f"Settings of seed <b>{seed}</b> restored; press Generate to make it again.")
        return {
            **self.controls.restored(saved.request),
            self.image: saved.path,
            self.status: status,
            self.tabs: gr.Tabs(selected=GENERATE_TAB_ID),
        }

    def on_select(self, images: list[SavedImage], selected: gr.SelectData) -> dict:
        """Send the image selected in a gallery whose images are `images`."""
        return self.values(images[selected.index] if selected.index < len(images) else None)
