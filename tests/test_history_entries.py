"""The history's entries come back from the browser: only an entry this server signed gets its full
image; a forged, borrowed or missing signature gets the thumbnail, and the settings still restore."""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from pipeline import GenerationRequest
from ui import history
from ui.history import History, _entry, checked, gallery_items, pick
from ui.runs import SavedImage, history_thumbnail

PICTURE = Image.fromarray(np.random.default_rng(0).integers(0, 256, (256, 384, 3), dtype=np.uint8))


def saved_image(path: Path, seed: int = 11) -> SavedImage:
    """An image as the runner hands it on: written to `path`, its thumbnail made from it in memory."""
    PICTURE.save(path)
    request = GenerationRequest(prompt="a fox", seed=seed, width=384, height=256, steps=1)
    return SavedImage(str(path), request, history_thumbnail(PICTURE), 0.5)


@pytest.fixture
def saved(tmp_path) -> SavedImage:
    return saved_image(tmp_path / "image.png")


def test_an_entry_this_server_signed_gets_its_full_image(saved):
    entry = pick([_entry(saved).stored], 0)
    assert entry.image == saved.path and entry.request == saved.request


@pytest.mark.parametrize("forgery", ["random", "another-key", "another-path", "missing", "not-text", "empty"])
def test_a_forged_or_missing_signature_gets_the_thumbnail_only(saved, tmp_path, forgery):
    stored = _entry(saved).stored
    other = tmp_path / "other.png"  # a file the caller wants read: it exists, and this server never signed it
    Image.new("RGB", (256, 256)).save(other)
    borrowed = _entry(replace(saved, path=str(other))).stored["signature"]
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
    assert entry.request == saved.request and entry.thumbnail.size == (128, 85)  # the settings still restore
    assert len(gallery_items([stored])) == 1  # and the entry is still shown


def test_a_signed_image_that_is_gone_gets_the_thumbnail(saved):
    stored = _entry(saved).stored
    Path(saved.path).unlink()
    assert pick([stored], 0).image is None and checked([stored])[0].request == saved.request


def test_the_thumbnail_made_in_memory_is_the_one_reading_the_png_back_made(saved):
    with Image.open(saved.path) as image:
        image.thumbnail((history.HISTORY_THUMBNAIL_SIZE, history.HISTORY_THUMBNAIL_SIZE))
        assert np.array_equal(np.asarray(image), np.asarray(saved.thumbnail))


def test_a_new_image_decodes_each_older_thumbnail_once_and_reads_no_file(saved, tmp_path, monkeypatch):
    older = [_entry(saved_image(tmp_path / f"{seed}.png", seed)).stored for seed in range(5)]
    opened = []
    real_open = Image.open

    def counting_open(source, *args, **kwargs):
        opened.append(source)
        return real_open(source, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    history = History(gr.Gallery(), gr.BrowserState())
    updates = history.with_added(saved, older)
    gallery, stored = updates[history.gallery], updates[history.entries]
    assert len(opened) == len(older)  # each older thumbnail decoded once
    assert all(isinstance(source, io.BytesIO) for source in opened)  # from the entries, never a file
    assert [caption.split(" · ")[0] for _, caption in gallery] == [f"seed {seed}" for seed in (11, 0, 1, 2, 3, 4)]
    assert stored[0]["image"] == saved.path and stored[1:] == older
