"""The PNG info event reads only files the caller uploaded: regular files inside Gradio's upload
folder; anything else (another path on the server, a folder, a FIFO, a URL) gets one sentence."""

import os

import pytest

from pipeline.errors import RequestError
from ui.png_info_tab import UPLOAD_AGAIN, uploaded_path


@pytest.fixture
def uploads(tmp_path, monkeypatch):
    folder = tmp_path / "uploads"
    folder.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def test_a_file_uploaded_is_read(uploads):
    png = uploads / "abc" / "image.png"
    png.parent.mkdir()
    png.write_bytes(b"\x89PNG")
    assert uploaded_path({"path": str(png)}) == str(png.resolve())


@pytest.mark.parametrize("kind", ["outside", "missing", "folder", "fifo", "url", "not-a-path", "escape"])
def test_anything_but_an_upload_is_refused_naming_no_path(uploads, tmp_path, kind):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG")
    fifo = uploads / "pipe"
    os.mkfifo(fifo)
    path = {
        "outside": str(outside),
        "missing": str(uploads / "gone.png"),
        "folder": str(uploads),
        "fifo": str(fifo),
        "url": "https://example.com/a.png",
        "not-a-path": 42,
        "escape": str(uploads / ".." / "secret.png"),
    }[kind]
    with pytest.raises(RequestError) as refused:
        uploaded_path({"path": path})
    assert str(refused.value) == UPLOAD_AGAIN
