"""Explore around an image: one click runs a comparison of its exact settings over variation seeds
at a small strength, since a distilled model varies little and strength is the knob that matters.
The settings column is put back once the comparison has its settings: exploring does not change
what Generate makes next."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipeline import GenerationRequest
from pipeline.request import SEED_MAX
from ui.compare_tab import TAB_ID as COMPARE_TAB_ID
from ui.compare_tab import CompareTab
from ui.controls import Controls

VARIATIONS = 8
DEFAULT_STRENGTH = 0.15
# Clicks Compare once the settings are in place and the tab is shown, as a person would, and
# resolves once the run has taken them (its line says it is running, queued or failed anew).
CLICK_COMPARE = """() => new Promise((resolve) => setTimeout(() => {
    const line = () => document.querySelector('#compare-status .run-status');
    const before = line()?.textContent;
    document.querySelector('#compare-button').click();
    const until = performance.now() + 15000;
    const wait = () => {
        const taken = ["running", "queued", "failed"].includes(line()?.dataset.state) && line().textContent !== before;
        if (taken || performance.now() > until) resolve();
        else setTimeout(wait, 50);
    };
    wait();
}, 200))"""


@dataclass(frozen=True)
class Explore:
    """The button under the result, and the strength it explores at."""

    button: gr.Button
    strength: gr.Slider


def build_explore() -> Explore:
    """Lay out the button and its strength (call under the result image)."""
    # Stacked, so a phone needs no room for both side by side; a column, not a group, which took
    # the button's border and fill (in light mode it was bold text on white).
    with gr.Column(elem_id="explore"):
        strength = gr.Slider(
            0.01, 1.0, DEFAULT_STRENGTH, step=0.01, label="Explore strength", elem_id="explore-strength",
            info=f"{VARIATIONS} variation seeds at this strength around the image",
        )
        button = gr.Button("Explore around this image", elem_id="explore-button", interactive=False)
    return Explore(button, strength)


def variation_seeds(seed: int, count: int = VARIATIONS) -> str:
    """The `count` seeds after `seed` (wrapping past the largest), as a seed list."""
    return ", ".join(str((seed + offset) % (SEED_MAX + 1)) for offset in range(1, count + 1))


def wire_explore(explore: Explore, shown: gr.State, controls: Controls, compare: CompareTab, tabs: gr.Tabs) -> None:
    """The button, enabled once the Generate tab shows an image (`shown`: its request): its settings
    and the variation seeds go to Compare, which runs; then the settings column is as before."""

    def explore_around(request: GenerationRequest | None, strength: float) -> dict:
        if request is None:
            return gr.skip()
        return {
            **controls.restored(request),
            controls.variation_strength: strength,
            compare.seeds: str(request.seed),
            compare.axis: "variation_seed",
            compare.axis_values: gr.Textbox(value=variation_seeds(request.seed), interactive=True),
            tabs: gr.Tabs(selected=COMPARE_TAB_ID),
        }

    outputs = [*controls.restorable, compare.seeds, compare.axis, compare.axis_values, tabs]
    private = {"api_visibility": "private", "queue": False}
    before = gr.State([])  # the settings column's values before exploring, as typed (not checked)
    remember = explore.button.click(
        lambda *values: list(values), controls.restorable, before, preprocess=False, **private
    )
    run = remember.then(explore_around, [shown, explore.strength], outputs, **private).then(
        None, js=CLICK_COMPARE, **private
    )
    run.then(lambda values: tuple(values), before, controls.restorable, **private)
    shown.change(lambda request: gr.Button(interactive=request is not None), shown, explore.button, **private)
