"""Gradio's floor under the page's path: an app with no model whose `/generate` sends the messages
Turbo Studio's does, for `benchmarks/fixed_costs.py` to time beside the real app.

    python benchmarks/gradio_floor.py --port 7861 --size 256   # serves it (other options ignored)

`preview_yield_times` also times one preview yield's postprocessing in this process, by Gradio's
own (a worker thread) and by `StreamedOutputs` (the handler's thread).

Its one event has the Generate tab's outputs (the same components, `StreamedOutputs` and queue) and
its request's values. Per call it yields the start, one inline preview per step with a progress
update (previews are an eighth of the image's side, as the SD3 latent's RGB previews are), then a
PNG of the image's size written into Gradio's cache, as the app saves its images. No model, engine,
prompt or PNG encoding: what it costs is Gradio's queue, streaming and HTTP, and our output layer.
"""

import argparse
import asyncio
import io
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gradio as gr  # noqa: E402
import numpy  # noqa: E402
from gradio.state_holder import SessionState  # noqa: E402
from gradio.utils import get_upload_folder  # noqa: E402
from PIL import Image  # noqa: E402

from benchmarks import common, server_cpu  # noqa: E402
from ui.components import Outputs, PreviewImage, StatusLine, StreamedOutputs  # noqa: E402

LATENT_SCALE = 8  # SD3's VAE: a preview has a pixel per latent
BY_GRADIO = "a preview yield postprocessed by Gradio"
STREAMED = "a preview yield postprocessed by StreamedOutputs"


def noise_png(size: int) -> bytes:
    """A PNG of random pixels, `size`² (about as large as a random model's image)."""
    pixels = numpy.random.default_rng(common.SEED).integers(0, 256, (size, size, 3), dtype=numpy.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def generate_outputs() -> StreamedOutputs:
    """The Generate tab's outputs, as its handler gives them (call inside a Blocks)."""
    return StreamedOutputs(
        image=PreviewImage(type="filepath", format="png"), seed=gr.Number(), last_seed=gr.State(),
        status=StatusLine(""), result=gr.State(), step=gr.State(), prompt_note=StatusLine(""), shown=gr.State(),
    )


def preview_image(size: int) -> Image.Image:
    return Image.new("RGB", (size // LATENT_SCALE, size // LATENT_SCALE), "gray")


def preview_yield_times(size: int, rounds: int) -> dict[str, list[float]]:
    """Seconds to postprocess one preview yield of Generate's outputs, the two ways in turn: the
    values given as they are to a listener with Gradio's postprocessing, or made ready by
    `StreamedOutputs` (timed too) for its listener. In this process, with no model running."""
    with gr.Blocks() as app:
        outputs = generate_outputs()
        by_gradio, streamed = gr.Button().click(None, None, outputs.components), gr.Button().click(
            None, None, **outputs.listener
        )
    listeners = {BY_GRADIO: app.fns[by_gradio["id"]], STREAMED: app.fns[streamed["id"]]}
    update = {"image": preview_image(size), "seed": common.SEED, "status": "<p>Step 1 of 4</p>", "step": 1,
              "prompt_note": ""}
    made = {BY_GRADIO: lambda: Outputs.__call__(outputs, **update), STREAMED: lambda: outputs(**update)}

    async def timed() -> dict[str, list[float]]:
        session, times = SessionState(app), {way: [] for way in listeners}
        for _ in range(rounds):
            for way, listener in listeners.items():
                started = time.perf_counter()
                await app.postprocess_data(listener, made[way](), session)
                times[way].append(time.perf_counter() - started)
        return times

    return asyncio.run(timed())


def build_floor(size: int) -> gr.Blocks:
    """The app: `/generate` over inputs like the real one's, streaming `common.STEPS` steps."""
    preview = preview_image(size)
    png, folder = noise_png(size), Path(get_upload_folder()) / f"floor-{secrets.token_hex(16)}"
    folder.mkdir(parents=True)
    with gr.Blocks() as app:
        inputs = [gr.Textbox(visible=False) for _ in server_cpu.generate_arguments(size)]
        outputs = generate_outputs()

        def generate(*values, progress=gr.Progress()):
            progress(0, desc="Starting")
            yield outputs(image=None, seed=common.SEED, status="<p>Starting…</p>", result=None, step=None,
                          prompt_note="", shown=None)
            for step in range(1, common.STEPS + 1):
                text = f"Step {step} of {common.STEPS}"
                progress(step / common.STEPS, desc=text)
                yield outputs(image=preview, seed=common.SEED, status=f"<p>{text}</p>", step=step, prompt_note="")
            path = folder / f"{secrets.token_hex(8)}.png"
            path.write_bytes(png)
            yield outputs(image=str(path), seed=common.SEED, last_seed=common.SEED, result=str(path), step=None,
                          status="<p>Done</p>", prompt_note="", shown=values)

        gr.Button().click(generate, inputs, **outputs.listener, api_name="generate", preprocess=False)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--size", type=int, default=256, help="the image's width and height (default 256)")
    args, _ = parser.parse_known_args()  # app.py's options, as harness/local_processes.py passes them
    build_floor(args.size).queue().launch(server_name="127.0.0.1", server_port=args.port, quiet=True)


if __name__ == "__main__":
    main()
