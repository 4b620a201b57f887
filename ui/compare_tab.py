"""The Compare tab and its one handler, also the public `/compare` endpoint (and `/compare_seeds`,
kept for existing clients); with the A/B slider between two images of the history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import gradio as gr
from gradio.events import Dependency

from pipeline.comparison import AXES, NO_AXIS, Comparison, plan_comparison
from pipeline.metadata import format_infotext
from pipeline.request import GenerationRequest
from ui.components import Outputs, PreviewGallery, StatusLine, Step, StreamedOutputs, page_only
from ui.history import History, SendToGenerate, choices, pick
from ui.live_grid import LiveGrid
from ui.runs import Runner, SavedImage
from ui.settings import Controls, dropped_note, inputs_for, request_from
from ui.status import (
    DONE,
    GPU_QUEUE,
    RUNNING,
    STOPPED,
    repeated_seeds_note,
    shown_as_toast,
    status_line,
    status_progress,
    stoppable_gpu_event,
)

# --- compare tab -------------------------------------------------------------------------------

TAB_ID = "compare"
DEFAULT_SEEDS = "0-3"
COMPARE_READY = "Choose the seeds and an axis, then press Compare."
# What `/compare_seeds`, which does not take them, leaves at the request's defaults.
SEEDS_ONLY_DEFAULTS = {
    field.name: field.default
    for field in fields(GenerationRequest)
    if field.name in ("variation_seed", "variation_strength", "max_sequence_length")
}


@dataclass(frozen=True)
class CompareTab:
    """The components of the Compare tab."""

    seeds: gr.Textbox
    axis: gr.Dropdown
    axis_values: gr.Textbox
    compare: gr.Button
    stop: gr.Button
    status: StatusLine
    gallery: gr.Gallery
    headers: StatusLine  # the gallery's row and column headers, for assets/page.js
    grid_file: gr.File
    live: gr.State  # the LiveGrid of the last comparison

    @property
    def by_parameter(self) -> dict:
        """The tab's own inputs, by the handler parameter they feed."""
        return {"seeds": self.seeds, "axis": self.axis, "axis_values": self.axis_values}


def build_compare_tab(max_seeds: int) -> CompareTab:
    """Lay out the tab (call inside it)."""
    gr.Markdown(
        "Runs the prompt and settings on the left for each seed (rows) and each value of one setting "
        "(columns). Select an image to send its exact settings to Generate."
    )
    with gr.Row():
        seeds = gr.Textbox(
            DEFAULT_SEEDS, label=f"Seeds (up to {max_seeds} images)", placeholder="1, 7, 42 or 100-107",
            elem_id="compare-seeds",
        )
        axis = gr.Dropdown(
            [(axis.title, axis.name) for axis in AXES.values()], value=NO_AXIS, label="Columns", elem_id="compare-axis"
        )
        axis_values = gr.Textbox(
            "", label="Column values", placeholder="comma-separated", interactive=False, elem_id="compare-values"
        )
    with gr.Row(elem_classes="run-row"):
        compare = gr.Button("Compare", variant="primary", elem_id="compare-button")
        stop = gr.Button("■ Stop", variant="stop", visible=False, elem_id="compare-stop-button")
    status = StatusLine(status_line(COMPARE_READY), elem_id="compare-status")
    gallery = PreviewGallery(  # the cells' previews inline (ui/components.py), finished cells as PNG files
        label="Comparison", format="png", columns=4, height="auto", interactive=False, object_fit="contain",
        elem_id="comparison",
    )
    headers = StatusLine("", elem_id="comparison-headers")
    grid_file = gr.File(label="Grid (PNG with every cell's settings)", interactive=False, elem_id="grid-file")
    # The axis's example goes in the box in the browser, and only over another example or nothing:
    # set by the server's answer, it replaced values typed meanwhile (the dropdown's input fires
    # again as it loses focus, and a busy server answered after the typing: tests/test_page.py).
    examples = json.dumps({name: choice.example for name, choice in AXES.items()})
    keep_typed = f"(axis, values) => {{ const examples = {examples}; " \
        "return values && !Object.values(examples).includes(values) ? values : examples[axis] ?? ''; }"
    axis.input(None, [axis, axis_values], axis_values, js=keep_typed, **page_only())
    axis.input(_axis_values_box, axis, axis_values, **page_only())
    return CompareTab(seeds, axis, axis_values, compare, stop, status, gallery, headers, grid_file, gr.State(None))


def _axis_values_box(axis: str) -> gr.Textbox:
    """The values box for `axis`, its value left as it is: a placeholder with an example to follow,
    and editable only when there is an axis."""
    example = AXES[axis].example if axis in AXES else ""
    return gr.Textbox(placeholder=f"e.g. {example}" if example else "", interactive=bool(example))


def compared_line(images: list[SavedImage | None], seconds: float, repeated: tuple[int, ...]) -> str:
    """The line shown when a comparison is done, naming the `repeated` seeds (listed more than once)."""
    return status_line(
        f"Done in {seconds:.1f} s: {len(images)} images.{repeated_seeds_note(repeated)} "
        "Select one to send its settings to Generate.",
        DONE,
    )


def compare_stopped_line(images: list[SavedImage | None]) -> str:
    """The line shown after Stop: how many images were finished."""
    done = sum(saved is not None for saved in images)
    return status_line(f"Stopped after {done} of {len(images)} images", STOPPED)


def wire_compare_tab(
    controls: Controls,
    tab: CompareTab,
    history: History,
    send: SendToGenerate,
    runner: Runner,
    max_seeds: int,
) -> Callable[[Dependency, dict], Dependency]:
    """Compare (also the `/compare` API), Stop, the grid file, and sending a cell to Generate.

    Returns:
        `run_after(preceding, alongside)`: the same comparison, out of the API, run after the
        event `preceding`, with the page-only listener `alongside` as it starts (for Explore).
    """
    # In the order of the API's result: the gallery and the grid file, then the page's own.
    outputs = StreamedOutputs(
        gallery=tab.gallery, grid_file=tab.grid_file, status=tab.status, live=tab.live,
        prompt_note=controls.prompt_note, headers=tab.headers,
    )

    def plan(arguments: dict) -> Comparison:
        base = request_from(arguments, seed=0)  # each row sets its seed
        return plan_comparison(
            base, arguments["seeds"] or "", arguments["axis"] or NO_AXIS, arguments["axis_values"] or "",
            max_cells=max_seeds,
        )

    def save_grid(grid: LiveGrid) -> str:
        return str(runner.store.save_grid(grid.png(runner.engine.info.model)))

    def stopped(grid: LiveGrid | None) -> dict:
        """After a run stopped before its end: how far it got, the finished cells' files, and the
        grid of them (the state holds them); nothing after a run that ended."""
        if grid is None or all(grid.saved):
            return gr.skip()
        return outputs(
            status=compare_stopped_line(grid.saved), gallery=grid.gallery(final=True),
            grid_file=save_grid(grid) if any(grid.saved) else None,
        )

    def _to_generate(grid: LiveGrid | None, selected: gr.SelectData) -> dict:
        index = selected.index  # from the page: a cell of this session's grid, or nothing
        saved = grid.saved[index] if grid and isinstance(index, int) and 0 <= index < len(grid.saved) else None
        return send.values(saved.request, saved.path) if saved else gr.skip()

    def compare(
        prompt: str,
        negative_prompt: str,
        seeds: str,
        axis: str,
        axis_values: str,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
        variation_seed: int,
        variation_strength: float,
        max_sequence_length: int,
        progress=gr.Progress(),
    ):
        """Generate the prompt for each seed (`seeds` like "1, 7, 42" or "100-107") × each value of
        one `axis` (`none`, `steps`, `guidance_scale`, `prompt_sr` or `variation_strength`; values
        comma-separated in `axis_values`). Streams the gallery after every step, with the cells'
        previews and the finished cells' thumbnails; ends with every cell's PNG (captions like
        "seed 7 · cat") and the labelled grid PNG."""
        with shown_as_toast():  # assets/page.js also puts the message in the status line
            grid = LiveGrid(plan(locals()))
            # The page lays the gallery out from the headers (one column per axis value); API
            # clients get the gallery and the grid (None until the end) as plain values every time.
            # Every output is given at every yield, unchanged ones too: Gradio rebuilds a component
            # left out of a yield (as Generate's prompt note cost 6-12 ms of a 256² image, measured).
            headers, status = grid.headers(), status_line("Starting…", RUNNING)

            def running(status: str) -> dict:
                return outputs(
                    gallery=grid.gallery(), grid_file=None, status=status, live=grid, prompt_note="", headers=headers
                )

            yield running(status)
            for frame in runner.compare(grid.comparison.requests, progress):
                grid.update(frame)
                status = status_progress(frame) if isinstance(frame, Step) else status
                yield running(status)
            yield outputs(
                gallery=grid.gallery(final=True), grid_file=save_grid(grid), live=grid, headers=headers,
                status=compared_line(grid.saved, grid.seconds, grid.comparison.repeated),
                prompt_note=dropped_note(grid.dropped),  # found by the engine as it encoded the prompt
            )

    components = {**controls.by_parameter, **tab.by_parameter}

    def run(start_on: Sequence | Dependency, alongside: dict | None = None, **api) -> Dependency:
        """The comparison, with its Stop and its closing steps, started by `start_on`."""
        event = stoppable_gpu_event(
            start_on,
            tab.compare,
            tab.stop,
            alongside,
            fn=compare,
            inputs=inputs_for(compare, components),
            **outputs.listener,
            show_progress_on=tab.status,  # hidden there by assets/style.css: the line says it in words
            preprocess=False,  # the request's and the plan's own validation answer, naming the field
            **api,
        )
        # The run's closing steps skip the queue, as Generate's do: queued, they waited in line behind
        # other work after the images were done ("In line: 1st" for 30 s on a busy server).
        private = page_only()
        history.add_after(event, tab.live, lambda grid: grid.saved if grid else None)
        # After the run has ended (the page runs `.then` after a success or a Stop, not after an error),
        # not on Stop's click: writing the status line while the cancelled run still held it left that
        # run's status in Gradio's error state, in about 1 Stop of 4 (tests/test_page.py).
        event.then(stopped, tab.live, **outputs.listener, **private)
        return event

    run([tab.compare.click, tab.seeds.submit, tab.axis_values.submit], api_name="compare")

    def compare_seeds(
        prompt: str, seeds: str, width: int, height: int, steps: int, guidance_scale: float, progress=gr.Progress()
    ):
        """Generate the prompt once per seed (`seeds` like "1, 7, 42" or "100-107"): `/compare`
        with no axis, kept for existing clients. Streams the gallery; ends with each image's PNG,
        captioned "seed N"."""
        for update in compare(
            prompt, "", seeds, NO_AXIS, "", width, height, steps, guidance_scale, **SEEDS_ONLY_DEFAULTS,
            progress=progress,
        ):
            yield update[tab.gallery]

    # No trigger: an API-only event over the page's components, running `compare` in the GPU queue;
    # the gallery comes postprocessed from it.
    gr.on(
        triggers=[], fn=compare_seeds, inputs=inputs_for(compare_seeds, components), outputs=tab.gallery,
        api_name="compare_seeds", concurrency_id=GPU_QUEUE, show_progress="hidden", preprocess=False,
        postprocess=False,
    )
    send.on(tab.gallery.select, _to_generate, tab.live)

    return lambda preceding, alongside: run(preceding, alongside, api_visibility="private")


# --- ab tab ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ABSlider:
    """The components of the A/B section."""

    first: gr.Dropdown
    second: gr.Dropdown
    slider: gr.ImageSlider
    first_settings: gr.Textbox
    second_settings: gr.Textbox


def build_ab_slider() -> ABSlider:
    """Lay out the section (call inside its container)."""
    gr.Markdown("Pick two images of the history (Generate and Compare both add to it) and slide between them.")
    with gr.Row():
        first = gr.Dropdown([], label="A (left)", elem_id="ab-first")
        second = gr.Dropdown([], label="B (right)", elem_id="ab-second")
    slider = gr.ImageSlider(label="A / B", type="filepath", format="png", interactive=False, elem_id="ab-slider")
    with gr.Row():
        first_settings = gr.Textbox(label="A's settings", lines=4, interactive=False, elem_id="ab-first-settings")
        second_settings = gr.Textbox(label="B's settings", lines=4, interactive=False, elem_id="ab-second-settings")
    return ABSlider(first, second, slider, first_settings, second_settings)


def wire_ab_slider(tab: ABSlider, opener: gr.Accordion, history: History, model: str) -> None:
    """Refresh the choices when the section opens (the two newest images); show a pair when either changes."""

    shows = Outputs(slider=tab.slider, first_settings=tab.first_settings, second_settings=tab.second_settings)

    def refresh(entries: list) -> dict:
        options = choices(entries)
        first = options[1][1] if len(options) > 1 else None  # the older of the two newest on the left
        second = options[0][1] if options else None
        return {
            tab.first: gr.Dropdown(choices=options, value=first), tab.second: gr.Dropdown(choices=options, value=second)
        }

    def show(entries: list, first: int | None, second: int | None) -> dict:
        picked = [pick(entries, index) for index in (first, second)]
        first_settings, second_settings = (format_infotext(entry.request, model) if entry else "" for entry in picked)
        update = shows(first_settings=first_settings, second_settings=second_settings)
        if None in picked:
            return update
        return update | shows(slider=tuple(entry.image or entry.thumbnail for entry in picked))

    private = page_only()
    opener.expand(refresh, history.entries, [tab.first, tab.second], **private).then(
        show, [history.entries, tab.first, tab.second], shows.components, **private
    )
    gr.on(
        [tab.first.input, tab.second.input], show, [history.entries, tab.first, tab.second], shows.components,
        **private,
    )
