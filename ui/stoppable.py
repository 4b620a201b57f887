"""Long-running generation events with a Stop button that takes the start button's place."""

from __future__ import annotations

from collections.abc import Sequence

import gradio as gr
from gradio.events import Dependency

GPU_QUEUE = "gpu"


def _buttons(running: bool, ready: bool = True) -> tuple[gr.Button, gr.Button]:
    return gr.Button(visible=not running, interactive=ready), gr.Button(visible=running)


def stoppable_gpu_event(triggers: Sequence, start: gr.Button, stop: gr.Button, **listener) -> Dependency:
    """Run `listener` (the keyword arguments of an event listener) on `triggers`, in the GPU queue.

    While it runs, `start` is hidden and `stop` shown; Stop cancels this session's run only. After
    Stop, `start` is back at once but disabled until the run has ended: Gradio cancels by session
    and event, so a run started while the stopped one still finishes its step would be cancelled too.
    """
    buttons = [start, stop]
    quick = {"outputs": buttons, "queue": False, "api_visibility": "private", "show_progress": "hidden"}
    event = gr.on(triggers, lambda: _buttons(True), **quick).then(concurrency_id=GPU_QUEUE, **listener)
    # Gradio 6.31's page runs `.then` listeners after success or cancel but not after an error.
    event.then(lambda: _buttons(False), **quick)
    event.failure(lambda: _buttons(False), **quick)
    stop.click(lambda: _buttons(False, ready=False), cancels=[event], **quick)
    return event
