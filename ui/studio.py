"""The whole interface: the settings column, the tabs, their wiring to each other, the footer and
the engine's status line, and launching it with the page's own script (assets/page.js) and style
(assets/style.css)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from gradio.events import Dependency
from gradio.exceptions import InvalidPathError

from pipeline import GenerationRequest, ModelInfo
from pipeline.interface import ImageEngine
from ui import compare_tab, generate_tab, png_info_tab
from ui.compare_tab import CompareTab
from ui.components import page_only
from ui.generate_tab import Explore, build_explore, variation_seeds
from ui.history import SendToGenerate, wire_history
from ui.mcp_tools import add_mcp_tools, launch_options
from ui.options import ServerOptions, StudioOptions
from ui.runs import Runner, build_queue_wait
from ui.settings import Controls, build_controls, empty_prompt_count, wire_prompt_notes
from ui.share_link import build_share_link, wire_share_link
from ui.store import ImageStore

# --- studio ------------------------------------------------------------------------------------

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TITLE = "Turbo Studio"
# Uploads are PNGs whose metadata the PNG info tab reads.
MAX_UPLOAD = "25mb"
# Soft, with text dark enough to read on its fills (WCAG AA contrast), and Stop buttons red.
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber").set(
    button_primary_background_fill="*primary_600",
    button_primary_background_fill_hover="*primary_700",
    button_primary_border_color="*primary_600",
    checkbox_label_background_fill_selected="*primary_600",
    link_text_color="*secondary_800",
    link_text_color_hover="*secondary_900",
    link_text_color_visited="*secondary_800",
    link_text_color_active="*secondary_800",
    block_label_text_color="*primary_700",
    block_title_text_color="*primary_700",
    body_text_color_subdued="*neutral_600",
    body_text_color_subdued_dark="*neutral_300",
    # Tailwind's red 600 to 800 (the theme's own palette has no red).
    button_cancel_background_fill="#dc2626",
    button_cancel_background_fill_hover="#b91c1c",
    button_cancel_background_fill_dark="#b91c1c",
    button_cancel_background_fill_hover_dark="#991b1b",
    button_cancel_border_color="#b91c1c",
    button_cancel_border_color_dark="#dc2626",
    button_cancel_text_color="white",
    button_cancel_text_color_dark="white",
)


def example_prompts() -> list[str]:
    """The example prompts of `assets/examples.txt`, one a line."""
    lines = (ASSETS / "examples.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


class StudioBlocks(gr.Blocks):
    """`gr.Blocks` whose file input answers a server path the caller did not upload with PNG info's
    one sentence: Gradio refuses such a path (`InvalidPathError`) before any handler runs, and its
    clients see a bare "Error" (its message, with the path, is hidden)."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call=False):
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except InvalidPathError:
            raise gr.Error(png_info_tab.UPLOAD_AGAIN) from None


def build_app(engine: ImageEngine, options: StudioOptions = StudioOptions()) -> gr.Blocks:
    """The Gradio Blocks of Turbo Studio over a loaded `engine` (call `.queue()` and launch it with `launch`)."""
    runner = Runner(engine, ImageStore(options.output_dir, options.max_cache_mb))
    # No `delete_cache`: the store prunes Gradio's cache (ui/store.py says why).
    with StudioBlocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\nStable Diffusion 3.5 Large Turbo: good images in 4 steps.", elem_id="header")
        with gr.Row(equal_height=False, elem_id="layout"):
            with gr.Column(scale=2, min_width=320, elem_id="settings"):
                controls = build_controls(empty_prompt_count(engine.tokens))
                share = build_share_link()
            with gr.Column(scale=3, min_width=320, elem_id="results"):
                with gr.Tabs(selected=generate_tab.TAB_ID, elem_id="tabs") as tabs:
                    with gr.Tab("Generate", id=generate_tab.TAB_ID):
                        generate = generate_tab.build_generate_tab()
                        explore = build_explore()
                    with gr.Tab("Compare", id=compare_tab.TAB_ID):
                        compare = compare_tab.build_compare_tab(options.max_seeds)
                        # An accordion, not a fourth tab: four tabs overflow a phone's width.
                        with gr.Accordion("A/B: slide between two images", open=False, elem_id="ab") as ab_opener:
                            ab = compare_tab.build_ab_slider()
                    with gr.Tab("PNG info", id=png_info_tab.TAB_ID):
                        png_info = png_info_tab.build_png_info_tab()
                # After the tabs, so that they come first in the tab order.
                gr.Examples([[text] for text in example_prompts()], inputs=[controls.prompt], label="Examples")
        gr.Markdown(footer_text(engine.info), elem_id="footer")
        build_engine_status(EngineStatus(engine))
        build_queue_wait(runner.underway)
        send = SendToGenerate(controls, generate.image, generate.status, tabs, generate.shown)
        generate_tab.wire_generate_tab(controls, generate, send, runner)
        compare_after = compare_tab.wire_compare_tab(
            controls, compare, generate.history, send, runner, options.max_seeds
        )
        png_info_tab.wire_png_info_tab(png_info, send, engine.info.model)
        wire_explore(explore, generate.shown, controls, compare, tabs, compare_after)
        compare_tab.wire_ab_slider(ab, ab_opener, generate.history, engine.info.model)
        wire_prompt_notes(controls, engine.tokens)
        wire_share_link(app, share, controls, compare.by_parameter)
        wire_history(generate.history, send, app)
        add_mcp_tools(runner, options.max_seeds)
    return app


def launch(app: gr.Blocks, server: ServerOptions, concurrency: int = 1, **extra) -> None:
    """Serve `app`: `concurrency` generations at a time (the engine's), a bounded queue, and no file
    but those it hands out (no `allowed_paths`: the output folder is the operator's, see ui/store.py)."""
    app.queue(max_size=server.max_queue_size, default_concurrency_limit=concurrency)
    app.launch(
        server_name=server.host,
        server_port=server.port,
        share=server.share,
        auth=server.auth,
        max_file_size=MAX_UPLOAD,
        theme=THEME,
        css_paths=[ASSETS / "style.css"],
        js=(ASSETS / "page.js").read_text(encoding="utf-8"),
        # The page says how long the queue may grow when it is full (Gradio's own message does not).
        head=f'<meta name="turbo-studio-queue-size" content="{server.max_queue_size}">',
        **launch_options(server.mcp),
        **extra,
    )


# --- footer ------------------------------------------------------------------------------------

def footer_text(info: ModelInfo) -> str:
    """Model, device, dtype and memory mode, as one Markdown line."""
    return (
        f"**Model** {info.model} · **Device** {info.device} · **dtype** {info.dtype} · "
        f"**Memory mode** {info.memory_mode}"
    )


# --- engine status -----------------------------------------------------------------------------

REFRESH_S = 5.0


class EngineStatus:
    """The engine's `status()`, asked at most once per `max_age` seconds however many pages refresh.

    Args:
        engine: the local `Engine` or a `RemoteEngine`: its `status()` is a line, or "" for nothing to say.
        max_age: how long an answer is shown before the engine is asked again (default: half the
            refresh period, so each refresh of a page shows an answer younger than the period).
    """

    def __init__(self, engine: ImageEngine, max_age: float = REFRESH_S / 2):
        self._engine = engine
        self._max_age = max_age
        # One question at a time, and no page waits for it: while the Ray cluster is lost each
        # question may take the backend's probe timeout (5 s), and the others keep the last answer.
        self._asking = threading.Lock()
        self._text = ""
        self._asked = float("-inf")

    def line(self) -> str:
        """The engine's latest status line ("" when it has nothing to say)."""
        if time.monotonic() - self._asked >= self._max_age and self._asking.acquire(blocking=False):
            try:
                self._text = self._engine.status()
                self._asked = time.monotonic()
            finally:
                self._asking.release()
        return self._text

    def shown(self) -> gr.Markdown:
        """The status component's update: the line, visible only when there is one."""
        text = self.line()
        return gr.Markdown(text, visible=bool(text))


def build_engine_status(status: EngineStatus) -> gr.Markdown:
    """Lay out the line (call where it goes) and refresh it every `REFRESH_S` seconds, outside the
    queue (a full queue must not hide it) and outside the API."""
    text = status.line()
    line = gr.Markdown(text, visible=bool(text), elem_id="engine-status")
    gr.Timer(REFRESH_S).tick(status.shown, None, line, **page_only())
    return line


# --- explore, across the tabs ---------------------------------------------------------------

def wire_explore(
    explore: Explore,
    shown: gr.State,
    controls: Controls,
    compare: CompareTab,
    tabs: gr.Tabs,
    compare_after: Callable[[Dependency, dict], Dependency],
) -> None:
    """The button, enabled once the Generate tab shows an image (`shown`: its request): its settings
    and the variation seeds go to Compare, which runs (`compare_after`, from `wire_compare_tab`);
    once the run has taken them, the settings column is as before."""

    def explore_around(request: GenerationRequest | None, strength: float) -> dict:
        if request is None:
            return gr.skip()
        return {
            **controls.restored(request),
            controls.variation_strength: strength,
            compare.seeds: str(request.seed),
            compare.axis: "variation_seed",
            compare.axis_values: gr.Textbox(value=variation_seeds(request.seed), interactive=True),
            tabs: gr.Tabs(selected=compare_tab.TAB_ID),
        }

    outputs = [*controls.restorable, compare.seeds, compare.axis, compare.axis_values, tabs]
    private = page_only()
    before = gr.State([])  # the settings column's values before exploring, as typed (not checked)
    remember = explore.button.click(
        lambda *values: list(values), controls.restorable, before, preprocess=False, **private
    )
    filled = remember.then(explore_around, [shown, explore.strength], outputs, **private)
    compare_after(filled, {"fn": lambda values: dict(zip(controls.restorable, values)), "inputs": before,
                           "outputs": controls.restorable})
    shown.change(lambda request: gr.Button(interactive=request is not None), shown, explore.button, **private)
