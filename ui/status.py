"""The status line above the results: one sentence in words, with a progress bar while a run goes.

Texts are escaped, so a message quoting what someone typed shows as text. `data-state` names what
the line says: idle, running, stopped, done or failed here; assets/page.js adds queued (with the
queue position) and failed (with the message of an error toast), and reads it for the tab's title; assets/style.css
marks the preview unfinished after Stop or an error.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from ui.progress import Step

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
