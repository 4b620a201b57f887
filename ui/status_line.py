"""The status line component: an HTML block that belongs to the page only, so API outputs skip it
(the status lines, the note on the words the encoders left out, the comparison's headers).

Gradio writes a type stub (`status_line.pyi`, git-ignored) beside any module that defines a
component class; this module holds only the class, so that stub stays small.
"""

from __future__ import annotations

import gradio as gr


class StatusLine(gr.HTML):
    """`gr.HTML` left out of the public API (like `gr.State`): the API reports progress itself."""

    is_template = True  # rendered by the front end's HTML component

    @property
    def skip_api(self) -> bool:
        return True
