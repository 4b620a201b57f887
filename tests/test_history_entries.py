"""The history's entries come back from the browser: only an entry this server signed gets its full
image; a forged, borrowed or missing signature gets the thumbnail, and the settings still restore."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import pytest
from PIL import Image

from pipeline import GenerationRequest
from ui.history import _entry, checked, gallery_items, pick
from ui.runs import SavedImage


@pytest.fixture
def saved(tmp_path) -> SavedImage:
    path = tmp_path / "image.png"
    Image.new("RGB", (256, 256), (200, 60, 30)).save(path)
    return SavedImage(str(path), GenerationRequest(prompt="a fox", seed=11, width=256, height=256, steps=1))


def test_an_entry_this_server_signed_gets_its_full_image(saved):
    entry = pick([_entry(saved)], 0)
    assert entry.image == saved.path and entry.request == saved.request


@pytest.mark.parametrize("forgery", ["random", "another-key", "another-path", "missing", "not-text", "empty"])
def test_a_forged_or_missing_signature_gets_the_thumbnail_only(saved, tmp_path, forgery):
    stored = _entry(saved)
    other = tmp_path / "other.png"  # a file the caller wants read: it exists, and this server never signed it
    Image.new("RGB", (256, 256)).save(other)
    borrowed = _entry(SavedImage(str(other), saved.request))["signature"]
    stored["image"] = str(other) if forgery != "another-path" else saved.path
    stored["signature"] = {
        "random": secrets.token_hex(32),
        "another-key": hmac.new(secrets.token_bytes(32), str(other).encode(), hashlib.sha256).hexdigest(),
        "another-path": borrowed,  # a real signature, of another image
        "missing": None,
        "not-text": 12345,
        "empty": "",
    }[forgery]
    if forgery == "missing":
        del stored["signature"]
    entry = pick([stored], 0)
    assert entry.image is None
    assert entry.request == saved.request and entry.thumbnail.size == (128, 128)  # the settings still restore
    assert len(gallery_items([stored])) == 1  # and the entry is still shown


def test_a_signed_image_that_is_gone_gets_the_thumbnail(saved):
    stored = _entry(saved)
    Path(saved.path).unlink()
    assert pick([stored], 0).image is None and checked([stored])[0].request == saved.request
