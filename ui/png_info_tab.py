"""The PNG info tab: the parameters stored in an image, shown as text and sent back to Generate."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from pipeline.errors import RequestError
from pipeline.metadata import format_infotext, read_request
from ui.errors import warn
from ui.runs import SavedImage
from ui.send_to_generate import SendToGenerate

TAB_ID = "png-info"


@dataclass(frozen=True)
class PngInfoTab:
    """The components of the PNG info tab."""

    upload: gr.Image
    parameters: gr.Textbox
    send: gr.Button
    found: gr.State


def build_png_info_tab() -> PngInfoTab:
    """Lay out the tab (call inside it)."""
    gr.Markdown("Drop a PNG made here, or one carrying the common `parameters` text, to read its settings.")
    with gr.Row(equal_height=False):
        # image_mode=None and type="filepath" hand over the uploaded file itself, metadata included.
        upload = gr.Image(
            label="Image", type="filepath", image_mode=None, sources=["upload", "clipboard"], height=420,
            elem_id="png-info-image",
        )
        with gr.Column():
            parameters = gr.Textbox(
                label="Parameters", lines=8, max_lines=20, interactive=False, buttons=["copy"],
                elem_id="png-info-parameters",
            )
            send = gr.Button("Send to Generate", variant="primary", interactive=False, elem_id="png-info-send")
    return PngInfoTab(upload, parameters, send, gr.State(None))


def read_parameters(upload: dict | None) -> tuple:
    """The parameters text of the uploaded image, what to send to Generate, and the button's state.

    `upload` is the file as Gradio received it, not opened: a file that is no image at all, or a
    truncated one, gets the metadata reader's explanation. An image without readable parameters
    clears the panel and says why in a warning toast.
    """
    nothing = "", None, gr.Button(interactive=False)
    if upload is None:
        return nothing
    path = upload["path"]
    try:
        request, model = read_request(path)
    except RequestError as error:
        warn(str(error))
        return nothing
    return format_infotext(request, model or "unknown"), SavedImage(path, request), gr.Button(interactive=True)


def wire_png_info_tab(tab: PngInfoTab, send: SendToGenerate) -> None:
    """Reading an image when it changes, and Send to Generate."""
    tab.upload.change(
        read_parameters,
        tab.upload,
        [tab.parameters, tab.found, tab.send],
        api_name="png_info",
        api_visibility="private",
        preprocess=False,
    )
    tab.send.click(send.values, tab.found, send.outputs, api_visibility="private", queue=False)
