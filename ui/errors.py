"""Errors shown to the user as toasts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr

from pipeline.errors import TurboStudioError


@contextmanager
def shown_as_toast() -> Iterator[None]:
    """Turn the engine's errors (whose messages are written for users) into `gr.Error` toasts."""
    try:
        yield
    except TurboStudioError as error:
        raise gr.Error(str(error), print_exception=False) from None
