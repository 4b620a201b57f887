"""The status line above the results: one sentence in words, with a progress bar while a run goes.

Texts are escaped, so a message quoting what someone typed shows as text. `data-state` names what
the line says: idle, running, stopped or done here; assets/page.js adds queued (with the queue
position) and failed (with the error's message), and reads it for the tab's title; assets/style.css
marks the preview unfinished after Stop or an error.
"""

from __future__ import annotations

import html

from ui.progress import Step

IDLE = "idle"
RUNNING = "running"
STOPPED = "stopped"
DONE = "done"


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

