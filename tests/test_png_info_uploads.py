"""The PNG info event reads only files the caller uploaded: regular files inside Gradio's upload
folder; anything else (another path on the server, a folder, a FIFO, a URL) gets one sentence."""

import os

import pytest

from pipeline.errors import RequestError
from ui.png_info_tab import MAX_PNG_BYTES, UPLOAD_AGAIN, read_upload, uploaded_path


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


def test_the_read_is_bounded_on_its_own(uploads):
    """A file past `MAX_PNG_BYTES` (here a sparse one: no disk used) is refused after reading at most one byte more."""
    big = uploads / "big.png"
    with open(big, "wb") as file:
        file.truncate(MAX_PNG_BYTES + 1)
    with pytest.raises(RequestError, match=r"larger than 32 MB, the most PNG info reads"):
        read_upload(uploaded_path({"path": str(big)}))
    exact = uploads / "exact.png"
    with open(exact, "wb") as file:
        file.truncate(MAX_PNG_BYTES)
    assert len(read_upload(str(exact))) == MAX_PNG_BYTES


def test_a_fifo_swapped_in_after_the_check_is_refused_without_blocking(uploads):
    """`read_upload` checks the descriptor it opened: a FIFO with no writer would block a plain open or read."""
    fifo = uploads / "swapped.png"
    os.mkfifo(fifo)
    with pytest.raises(RequestError) as refused:
        read_upload(str(fifo))  # blocks forever without O_NONBLOCK
    assert str(refused.value) == UPLOAD_AGAIN
