"""Bad input through the app: every case of `tests/helpers/bad_inputs.py` gets its message through
`gradio_client`, raw HTTP and the page's upload path, and the next normal request still works."""

from __future__ import annotations

import html
import re
from pathlib import Path

import httpx
import pytest
from gradio_client.exceptions import AppError
from playwright.sync_api import expect

from harness.page_protocol import new_session
from helpers import gradio_http
from helpers.bad_inputs import (
    API_REQUEST_CASES,
    FITTED_UPLOADS,
    HISTORY_ENTRIES,
    HOSTILE_HTML,
    HOSTILE_UPLOADS,
    ODD_BUT_VALID,
    SEED_LIST_CASES,
    UPLOAD_CASES,
    UPLOAD_VALUE_CASES,
    history_entry,
)
from helpers.server_process import compare_args, generate_args, in_process
from pipeline.errors import RequestError
from pipeline.metadata import read_request
from pipeline.seeds import parse_seed_list

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad-input")
    with in_process(engine, folder / "gradio", output_dir=folder / "outputs") as server:
        yield server


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return server.client(tmp_path_factory.mktemp("downloads"))


def assert_still_serving(client) -> None:
    """A normal request right after: the image comes back with its own seed."""
    path, seed = client.predict(**generate_args(seed=4242), api_name="/generate")
    assert seed == 4242 and read_request(path)[0].seed == 4242


def client_error(client, api_name: str, arguments: dict) -> str:
    with pytest.raises(AppError) as raised:
        client.predict(**arguments, api_name=api_name)
    return str(raised.value)


def raw_error(url: str, api_name: str, arguments: dict) -> str:
    """The error of a raw HTTP call with `arguments` (every parameter, in the endpoint's order)."""
    answer = gradio_http.call(url, api_name.strip("/"), gradio_http.data_body(list(arguments.values())))
    assert answer.failed and answer.output is None, answer
    return str(answer.error)


@pytest.mark.parametrize("case", [case.param for case in API_REQUEST_CASES])
def test_generate_refuses_with_the_message_raw_http(server, client, case):
    message = raw_error(server.url, "/generate", generate_args(**{case.field: case.value}))
    assert case.message in message
    assert_still_serving(client)


@pytest.mark.parametrize("case", [case.param for case in API_REQUEST_CASES if case.json_safe])
def test_generate_refuses_with_the_message_gradio_client(client, case):
    assert case.message in client_error(client, "/generate", generate_args(**{case.field: case.value}))
    assert_still_serving(client)


@pytest.mark.parametrize("case", [case.param for case in SEED_LIST_CASES])
def test_compare_refuses_bad_seed_lists(server, client, case):
    with pytest.raises(RequestError) as raised:
        parse_seed_list(case.value)
    assert case.message in str(raised.value)
    assert case.message in client_error(client, "/compare", compare_args(seeds=case.value))
    assert case.message in raw_error(server.url, "/compare", compare_args(seeds=case.value))
    assert_still_serving(client)


@pytest.mark.parametrize("case", [case.param for case in ODD_BUT_VALID])
def test_odd_but_valid_prompts_generate_and_come_back_unchanged(client, case):
    path, _ = client.predict(**generate_args(prompt=case.value), api_name="/generate")
    request, _ = read_request(path)
    assert request.prompt == case.value


@pytest.mark.parametrize("case", [case.param for case in UPLOAD_CASES])
def test_png_info_explains_a_bad_upload(server, client, case):
    with pytest.raises(RequestError) as raised:
        read_request(case.value)
    assert case.message in str(raised.value)
    answer = gradio_http.queue(server.url, "png_info", [gradio_http.file_data(server.url, "upload.png", case.value)])
    assert any(case.message in warning for warning in answer.warnings), answer
    assert answer.output[0] == ""  # the panel is cleared
    assert_still_serving(client)


@pytest.mark.parametrize("case", [case.param for case in UPLOAD_VALUE_CASES])
def test_png_info_takes_only_an_upload(server, client, case):
    """Sent as the event's file: a URL (Gradio itself would download it), a number; one sentence, naming no path."""
    answer = gradio_http.queue(server.url, "png_info", [case.value])
    # Refused before the handler (Gradio checks a file's value first) or by it, with a cleared panel.
    assert answer.error == case.message if answer.failed else answer.warnings == [case.message], answer
    assert answer.failed or answer.output[0] == "", answer
    assert_still_serving(client)


def run_unqueued(url: str, api_name: str, values: list) -> httpx.Response:
    """Run an event that skips the queue (as the page does for the history's load and A/B's choices)."""
    body = {"data": values, "fn_index": gradio_http.dependency(url, api_name)["id"], "session_hash": new_session()}
    return httpx.post(f"{url}gradio_api/run/{api_name}", json=body, timeout=60)


@pytest.mark.parametrize("case", [case.param for case in HISTORY_ENTRIES])
def test_a_bad_history_entry_is_left_out_and_the_rest_shown(server, client, case):
    entries = [history_entry(seed=1), case.value, history_entry(seed=2)]
    shown = run_unqueued(server.url, "gallery_items", [entries])  # the page's load
    assert shown.status_code == 200, shown.text
    assert [item["caption"].split(" · ")[0] for item in shown.json()["data"][0]] == ["seed 1", "seed 2"]
    listed = run_unqueued(server.url, "refresh", [entries])  # A/B's choices
    assert listed.status_code == 200, listed.text
    assert [choice[0].split(" · ")[0] for choice in listed.json()["data"][0]["choices"]] == [
        "1. seed 1", "2. seed 2"
    ]
    assert_still_serving(client)


@pytest.mark.parametrize("case", [case.param for case in FITTED_UPLOADS])
def test_png_info_reads_a_bad_value_and_says_what_it_uses_instead(server, client, case):
    answer = gradio_http.queue(server.url, "png_info", [gradio_http.file_data(server.url, "upload.png", case.value)])
    assert not answer.failed and answer.warnings == [], answer
    assert any(html.escape(case.message) in str(value) for value in answer.output), answer  # escaped in the page's HTML
    assert_still_serving(client)


@pytest.mark.parametrize("case", [case.param for case in HOSTILE_UPLOADS])
def test_html_in_an_uploaded_prompt_comes_back_as_plain_text(server, case):
    answer = gradio_http.queue(server.url, "png_info", [gradio_http.file_data(server.url, "hostile.png", case.value)])
    assert answer.output[0].startswith(HOSTILE_HTML + "\n")
    assert parameters_component(server.url)["type"] == "textbox"  # a textbox shows text, never HTML


def open_png_info(browser, url: str, png: bytes, folder: Path):
    """A fresh page with `png` dropped on the PNG info tab."""
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("tab", name="PNG info").click()
    (folder / "hostile.png").write_bytes(png)
    page.locator("#png-info-image input[type=file]").set_input_files(folder / "hostile.png")
    return page


def assert_nothing_injected(page) -> None:
    page.wait_for_timeout(300)  # an injected image would have failed to load by now
    assert page.locator('img[src="x"]').count() == 0
    assert page.evaluate("document.body.dataset.pwned") is None


@pytest.mark.parametrize("case", [case.param for case in HOSTILE_UPLOADS])
def test_html_in_an_uploaded_prompt_is_shown_as_text_in_the_browser(browser, server, tmp_path, case):
    """In Chromium: the parameters box and, after Send to Generate, the prompt box hold the HTML as text."""
    page = open_png_info(browser, server.url, case.value, tmp_path)
    expect(page.locator("#png-info-parameters textarea")).to_have_value(re.compile("^" + re.escape(HOSTILE_HTML)))
    page.locator("#png-info-send").click()
    expect(page.locator("#prompt textarea")).to_have_value(HOSTILE_HTML)
    assert_nothing_injected(page)
    page.close()


def test_html_quoted_in_an_error_toast_and_the_status_line_is_shown_as_text(browser, server):
    """Gradio renders toasts as (sanitised) HTML: an unescaped message would inject an <img>."""
    page = browser.new_page()
    page.goto(server.url)
    page.locator("#prompt textarea").fill("a cat")
    page.get_by_role("tab", name="Compare", exact=True).click()
    page.locator("#compare-seeds textarea").fill(HOSTILE_HTML)
    page.locator("#compare-button").click()
    message = "In the seed list, '<img' is neither a whole number nor a range"
    toast = page.get_by_test_id("toast-body").filter(has_text=message)
    expect(toast).to_be_visible()
    expect(page.locator("#compare-status")).to_contain_text(message)
    assert toast.locator("img").count() == 0 and page.locator("#compare-status img").count() == 0
    assert_nothing_injected(page)
    page.close()


@pytest.mark.parametrize("case", [case.param for case in FITTED_UPLOADS])
def test_html_in_a_bad_value_is_shown_as_text_in_the_browser(browser, server, tmp_path, case):
    page = open_png_info(browser, server.url, case.value, tmp_path)
    expect(page.locator("#png-info-changes li").first).to_have_text(case.message)
    assert_nothing_injected(page)
    page.close()


def parameters_component(url: str) -> dict:
    """The component the PNG info event writes the parameters text into."""
    event = gradio_http.dependency(url, "png_info")
    components = gradio_http.config(url)["components"]
    return next(component for component in components if component["id"] == event["outputs"][0])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("not json", id="not-json"),
        pytest.param('{"data": "a cat"}', id="data-not-a-list"),
        pytest.param('{"data": ["a cat"]}', id="too-few-values"),
        pytest.param('{"data": [' + "[" * 5000 + "]" * 5000 + "]}", id="deeply-nested"),
        pytest.param(b'{"data": ["\xff\xfe"]}', id="invalid-utf8"),
    ],
)
def test_malformed_api_calls_are_refused_and_the_server_goes_on(server, client, body):
    answer = gradio_http.call(server.url, "generate", body)
    assert answer.failed and answer.output is None and answer.status < 500, answer
    assert_still_serving(client)
