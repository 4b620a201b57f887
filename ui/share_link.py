"""Share a setup: settings in the page's URL fill the controls when it opens (nothing runs), and
🔗 Copy link builds that URL from the values shown now.

Parameters (readable, editable): prompt, negative, seed, width, height, steps, guidance,
variation_seed, variation_strength, and for the Compare tab seeds, axis and values.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from pipeline import GenerationRequest
from pipeline.comparison import AXES, NO_AXIS
from pipeline.errors import RequestError
from ui.components import StatusLine, page_only
from ui.settings import Controls, preset_for

# URL parameter -> the request field it sets (the Compare tab's own are below).
REQUEST_PARAMETERS = {
    "prompt": "prompt",
    "negative": "negative_prompt",
    "seed": "seed",
    "width": "width",
    "height": "height",
    "steps": "steps",
    "guidance": "guidance_scale",
    "variation_seed": "variation_seed",
    "variation_strength": "variation_strength",
}
TEXT_FIELDS = {"prompt", "negative_prompt"}
REAL_FIELDS = {"guidance_scale", "variation_strength"}
COMPARE_PARAMETERS = {"seeds": "seeds", "axis": "axis", "values": "axis_values"}
# The names above, in the order the link lists them; Copy link's script reads the same components.
LINK_ORDER = (*REQUEST_PARAMETERS, *COMPARE_PARAMETERS)

# Runs in the browser only (no server call): the link of the values shown now, copied and shown.
COPY_LINK_JS = """(...values) => {
    const names = %s;
    const shown = Object.fromEntries(names.map((name, index) => [name, values[index]]));
    if (!Number(shown.variation_strength)) { delete shown.variation_seed; delete shown.variation_strength; }
    if (!shown.axis || shown.axis === "none") { delete shown.axis; delete shown.values; }
    const query = new URLSearchParams();
    for (const name of names) {
        const value = shown[name];
        if (value !== undefined && value !== null && String(value) !== "") query.set(name, String(value));
    }
    const link = `${location.origin}${location.pathname}?${query}`;
    navigator.clipboard?.writeText(link).catch(() => {});  // the box shows it when copying is refused
    return link;
}""" % list(LINK_ORDER)


@dataclass(frozen=True)
class ShareLink:
    """The Copy link button, the box showing the link, and the note on what a link filled in."""

    copy: gr.Button
    link: gr.Textbox
    note: StatusLine


def _parsed(field: str, text: str):
    """The URL text as the field's type: text as is, numbers as numbers."""
    if field in TEXT_FIELDS:
        return text
    try:
        return float(text) if field in REAL_FIELDS else int(text)
    except ValueError:
        return text  # the request's check names it: "must be a whole number, got 'abc'"


def _problem(field: str, value) -> str:
    """The request's message for this one field's value, '' when valid."""
    try:
        GenerationRequest.create(**{"prompt": "a valid prompt", "seed": 0, field: value})
    except RequestError as error:
        return str(error)
    return ""


def filled_from_link(query: dict[str, str], controls: Controls, compare: dict) -> dict:
    """Updates for the controls from the link's `query`, and the note: what was filled, and each
    value left out, named with its allowed range. Unknown parameters are ignored."""
    updates, filled, problems = {}, [], []
    for name, field in REQUEST_PARAMETERS.items():
        if name not in query:
            continue
        value = _parsed(field, query[name])
        problem = _problem(field, value)
        if problem:
            problems.append(f"{name}={query[name]} was not used: {problem}")
            continue
        updates[controls.by_parameter[field]] = value
        filled.append(name)
    if controls.seed in updates:
        updates[controls.randomize_seed] = False  # the link's seed, not a new one
    if {controls.width, controls.height} & set(updates):
        updates[controls.aspect] = preset_for(updates.get(controls.width, 1024), updates.get(controls.height, 1024))
    axis = query.get("axis")
    if axis is not None and axis not in AXES:
        problems.append(f"axis={axis} was not used: choose one of {', '.join(AXES)}.")
    elif axis is not None:
        updates[compare["axis"]] = axis
        values = query.get("values", AXES[axis].example)
        shown = axis != NO_AXIS
        updates[compare["axis_values"]] = gr.Textbox(value=values if shown else "", interactive=shown)
        filled += ["axis", "values"] if "values" in query else ["axis"]
    if "seeds" in query:
        updates[compare["seeds"]] = query["seeds"]
        filled.append("seeds")
    lines = [f"Filled from the link: {', '.join(filled)}. Press Generate or Compare to run it."] if filled else []
    lines += problems
    return updates | ({"note": lines} if lines else {})


def build_share_link() -> ShareLink:
    """Lay out Copy link, the box that shows the link, and the note (call in the settings column)."""
    with gr.Row(elem_id="share-row"):  # the box goes below the button on a phone (its min_width)
        copy = gr.Button("🔗 Copy link", size="sm", scale=0, min_width=140, elem_id="copy-link")
        link = gr.Textbox(
            label="Link to these settings", placeholder="Copy link puts it here",
            interactive=False, buttons=["copy"], scale=4, min_width=240, elem_id="share-link",
        )
    note = StatusLine("", elem_id="share-note")
    return ShareLink(copy, link, note)


def wire_share_link(app: gr.Blocks, share: ShareLink, controls: Controls, compare: dict) -> None:
    """Copy link, and the page's load filling the controls from its URL."""
    by_name = {**{name: controls.by_parameter[field] for name, field in REQUEST_PARAMETERS.items()},
               **{name: compare[field] for name, field in COMPARE_PARAMETERS.items()}}
    shown = [by_name[name] for name in LINK_ORDER]
    share.copy.click(None, shown, share.link, js=COPY_LINK_JS, **page_only())

    def fill(request: gr.Request) -> dict:
        updates = filled_from_link(dict(request.query_params), controls, compare)
        lines = updates.pop("note", [])
        text = "".join(f'<p role="status">{html.escape(line)}</p>' for line in lines)
        return updates | {share.note: text}

    outputs = [*controls.restorable, compare["seeds"], compare["axis"], compare["axis_values"], share.note]
    app.load(fill, None, outputs, **page_only())
