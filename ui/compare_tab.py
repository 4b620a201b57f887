"""The Compare seeds tab: the settings on the left over many seeds, optionally over step counts too."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from dataclasses import dataclass

import gradio as gr
from PIL import Image

from pipeline.errors import RequestError
from pipeline.grid import make_grid
from pipeline.request import SEED_MAX, SEED_MIN
from pipeline.seeds import parse_seed_list, parse_step_list, seed_range
from ui.controls import Controls
from ui.errors import shown_as_toast
from ui.generate_tab import SendToGenerate
from ui.progress import Step
from ui.runs import Runner, SavedImage, build_request, caption, gallery_items
from ui.status import status_message, status_progress
from ui.stoppable import stoppable_gpu_event
from ui.store import ImageStore
from ui.zerogpu import SECONDS_FIXED, estimated_seconds, on_gpu

TAB_ID = "compare"
CONSECUTIVE, LISTED = "Consecutive seeds", "Seed list"
DEFAULT_COUNT = 4


@dataclass(frozen=True)
class CompareTab:
    """The components of the Compare seeds tab."""

    seed_mode: gr.Radio
    first_seed: gr.Number
    seed_count: gr.Slider
    seed_list: gr.Textbox
    step_list: gr.Textbox
    compare: gr.Button
    stop: gr.Button
    status: gr.HTML
    gallery: gr.Gallery
    grid: gr.DownloadButton
    results: gr.State


def build_compare_tab(max_seeds: int) -> CompareTab:
    """Lay out the tab (call inside it)."""
    gr.Markdown("Runs the prompt and settings on the left once per seed. Select a result to send it to Generate.")
    seed_mode = gr.Radio([CONSECUTIVE, LISTED], value=CONSECUTIVE, show_label=False, elem_id="seed-mode")
    with gr.Row() as consecutive:
        first_seed = gr.Number(
            0, label="First seed", precision=0, minimum=SEED_MIN, maximum=SEED_MAX, elem_id="first-seed"
        )
        seed_count = gr.Slider(
            1, max_seeds, min(DEFAULT_COUNT, max_seeds), step=1, precision=0, label=f"Seeds (up to {max_seeds})",
            elem_id="seed-count",
        )
    seed_list = gr.Textbox(
        label=f"Seeds (up to {max_seeds})",
        placeholder="1, 7, 42 or 100-107",
        visible=False,
        elem_id="seed-list",
    )
    step_list = gr.Textbox(
        "",
        label="Step counts (optional second axis)",
        placeholder="e.g. 2, 4, 8; empty uses the Steps slider",
        elem_id="step-list",
    )
    with gr.Row():
        compare = gr.Button("Compare seeds", variant="primary", elem_id="compare-button")
        stop = gr.Button("Stop", variant="stop", visible=False, elem_id="compare-stop-button")
    status = gr.HTML(status_message("Choose the seeds, then press Compare seeds."), elem_id="compare-status")
    gallery = gr.Gallery(
        label="Comparison", format="png", columns=4, height="auto", interactive=False, elem_id="comparison"
    )
    grid = gr.DownloadButton("Download the grid (PNG)", visible=False, elem_id="grid-download")
    seed_mode.change(
        lambda mode: (gr.Row(visible=mode == CONSECUTIVE), gr.Textbox(visible=mode == LISTED)),
        seed_mode,
        [consecutive, seed_list],
        queue=False,
        api_visibility="private",
    )
    return CompareTab(
        seed_mode, first_seed, seed_count, seed_list, step_list, compare, stop, status, gallery, grid, gr.State([])
    )


def chosen_seeds(mode: str, first_seed: int | None, count: int, seed_list: str, max_seeds: int) -> list[int]:
    """The seeds the tab asks for: `count` from `first_seed`, or the typed list."""
    if mode == LISTED:
        return parse_seed_list(seed_list or "", max_seeds)
    return seed_range(first_seed, count, max_seeds)


def comparison_status(images: list[SavedImage], seconds: float) -> str:
    """The line shown when a comparison is done."""
    return status_message(
        f"<b>{len(images)}</b> images in {seconds:.1f} s. Select one to send its seed and settings to Generate."
    )


def comparison_seconds(seeds: Callable[[], list[int]], step_list: str, steps, width, height, guidance_scale) -> int:
    """ZeroGPU duration of a comparison; the fixed time when a value is invalid (the handler says why)."""
    try:
        step_counts = parse_step_list(step_list) or [steps]
        return estimated_seconds(len(seeds()), sum(step_counts), width, height, guidance_scale)
    except (RequestError, TypeError):
        return SECONDS_FIXED


def wire_compare_tab(controls: Controls, tab: CompareTab, send: SendToGenerate, runner: Runner, max_seeds: int) -> None:
    """Compare, Stop, the grid download, and sending a result to Generate."""

    def duration(
        prompt, negative_prompt, width, height, steps, guidance_scale, sequence_length, mode, first, count, listed,
        step_list, *_,
    ) -> int:
        def seeds() -> list[int]:
            return chosen_seeds(mode, first, count, listed, max_seeds)

        return comparison_seconds(seeds, step_list, steps, width, height, guidance_scale)

    @on_gpu(duration)
    def compare_seeds(
        prompt, negative_prompt, width, height, steps, guidance_scale, sequence_length, mode, first_seed, seed_count,
        seed_list, step_list, progress=gr.Progress(),
    ):
        started = time.perf_counter()
        with shown_as_toast():
            seeds = chosen_seeds(mode, first_seed, seed_count, seed_list, max_seeds)
            step_counts = parse_step_list(step_list)
            request = build_request(
                prompt, negative_prompt, seeds[0], False, width, height, steps, guidance_scale,
                max_sequence_length=sequence_length,
            )
            yield [], [], status_message("Starting"), gr.DownloadButton(visible=False)
            for frame in runner.compare(request, seeds, step_counts, progress):
                if isinstance(frame, Step):
                    yield gr.skip(), gr.skip(), status_progress(frame), gr.skip()
                else:
                    saved = frame
                    yield gallery_items(saved, with_steps=len(step_counts) > 1), saved, gr.skip(), gr.skip()
            yield gr.skip(), gr.skip(), comparison_status(saved, time.perf_counter() - started), gr.skip()

    comparison = stoppable_gpu_event(
        [tab.compare.click],
        tab.compare,
        tab.stop,
        fn=compare_seeds,
        inputs=[
            controls.prompt, controls.negative_prompt, controls.width, controls.height, controls.steps,
            controls.guidance, controls.sequence_length, tab.seed_mode, tab.first_seed, tab.seed_count,
            tab.seed_list, tab.step_list,
        ],
        outputs=[tab.gallery, tab.results, tab.status, tab.grid],
        api_name="compare_seeds_ui",
        api_visibility="private",
        show_progress_on=tab.status,
    )
    comparison.success(partial(save_grid, runner.store), tab.results, tab.grid, api_visibility="private")

    def send_to_generate(images: list[SavedImage], selected: gr.SelectData):
        return send.values(images[selected.index])

    tab.gallery.select(send_to_generate, tab.results, send.outputs, api_visibility="private", queue=False)


def save_grid(store: ImageStore, images: list[SavedImage]) -> gr.DownloadButton:
    """The comparison as one labelled grid PNG, offered for download."""
    step_counts = {saved.request.steps for saved in images}
    with_steps = len(step_counts) > 1
    cells = [(Image.open(saved.path), caption(saved.request, with_steps)) for saved in images]
    grid = make_grid(cells, columns=len(images) // len(step_counts) if with_steps else None)
    return gr.DownloadButton(value=str(store.save_grid(grid)), visible=True)
