"""A line under the footer saying how the engine stands (e.g. "Ray: 2 replicas: 1 running, 1 starting"),
refreshed every few seconds and hidden while the engine has nothing to say."""

from __future__ import annotations

import threading
import time

import gradio as gr

from pipeline import Engine

REFRESH_S = 5.0


class EngineStatus:
    """The engine's `status()`, asked at most once per `max_age` seconds however many pages refresh.

    Args:
        engine: the local `Engine` or a `RemoteEngine`: its `status()` is a line, or "" for nothing to say.
        max_age: how long an answer is shown before the engine is asked again (default: half the
            refresh period, so each refresh of a page shows an answer younger than the period).
    """

    def __init__(self, engine: Engine, max_age: float = REFRESH_S / 2):
        self._engine = engine
        self._max_age = max_age
        # One question at a time, and no page waits for it: while the Ray cluster is lost each
        # question takes a second (the backend's probe timeout), and the others keep the last answer.
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
    gr.Timer(REFRESH_S).tick(status.shown, None, line, queue=False, api_visibility="private", show_progress="hidden")
    return line
