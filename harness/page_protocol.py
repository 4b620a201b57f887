"""Gradio 6's queue protocol as the page speaks it, shared by the benchmarks and the tests: join
the queue by the event's function index, then read the event's messages from the session's stream.

A browser keeps its connection to the server open; pass one `httpx.Client` to do the same.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx

API = "gradio_api"
TIMEOUT = 120


def dependency(url: str, api_name: str, client: httpx.Client | None = None) -> dict:
    """The event named `api_name` in the app's config (private events too); its "id" is the
    function index that `queue_messages` takes."""
    config = (client or httpx).get(f"{url}config", timeout=TIMEOUT).json()
    return next(dep for dep in config["dependencies"] if dep.get("api_name") == api_name)


def new_session() -> str:
    """A session hash, as a page makes one when it loads (Gradio sets up a session's state on its
    first event: ~10 ms on a 2-core EPYC, which a page pays once)."""
    return secrets.token_hex(8)


def queue_messages(
    url: str, index: int, values: list, client: httpx.Client | None = None, session: str | None = None
) -> Iterator[dict]:
    """The messages of one queued event of `session` (default: a new one): first {"msg": "joined",
    "status": ..., "detail": ...}, then its stream until `process_completed` (streamed outputs
    come whole the first time, then as diffs of the previous one)."""
    http = client or httpx
    session = session or new_session()
    body = {"data": values, "fn_index": index, "session_hash": session, "event_data": None, "trigger_id": None}
    joined = http.post(f"{url}{API}/queue/join", json=body, timeout=TIMEOUT)
    yield {"msg": "joined", "status": joined.status_code, "detail": joined.text}
    if joined.status_code != 200:
        return
    with http.stream("GET", f"{url}{API}/queue/data", params={"session_hash": session}, timeout=TIMEOUT) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message = json.loads(line.removeprefix("data:"))
                yield message
                if message.get("msg") == "process_completed":
                    return
