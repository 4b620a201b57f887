"""Access: loopback by default, no share link, basic auth that refuses page and API, file routes
that serve only the app's own files, a maximum upload size, and HF_TOKEN never shown anywhere."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import pytest

from cli import parse_args
from helpers import gradio_http
from helpers.fake_hub import FakeHub
from helpers.server_process import app_environment, app_process, generate_args, in_process
from pipeline.metadata import read_request

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run

SECRET_TOKEN = "hf_accessTestSecretToken0123456789"
SECRET_TEXT = "secret-file-content-that-must-not-be-served"
USER, PASSWORD = "studio", "correct horse battery staple"


@pytest.fixture(scope="module")
def app(tiny_model_dir, tmp_path_factory):
    """`python app.py --model tiny` with default options and an HF_TOKEN in its environment."""
    folder = tmp_path_factory.mktemp("access-app")
    env = app_environment(folder / "gradio-temp", HF_TOKEN=SECRET_TOKEN)
    with app_process(folder, env=env) as server:
        yield server


def test_by_default_the_app_listens_on_loopback_only(app):
    port = int(app.url.rstrip("/").rsplit(":", 1)[1])
    sockets = psutil.Process(app.process.pid).net_connections("inet")
    listening = {c.laddr.ip for c in sockets if c.status == psutil.CONN_LISTEN and c.laddr.port == port}
    assert listening == {"127.0.0.1"}


def test_all_interfaces_only_when_asked_or_on_a_space():
    assert parse_args([], environ={}).server.host == "127.0.0.1"
    assert parse_args([], environ={"GRADIO_SERVER_NAME": "0.0.0.0"}).server.host == "0.0.0.0"  # what Spaces set
    assert parse_args(["--host", "0.0.0.0"], environ={}).server.host == "0.0.0.0"


def test_share_is_off_unless_asked(app):
    assert parse_args([], environ={}).server.share is False
    assert parse_args(["--share"], environ={}).server.share is True
    assert "gradio.live" not in app.output()
    sockets = psutil.Process(app.process.pid).net_connections("inet")
    remote = [c.raddr for c in sockets if c.raddr and c.raddr.ip != "127.0.0.1"]
    assert remote == []  # no tunnel, no telemetry


def test_hf_token_is_never_in_the_page_api_errors_images_or_logs(app, tmp_path):
    client = app.client(tmp_path)
    path, _ = client.predict(**generate_args(prompt="a cat"), api_name="/generate")
    with pytest.raises(Exception) as refused:
        client.predict(**generate_args(prompt=""), api_name="/generate")
    routes = ("", "config", "gradio_api/info", "gradio_api/openapi.json")
    pages = [httpx.get(app.url + route, timeout=30).text for route in routes]
    environ = httpx.get(f"{app.url}gradio_api/file=/proc/{app.process.pid}/environ", timeout=30)
    assert environ.status_code >= 400
    for text in [*pages, str(refused.value), environ.text, Path(path).read_bytes().decode("latin-1"), app.output()]:
        assert SECRET_TOKEN not in text
    assert read_request(path)[0].prompt == "a cat"


@pytest.fixture(scope="module")
def private_server(engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("auth")
    with in_process(engine, folder / "gradio", auth=(USER, PASSWORD)) as server:
        yield server


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("GET", "config", None),
        ("GET", "gradio_api/info", None),
        ("POST", "gradio_api/call/generate", gradio_http.data_body(list(generate_args().values()))),
        ("POST", "gradio_api/queue/join", '{"data": [], "fn_index": 0, "session_hash": "x"}'),
        ("GET", "gradio_api/queue/data?session_hash=x", None),
    ],
)
def test_basic_auth_refuses_the_api_without_a_login(private_server, method, route, body):
    response = httpx.request(method, private_server.url + route, content=body, headers=gradio_http.JSON, timeout=30)
    assert response.status_code == 401


def test_basic_auth_refuses_uploads_without_a_login(private_server):
    assert gradio_http.upload(private_server.url, "x.png", b"\x89PNG").status_code == 401


def test_basic_auth_page_is_the_login_form_not_the_app(private_server, server):
    assert "generate-button" in httpx.get(server.url, timeout=30).text  # the open app embeds its layout
    page = httpx.get(private_server.url, timeout=30).text
    assert '"auth_required":true' in page and "generate-button" not in page


def test_basic_auth_lets_the_right_login_in_only(private_server, tmp_path):
    for login in (None, (USER, "wrong"), ("someone", PASSWORD)):
        with pytest.raises(ValueError, match="credentials were not provided|Could not login"):
            private_server.client(tmp_path, auth=login).predict(**generate_args(), api_name="/generate")
    client = private_server.client(tmp_path, auth=(USER, PASSWORD))
    _, seed = client.predict(**generate_args(seed=9), api_name="/generate")
    assert seed == 9


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("files")


@pytest.fixture(scope="module")
def server(engine, folder):
    """An open app with an output folder, next to a secret file and links pointing at it."""
    (folder / "secret.txt").write_text(SECRET_TEXT)
    outputs, temp = folder / "outputs", folder / "gradio"
    outputs.mkdir()
    temp.mkdir()
    for link_folder in (outputs, temp):
        (link_folder / "link.txt").symlink_to(folder / "secret.txt")
        (link_folder / "link.png").symlink_to(folder / "secret.txt")
    with in_process(engine, temp, output_dir=outputs) as server:
        yield server


@pytest.fixture(scope="module")
def served_file(server) -> str:
    """The absolute path of an image the app really serves."""
    answer = gradio_http.call(server.url, "generate", gradio_http.data_body(list(generate_args().values())))
    return answer.output[0]["path"]


def traversals(server, folder: Path, served_file: str) -> list[str]:
    """Paths (after `file=`) that reach outside what the app may serve."""
    secret = str(folder / "secret.txt")
    cache = Path(served_file).parent
    return [
        secret,
        "/etc/passwd",
        "/proc/self/environ",
        f"{cache}/../../secret.txt",
        f"{folder}/outputs/../secret.txt",
        quote(f"{folder}/outputs/../secret.txt", safe=""),
        quote(quote(f"{folder}/outputs/../secret.txt", safe=""), safe=""),
        f"{folder}/outputs/..%2fsecret.txt",
        f"{folder}/outputs/%2e%2e/secret.txt",
        f"{folder}/outputs/..%252fsecret.txt",
        "../" * 12 + "etc/passwd",
        "..%2f" * 12 + "etc%2fpasswd",
        f"{folder}/outputs/link.txt",
        f"{folder}/outputs/link.png",
        f"{server.temp_dir}/link.png",
        "app.py",
        "pipeline/loader.py",
        str(Path(__file__).resolve()),
    ]


@pytest.mark.parametrize("prefix", ["gradio_api/file=", "file=", "gradio_api/file/"])
def test_file_routes_serve_the_apps_files_and_nothing_else(server, folder, served_file, prefix):
    assert httpx.get(f"{server.url}gradio_api/file={served_file}", timeout=30).status_code == 200
    for path in traversals(server, folder, served_file):
        response = httpx.get(f"{server.url}{prefix}{path}", timeout=30)
        assert response.status_code in (401, 403, 404, 405), (path, response.status_code)
        assert SECRET_TEXT not in response.text and "root:" not in response.text, path


def test_the_file_route_fetches_no_loopback_url(server):
    with FakeHub() as canary:
        response = httpx.get(f"{server.url}gradio_api/file={canary.url}/anything", timeout=30)
    assert response.status_code == 403 and canary.received == []


def test_uploads_have_a_maximum_size(server):
    limit = gradio_http.config(server.url).get("max_file_size")
    assert limit is not None and limit <= 100 * 2**20
    before = set(Path(server.temp_dir).rglob("*"))
    response = gradio_http.upload(server.url, "huge.png", b"\0" * (limit + 1024))
    assert response.status_code == 413
    assert set(Path(server.temp_dir).rglob("*")) == before
