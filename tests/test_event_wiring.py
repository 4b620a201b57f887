"""How the page's events are wired: handlers' updates keyed by component, and Explore's comparison
run through the event graph (not clicked from the page's JavaScript)."""

from __future__ import annotations

import asyncio
import json

import gradio as gr
from gradio.blocks import convert_component_dict_to_list
from gradio.state_holder import SessionState
from PIL import Image

from ui.components import Outputs, PreviewGallery, PreviewImage, StreamedOutputs
from ui.status import GPU_QUEUE
from ui.studio import build_app


def test_outputs_lists_its_components_in_order_and_keys_each_update():
    with gr.Blocks():
        first, second, third = gr.Textbox(), gr.Number(), gr.State()
    outputs = Outputs(first=first, second=second, third=third)
    assert outputs.components == [first, second, third]
    update = outputs(third=3, first="a")
    assert update == {third: 3, first: "a"}
    # Gradio leaves a component out of the update as it is, as gr.skip() does.
    assert convert_component_dict_to_list(outputs.components, update) == ["a", gr.skip(), 3]


def test_streamed_outputs_send_what_gradios_own_postprocessing_sends(tmp_path):
    def raw(): ...

    def ready(): ...

    with gr.Blocks() as app:
        image, gallery = PreviewImage(type="filepath", format="png"), PreviewGallery(type="filepath", format="png")
        number, line, state = gr.Number(), gr.HTML(), gr.State()
        by_name = {"image": image, "gallery": gallery, "number": number, "line": line, "state": state}
        outputs = StreamedOutputs(**by_name)
        gr.Button().click(raw, None, outputs.components)  # Gradio postprocesses
        gr.Button().click(ready, None, **outputs.listener)
    app.allowed_paths = [str(tmp_path)]
    listeners = {fn.fn: fn for fn in app.fns.values()}
    png, preview = tmp_path / "final.png", Image.new("RGB", (8, 8), "red")
    Image.new("RGB", (8, 8), "blue").save(png)

    def sent(fn, update: dict) -> list:
        return asyncio.run(app.postprocess_data(listeners[fn], update, SessionState(app)))

    for values in (
        {"image": None, "gallery": [], "number": 7, "line": "<p>Starting…</p>", "state": None},
        {"image": preview, "gallery": [(preview, "seed 1 · step 1/4"), (str(png), "seed 2")], "line": "Step 1"},
        {"image": str(png), "gallery": [(str(png), "seed 1")], "number": 7, "state": {"seed": 7}},
        {"line": gr.skip(), "image": gr.Image(alt_text="a cat")},
    ):
        keyed, ready_values = {by_name[name]: value for name, value in values.items()}, outputs(**values)
        assert sent(ready, ready_values) == sent(raw, keyed), values
        # Plain data, as Gradio keeps a postprocessed value in the session's config (not a pydantic model).
        json.dumps([value for component, value in ready_values.items() if component is not state
                    and not isinstance(value, gr.blocks.Block)])


def _block(app: gr.Blocks, elem_id: str) -> gr.blocks.Block:
    return next(block for block in app.blocks.values() if getattr(block, "elem_id", None) == elem_id)


def _chain(app: gr.Blocks, elem_id: str) -> list:
    """The listeners of a click on `elem_id`, and every listener run after one of them."""
    button = _block(app, elem_id)
    chain = [fn for fn in app.fns.values() if (button._id, "click") in fn.targets]
    for fn in chain:  # grows as it goes
        chain += [after for after in app.fns.values() if after.trigger_after == fn._id and after not in chain]
    return chain


def test_explore_runs_the_comparison_after_its_settings_and_puts_the_column_back_as_it_starts(engine):
    app = build_app(engine)
    chain = _chain(app, "explore-button")
    assert not any(fn.js for fn in chain), [fn.js for fn in chain if fn.js]  # no click from the page
    compare = next(fn for fn in app.fns.values() if fn.api_name == "compare")
    run = next(fn for fn in chain if fn.fn is compare.fn)  # `compare` itself, run as is
    assert (run.concurrency_id, run.api_visibility) == (GPU_QUEUE, "private")
    assert run.outputs == compare.outputs and run.inputs == compare.inputs
    # The settings column is put back (the last listener to write the prompt) beside the run, once
    # the page has sent the run its inputs: after the same event, and registered after it (the page
    # starts them in that order).
    prompt = _block(app, "prompt")
    put_back = [fn for fn in chain if prompt in fn.outputs][-1]
    assert put_back.trigger_after == run.trigger_after and put_back._id > run._id
    # Stop cancels the Explore run too.
    stop = _block(app, "compare-stop-button")
    assert any(run._id in fn.cancels for fn in app.fns.values() if (stop._id, "click") in fn.targets)
