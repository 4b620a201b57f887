"""Components the tabs share: where a run stands after a step (`Step`, what the status line and the
previews show), the page-only status line, the settings of page-only events, handlers' outputs by
name, and image outputs whose step previews go inline as JPEG data URLs."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import gradio as gr
from gradio.components.gallery import GalleryData, GalleryImage
from gradio.data_classes import GradioModel, GradioRootModel, ImageData
from gradio.utils import is_prop_update
from PIL import Image

# --- a run's step ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """Where a run stands after a step.

    Attributes:
        previews: the running batch's previews; `indices` are their positions in the run's requests.
        step, total_steps: the step just done, of the batch's steps.
        fraction: of the whole run's work done.
        text: for people, e.g. "Step 3 of 12 · 4.1 s left", or "Decoding…" after the last step.
        title: for the browser tab, e.g. "3/12".
    """

    previews: list[Image.Image]
    indices: tuple[int, ...]
    step: int
    total_steps: int
    fraction: float
    text: str
    title: str

    @property
    def decoding(self) -> bool:
        """True after a batch's last step: the VAE decodes and the PNGs are written next."""
        return self.step == self.total_steps


# --- status line -------------------------------------------------------------------------------


class StatusLine(gr.HTML):
    """`gr.HTML` left out of the public API (like `gr.State`): the API reports progress itself."""

    is_template = True  # rendered by the front end's HTML component

    @property
    def skip_api(self) -> bool:
        return True


def page_only(queued: bool = False) -> dict:
    """The keyword arguments of a page-only event listener: out of the API, with no progress shown.

    Args:
        queued: run it in the queue; else it runs at once, outside the queue (a full queue must not
            hold up the page), except that the page runs a State's `.change` listeners only for the
            state changes of queued events.
    """
    return {"api_visibility": "private", "show_progress": "hidden"} | ({} if queued else {"queue": False})


class Outputs:
    """A handler's output components by name: `components` for its listener's `outputs` (in the
    order given, which is the API's), and a call giving its updates keyed by component. A component
    left out of an update is left as it is, as with `gr.skip()`, but Gradio rebuilds one that is not
    a `gr.State` at every yield: a streaming handler gives such values again, unchanged (an empty
    diff in the stream)."""

    def __init__(self, **components: gr.components.Component) -> None:
        self._by_name = components

    @property
    def components(self) -> list[gr.components.Component]:
        return list(self._by_name.values())

    def __call__(self, **updates) -> dict:
        """The updates, e.g. `outputs(status=line)`, keyed by component."""
        return {self._by_name[name]: value for name, value in updates.items()}


class StreamedOutputs(Outputs):
    """`Outputs` of a streaming handler, whose values leave it ready to send: the call does Gradio's
    postprocessing in the handler's own thread, and `listener` (its listeners' `outputs` and
    `postprocess`) turns Gradio's off. Gradio hands each value but a State's to a worker thread
    and back, at every yield: a preview yield of Generate took 0.52 ms there against 0.11 ms
    here, with no model running (figures 9k and 9l of benchmarks/fixed_costs.py, 2-core EPYC);
    paired runs of the app through the page, 120 images at 256² each, gave a median of 3.8 ms
    less per image over five runs."""

    @property
    def listener(self) -> dict:
        """The keyword arguments of a listener given these updates."""
        return {"outputs": self.components, "postprocess": False}

    def __call__(self, **updates) -> dict:
        return {component: _postprocessed(component, value) for component, value in super().__call__(**updates).items()}


def _postprocessed(component: gr.components.Component, value):
    """`value` as Gradio's postprocessing would send it (by the component as built: no update of
    ours changes how one postprocesses); a State's, an update or a skip as it is."""
    if isinstance(component, gr.State) or isinstance(value, gr.blocks.Block) or is_prop_update(value):
        return value
    value = component.postprocess(value)
    return value.model_dump() if isinstance(value, (GradioModel, GradioRootModel)) else value


# --- inline previews ---------------------------------------------------------------------------

# The live grid's inline thumbnails: large enough for a cell of a 4-column gallery on a wide screen
# (~300 px), and a few tens of KB.
GRID_THUMBNAIL_SIZE = 384


JPEG_DATA_URL = "data:image/jpeg;base64,"


def jpeg_data_url(image: Image.Image, quality: int = 75) -> str:
    """`image` as a JPEG data URL (75: Pillow's default quality)."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return JPEG_DATA_URL + base64.b64encode(buffer.getvalue()).decode("ascii")


def inline_jpeg(image: Image.Image) -> ImageData:
    """`image` as an image value with a JPEG data URL and no file behind it."""
    return ImageData(url=jpeg_data_url(image), mime_type="image/jpeg")


class PreviewImage(gr.Image):
    """`gr.Image` that sends a PIL image (a preview) inline, and a path (a finished image) as a file."""

    is_template = True  # drawn by the front end's Image component

    def postprocess(self, value):
        return inline_jpeg(value) if isinstance(value, Image.Image) else super().postprocess(value)


def inline_thumbnail(image: Image.Image, size: int = GRID_THUMBNAIL_SIZE) -> ImageData:
    """`image` shrunk to fit `size`² (never enlarged), as an inline JPEG."""
    scale = min(1.0, size / max(image.size))
    shape = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    # A box reduction, then bicubic: 5 ms for 1024² to 384² instead of `thumbnail`'s 11 (2-core EPYC).
    return inline_jpeg(image.resize(shape, reducing_gap=1.0))


def _inline(media: Image.Image | ImageData) -> ImageData:
    return media if isinstance(media, ImageData) else inline_jpeg(media)


class PreviewGallery(gr.Gallery):
    """`gr.Gallery` that sends its PIL images (previews) and `inline_jpeg` values inline, and its
    paths (finished images) as files."""

    is_template = True  # drawn by the front end's Gallery component

    def postprocess(self, value) -> GalleryData:
        items = [item if isinstance(item, (tuple, list)) else (item, None) for item in value or []]
        inline = (Image.Image, ImageData)
        files = iter(super().postprocess([item for item in items if not isinstance(item[0], inline)]).root)
        return GalleryData(root=[
            GalleryImage(image=_inline(media), caption=caption) if isinstance(media, inline) else next(files)
            for media, caption in items
        ])
