"""Saved images are private: the real app (`python app.py --model tiny --output-dir ...`) serves an
image only at the URL it hands to the user who made it; guessed, absolute and traversing paths,
the output folder and folder listings all get nothing."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from gradio_client import Client

from pipeline.metadata import read_request

pytestmark = pytest.mark.slow  # a real server, many images, or a benchmark run

PREFIXES = ["gradio_api/file=", "file=", "gradio_api/file/"]
REFUSED = (403, 404, 405)  # 405: a route that only takes POST
PNG_SIGNATURE = b"\x89PNG"


@pytest.fixture(scope="module")
def made(app_server):
    """One image generated through the public API: the app's URL, the image's value, its output copy."""
    client = Client(app_server.url, verbose=False, download_files=False)
    image, _ = client.predict(
        prompt="a lighthouse at dusk", seed=4321, randomize_seed=False, width=256, height=256, steps=1,
        api_name="/generate",
    )
    (copy,) = app_server.output_dir.glob("*-4321.png")
    return f"{app_server.url}/", image, copy


def refused(url: str, path: str, hidden: str = "") -> None:
    """Every file route refuses `path`, sends no PNG, and does not name `hidden` (a listing would)."""
    for prefix in PREFIXES:
        response = httpx.get(f"{url}{prefix}{path}", timeout=30, follow_redirects=True)
        assert response.status_code in REFUSED, (prefix, path, response.status_code)
        assert PNG_SIGNATURE not in response.content, (prefix, path)
        assert not hidden or hidden not in response.text, (prefix, path)


def test_the_handed_url_serves_the_image_with_its_parameters(made):
    url, image, copy = made
    response = httpx.get(image["url"], timeout=30)
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert read_request(response.content)[0].seed == 4321
    assert response.content == copy.read_bytes()  # the operator's copy is the same PNG


def random_bits(folder: str) -> int:
    """The 128 bits that `secrets.token_urlsafe(16)` wrote as this 22-character folder name."""
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", folder), folder
    return int.from_bytes(base64.urlsafe_b64decode(folder + "=="), "big")


def test_each_image_gets_its_own_random_folder_of_128_bits(made, app_server):
    """Two images made one after the other: folders made from a clock or a counter would share most of
    their bits; two random ones differ in about 64 of 128 (fewer than 32: odds below one in 10^9)."""
    _, image, copy = made
    client = Client(app_server.url, verbose=False, download_files=False)
    second, _ = client.predict(
        prompt="a lighthouse at dusk", seed=4322, randomize_seed=False, width=256, height=256, steps=1,
        api_name="/generate",
    )
    first, other = Path(image["path"]), Path(second["path"])
    assert first.name.endswith("-4321.png") and other.name.endswith("-4322.png")
    assert first.parent.parent == other.parent.parent  # side by side in this run's folder
    differing = bin(random_bits(first.parent.name) ^ random_bits(other.parent.name)).count("1")
    assert differing >= 32, (first.parent.name, other.parent.name)
    assert first.parent.name not in copy.name


def test_a_guessed_folder_gets_nothing(made):
    """The image's own name under a folder one character off, or another random folder, gets no image."""
    url, image, _ = made
    served = Path(image["path"])
    folder = served.parent.name
    near = folder[:-1] + ("A" if folder[-1] != "A" else "B")
    for guess in (near, secrets.token_urlsafe(16)):
        refused(url, str(served.parent.parent / guess / served.name))
    assert httpx.get(image["url"], timeout=30).status_code == 200  # while the real one is served


def test_the_output_folder_is_never_served(made):
    url, _, copy = made
    for path in (copy, quote(str(copy)), copy.parent, f"{copy.parent}/", copy.parent.parent):
        refused(url, str(path), hidden=copy.name if copy.name not in str(path) else "")


def test_a_guessed_name_gets_nothing(made):
    url, image, copy = made
    served = Path(image["path"])
    cache = served.parent.parent
    for path in (cache / served.name, cache / copy.name, copy.parent / served.name):  # the names, without the folder
        refused(url, str(path))


def test_listing_the_cache_and_the_image_folders_gets_nothing(made):
    url, image, _ = made
    served = Path(image["path"])
    for folder in (served.parent, served.parent.parent, "/tmp", "."):
        refused(url, str(folder), hidden=served.name)
        refused(url, f"{folder}/", hidden=served.name)


def test_traversal_from_the_cache_to_the_output_folder_gets_nothing(made):
    url, image, copy = made
    served = Path(image["path"])
    up = "../" * len(served.parent.parts)
    for path in (
        f"{served.parent}/../../{copy.name}",
        f"{served.parent}/{up}{str(copy).lstrip('/')}",
        f"{served.parent}/..%2f..%2f{copy.name}",
        f"{served.parent}/%2e%2e/%2e%2e/{str(copy).lstrip('/')}",
        quote(f"{served.parent}/{up}{str(copy).lstrip('/')}", safe=""),
        f"{up}{str(copy).lstrip('/')}",
    ):
        refused(url, path)
