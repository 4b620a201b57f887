"""A/B: two images of the history in a before/after slider, with their settings side by side."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipeline.metadata import format_infotext
from ui.history import History, choices, pick


@dataclass(frozen=True)
class AbTab:
    """The components of the A/B section."""

    first: gr.Dropdown
    second: gr.Dropdown
    slider: gr.ImageSlider
    first_settings: gr.Textbox
    second_settings: gr.Textbox


def build_ab_tab() -> AbTab:
    """Lay out the section (call inside its container)."""
    gr.Markdown("Pick two images of the history (Generate and Compare both add to it) and slide between them.")
    with gr.Row():
        first = gr.Dropdown([], label="A (left)", elem_id="ab-first")
        second = gr.Dropdown([], label="B (right)", elem_id="ab-second")
    slider = gr.ImageSlider(label="A / B", type="filepath", format="png", interactive=False, elem_id="ab-slider")
    with gr.Row():
        first_settings = gr.Textbox(label="A's settings", lines=4, interactive=False, elem_id="ab-first-settings")
        second_settings = gr.Textbox(label="B's settings", lines=4, interactive=False, elem_id="ab-second-settings")
    return AbTab(first, second, slider, first_settings, second_settings)


def wire_ab_tab(tab: AbTab, opener: gr.Accordion, history: History, model: str) -> None:
    """Refresh the choices when the section opens (the two newest images); show a pair when either changes."""

    def refresh(entries: list) -> tuple:
        options = choices(entries)
        first = options[1][1] if len(options) > 1 else None  # the older of the two newest on the left
        second = options[0][1] if options else None
        return gr.Dropdown(choices=options, value=first), gr.Dropdown(choices=options, value=second)

    def show(entries: list, first: int | None, second: int | None) -> tuple:
        picked = [pick(entries, index) for index in (first, second)]
        settings = [format_infotext(entry.request, model) if entry else "" for entry in picked]
        if None in picked:
            return gr.skip(), *settings
        return tuple(entry.image or entry.thumbnail for entry in picked), *settings

    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    outputs = [tab.slider, tab.first_settings, tab.second_settings]
    opener.expand(refresh, history.entries, [tab.first, tab.second], **private).then(
        show, [history.entries, tab.first, tab.second], outputs, **private
    )
    gr.on([tab.first.input, tab.second.input], show, [history.entries, tab.first, tab.second], outputs, **private)
