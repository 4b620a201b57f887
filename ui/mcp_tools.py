"""The MCP (Model Context Protocol) tools that AI assistants call, `generate` and `compare`, and the
MCP server that offers exactly those two, behind the app's login, each call in a session of its own.

The tools are thin typed functions over the page's engine path (`Runner`, `request_from`,
`plan_comparison`), queued with the page's GPU events. They are API endpoints left out of the API
docs (`undocumented`), so the documented API stays the page's three endpoints.

Gradio 6.31's MCP server (`gradio.mcp.GradioMCPServer`) needs four fixes here, made by
`StudioMCPServer`, which the server object becomes at start-up (`launch_options`):
- every public endpoint becomes a tool: the page's `/generate`, `/compare` and `/compare_seeds`,
  whose outputs are page state and HTML, would be tools beside these two;
- it runs every call through one `gradio_client.Client`, one session: Gradio cancels by session and
  endpoint, so cancelling one agent's call stopped every other running call of that tool;
- a cancelled or disconnected call left its job running (its slot stayed taken until the end): its
  sessions are stateless, so a client's `notifications/cancelled`, which arrives on a request of
  its own, reached no call; here the MCP library's own session manager keeps sessions (`Guard`
  routes the streamable HTTP transport to it), so a cancel reaches its call, which cancels its job;
- without a progress token, a tool with two outputs came back as one text, the repr of a tuple.
And it serves `/gradio_api/mcp/` without the login that `--auth` puts on the page: `Guard` refuses
a client that has neither the page's login cookie nor the credentials (HTTP Basic).
"""

import base64
import binascii
import contextlib
import hmac
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import anyio
import gradio as gr
from gradio.data_classes import FileData
from gradio.mcp import GradioMCPServer
from gradio_client import Client
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.comparison import AXES, NO_AXIS, Comparison, plan_comparison
from pipeline.grid import grid_png
from pipeline.request import (
    DEFAULT_GUIDANCE,
    DEFAULT_SIZE,
    DEFAULT_STEPS,
    GenerationRequest,
)
from ui.runs import Runner, SavedBatch, SavedImage
from ui.settings import request_from
from ui.status import GPU_QUEUE, shown_as_toast

MCP_PATH = "/gradio_api/mcp"
# The streamable HTTP transport's paths, which `Guard` serves with sessions (Gradio's other MCP
# routes, SSE and the schema, stay Gradio's).
STREAMABLE_PATHS = (MCP_PATH, MCP_PATH + "/", MCP_PATH + "/http", MCP_PATH + "/http/")
# A session ends when no request of it has been in flight this long, or when its client deletes
# it; at most MAX_SESSIONS are open at once (each is a few small buffers and one task).
SESSION_IDLE_TIMEOUT_S = 10 * 60
MAX_SESSIONS = 1000
# Tool name -> its API endpoint (the page's own endpoints are named `generate` and `compare`).
TOOL_ENDPOINTS = {"generate": "/mcp_generate", "compare": "/mcp_compare"}
DEFAULT_SEEDS = "0-3"
# The ASGI scope key of the event `Guard` sets when the client of an MCP request disconnects.
DISCONNECTED = "turbo_studio.mcp_disconnected"

# What an agent reads about each parameter (Gradio takes one line per parameter from the docstring).
PARAMETERS = {
    "prompt": "what the image shows, in plain words, up to 4000 characters.",
    "seed": (
        "0 to 4294967295; the same seed and settings give the same image. Leave it out for a random seed "
        "(the one used is returned)."
    ),
    "seeds": f'the row seeds, e.g. "1, 7, 42" or a range "100-107"; each 0 to 4294967295. Default "{DEFAULT_SEEDS}".',
    "axis": f'the setting that varies across columns: one of {", ".join(AXES)}. Default "none" (one column).',
    "axis_values": (
        'the column values, comma-separated: steps "1, 2, 4, 8"; guidance_scale "0, 1.5, 3"; prompt_sr '
        '"fox, cat, owl" (the first value must be in the prompt, each value replaces it); variation_strength '
        '"0, 0.1, 0.2"; variation_seed "1-4". Empty when axis is "none".'
    ),
    "negative_prompt": 'what to keep out of the image; used only when guidance_scale is above 1. Default "".',
    "width": "image width in pixels, a multiple of 16 from 256 to 1536. Default 1024.",
    "height": "image height in pixels, a multiple of 16 from 256 to 1536. Default 1024.",
    "steps": "denoising steps, 1 to 12. Default 4, what the model was distilled for.",
    "guidance_scale": (
        "classifier-free guidance, 0 to 10. Default 0; above 1 each step takes twice as long and the "
        "negative prompt is used."
    ),
    "variation_seed": "a second seed, 0 to 4294967295, whose noise is mixed in by variation_strength. Default 0.",
    "variation_strength": "0 to 1. Default 0 (none); 0.1 to 0.3 gives a close variation of the same image.",
}
GENERATE_SUMMARY = (
    "Make one image from a text prompt with Stable Diffusion 3.5 Large Turbo. Returns the PNG and, as JSON "
    "text, the exact settings it was made with, seed included: the same settings give the same image again. "
    "About a second on a recent GPU at the default 1024x1024 and 4 steps."
)
COMPARE_SUMMARY = (
    "Make a grid of images of one prompt to compare seeds (rows) and the values of one optional setting "
    "(columns), returned as one labelled PNG, at most {max_seeds} images (seeds x values) per call, each "
    "about as long as a generate call. Returns the grid PNG and, as JSON text, every cell's row, column, "
    "caption and exact settings (seed included), so that generate can make any cell again alone."
)



def add_mcp_tools(runner: Runner, max_seeds: int) -> None:
    """Register the `generate` and `compare` tools (call inside the app's Blocks).

    Args:
        runner: the engine and image store the page uses.
        max_seeds: the most images one comparison may make (`--max-seeds`).
    """

    # Generators, as the page's handlers are: Gradio stops a cancelled run only where it yields
    # (between steps). Gradio reads the outputs from the return annotation: the PNG and a text, the
    # step while running (MCP clients get the last values only).
    def generate(
        prompt: str,
        negative_prompt: str = "",
        seed: int | None = None,
        width: int = DEFAULT_SIZE,
        height: int = DEFAULT_SIZE,
        steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        variation_seed: int = 0,
        variation_strength: float = 0.0,
    ) -> tuple[FileData, str]:
        with shown_as_toast(escaped=False):  # an agent reads no HTML
            request = request_from(locals())
            for frame in runner.generate(request, gr.Progress()):
                if isinstance(frame, SavedImage):
                    yield FileData(path=frame.path), json.dumps(_settings(frame.request))
                else:
                    yield None, frame.text

    def compare(
        prompt: str,
        seeds: str = DEFAULT_SEEDS,
        axis: str = NO_AXIS,
        axis_values: str = "",
        negative_prompt: str = "",
        width: int = DEFAULT_SIZE,
        height: int = DEFAULT_SIZE,
        steps: int = DEFAULT_STEPS,
        guidance_scale: float = DEFAULT_GUIDANCE,
        variation_seed: int = 0,
        variation_strength: float = 0.0,
    ) -> tuple[FileData, str]:
        with shown_as_toast(escaped=False):  # an agent reads no HTML
            plan = _plan(locals(), max_seeds)
            images: list = [None] * len(plan.requests)
            for frame in runner.compare(plan.requests, gr.Progress()):
                if isinstance(frame, SavedBatch):
                    for index, picture in zip(frame.indices, frame.pictures):
                        images[index] = picture
                else:
                    yield None, frame.text
            grid = runner.store.save_grid(grid_png(plan, images, runner.engine.info.model))
            yield FileData(path=str(grid)), json.dumps(_cells(plan))

    generate.__doc__ = _docstring(GENERATE_SUMMARY, generate)
    compare.__doc__ = _docstring(COMPARE_SUMMARY.format(max_seeds=max_seeds), compare)
    for tool in (generate, compare):
        gr.api(
            tool,
            api_name=TOOL_ENDPOINTS[tool.__name__].lstrip("/"),
            api_visibility="undocumented",
            concurrency_id=GPU_QUEUE,  # one queue and one set of slots with the page's runs
        )


def _docstring(summary: str, tool: Callable) -> str:
    """A tool's docstring as Gradio reads it: the summary, then one line per parameter."""
    names = inspect.signature(tool).parameters
    return "\n".join([summary, "", "Args:", *(f"    {name}: {PARAMETERS[name]}" for name in names)])


def _settings(request: GenerationRequest) -> dict[str, Any]:
    """A request's settings as an agent reads them back."""
    return request.to_dict()


def _plan(arguments: Mapping[str, Any], max_seeds: int) -> Comparison:
    """The comparison of a `compare` call's arguments, as the Compare tab plans it."""
    base = request_from(arguments, seed=0)  # each row sets its seed
    return plan_comparison(
        base, arguments["seeds"], arguments["axis"], arguments["axis_values"], max_cells=max_seeds
    )


def _cells(plan: Comparison) -> dict[str, Any]:
    """The grid's layout and every cell's settings, row by row."""
    return {
        "rows": plan.row_labels,
        "columns": plan.column_labels or ("",),
        "cells": [
            {"row": cell.row, "column": cell.column, "caption": cell.caption, **_settings(cell.request)}
            for cell in plan.cells
        ],
    }


class StudioMCPServer(GradioMCPServer):
    """Gradio's MCP server with the fixes that the module's docstring lists; `sessions` serves its
    streamable HTTP transport (set at start-up by `_studio_server`)."""

    sessions: StreamableHTTPSessionManager

    def get_tool_to_endpoint(self) -> dict[str, str]:
        """Only the two tools (on a Space, Gradio prefixes their names with the Space's)."""
        return {self.tool_prefix + name: endpoint for name, endpoint in TOOL_ENDPOINTS.items()}

    def _get_or_create_client(self) -> Client:
        """A client of its own for each call (its own session), logged in as the caller."""
        request = self.mcp_server.request_context.request
        return Client(
            self.local_url,
            auth=_basic_credentials(request.headers) if request else None,
            headers={"x-gradio-user": "mcp"},
            download_files=False,
            verbose=False,
            analytics_enabled=False,
            ssl_verify=False,
            _skip_components=False,
        )

    async def _execute_tool_without_progress(self, job: Any) -> list[Any]:
        """Every output of the call, as a list (Gradio's gave a tool of two outputs as one text)."""
        result = await self._until_stopped(job, lambda: anyio.to_thread.run_sync(job.result, abandon_on_cancel=True))
        return list(result) if isinstance(result, tuple) else [result]

    async def _execute_tool_with_progress(self, job: Any, progress_token: str | int) -> Any:
        """Gradio's, stopped as `_until_stopped` says."""
        return await self._until_stopped(job, lambda: super(StudioMCPServer, self)._execute_tool_with_progress(
            job, progress_token
        ))

    async def _until_stopped(self, job: Any, run: Callable[[], Awaitable[Any]]) -> Any:
        """`run()`'s result, unless the call is cancelled (the client's `notifications/cancelled`, or
        its session ends) or the HTTP request that carries it disconnects (`Guard` sees it) first:
        then the gradio_client `job` is cancelled, which frees its queue slot at the run's next step."""
        request = self.mcp_server.request_context.request
        disconnected = request.scope.get(DISCONNECTED) if request else None
        outcome: dict[str, Any] = {}

        async def running(scope: anyio.CancelScope) -> None:
            try:
                outcome["result"] = await run()
            except Exception as error:  # noqa: BLE001 (raised below as itself, not inside an exception group)
                outcome["error"] = error
            scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(running, group.cancel_scope)
                await (disconnected or anyio.Event()).wait()  # never set outside `Guard`
                group.cancel_scope.cancel()
        finally:
            if not outcome:
                with anyio.CancelScope(shield=True):  # Gradio answers /cancel after the step under way
                    await anyio.to_thread.run_sync(job.cancel)
        if "error" in outcome:
            raise outcome["error"]
        if "result" not in outcome:
            raise ConnectionError("The MCP client disconnected; its run was stopped.")
        return outcome["result"]


def _basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """The user and password of an `Authorization: Basic` header, if any."""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None


class Guard:
    """ASGI middleware on the MCP routes: with a login set (`--auth`), a 401 for a client that has
    neither the page's login cookie nor the credentials in an `Authorization: Basic` header; then
    the streamable HTTP transport is served by the server's `sessions`, each request's scope holding
    an event set when its client disconnects (see `StudioMCPServer._until_stopped`)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(MCP_PATH):
            await self.app(scope, receive, send)
            return
        if not _logged_in(Request(scope)):
            refusal = PlainTextResponse(
                "Log in first: this server requires a login. Send the user and password as HTTP Basic "
                "authentication (an Authorization: Basic header).",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="Turbo Studio"'},
            )
            await refusal(scope, receive, send)
            return
        accept = Request(scope).headers.get("accept", "")
        # A browser's GET gets Gradio's page about the server; an MCP client's, its session's stream.
        if scope["path"] not in STREAMABLE_PATHS or (scope["method"] == "GET" and "text/event-stream" not in accept):
            await self.app(scope, receive, send)
            return
        server = scope["app"].get_blocks().mcp_server_obj
        disconnected = anyio.Event()
        scope[DISCONNECTED] = disconnected

        async def watched() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect":
                disconnected.set()
            return message

        await server.sessions.handle_request(scope, watched, send)


def _logged_in(request: Request) -> bool:
    app = request.scope["app"]  # Gradio's App, which holds the logins
    if app.auth is None:
        return True
    token = request.cookies.get(f"access-token-{app.cookie_id}") or request.cookies.get(
        f"access-token-unsecure-{app.cookie_id}"
    )
    if token in app.tokens:
        return True
    credentials = _basic_credentials(request.headers)
    if credentials is None or callable(app.auth):
        return False
    user, password = credentials
    return user in app.auth and hmac.compare_digest(password.encode(), app.auth[user].encode())


@contextlib.asynccontextmanager
async def _studio_server(app: Any) -> AsyncIterator[None]:
    """From start-up to shutdown: Gradio's MCP server object becomes a `StudioMCPServer` (Gradio
    builds it inside `launch`, from its own class), lists only the two tools, and runs its sessions."""
    server = app.get_blocks().mcp_server_obj
    if server is None:
        yield
        return
    server.__class__ = StudioMCPServer
    # Gradio lists the tools of the documented API; these are undocumented endpoints.
    server.api_info = app.get_blocks().get_api_info(all_endpoints=True)
    server.tool_to_endpoint = server.get_tool_to_endpoint()
    server.sessions = StreamableHTTPSessionManager(
        server.mcp_server, session_idle_timeout=SESSION_IDLE_TIMEOUT_S, max_sessions=MAX_SESSIONS
    )
    async with server.sessions.run():
        yield


def launch_options(enabled: bool) -> dict[str, Any]:
    """The keyword arguments of `Blocks.launch` that serve the tools over MCP, or leave it off."""
    if not enabled:
        return {"mcp_server": False}
    return {
        "mcp_server": True,
        "app_kwargs": {"lifespan": _studio_server, "middleware": [Middleware(Guard)]},
    }
