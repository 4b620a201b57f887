"""What the text encoders read of the prompt: a live token counter under the prompt box, and after
a run one short note on the words they left out, the full list in a detail (never a toast)."""

from __future__ import annotations

import html

import gradio as gr

from pipeline.request import DEFAULT_SEQUENCE_LENGTH
from pipeline.tokens import DroppedWords, TokenCount, TokenCounter
from ui.controls import Controls

# The note's one line, quote included; the full list is in its detail.
NOTE_MAX_CHARS = 200


def counter_html(count: TokenCount) -> str:
    """`CLIP 23/77 · T5 31/256`, each part marked when it is past its encoder's limit."""
    parts = [("CLIP", count.clip, count.clip_limit)]
    if count.t5 is not None:
        parts.append(("T5", count.t5, count.t5_limit))
    spans = " · ".join(
        f'<span class="{"over" if tokens > limit else "fits"}">{name} {tokens}/{limit}</span>'
        for name, tokens, limit in parts
    )
    label = "Prompt tokens: " + ", ".join(f"{name} {tokens} of {limit}" for name, tokens, limit in parts)
    return f'<p class="token-count" aria-label="{label}" title="Tokens the text encoders read">{spans}</p>'


def _words(count: int) -> str:
    return "word was" if count == 1 else f"{count} words were"


def dropped_note(dropped: list[DroppedWords]) -> str:
    """One short line (under `NOTE_MAX_CHARS`, quoting the first words left out, cut on a word) over
    the full list per encoder; '' when every encoder read the whole prompt."""
    if not dropped:
        return ""
    first, *others = dropped
    head = f"The last {_words(first.words)} not read by {first.encoder}"
    for other in others:
        head += f" ({'the last word' if other.words == 1 else f'the last {other.words}'} not by {other.encoder} either)"
    room = NOTE_MAX_CHARS - len(head) - len(": ''…") - 1
    quote = first.text if len(first.text) <= room else first.text[: room + 1].rsplit(" ", 1)[0] + "…"
    details = "".join(
        f'<p tabindex="0">{words.encoder} reads {words.limit} tokens; it left out: {html.escape(words.text)}</p>'
        for words in dropped
    )
    summary = html.escape(f"{head}: '{quote}'")
    return f'<details class="prompt-note"><summary>{summary}</summary>{details}</details>'


def empty_prompt_count(tokens: TokenCounter) -> str:
    """The counter before anything is typed."""
    return counter_html(tokens.count("", DEFAULT_SEQUENCE_LENGTH))


def wire_prompt_notes(controls: Controls, tokens: TokenCounter) -> None:
    """Count the prompt's tokens as it is typed, and when the T5 length changes."""

    def count(prompt: str, max_sequence_length) -> str:
        length = max_sequence_length if isinstance(max_sequence_length, int) else DEFAULT_SEQUENCE_LENGTH
        return counter_html(tokens.count(prompt or "", length))

    inputs = [controls.prompt, controls.max_sequence_length]
    gr.on(
        [controls.prompt.change, controls.max_sequence_length.change],
        count,
        inputs,
        controls.token_count,
        preprocess=False,
        queue=False,
        api_visibility="private",
        trigger_mode="always_last",
        show_progress="hidden",
    )
