"""The MCP server (`app.py --mcp`), through the official `mcp` client over streamable HTTP against
the real app: the two tools and their schemas, images equal to /generate's, errors that name the
field, a cancelled or disconnected call that frees its slot, the login, and the Ray backend."""

import asyncio
import base64
import contextlib
import io
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from gradio_client import Client
from mcp import ClientSession, McpError, types
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from harness.local_processes import free_port
from helpers.app_server import MAX_QUEUE_SIZE, MAX_SEEDS, SLOW_REQUEST, AppServer, full_queue, serving
from ui.options import ServerOptions, StudioOptions
from ui.studio import build_app, launch

pytestmark = pytest.mark.slow

OPTIONS = ("--mcp", "--max-queue-size", str(MAX_QUEUE_SIZE), "--max-seeds", str(MAX_SEEDS))
LOGIN = ("ada", "secret")
QUICK = {"width": 256, "height": 256, "steps": 2}
# The served images' URLs: this run's folder, then a 128-bit random folder (ui/store.py).
SECRET_URL = re.compile(r"Image URL: http://127\.0\.0\.1:\d+/gradio_api/file=\S*/turbo-studio-[^/]+/[\w-]{22}/\S+\.png$")


@pytest.fixture(scope="module")
def mcp_app(tiny_model_dir, tmp_path_factory) -> Iterator[AppServer]:
    with serving(tmp_path_factory.mktemp("mcp"), *OPTIONS) as server:
        yield server


def with_session(
    url: str, use: Callable[[ClientSession], Awaitable[Any]], headers: dict | None = None, delete: bool = True
) -> Any:
    """`use(session)` in an initialised MCP session with the app at `url`; leaving it closes the
    connection, after deleting the session (`delete`) or not, as a client that was killed."""

    async def run() -> Any:
        async with httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(30, read=300)) as http:
            url_ = f"{url}/gradio_api/mcp/"
            async with streamable_http_client(url_, http_client=http, terminate_on_close=delete) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await use(session)

    return asyncio.run(run())


def call(url: str, tool: str, arguments: dict, **kwargs) -> Any:
    return with_session(url, lambda session: session.call_tool(tool, arguments), **kwargs)


def picture(result) -> np.ndarray:
    """The PNG of a tool result, as pixels."""
    (image,) = [content for content in result.content if content.type == "image"]
    assert image.mimeType == "image/png"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(image.data))).convert("RGB"))


def texts(result) -> list[str]:
    return [content.text for content in result.content if content.type == "text"]


def test_agents_see_exactly_two_tools_with_their_parameters_and_limits(mcp_app):
    tools = {tool.name: tool for tool in with_session(mcp_app.url, lambda session: session.list_tools()).tools}
    assert set(tools) == {"generate", "compare"}  # not the page's /generate, /compare, /compare_seeds
    generate, compare = tools["generate"], tools["compare"]
    assert generate.inputSchema["required"] == ["prompt"]
    assert list(generate.inputSchema["properties"]) == [
        "prompt", "negative_prompt", "seed", "width", "height", "steps", "guidance_scale", "variation_seed",
        "variation_strength",
    ]
    assert compare.inputSchema["required"] == ["prompt"]
    assert {"seeds", "axis", "axis_values", "width", "steps"} <= set(compare.inputSchema["properties"])
    properties = generate.inputSchema["properties"]
    assert "multiple of 16 from 256 to 1536" in properties["width"]["description"]
    assert "1 to 12" in properties["steps"]["description"]
    assert "0 to 10" in properties["guidance_scale"]["description"]
    assert "random seed" in properties["seed"]["description"]
    assert f"at most {MAX_SEEDS} images" in compare.description
    assert "steps" in compare.inputSchema["properties"]["axis"]["description"]


def test_generate_returns_the_png_of_generate_and_its_seed(mcp_app, tmp_path):
    result = call(mcp_app.url, "generate", {"prompt": "a lighthouse at dusk", "seed": 7, **QUICK})
    assert not result.isError, texts(result)
    url, settings = texts(result)
    assert SECRET_URL.match(url), url
    assert json.loads(settings)["seed"] == 7
    client = Client(mcp_app.url, verbose=False, download_files=str(tmp_path))
    path, seed = client.predict(
        prompt="a lighthouse at dusk", seed=7, randomize_seed=False, **QUICK, api_name="/generate"
    )
    assert seed == 7
    assert np.array_equal(picture(result), np.asarray(Image.open(path).convert("RGB")))


def test_generate_without_a_seed_draws_one_and_says_which(mcp_app):
    result = call(mcp_app.url, "generate", {"prompt": "a lighthouse at dusk", **QUICK})
    assert not result.isError, texts(result)
    assert isinstance(json.loads(texts(result)[1])["seed"], int)


def test_compare_returns_the_grid_and_every_cells_settings(mcp_app):
    result = call(mcp_app.url, "compare", {"prompt": "a red fox", "seeds": "3, 1, 2", **QUICK})
    assert not result.isError, texts(result)
    url, layout = texts(result)
    assert SECRET_URL.match(url), url
    cells = json.loads(layout)["cells"]
    assert [cell["seed"] for cell in cells] == [3, 1, 2]
    assert {cell["steps"] for cell in cells} == {2}
    assert picture(result).shape[1] >= 256  # the grid, with its headings


@pytest.mark.parametrize(
    "arguments, named",
    [
        ({"prompt": "a cat", "width": 1000}, "Width must be a multiple of 16 from 256 to 1536"),
        ({"prompt": "a cat", "steps": 20}, "Steps must be between 1 and 12"),
        ({"width": 512}, "'prompt' is a required property"),
    ],
)
def test_bad_generate_arguments_are_a_tool_error_naming_the_field(mcp_app, arguments, named):
    result = call(mcp_app.url, "generate", arguments)
    assert result.isError
    assert named in texts(result)[0]
    assert "Traceback" not in texts(result)[0]


def test_bad_compare_arguments_are_a_tool_error_naming_the_field(mcp_app):
    result = call(mcp_app.url, "compare", {"prompt": "a cat", "seeds": f"0-{MAX_SEEDS}"})
    assert result.isError
    assert f"at most {MAX_SEEDS} are allowed" in texts(result)[0]


def test_a_tool_error_quotes_what_was_sent_as_plain_text(mcp_app):
    result = call(mcp_app.url, "compare", {"prompt": "a cat", "seeds": "1, <b>"})
    assert result.isError
    assert "In the seed list, '<b>' is neither a whole number nor a range" in texts(result)[0]  # not &lt;b&gt;


SLOW = {"prompt": "busy", "seed": 4242, **{k: v for k, v in SLOW_REQUEST.items() if k != "randomize_seed"}}


async def start_slow_call(session: ClientSession) -> tuple[asyncio.Task, int]:
    """A slow `generate` call (seed 4242), once it runs, holding the one slot; and its request id."""
    running = asyncio.Event()

    async def progress(done: float, total: float | None, message: str | None) -> None:
        if message == "Processing":
            running.set()

    request_id = session._request_id  # the id ClientSession gives its next request
    call = asyncio.create_task(session.call_tool("generate", SLOW, progress_callback=progress))
    await running.wait()
    return call, request_id


@pytest.mark.parametrize("delete", [True, False], ids=["session-deleted", "connection-dropped"])
def test_a_call_whose_client_disconnects_frees_its_slot(mcp_app, delete):
    """A slow call is running (it holds the one slot) when its client goes, deleting its session or
    not (killed); a quick /generate then runs, and the slow image is never saved: had the slow run
    gone on, the quick one would have waited for it, and its image would be in the output folder by then."""
    # Connected first, and patient: the slow run loads the machine (its /queue/join took over 5 s).
    quick = Client(mcp_app.url, verbose=False, httpx_kwargs={"timeout": 120})

    async def leave_while_running(session: ClientSession) -> None:
        call, _ = await start_slow_call(session)
        call.cancel()  # the official client sends no cancel notification for it
        with contextlib.suppress(asyncio.CancelledError):
            await call

    with_session(mcp_app.url, leave_while_running, delete=delete)
    quick.predict(prompt="quick", seed=1, randomize_seed=False, **QUICK, api_name="/generate")
    assert not list(mcp_app.output_dir.glob("*-4242.png"))


def test_a_call_cancelled_by_notification_frees_its_slot_while_its_client_stays(mcp_app):
    """The client sends `notifications/cancelled` for its running slow call and stays connected: a
    quick /generate runs meanwhile, and the slow call ends as cancelled, its image never saved."""
    quick = Client(mcp_app.url, verbose=False, httpx_kwargs={"timeout": 120})

    async def cancel_and_stay(session: ClientSession) -> None:
        call, request_id = await start_slow_call(session)
        await session.send_notification(types.ClientNotification(types.CancelledNotification(
            params=types.CancelledNotificationParams(requestId=request_id, reason="not needed any more")
        )))
        await asyncio.to_thread(
            quick.predict, prompt="quick", seed=1, randomize_seed=False, **QUICK, api_name="/generate"
        )
        assert not list(mcp_app.output_dir.glob("*-4242.png"))
        with pytest.raises(McpError, match="cancelled"):
            await call
        # The session goes on serving.
        assert {tool.name for tool in (await session.list_tools()).tools} == {"generate", "compare"}

    with_session(mcp_app.url, cancel_and_stay)


@pytest.fixture
def private_app(engine, tmp_path) -> Iterator[str]:
    """The app with a login (`--auth ada:secret --mcp`), served from this process (`serving` waits
    for /gradio_api/info, which a login closes); its URL."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
        blocks = build_app(engine, StudioOptions())
        launch(blocks, ServerOptions(port=free_port(), auth=LOGIN, mcp=True), prevent_thread_lock=True, quiet=True)
        try:
            yield blocks.local_url.rstrip("/")
        finally:
            blocks.close()


def status_of_listing(url: str, headers: dict | None = None) -> int:
    """The HTTP status with which the MCP client's first request was answered (200 when it listed the tools)."""
    try:
        with_session(url, lambda session: session.list_tools(), headers=headers)
    except BaseExceptionGroup as group:  # the MCP client's task group raises a group
        matched, _ = group.split(httpx.HTTPStatusError)
        assert matched is not None, group
        while isinstance(matched, BaseExceptionGroup):
            matched = matched.exceptions[0]
        return matched.response.status_code
    return 200


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_with_a_login_a_client_that_has_not_logged_in_is_refused(private_app):
    assert status_of_listing(private_app) == 401
    assert status_of_listing(private_app, basic(LOGIN[0], "wrong")) == 401
    assert status_of_listing(private_app, basic(*LOGIN)) == 200
    result = call(private_app, "generate", {"prompt": "a cat", "seed": 3, **QUICK}, headers=basic(*LOGIN))
    assert not result.isError, texts(result)
    assert json.loads(texts(result)[1])["seed"] == 3


@pytest.mark.ray
def test_the_tools_work_on_the_ray_backend(ray_address, tmp_path):
    args = (*OPTIONS, "--backend", "ray", "--replicas", "2", "--ray-address", ray_address)
    with serving(tmp_path, *args, slots=2) as app:
        result = call(app.url, "generate", {"prompt": "a lighthouse at dusk", "seed": 11, **QUICK})
        assert not result.isError, texts(result)
        path, _ = Client(app.url, verbose=False, download_files=str(tmp_path)).predict(
            prompt="a lighthouse at dusk", seed=11, randomize_seed=False, **QUICK, api_name="/generate"
        )
        assert np.array_equal(picture(result), np.asarray(Image.open(path).convert("RGB")))
        compared = call(app.url, "compare", {"prompt": "a red fox", "seeds": "1-3", **QUICK})
        assert [cell["seed"] for cell in json.loads(texts(compared)[1])["cells"]] == [1, 2, 3]


def test_a_full_queue_turns_a_tool_call_away_and_then_serves_it(mcp_app):
    # Every slot running and MAX_QUEUE_SIZE more waiting, from the page's API: the queue the tools share.
    with full_queue(mcp_app.url):
        refused = call(mcp_app.url, "generate", {"prompt": "a cat", "seed": 4, "width": 256, "height": 256})
    assert refused.isError
    assert "Queue is full" in texts(refused)[0], texts(refused)
    served = call(mcp_app.url, "generate", {"prompt": "a cat", "seed": 4, "width": 256, "height": 256, "steps": 1})
    assert not served.isError, texts(served)
