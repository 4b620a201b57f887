"""Long-running generation events with a Stop button that takes the start button's place."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr
from gradio.events import Dependency

GPU_QUEUE = "gpu"


def _buttons(running: bool) -> tuple[gr.Button, gr.Button]:
    return gr.Button(visible=not running), gr.Button(visible=running)


def stoppable_gpu_event(triggers: Sequence, start: gr.Button, stop: gr.Button, **listener) -> Dependency:
    """Run `listener` (the keyword arguments of an event listener) on `triggers`, in the GPU queue.

    While it runs, `start` is hidden and `stop` shown; Stop cancels this session's run only.
    """
    buttons = [start, stop]
    quick = {"outputs": buttons, "queue": False, "api_visibility": "private"}
    event = gr.on(triggers, lambda: _buttons(True), **quick).then(concurrency_id=GPU_QUEUE, **listener)
    # Gradio 6.31's page runs `.then` listeners after success or cancel but not after an error.
    event.then(lambda: _buttons(False), **quick)
    event.failure(lambda: _buttons(False), **quick)
    stop.click(lambda: _buttons(False), cancels=[event], **quick)
    return event
