"""The PNG info tab: what any PNG says about how it was made, shown as written and as read, and
sent to Generate with every value that had to change listed (a grid: any of its cells)."""

from __future__ import annotations

import html
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
from gradio.data_classes import ImageData
from gradio.utils import get_upload_folder
from gradio_client.utils import is_http_url_like

from pipeline import GenerationRequest
from pipeline.errors import RequestError
from pipeline.metadata import INFOTEXT_KEY
from pipeline.png_info import KNOWN_CHUNKS, FoundSettings, PngInfo, fit_request, read_png_info, settings_of
from ui.components import Outputs, page_only
from ui.history import SendToGenerate
from ui.status import warn

TAB_ID = "png-info"
# The settings shown as read, in this order, by their infotext key.
SHOWN = ("Seed", "Size", "Steps", "CFG scale", "Sampler", "Model")


UPLOAD_AGAIN = "Upload the PNG again: only a file uploaded on this page can be read."
# At least the upload limit (ui/studio.py, 25 MB), so every upload is read; a bound of its own for
# the event, which reads files Gradio already holds, however they got there.
MAX_PNG_BYTES = 32 * 2**20


def uploaded_path(upload: object) -> str:
    """The path of a file the caller uploaded: a regular file inside Gradio's upload folder, else
    `RequestError` naming no path (the event reads no path a client merely names, no folder and no
    FIFO, whose read would never end)."""
    path = upload.get("path") if isinstance(upload, dict) else None
    if not isinstance(path, str) or not path:
        raise RequestError(UPLOAD_AGAIN)
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(Path(get_upload_folder()).resolve()) or not resolved.is_file():
        raise RequestError(UPLOAD_AGAIN)
    return str(resolved)


def read_upload(path: str) -> bytes:
    """The bytes of the uploaded file at `path` (see `uploaded_path`), at most `MAX_PNG_BYTES`.

    The file is opened without blocking and checked on the open descriptor, so a file swapped for a
    FIFO or a device after `uploaded_path` looked is refused, not read forever."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        raise RequestError(UPLOAD_AGAIN) from None
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise RequestError(UPLOAD_AGAIN)
        data = file.read(MAX_PNG_BYTES + 1)
    if len(data) > MAX_PNG_BYTES:
        raise RequestError(f"This file is larger than {MAX_PNG_BYTES // 2**20} MB, the most PNG info reads.")
    return data


class _UploadData(ImageData):
    """An image input's value that must be a file's description (a JSON object), not a bare string."""

    @classmethod
    def model_validate(cls, obj, **kwargs):
        if not isinstance(obj, dict):  # Gradio's own check would fail with a bare "Error"
            raise gr.Error(UPLOAD_AGAIN)
        return super().model_validate(obj, **kwargs)


class UploadOnly(gr.Image):
    """A `gr.Image` input that takes uploads only: Gradio would download a URL given as the file's
    path (and report a bare "Error" for a value that is no file)."""

    is_template = True  # drawn by the page as the Image it is
    data_model = _UploadData

    async def async_move_resource_to_block_cache(self, url_or_file_path: str | Path | None) -> str | None:
        if isinstance(url_or_file_path, str) and is_http_url_like(url_or_file_path):
            raise gr.Error(UPLOAD_AGAIN)
        return await super().async_move_resource_to_block_cache(url_or_file_path)


@dataclass(frozen=True)
class Choice:
    """Something PNG info can send to Generate: a label, its request (None without a prompt), the
    image to show with it, and what was changed to fit Turbo Studio."""

    label: str
    request: GenerationRequest | None
    image: str | None
    changes: tuple[str, ...]


@dataclass(frozen=True)
class PngInfoTab:
    """The components of the PNG info tab."""

    upload: gr.Image
    parameters: gr.Textbox
    summary: gr.HTML
    cell: gr.Dropdown
    changes: gr.HTML
    send: gr.Button
    chunks: gr.Textbox
    choices: gr.State  # the Choices read from the image


def build_png_info_tab() -> PngInfoTab:
    """Lay out the tab (call inside it)."""
    gr.Markdown(
        "Drop any PNG: one made here, a comparison grid, or one from AUTOMATIC1111, Forge or ComfyUI. "
        "Its settings are shown as written and as read; Send to Generate says what it has to change."
    )
    with gr.Row(equal_height=False):
        # image_mode=None and type="filepath" hand over the uploaded file itself, metadata included.
        upload = UploadOnly(
            label="Image", type="filepath", image_mode=None, sources=["upload", "clipboard"], height=420,
            elem_id="png-info-image",
        )
        with gr.Column(min_width=280):
            summary = gr.HTML("", elem_id="png-info-summary", padding=False)
            cell = gr.Dropdown([], label="Grid cell to send", visible=False, elem_id="png-info-cell")
            changes = gr.HTML("", elem_id="png-info-changes", padding=False)
            send = gr.Button("Send to Generate", variant="primary", interactive=False, elem_id="png-info-send")
    parameters = gr.Textbox(
        label="parameters (as written)", lines=4, max_lines=20, interactive=False, buttons=["copy"],
        elem_id="png-info-parameters",
    )
    chunks = gr.Textbox(
        label="Other metadata (as written)", lines=4, max_lines=20, interactive=False, buttons=["copy"],
        visible=False, elem_id="png-info-chunks",
    )
    return PngInfoTab(upload, parameters, summary, cell, changes, send, chunks, gr.State([]))


def choices_of(info: PngInfo, path: str, model: str) -> list[Choice]:
    """What can be sent: the image's own settings; for a grid, its base settings and each cell."""
    if info.grid is not None:
        grid = info.grid
        cells = [
            (cell.caption if finished else f"{cell.caption} (not generated)", cell.request)
            for cell, finished in zip(grid.comparison.cells, grid.finished)
        ]
        return [
            Choice(label, request, None, fit_request(settings_of(request, grid.model), model).changes)
            for label, request in [("Base settings", grid.comparison.base), *cells]
        ]
    if info.settings is None:
        return []
    fitted = fit_request(info.settings, model)
    return [Choice("This image", fitted.request, path if fitted.request else None, fitted.changes)]


def summary_html(info: PngInfo) -> str:
    """The settings as the image states them (escaped: they are the image's text), and any notes."""
    parts = [f'<p class="note">{html.escape(note)}</p>' for note in info.notes]
    if info.grid is not None:
        grid = info.grid
        done = sum(grid.finished)
        cells = f"{len(grid.finished)} cells, {done} generated"
        text = f"A Turbo Studio comparison grid: {grid.comparison.description} ({cells})."
        parts.insert(0, f"<p>{html.escape(text)}</p>")
    if info.settings is not None:
        parts.append(_settings_table(info.settings))
    return "".join(parts)


def _settings_table(settings: FoundSettings) -> str:
    rows = [("Read from", settings.source), ("Prompt", settings.prompt or "(none found)")]
    if settings.negative_prompt:
        rows.append(("Negative prompt", settings.negative_prompt))
    rows += [(key, settings.values[key]) for key in SHOWN if key in settings.values]
    others = [f"{key}: {value}" for key, value in settings.values.items() if key not in SHOWN]
    if others:
        rows.append(("Other", ", ".join(others)))
    body = "".join(
        f"<tr><th scope='row'>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>" for key, value in rows
    )
    return f'<table class="png-settings"><caption>Settings as written</caption>{body}</table>'


def changes_html(choice: Choice | None) -> str:
    """What sending `choice` changes, for people."""
    if choice is None or not choice.changes:
        return ""
    items = "".join(f"<li>{html.escape(change)}</li>" for change in choice.changes)
    heading = "Sent to Generate with these changes:" if choice.request else "Cannot be sent to Generate:"
    return f'<div class="png-changes"><p>{heading}</p><ul>{items}</ul></div>'


def other_chunks(info: PngInfo) -> str:
    """The known chunks besides `parameters`, JSON indented, each under its name."""
    sections = []
    for key, text in info.chunks.items():
        if key == INFOTEXT_KEY:
            continue
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except json.JSONDecodeError:
            pass
        sections.append(f"── {key}: {KNOWN_CHUNKS[key]} ──\n{text}")
    return "\n\n".join(sections)


def wire_png_info_tab(tab: PngInfoTab, send: SendToGenerate, model: str) -> None:
    """Reading an image when it changes, choosing a grid's cell, and Send to Generate."""

    shown = Outputs(
        parameters=tab.parameters, choices=tab.choices, send=tab.send, summary=tab.summary, cell=tab.cell,
        changes=tab.changes, chunks=tab.chunks,
    )

    def nothing_read(summary: str = "") -> dict:
        return shown(
            parameters="", choices=[], send=gr.Button(interactive=False), summary=summary,
            cell=gr.Dropdown(visible=False), changes="", chunks=gr.Textbox(visible=False),
        )

    def read(upload: dict | None) -> dict:
        """The tab's values for the uploaded file (as Gradio received it, not opened)."""
        if upload is None:
            return nothing_read()
        try:
            path = uploaded_path(upload)
            info = read_png_info(read_upload(path))
        except RequestError as error:  # not a PNG, truncated, too large: the file itself
            warn(str(error))
            return nothing_read(f'<p class="note">{html.escape(str(error))}</p>')
        choices = choices_of(info, path, model)
        first = choices[0] if choices else None
        cell = gr.Dropdown(
            [(choice.label, index) for index, choice in enumerate(choices)], value=0, visible=info.grid is not None
        )
        chunks = other_chunks(info)
        return shown(
            parameters=info.chunks.get(INFOTEXT_KEY, ""),
            choices=choices,
            send=gr.Button(interactive=bool(first and first.request)),
            summary=summary_html(info),
            cell=cell,
            changes=changes_html(first),
            chunks=gr.Textbox(chunks, visible=bool(chunks)),
        )

    def chosen(choices: list[Choice], index: int | None) -> Choice | None:
        return choices[index] if isinstance(index, int) and 0 <= index < len(choices) else None

    def on_cell(choices: list[Choice], index: int | None) -> dict:
        choice = chosen(choices, index)
        return shown(changes=changes_html(choice), send=gr.Button(interactive=bool(choice and choice.request)))

    def on_send(choices: list[Choice], index: int | None) -> dict:
        choice = chosen(choices, index)
        if choice is None:
            return gr.skip()
        note = f"Changed to fit: {'; '.join(choice.changes)}. Press Generate." if choice.changes else ""
        return send.values(choice.request, choice.image, note)

    tab.upload.change(
        read,
        tab.upload,
        shown.components,
        api_name="png_info",
        preprocess=False,
        **page_only(queued=True),
    )
    tab.cell.change(on_cell, [tab.choices, tab.cell], [tab.changes, tab.send], **page_only())
    send.on(tab.send.click, on_send, [tab.choices, tab.cell])
