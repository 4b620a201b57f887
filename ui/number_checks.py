"""Notes under the number controls: a value typed into a box is checked as the API checks it, and
the API's own message shows next to the control. Nothing is changed behind the user's back:
assets/page.js keeps a slider from clamping what was typed, so Generate refuses it the same way."""

from __future__ import annotations

import html
from collections.abc import Sequence

import gradio as gr

from pipeline import GenerationRequest
from pipeline.errors import RequestError


def number_note(elem_id: str) -> gr.HTML:
    """An empty note (call where it should appear: under its controls)."""
    return gr.HTML("", elem_id=elem_id, elem_classes="number-note", container=False, padding=False)


def number_problem(values: dict) -> str:
    """The request's message for these field values, '' when they are valid."""
    try:
        GenerationRequest.create(prompt="a valid prompt", seed=0, **values)
    except RequestError as error:
        return str(error)
    return ""


def check_numbers(names: Sequence[str], controls: Sequence[gr.components.Component], note: gr.HTML) -> None:
    """Show in `note` the problem of the values of `controls` (the request fields `names`) as they change."""

    def check(*values) -> str:
        message = number_problem(dict(zip(names, values)))
        return f'<p role="alert">{html.escape(message)}</p>' if message else ""

    gr.on(
        [control.change for control in controls],
        check,
        list(controls),
        note,
        preprocess=False,  # the value as typed, not Gradio's check of the slider's bounds
        queue=False,
        api_visibility="private",
        trigger_mode="always_last",
        show_progress="hidden",
    )
