"""The Generate tab, its one handler (also the public `/generate` endpoint), and Explore around the
image it shows."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipeline.errors import TurboStudioError
from pipeline.request import SEED_MAX
from ui.components import PreviewImage, StatusLine, StreamedOutputs, page_only
from ui.history import GENERATE_TAB_ID, History, SendToGenerate, alt_text, build_history
from ui.runs import Runner, SavedImage
from ui.settings import Controls, dropped_note, inputs_for, request_from
from ui.status import (
    DONE,
    FAILED,
    RUNNING,
    said_in_the_line,
    status_line,
    status_progress,
    status_stopped,
    stoppable_gpu_event,
    variation_note,
)

# --- generate tab ------------------------------------------------------------------------------

TAB_ID = GENERATE_TAB_ID
READY = "Ready. Type a prompt and press Enter."


@dataclass(frozen=True)
class GenerateTab:
    """The components of the Generate tab."""

    status: StatusLine
    image: gr.Image
    history: History
    result: gr.State  # the SavedImage of the last run
    shown: gr.State  # the GenerationRequest of the image on show: the last run's, or one sent here
    step: gr.State  # the running image's last Step, for the line after Stop


def build_generate_tab() -> GenerateTab:
    """Lay out the tab (call inside it)."""
    status = StatusLine(status_line(READY), elem_id="status")
    image = PreviewImage(  # previews inline (ui/components.py), the final PNG as a file
        label="Image",
        type="filepath",
        format="png",
        interactive=False,
        buttons=["download", "fullscreen"],
        height=640,
        elem_id="result-image",
    )
    history = build_history()
    return GenerateTab(status, image, history, gr.State(None), gr.State(None), gr.State(None))


def generated_line(saved: SavedImage, seconds: float) -> str:
    """The status line under which a finished image is shown."""
    request = saved.request
    return status_line(
        f"Done in {seconds:.1f} s · seed {request.seed} · {request.width}×{request.height} · "
        f"{request.steps} step{'s' if request.steps != 1 else ''}"
        f"{variation_note(request.variation_seed, request.variation_strength)}",
        DONE,
    )


def wire_generate_tab(controls: Controls, tab: GenerateTab, send: SendToGenerate, runner: Runner) -> None:
    """Generate (button, Enter or Ctrl+Enter; also the `/generate` API), Stop, and the history."""
    # In the order of the API's result: image, seed, then the page's own (gr.State and StatusLine
    # are left out of the API).
    outputs = StreamedOutputs(
        image=tab.image, seed=controls.seed, last_seed=controls.last_seed, status=tab.status, result=tab.result,
        step=tab.step, prompt_note=controls.prompt_note, shown=tab.shown,
    )

    def generate(
        prompt: str,
        negative_prompt: str,
        seed: int,
        randomize_seed: bool,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
        variation_seed: int,
        variation_strength: float,
        max_sequence_length: int,
        progress=gr.Progress(),
    ):
        """Generate one image. Streams a preview after every step, then the final PNG (with its
        parameters in the metadata); the second value is the seed used."""
        try:
            request = request_from(locals())
            # The seed first; and from here on a cancel can close this generator (Gradio closes
            # a generator only once it has yielded).
            yield outputs(
                image=None, seed=request.seed, status=status_line("Starting…", RUNNING), result=None, step=None,
                prompt_note="", shown=None,
            )
            for frame in runner.generate(request, progress):
                if isinstance(frame, SavedImage):
                    yield outputs(
                        image=frame.path, seed=request.seed, last_seed=request.seed, result=frame, step=None,
                        status=generated_line(frame, frame.seconds),  # the run's own time, as the user waited
                        prompt_note=dropped_note(frame.dropped),  # found by the engine as it encoded the prompt
                        shown=request,
                    )
                else:
                    # The prompt note again, unchanged: Gradio rebuilds a component left out of a yield (6-12 ms
                    # of a 256² image through the page, measured with paired runs against the app without it).
                    yield outputs(
                        image=frame.previews[0], seed=request.seed, status=status_progress(frame), step=frame,
                        prompt_note="",
                    )
        except TurboStudioError as error:  # said once, in the status line, not in a toast besides
            yield outputs(status=status_line(str(error), FAILED))
            raise said_in_the_line(error) from None

    event = stoppable_gpu_event(
        [controls.generate.click],  # Enter in the prompt and Ctrl+Enter click it (assets/page.js)
        controls.generate,
        controls.stop,
        fn=generate,
        inputs=inputs_for(generate, controls.by_parameter),
        **outputs.listener,
        api_name="generate",
        show_progress_on=tab.status,  # hidden there by assets/style.css: the line says it in words
        # The request's own validation answers, naming the field (a slider's preprocessing would
        # only say "Value 0 is less than minimum value 256", and round 1024.5).
        preprocess=False,
    )
    private = page_only()
    controls.stop.click(status_stopped, tab.step, tab.status, **private)
    history = tab.history
    event.success(_described, tab.result, tab.image, **private)
    history.add_after(event, tab.result)


def _described(saved: SavedImage | None) -> gr.Image:
    """The finished image's alt text: its prompt and seed."""
    return gr.Image(alt_text=alt_text(saved.request)) if saved else gr.skip()


# --- explore -----------------------------------------------------------------------------------

VARIATIONS = 8
DEFAULT_STRENGTH = 0.15


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
