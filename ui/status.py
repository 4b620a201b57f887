"""The status line above the results: a message, or a progress bar with the step and ETA.

Its markup is built here from numbers and fixed words only; nothing a user typed is rendered.
"""

from __future__ import annotations

from ui.progress import Step


def status_message(markup: str) -> str:
    """A finished or idle line (`markup` may hold <b> around numbers)."""
    return f'<div class="run-status"><span>{markup}</span></div>'


def status_progress(step: Step) -> str:
    """A bar filled to the run's fraction, with its step and ETA."""
    percent = round(step.fraction * 100)
    return (
        f'<div class="run-status running"><div class="bar" role="progressbar" aria-valuenow="{percent}" '
        f'aria-valuemin="0" aria-valuemax="100"><span style="width: {percent}%"></span></div>'
        f"<span>{step.text}</span></div>"
    )
