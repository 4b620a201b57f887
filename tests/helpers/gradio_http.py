"""Raw HTTP to a Gradio 6 app: what a hand-written API client or the browser sends.

`call` uses the public two-step API (`POST /gradio_api/call/<name>`, then its event stream);
`queue` joins the queue by function index as the page does, which reaches the interface's own
(private) events too; `hang_up_call` and `hang_up` leave midway, as a client that dies or a
closed tab does; `upload` posts a file as the page does before passing it to an event.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field

import httpx

from harness.page_protocol import API, TIMEOUT, dependency, queue_messages

JSON = {"Content-Type": "application/json"}


@dataclass
class Answer:
    """What came back: the final output, or an error message, and any warning toasts."""

    status: int = 200
    output: list | None = None
    failed: bool = False
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def call(url: str, api_name: str, body: str | bytes, headers: dict | None = None) -> Answer:
    """POST `body` (raw JSON text, so NaN and lone surrogates can be sent) to a public endpoint."""
    headers = {**JSON, **(headers or {})}
    started = httpx.post(f"{url}{API}/call/{api_name}", content=body, headers=headers, timeout=TIMEOUT)
    if started.status_code != 200:
        return Answer(status=started.status_code, failed=True, error=started.text)
    stream = httpx.get(_events_url(url, api_name, started), headers=headers, timeout=TIMEOUT)
    answer = Answer(status=stream.status_code)
    for event, data in _events(stream.text):
        if event == "error":
            answer.failed = True
            answer.error = (json.loads(data) or {}).get("error") if data.startswith("{") else data
        elif event == "complete":
            answer.output = json.loads(data)
    return answer


def hang_up_call(url: str, api_name: str, body: str, after: int = 1) -> None:
    """Start a public API call, then close its event stream after `after` streamed outputs."""
    started = httpx.post(f"{url}{API}/call/{api_name}", content=body, headers=JSON, timeout=TIMEOUT)
    with httpx.stream("GET", _events_url(url, api_name, started), timeout=TIMEOUT) as stream:
        generating = (line for line in stream.iter_lines() if line == "event: generating")
        for _ in zip(range(after), generating):
            pass


def _events_url(url: str, api_name: str, started: httpx.Response) -> str:
    return f"{url}{API}/call/{api_name}/{started.json()['event_id']}"


def data_body(values: list) -> str:
    """The JSON body of a call with these input values (NaN and infinities written as JSON5 does)."""
    return json.dumps({"data": values}, allow_nan=True)


def config(url: str) -> dict:
    """The app's config, as the page loads it."""
    return httpx.get(f"{url}config", timeout=TIMEOUT).json()


def queue(url: str, api_name: str, values: list) -> Answer:
    """Run the event named `api_name` through the queue, as the page does, and wait for its end."""
    answer = Answer()
    with closing(_queue_messages(url, api_name, values)) as messages:
        for message in messages:
            if message.get("msg") == "joined" and message.get("status") != 200:
                return Answer(status=message["status"], failed=True, error=message.get("detail"))
            if message.get("msg") == "log" and message.get("level") == "warning":
                answer.warnings.append(message.get("log", ""))
            if message.get("msg") == "process_completed":
                output = message.get("output") or {}
                answer.output, answer.error = output.get("data"), output.get("error")
                answer.failed = not message.get("success", True)
    return answer


def hang_up(url: str, api_name: str, values: list, after: int = 1) -> None:
    """Join the queue as the page does, then close the connection after `after` streamed outputs."""
    with closing(_queue_messages(url, api_name, values)) as messages:
        generating = (message for message in messages if message.get("msg") == "process_generating")
        for _ in zip(range(after), generating):
            pass


def _queue_messages(url: str, api_name: str, values: list) -> Iterator[dict]:
    return queue_messages(url, dependency(url, api_name)["id"], values)


def upload(url: str, name: str, content: bytes, headers: dict | None = None) -> httpx.Response:
    """POST one file to the upload route."""
    return httpx.post(f"{url}{API}/upload", files={"files": (name, content)}, headers=headers, timeout=TIMEOUT)


def file_data(url: str, name: str, content: bytes) -> dict:
    """Upload `content` and return the value an image input takes for it."""
    response = upload(url, name, content)
    response.raise_for_status()
    return {"path": response.json()[0], "orig_name": name, "meta": {"_type": "gradio.FileData"}}


def _events(text: str):
    """(event, data) pairs of a server-sent event stream."""
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            yield lines["event"], lines.get("data", "")
