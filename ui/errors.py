"""Errors and warnings shown to the user as toasts, or only in a status line.

Gradio renders a toast's message as (sanitised) HTML, and messages quote what users typed or
what an uploaded file holds, so markup in them is escaped to show as it was written.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from pipeline.errors import TurboStudioError


def _as_text(message: str) -> str:
    return html.escape(message, quote=False)


def warn(message: str) -> None:
    """A warning toast showing `message` as plain text."""
    gr.Warning(_as_text(message))


@contextmanager
def shown_as_toast() -> Iterator[None]:
    """Turn the engine's errors (whose messages are written for users) into `gr.Error` toasts."""
    try:
        yield
    except TurboStudioError as error:
        raise gr.Error(_as_text(str(error)), print_exception=False) from None


def said_in_the_line(error: TurboStudioError) -> gr.Error:
    """The `gr.Error` for an engine error that the status line already says: API clients get its
    message; the page shows no toast, so the message is shown once."""
    return gr.Error(_as_text(str(error)), visible=False, print_exception=False)
