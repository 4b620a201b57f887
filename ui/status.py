"""What a run says: the status line's text, the errors shown as toasts or only in the line, and the
stoppable generation events whose Stop button takes the start button's place."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial

import gradio as gr
from gradio.events import Dependency

from pipeline.errors import TurboStudioError
from ui.components import Outputs, Step, page_only

# --- errors ------------------------------------------------------------------------------------

def _as_text(message: str) -> str:
    return html.escape(message, quote=False)


def warn(message: str) -> None:
    """A warning toast showing `message` as plain text."""
    gr.Warning(_as_text(message))


@contextmanager
def shown_as_toast(escaped: bool = True) -> Iterator[None]:
    """Turn the engine's errors (whose messages are written for users) into `gr.Error`s: toasts on
    the page, escaped to show as written; with `escaped=False` plain text, for MCP clients, which read
    the message as it is."""
    try:
        yield
    except TurboStudioError as error:
        raise gr.Error(_as_text(str(error)) if escaped else str(error), print_exception=False) from None


def said_in_the_line(error: TurboStudioError) -> gr.Error:
    """The `gr.Error` for an engine error that the status line already says: API clients get its
    message; the page shows no toast, so the message is shown once."""
    return gr.Error(_as_text(str(error)), visible=False, print_exception=False)


# --- status ------------------------------------------------------------------------------------

IDLE = "idle"
RUNNING = "running"
STOPPED = "stopped"
DONE = "done"
FAILED = "failed"


def status_line(text: str, state: str = IDLE) -> str:
    """A line saying `text` (plain text)."""
    return f'<div class="run-status" role="status" data-state="{state}"><span>{html.escape(text)}</span></div>'


def status_progress(step: Step) -> str:
    """A bar filled to the run's fraction, with the step and the time left (or "Decoding…")."""
    percent = round(step.fraction * 100)
    return (
        f'<div class="run-status" data-state="{RUNNING}" data-title="{html.escape(step.title)}">'
        f'<div class="bar" role="progressbar" aria-label="Progress" aria-valuenow="{percent}" aria-valuemin="0" '
        f'aria-valuemax="100"><span style="width: {percent}%"></span></div><span>{html.escape(step.text)}</span></div>'
    )


def status_stopped(step: Step | None) -> str:
    """After Stop in the middle of an image: the step it had reached."""
    if step is None:
        return status_line("Stopped before the first step", STOPPED)
    return status_line(f"Stopped at step {step.step} of {step.total_steps}", STOPPED)


def repeated_seeds_note(seeds: Sequence[int]) -> str:
    """A sentence naming the seeds a list repeated (each made once), or "" when none was."""
    if not seeds:
        return ""
    named = ", ".join(str(seed) for seed in seeds)
    many = len(seeds) > 1
    return f" Seed{'s' if many else ''} {named} {'were' if many else 'was'} listed more than once: made once."


def variation_note(variation_seed: int, variation_strength: float) -> str:
    """" · variation of seed 5 at 0.15" when a variation is mixed in, "" when none is."""
    return f" · variation of seed {variation_seed} at {variation_strength:g}" if variation_strength > 0 else ""


# --- stoppable ---------------------------------------------------------------------------------

GPU_QUEUE = "gpu"


def stoppable_gpu_event(
    start_on: Sequence | Dependency, start: gr.Button, stop: gr.Button, alongside: dict | None = None, **listener
) -> Dependency:
    """Run `listener` (the keyword arguments of an event listener) in the GPU queue.

    While it runs, `start` is hidden and `stop` shown; Stop cancels this session's run only. After
    Stop, `start` is back at once but disabled until the run has ended: Gradio cancels by session
    and event, so a run started while the stopped one still finishes its step would be cancelled too.

    Args:
        start_on: its triggers, or the event after which it runs.
        alongside: the keyword arguments of a page-only listener run as the run starts, once the
            run has taken its inputs (Explore puts the settings column back with it).
    """
    buttons = Outputs(start=start, stop=stop)

    def shown(running: bool, ready: bool = True) -> dict:
        return buttons(start=gr.Button(visible=not running, interactive=ready), stop=gr.Button(visible=running))

    quick = {"outputs": buttons.components, **page_only()}
    first = start_on.then if isinstance(start_on, Dependency) else partial(gr.on, start_on)
    started = first(lambda: shown(True), **quick)
    event = started.then(concurrency_id=GPU_QUEUE, **listener)
    if alongside:  # after the run, among `started`'s listeners: the page sends the run its inputs first
        started.then(**alongside, **page_only())
    # Gradio 6.31's page runs `.then` listeners after success or cancel but not after an error.
    event.then(lambda: shown(False), **quick)
    event.failure(lambda: shown(False), **quick)
    stop.click(lambda: shown(False, ready=False), cancels=[event], **quick)
    return event
