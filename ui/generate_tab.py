"""The Generate tab: live preview, final PNG, status with progress, and the session's history."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr

from ui.controls import Controls, restored_values
from ui.errors import shown_as_toast
from ui.runs import Runner, SavedImage, build_request, gallery_items
from ui.status import status_message, status_progress
from ui.stoppable import stoppable_gpu_event
from ui.zerogpu import estimated_seconds, on_gpu

HISTORY_SIZE = 24
TAB_ID = "generate"
READY = "Ready. Type a prompt and press Enter."


@dataclass(frozen=True)
class GenerateTab:
    """The components of the Generate tab."""

    status: gr.HTML
    image: gr.Image
    history: gr.Gallery
    history_state: gr.State


def build_generate_tab() -> GenerateTab:
    """Lay out the tab (call inside it)."""
    status = gr.HTML(status_message(READY), elem_id="status")
    image = gr.Image(
        label="Image",
        type="filepath",
        format="png",
        interactive=False,
        buttons=["download", "fullscreen"],
        height=640,
        elem_id="result-image",
    )
    history = gr.Gallery(
        label="History (this session; select one to restore its settings)",
        format="png",
        columns=8,
        height=150,
        fit_columns=False,
        allow_preview=False,
        interactive=False,
        elem_id="history",
    )
    return GenerateTab(status, image, history, gr.State([]))


@dataclass(frozen=True)
class SendToGenerate:
    """Where a chosen image goes: its settings into the column, itself into the Generate tab."""

    controls: Controls
    tab: GenerateTab
    tabs: gr.Tabs

    @property
    def outputs(self) -> list:
        """The components `values` sets."""
        return [*self.controls.restorable, self.tab.image, self.tab.status, self.tabs]

    def values(self, saved: SavedImage) -> list:
        """The settings of `saved`, its image, a status line, and the Generate tab selected."""
        seed = saved.request.seed
        status = status_message(f"Settings of seed <b>{seed}</b> restored; press Generate to make it again.")
        return [*restored_values(saved.request), saved.path, status, gr.Tabs(selected=TAB_ID)]


def finished_status(saved: SavedImage, seconds: float) -> str:
    """The status line under which a finished image is shown."""
    request = saved.request
    return status_message(
        f"Seed <b>{request.seed}</b> · {request.width}×{request.height} · {request.steps} steps · {seconds:.2f} s"
    )


def generation_seconds(prompt, negative_prompt, seed, randomize_seed, width, height, steps, guidance_scale, *_) -> int:
    """ZeroGPU duration of a single generation (same arguments as the handlers)."""
    return estimated_seconds(1, steps, width, height, guidance_scale)


def wire_generate_tab(send: SendToGenerate, runner: Runner) -> None:
    """Generate (button or Enter), Stop, and restoring from the history."""
    controls, tab = send.controls, send.tab

    @on_gpu(generation_seconds)
    def generate_image(
        prompt, negative_prompt, seed, randomize_seed, width, height, steps, guidance_scale, sequence_length,
        history, progress=gr.Progress(),
    ):
        started = time.perf_counter()
        with shown_as_toast():
            request = build_request(
                prompt, negative_prompt, seed, randomize_seed, width, height, steps, guidance_scale,
                max_sequence_length=sequence_length,
            )
            yield gr.skip(), request.seed, gr.skip(), status_message("Starting"), gr.skip(), gr.skip()
            for frame in runner.generate(request, progress):
                if isinstance(frame, SavedImage):
                    history = [frame, *history][:HISTORY_SIZE]
                    status = finished_status(frame, time.perf_counter() - started)
                    yield frame.path, request.seed, request.seed, status, gallery_items(history), history
                else:
                    yield frame.previews[0], request.seed, gr.skip(), status_progress(frame), gr.skip(), gr.skip()

    stoppable_gpu_event(
        [controls.generate.click, controls.prompt.submit],
        controls.generate,
        controls.stop,
        fn=generate_image,
        inputs=[*controls.request_inputs, tab.history_state],
        outputs=[tab.image, controls.seed, controls.last_seed, tab.status, tab.history, tab.history_state],
        api_name="generate_image",
        api_visibility="private",
        show_progress_on=tab.status,
    )

    def restore_from_history(history: list[SavedImage], selected: gr.SelectData):
        return send.values(history[selected.index])

    tab.history.select(restore_from_history, tab.history_state, send.outputs, api_visibility="private", queue=False)
