"""The session's history: every finished image, from Generate and Compare, newest first."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from ui.runs import SavedImage, gallery_items

HISTORY_SIZE = 24


@dataclass(frozen=True)
class History:
    """The history gallery and the images it shows."""

    gallery: gr.Gallery
    images: gr.State


def build_history() -> History:
    """Lay out the history gallery (call where it should appear)."""
    gallery = gr.Gallery(
        label="History (this session; select one to restore its settings)",
        format="png",
        columns=8,
        height=150,
        fit_columns=False,
        allow_preview=False,
        interactive=False,
        elem_id="history",
    )
    return History(gallery, gr.State([]))


def add_to_history(new: SavedImage | list[SavedImage | None] | None, history: list[SavedImage]) -> tuple:
    """The gallery and its images with `new` (one image, or a comparison's finished cells) first."""
    added = [saved for saved in (new if isinstance(new, list) else [new]) if saved is not None]
    if not added:
        return gr.skip(), gr.skip()
    history = [*reversed(added), *history][:HISTORY_SIZE]
    return gallery_items(history), history
