"""The settings column shared by every tab: prompt, Generate/Stop, size, steps, seed, Advanced."""

from __future__ import annotations

from collections.abc import Sequence
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
)
from ui.presets import CHOICES, preset_for, preset_size
from ui.requests import RANDOMIZE_SEED, REQUEST_FIELDS

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

    @property
    def by_parameter(self) -> dict[str, gr.components.Component]:
        """The controls by the handler parameter they feed."""
        return {name: getattr(self, name) for name in PARAMETERS}

    @property
    def restorable(self) -> list[gr.components.Component]:
        """What `restored` sets."""
        return [*self.by_parameter.values(), self.aspect]

    def restored(self, request: GenerationRequest) -> dict:
        """Values for `restorable` that reproduce `request` (its seed, not a random one)."""
        values = {self.by_parameter[name]: getattr(request, name) for name in PARAMETERS if name in REQUEST_FIELDS}
        return {**values, self.randomize_seed: False, self.aspect: preset_for(request.width, request.height)}


def _size_slider(label: str) -> gr.Slider:
    return gr.Slider(
        SIZE_MIN, SIZE_MAX, DEFAULT_SIZE, step=SIZE_MULTIPLE, precision=0, label=label, elem_id=label.lower()
    )


def build_controls(examples: Sequence[str]) -> Controls:
    """Lay out the settings column (call inside a column) and wire its own small events."""
    prompt = gr.Textbox(
        label="Prompt",
        placeholder="Describe the image and press Enter",
        lines=1,
        max_lines=8,
        autofocus=True,
        elem_id="prompt",
    )
    with gr.Row():
        generate = gr.Button("Generate", variant="primary", elem_id="generate-button")
        stop = gr.Button("Stop", variant="stop", visible=False, elem_id="stop-button")
    aspect = gr.Radio(CHOICES, value=CHOICES[0], label="Aspect ratio (about one megapixel)", elem_id="aspect")
    with gr.Row():
        width = _size_slider("Width")
        height = _size_slider("Height")
    steps = gr.Slider(
        STEPS_MIN, STEPS_MAX, DEFAULT_STEPS, step=1, precision=0, label="Steps", info="Turbo is made for 4.",
        elem_id="steps",
    )
    with gr.Row(elem_id="seed-row"):
        seed = gr.Number(0, label="Seed", precision=0, minimum=SEED_MIN, maximum=SEED_MAX, scale=4, elem_id="seed")
        random_seed = gr.Button("🎲", min_width=44, scale=0, elem_id="random-seed", elem_classes="tool")
        reuse_seed = gr.Button("♻️", min_width=44, scale=0, elem_id="reuse-seed", elem_classes="tool")
        randomize_seed = gr.Checkbox(True, label="Random seed", scale=2, elem_id="randomize")
    with gr.Accordion("Advanced", open=False):
        guidance_scale = gr.Slider(
            GUIDANCE_MIN, GUIDANCE_MAX, DEFAULT_GUIDANCE, step=0.1, label="Guidance scale", info=GUIDANCE_NOTE,
            elem_id="guidance",
        )
        negative_prompt = gr.Textbox(
            "", label="Negative prompt", placeholder="Used only when the guidance scale is above 1.", lines=2,
            elem_id="negative-prompt",
        )
        with gr.Row():
            variation_seed = gr.Number(
                0, label="Variation seed", precision=0, minimum=SEED_MIN, maximum=SEED_MAX, elem_id="variation-seed"
            )
            variation_strength = gr.Slider(
                0.0, 1.0, 0.0, step=0.01, label="Variation strength", info=VARIATION_NOTE,
                elem_id="variation-strength",
            )
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
    gr.Examples([[text] for text in examples], inputs=[prompt], label="Examples", examples_per_page=8)
    last_seed = gr.State(None)
    controls = Controls(
        prompt, generate, stop, aspect, width, height, steps, seed, randomize_seed, random_seed, reuse_seed,
        last_seed, guidance_scale, negative_prompt, max_sequence_length, variation_seed, variation_strength,
    )
    _wire(controls)
    return controls


def _reuse_seed(last_seed: int | None) -> tuple:
    """♻️: the seed of the last image, kept for the next ones."""
    if last_seed is None:
        gr.Info("No image yet: generate one first, then ♻️ reuses its seed.")
        return gr.skip(), gr.skip()
    return last_seed, False


def _wire(controls: Controls) -> None:
    private = {"api_visibility": "private", "queue": False}
    controls.aspect.input(
        preset_size, [controls.aspect, controls.width, controls.height], [controls.width, controls.height], **private
    )
    gr.on(
        [controls.width.input, controls.height.input],
        preset_for,
        [controls.width, controls.height],
        controls.aspect,
        **private,
    )
    controls.random_seed.click(lambda: True, None, controls.randomize_seed, **private)
    controls.reuse_seed.click(_reuse_seed, controls.last_seed, [controls.seed, controls.randomize_seed], **private)
