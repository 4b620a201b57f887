"""The whole interface: the settings column, the tabs, the API and the footer, and launching it."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from pipeline import Engine
from ui import compare_tab, generate_tab, png_info_tab
from ui.controls import build_controls
from ui.footer import footer_text
from ui.options import ServerOptions, StudioOptions
from ui.runs import Runner
from ui.send_to_generate import SendToGenerate
from ui.store import ImageStore

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TITLE = "Turbo Studio"
# Uploads are PNGs whose metadata the PNG info tab reads.
MAX_UPLOAD = "25mb"
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber")


def example_prompts() -> list[str]:
    """The example prompts of `assets/examples.txt`, one a line."""
    lines = (ASSETS / "examples.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


def build_app(engine: Engine, options: StudioOptions = StudioOptions()) -> gr.Blocks:
    """The Gradio Blocks of Turbo Studio over a loaded `engine` (call `.queue()` and launch it with `launch`)."""
    runner = Runner(engine, ImageStore(options.output_dir))
    # No `delete_cache`: the store prunes Gradio's cache (ui/store.py says why).
    with gr.Blocks(title=TITLE, analytics_enabled=False) as app:
        gr.Markdown(f"# {TITLE}\nStable Diffusion 3.5 Large Turbo: good images in 4 steps.", elem_id="header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320, elem_id="settings"):
                controls = build_controls(example_prompts())
            with gr.Column(scale=3, min_width=360):
                with gr.Tabs(selected=generate_tab.TAB_ID) as tabs:
                    with gr.Tab("Generate", id=generate_tab.TAB_ID):
                        generate = generate_tab.build_generate_tab()
                    with gr.Tab("Compare", id=compare_tab.TAB_ID):
                        compare = compare_tab.build_compare_tab(options.max_seeds)
                    with gr.Tab("PNG info", id=png_info_tab.TAB_ID):
                        png_info = png_info_tab.build_png_info_tab()
        gr.Markdown(footer_text(engine.info), elem_id="footer")
        send = SendToGenerate(controls, generate.image, generate.status, tabs)
        generate_tab.wire_generate_tab(controls, generate, send, runner)
        compare_tab.wire_compare_tab(controls, compare, generate.history, send, runner, options.max_seeds)
        png_info_tab.wire_png_info_tab(png_info, send)
    return app


def launch(app: gr.Blocks, server: ServerOptions, **extra) -> None:
    """Serve `app`: one generation at a time, a bounded queue, and no file but those it hands out
    (no `allowed_paths`: the output folder is the operator's, see ui/store.py)."""
    app.queue(max_size=server.max_queue_size, default_concurrency_limit=1)
    app.launch(
        server_name=server.host,
        server_port=server.port,
        share=server.share,
        auth=server.auth,
        max_file_size=MAX_UPLOAD,
        theme=THEME,
        css_paths=[ASSETS / "style.css"],
        **extra,
    )
