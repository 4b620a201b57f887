"""The settings column shared by every tab: prompt (with its token counter and notes), Generate/Stop,
size presets, steps, seed, Advanced; and the handlers' parameters that these controls feed."""

from __future__ import annotations

import html
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import gradio as gr

from pipeline import GenerationRequest
from pipeline import request as limits  # the request's defaults and bounds, which the controls show
from pipeline.errors import RequestError
from pipeline.request import random_seed
from pipeline.tokens import DroppedWords, TokenCount, TokenCounter
from ui.components import StatusLine, page_only

# --- requests ----------------------------------------------------------------------------------

RANDOMIZE_SEED = "randomize_seed"
REQUEST_FIELDS = tuple(field.name for field in fields(GenerationRequest))


def parameter_names(handler: Callable) -> list[str]:
    """The handler's parameters that take a component's value (all but the `gr.Progress` tracker)."""
    return [
        name
        for name, parameter in inspect.signature(handler).parameters.items()
        if not isinstance(parameter.default, gr.Progress)
    ]


def inputs_for(handler: Callable, components: Mapping[str, gr.components.Component]) -> list:
    """The components feeding `handler`, in the order of its parameters, found by parameter name."""
    missing = [name for name in parameter_names(handler) if name not in components]
    if missing:
        raise KeyError(f"No component for the parameter(s) {', '.join(missing)} of {handler.__name__}.")
    return [components[name] for name in parameter_names(handler)]


def request_from(arguments: Mapping[str, Any], **overrides: Any) -> GenerationRequest:
    """The validated request of a handler's arguments (its request fields, `randomize_seed`).

    Args:
        arguments: the handler's arguments by name, e.g. its `locals()` on entry.
        overrides: fields set by the handler itself (e.g. the first seed of a comparison).
    """
    values = {name: arguments[name] for name in REQUEST_FIELDS if name in arguments}
    values["negative_prompt"] = values.get("negative_prompt") or ""
    if arguments.get(RANDOMIZE_SEED):
        values["seed"] = None
    return GenerationRequest.create(**{**values, **overrides})


# --- presets -----------------------------------------------------------------------------------

CUSTOM = "Custom"


@dataclass(frozen=True)
class AspectPreset:
    """A named aspect ratio and its size, both sides multiples of 64."""

    ratio: str
    width: int
    height: int


PRESETS = (
    AspectPreset("1:1", 1024, 1024),
    AspectPreset("4:3", 1152, 896),
    AspectPreset("3:4", 896, 1152),
    AspectPreset("3:2", 1216, 832),
    AspectPreset("2:3", 832, 1216),
    AspectPreset("16:9", 1344, 768),
    AspectPreset("9:16", 768, 1344),
    AspectPreset("21:9", 1536, 640),
    AspectPreset("9:21", 640, 1536),
)
CHOICES = [preset.ratio for preset in PRESETS] + [CUSTOM]


def preset_size(ratio: str, width: int, height: int) -> tuple[int, int]:
    """The size of the preset named `ratio`; `width` and `height` unchanged for Custom."""
    for preset in PRESETS:
        if preset.ratio == ratio:
            return preset.width, preset.height
    return width, height


def preset_for(width: int, height: int) -> str:
    """The name of the preset of exactly this size, or Custom."""
    for preset in PRESETS:
        if (preset.width, preset.height) == (width, height):
            return preset.ratio
    return CUSTOM


# --- number checks -----------------------------------------------------------------------------

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
        trigger_mode="always_last",
        **page_only(),
    )


# --- controls ----------------------------------------------------------------------------------

VARIATION_NOTE = "Mixes in the variation seed's noise: 0 is the seed's image, 1 the variation seed's."
GUIDANCE_NOTE = (
    "0 is what Turbo was distilled for. Above 1 each step runs twice (double the time) "
    "and the negative prompt is used."
)


# The handler parameters the settings column feeds, by name (request fields, and `randomize_seed`).
PARAMETERS = (
    "prompt", "negative_prompt", "seed", RANDOMIZE_SEED, "width", "height", "steps", "guidance_scale",
    "variation_seed", "variation_strength", "max_sequence_length",
)


@dataclass(frozen=True)
class Controls:
    """The components of the settings column; those feeding handlers are named like their parameter."""

    prompt: gr.Textbox
    token_count: gr.HTML
    prompt_note: StatusLine  # the words the encoders left out, after a run
    generate: gr.Button
    stop: gr.Button
    aspect: gr.Radio
    width: gr.Slider
    height: gr.Slider
    steps: gr.Slider
    seed: gr.Number
    randomize_seed: gr.Checkbox
    random_seed: gr.Button
    reuse_seed: gr.Button
    last_seed: gr.State
    guidance_scale: gr.Slider
    negative_prompt: gr.Textbox
    max_sequence_length: gr.Slider
    variation_seed: gr.Number
    variation_strength: gr.Slider
    number_notes: dict[tuple[str, ...], gr.HTML]  # the note under each group of number controls

    @property
    def restorable(self) -> list[gr.components.Component]:
        """What `restored` sets."""
        return [*self.by_parameter.values(), self.aspect]

    @property
    def by_parameter(self) -> dict[str, gr.components.Component]:
        """The controls by the handler parameter they feed."""
        return {name: getattr(self, name) for name in PARAMETERS}

    def restored(self, request: GenerationRequest) -> dict:
        """Values for `restorable` that reproduce `request` (its seed, not a random one)."""
        values = {self.by_parameter[name]: getattr(request, name) for name in PARAMETERS if name in REQUEST_FIELDS}
        return {**values, self.randomize_seed: False, self.aspect: preset_for(request.width, request.height)}


def _size_slider(label: str) -> gr.Slider:
    return gr.Slider(
        limits.SIZE_MIN, limits.SIZE_MAX, limits.DEFAULT_SIZE, step=limits.SIZE_MULTIPLE, precision=0, label=label,
        elem_id=label.lower(),
    )


def build_controls(token_count: str) -> Controls:
    """Lay out the settings column (call inside a column) and wire its own small events.

    Args:
        token_count: the token counter's first text (see `wire_prompt_notes`).
    """
    prompt = gr.Textbox(
        label="Prompt",
        placeholder="Describe the image and press Enter",
        lines=1,
        max_lines=8,
        autofocus=True,
        elem_id="prompt",
    )
    token_count = gr.HTML(token_count, elem_id="token-count", container=False, padding=False)
    prompt_note = StatusLine("", elem_id="prompt-note", container=False, padding=False)
    with gr.Row(elem_classes="run-row"):
        generate = gr.Button("Generate", variant="primary", elem_id="generate-button")
        stop = gr.Button("■ Stop", variant="stop", visible=False, elem_id="stop-button")
    aspect = gr.Radio(CHOICES, value=CHOICES[0], label="Aspect ratio (about one megapixel)", elem_id="aspect")
    with gr.Row():
        width = _size_slider("Width")
        height = _size_slider("Height")
    size_note = number_note("size-note")
    steps = gr.Slider(
        limits.STEPS_MIN, limits.STEPS_MAX, limits.DEFAULT_STEPS, step=1, precision=0, label="Steps",
        info="Turbo is made for 4.", elem_id="steps",
    )
    steps_note = number_note("steps-note")
    with gr.Row(elem_id="seed-row"):
        seed = gr.Number(
            0, label="Seed", precision=0, minimum=limits.SEED_MIN, maximum=limits.SEED_MAX, scale=4, elem_id="seed"
        )
        # Names and tooltips: assets/page.js (Gradio buttons take neither).
        random_seed_button = gr.Button("🎲", min_width=44, scale=0, elem_id="random-seed", elem_classes="tool")
        reuse_seed = gr.Button("♻️", min_width=44, scale=0, interactive=False, elem_id="reuse-seed", elem_classes="tool")
        randomize_seed = gr.Checkbox(True, label="Random seed", info="A new one each run", scale=2, elem_id="randomize")
    with gr.Accordion("Advanced", open=False, elem_id="advanced"):
        guidance_scale = gr.Slider(
            limits.GUIDANCE_MIN, limits.GUIDANCE_MAX, limits.DEFAULT_GUIDANCE, step=0.1, label="Guidance scale",
            info=GUIDANCE_NOTE, elem_id="guidance",
        )
        guidance_note = number_note("guidance-note")
        negative_prompt = gr.Textbox(
            "", label="Negative prompt", placeholder="Used only when the guidance scale is above 1.", lines=2,
            elem_id="negative-prompt",
        )
        # The strength twice the seed's width: at equal widths its label and note had a 65 px column.
        with gr.Row():
            variation_seed = gr.Number(
                0, label="Variation seed", precision=0, minimum=limits.SEED_MIN, maximum=limits.SEED_MAX, scale=1,
                elem_id="variation-seed",
            )
            variation_strength = gr.Slider(
                0.0, 1.0, 0.0, step=0.01, label="Variation strength", info=VARIATION_NOTE, scale=2,
                elem_id="variation-strength",
            )
        variation_note = number_note("variation-note")
        max_sequence_length = gr.Slider(
            limits.SEQUENCE_MIN,
            limits.SEQUENCE_MAX,
            limits.DEFAULT_SEQUENCE_LENGTH,
            step=1,
            precision=0,
            label="T5 prompt length (tokens)",
            info="Longer prompts are cut here; CLIP reads the first 77 tokens whatever this is.",
            elem_id="sequence-length",
        )
        sequence_note = number_note("sequence-note")
    notes = {
        ("width", "height"): size_note,
        ("steps",): steps_note,
        ("guidance_scale",): guidance_note,
        ("variation_seed", "variation_strength"): variation_note,
        ("max_sequence_length",): sequence_note,
    }
    controls = Controls(
        prompt, token_count, prompt_note, generate, stop, aspect, width, height, steps, seed, randomize_seed,
        random_seed_button, reuse_seed, gr.State(None), guidance_scale, negative_prompt, max_sequence_length,
        variation_seed, variation_strength, notes,
    )
    _wire(controls)
    return controls


def _wire(controls: Controls) -> None:
    private = page_only()
    def sized(ratio: str, width: int, height: int) -> dict:
        width, height = preset_size(ratio, width, height)
        return {controls.width: width, controls.height: height}

    controls.aspect.input(
        sized,
        [controls.aspect, controls.width, controls.height],
        [controls.width, controls.height],
        preprocess=False,  # a preset sets the size even when the boxes hold one out of bounds
        **private,
    )
    gr.on(
        [controls.width.input, controls.height.input],
        preset_for,
        [controls.width, controls.height],
        controls.aspect,
        preprocess=False,  # a size typed out of bounds is the note's to explain, not an error here
        **private,
    )
    # 🎲: a seed drawn now, kept for the next runs; ♻️: the last image's seed, once there is one.
    def kept(seed: int) -> dict:
        return {controls.seed: seed, controls.randomize_seed: False}

    seed = [controls.seed, controls.randomize_seed]
    controls.random_seed.click(lambda: kept(random_seed()), None, seed, **private)
    controls.reuse_seed.click(kept, controls.last_seed, seed, **private)
    controls.last_seed.change(
        lambda seed: gr.Button(interactive=seed is not None), controls.last_seed, controls.reuse_seed, **private
    )
    for names, note in controls.number_notes.items():
        check_numbers(names, [controls.by_parameter[name] for name in names], note)


# --- prompt notes ------------------------------------------------------------------------------

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
    return counter_html(tokens.count("", limits.DEFAULT_SEQUENCE_LENGTH))


def wire_prompt_notes(controls: Controls, tokens: TokenCounter) -> None:
    """Count the prompt's tokens as it is typed, and when the T5 length changes."""

    def count(prompt: str, max_sequence_length) -> str:
        length = max_sequence_length if isinstance(max_sequence_length, int) else limits.DEFAULT_SEQUENCE_LENGTH
        return counter_html(tokens.count(prompt or "", length))

    inputs = [controls.prompt, controls.max_sequence_length]
    gr.on(
        [controls.prompt.change, controls.max_sequence_length.change],
        count,
        inputs,
        controls.token_count,
        preprocess=False,
        trigger_mode="always_last",
        **page_only(),
    )
