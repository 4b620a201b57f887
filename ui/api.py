"""The public API: `/generate` and `/compare_seeds`, streaming endpoints for `gradio_client`.

They have no button of their own (no trigger): they reuse the interface's components for their
inputs and outputs, and the same `Runner` as the interface. Each yields once before the engine
starts: Gradio can close a generator (on cancel or disconnect) only once it has yielded.
"""

from __future__ import annotations

import gradio as gr

from pipeline.seeds import parse_seed_list
from ui.compare_tab import CompareTab, comparison_seconds
from ui.controls import Controls
from ui.errors import shown_as_toast
from ui.generate_tab import GenerateTab, generation_seconds
from ui.progress import Step
from ui.runs import Runner, SavedImage, build_request, gallery_items
from ui.stoppable import GPU_QUEUE
from ui.zerogpu import on_gpu


def register_api(
    controls: Controls, generate_tab: GenerateTab, compare_tab: CompareTab, runner: Runner, max_seeds: int
) -> None:
    """Add the two documented endpoints to the Blocks being built."""

    @on_gpu(generation_seconds)
    def generate(
        prompt: str,
        negative_prompt: str,
        seed: int,
        randomize_seed: bool,
        width: int,
        height: int,
        steps: int,
        guidance_scale: float,
        progress=gr.Progress(),
    ):
        """Generate one image. Streams a preview after every step, then the final PNG (with its
        parameters in the metadata); the second value is the seed used."""
        with shown_as_toast():
            request = build_request(prompt, negative_prompt, seed, randomize_seed, width, height, steps, guidance_scale)
            yield None, request.seed  # the seed first; and from here on a cancel can close this generator
            for frame in runner.generate(request, progress):
                yield (frame.path if isinstance(frame, SavedImage) else frame.previews[0]), request.seed

    def duration(prompt, seeds, width, height, steps, guidance_scale, *_) -> int:
        return comparison_seconds(
            lambda: parse_seed_list(seeds or "", max_seeds), "", steps, width, height, guidance_scale
        )

    @on_gpu(duration)
    def compare_seeds(
        prompt: str, seeds: str, width: int, height: int, steps: int, guidance_scale: float, progress=gr.Progress()
    ):
        """Generate the prompt once per seed (`seeds` like "1, 7, 42" or "100-107"). Streams the
        gallery as batches finish; each image's caption is "seed N"."""
        with shown_as_toast():
            seed_list = parse_seed_list(seeds or "", max_seeds)
            request = build_request(prompt, "", seed_list[0], False, width, height, steps, guidance_scale)
            yield []  # from here on a cancel can close this generator
            for frame in runner.compare(request, seed_list, [], progress):
                if not isinstance(frame, Step):
                    yield gallery_items(frame)

    # No preprocessing: the request's own validation answers, naming the field (sliders would only
    # say "Value 0 is less than minimum value 256", and round 1024.5).
    endpoint = {"triggers": [], "concurrency_id": GPU_QUEUE, "show_progress": "hidden", "preprocess": False}
    gr.on(
        fn=generate,
        inputs=[
            controls.prompt, controls.negative_prompt, controls.seed, controls.randomize, controls.width,
            controls.height, controls.steps, controls.guidance,
        ],
        outputs=[generate_tab.image, controls.seed],
        api_name="generate",
        **endpoint,
    )
    gr.on(
        fn=compare_seeds,
        inputs=[
            controls.prompt, compare_tab.seed_list, controls.width, controls.height, controls.steps, controls.guidance
        ],
        outputs=[compare_tab.gallery],
        api_name="compare_seeds",
        **endpoint,
    )
