"""The settings column shared by every tab: prompt, Generate/Stop, size, steps, seed, Advanced.

Each number control has a note under it, where a value typed out of bounds gets the API's own
message (ui/number_checks.py); the prompt has a token counter and a note on the words the text
encoders left out (ui/prompt_notes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipeline import GenerationRequest
from pipeline.request import (
    DEFAULT_GUIDANCE,
    DEFAULT_SEQUENCE_LENGTH,
    DEFAULT_SIZE,
    DEFAULT_STEPS,
    GUIDANCE_MAX,
    GUIDANCE_MIN,
    SEED_MAX,
    SEED_MIN,
    SEQUENCE_MAX,
    SEQUENCE_MIN,
    SIZE_MAX,
    SIZE_MIN,
    SIZE_MULTIPLE,
    STEPS_MAX,
    STEPS_MIN,
    random_seed,
)
from ui.number_checks import check_numbers, number_note
from ui.presets import CHOICES, preset_for, preset_size
from ui.requests import RANDOMIZE_SEED, REQUEST_FIELDS
from ui.status_line import StatusLine

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
        SIZE_MIN, SIZE_MAX, DEFAULT_SIZE, step=SIZE_MULTIPLE, precision=0, label=label, elem_id=label.lower()
    )


def build_controls(token_count: str) -> Controls:
    """Lay out the settings column (call inside a column) and wire its own small events.

    Args:
        token_count: the token counter's first text (see ui/prompt_notes.py).
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
        STEPS_MIN, STEPS_MAX, DEFAULT_STEPS, step=1, precision=0, label="Steps", info="Turbo is made for 4.",
        elem_id="steps",
    )
    steps_note = number_note("steps-note")
    with gr.Row(elem_id="seed-row"):
        seed = gr.Number(0, label="Seed", precision=0, minimum=SEED_MIN, maximum=SEED_MAX, scale=4, elem_id="seed")
        # Names and tooltips: assets/page.js (Gradio buttons take neither).
        random_seed_button = gr.Button("🎲", min_width=44, scale=0, elem_id="random-seed", elem_classes="tool")
        reuse_seed = gr.Button("♻️", min_width=44, scale=0, interactive=False, elem_id="reuse-seed", elem_classes="tool")
        randomize_seed = gr.Checkbox(True, label="Random seed", info="A new one each run", scale=2, elem_id="randomize")
    with gr.Accordion("Advanced", open=False, elem_id="advanced"):
        guidance_scale = gr.Slider(
            GUIDANCE_MIN, GUIDANCE_MAX, DEFAULT_GUIDANCE, step=0.1, label="Guidance scale", info=GUIDANCE_NOTE,
            elem_id="guidance",
        )
        guidance_note = number_note("guidance-note")
        negative_prompt = gr.Textbox(
            "", label="Negative prompt", placeholder="Used only when the guidance scale is above 1.", lines=2,
            elem_id="negative-prompt",
        )
        # The strength twice the seed's width: at equal widths its label and note had a 65 px column.
        with gr.Row():
            variation_seed = gr.Number(
                0, label="Variation seed", precision=0, minimum=SEED_MIN, maximum=SEED_MAX, scale=1,
                elem_id="variation-seed",
            )
            variation_strength = gr.Slider(
                0.0, 1.0, 0.0, step=0.01, label="Variation strength", info=VARIATION_NOTE, scale=2,
                elem_id="variation-strength",
            )
        variation_note = number_note("variation-note")
        max_sequence_length = gr.Slider(
            SEQUENCE_MIN,
            SEQUENCE_MAX,
            DEFAULT_SEQUENCE_LENGTH,
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
    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}
    controls.aspect.input(
        preset_size,
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
    seed = [controls.seed, controls.randomize_seed]
    controls.random_seed.click(lambda: (random_seed(), False), None, seed, **private)
    controls.reuse_seed.click(lambda last: (last, False), controls.last_seed, seed, **private)
    controls.last_seed.change(
        lambda seed: gr.Button(interactive=seed is not None), controls.last_seed, controls.reuse_seed, **private
    )
    for names, note in controls.number_notes.items():
        check_numbers(names, [controls.by_parameter[name] for name in names], note)
