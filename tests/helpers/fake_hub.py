"""A Hugging Face hub on 127.0.0.1, for testing the real download path offline.

It answers the three calls `snapshot_download` makes — model info
(`/api/models/<repo>/revision/<rev>`), the file tree (`/api/models/<repo>/tree/<rev>`) and file
downloads (`/<repo>/resolve/<rev>/<file>`, HEAD then GET) — from a local folder, with the
status codes and `X-Error-Code` headers of the real hub for its failures:

- a token other than `TOKEN_WITH_ACCESS` and `TOKEN_WITHOUT_ACCESS`: 401 "Invalid credentials
  in Authorization header", as the hub answers a revoked or mistyped token;
- `gated`: file downloads need `TOKEN_WITH_ACCESS`: 401 `GatedRepo` without a token, 403 with
  `TOKEN_WITHOUT_ACCESS` (a valid token whose account has not accepted the licence);
- `fail_with`: every request gets this status (503: the hub is down; 403 without an error
  code: a fine-grained token without the read permission);
- no folder: the repo does not exist (404 `RepoNotFound`).

    with FakeHub(folder, gated=True) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"}
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TOKEN_WITH_ACCESS = "hf_fakehubTokenWithAccess0123456789"
TOKEN_WITHOUT_ACCESS = "hf_fakehubTokenWithoutAccess012345"
_INFO = re.compile(r"/api/models/(?P<repo>[^/]+/[^/]+)/revision/(?P<rev>[^/?]+)")
_TREE = re.compile(r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/?]+)")
_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>[^?]+)")


@dataclass(frozen=True)
class Received:
    """One request the hub answered: method, path, and the Authorization header (or None)."""

    method: str
    path: str
    authorization: str | None


class FakeHub:
    """Serves `folder` as every model repo (see the module docstring for the failure modes)."""

    def __init__(
        self,
        folder: Path | None = None,
        *,
        gated: bool = False,
        fail_with: int | None = None,
    ):
        self.folder = Path(folder) if folder else None
        self.gated = gated
        self.fail_with = fail_with
        self.received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hub", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def files(self) -> list[Path]:
        """The repo's files, relative to its folder."""
        return repo_files(self.folder)

    def requested_files(self) -> set[str]:
        """The repo files asked for (HEAD or GET; a file equal to one already fetched is not fetched again)."""
        resolved = [r.path.split("?")[0] for r in self.received if "/resolve/" in r.path]
        return {path.split("/", 5)[5] for path in resolved}  # /<owner>/<name>/resolve/<commit>/<file>

    def answer(self, method: str, path: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body for one request."""
        self.received.append(Received(method, path, authorization))
        token = authorization.removeprefix("Bearer ").strip() if authorization else None
        if self.fail_with:
            return _error(self.fail_with, "Refused by the fake hub")
        if token not in (None, TOKEN_WITH_ACCESS, TOKEN_WITHOUT_ACCESS):
            return _error(401, "Invalid credentials in Authorization header")
        if self.folder is None:
            return _error(404, "Repository not found", code="RepoNotFound")
        if match := _INFO.fullmatch(path.split("?")[0]):
            return _json(self._info(match["repo"]))
        if _TREE.match(path):
            return _json([self._entry(name) for name in self.files()])
        if match := _RESOLVE.fullmatch(path.split("?")[0]):
            return self._resolve(match["repo"], match["file"], token, with_body=method == "GET")
        return _error(404, "Entry not found", code="EntryNotFound")

    def _info(self, repo: str) -> dict:
        siblings = [{"rfilename": str(name)} for name in self.files()]
        gated = "manual" if self.gated else False
        return {"id": repo, "modelId": repo, "sha": COMMIT, "private": False, "gated": gated, "siblings": siblings}

    def _entry(self, name: Path) -> dict:
        data = (self.folder / name).read_bytes()
        return {"type": "file", "path": str(name), "size": len(data), "oid": hashlib.sha1(data).hexdigest()}

    def _resolve(self, repo: str, name: str, token: str | None, with_body: bool) -> tuple[int, dict[str, str], bytes]:
        if self.gated and token != TOKEN_WITH_ACCESS:
            restricted = f"Access to model {repo} is restricted"
            if token is None:
                return _error(401, f"{restricted}. You must be authenticated to access it.", "GatedRepo")
            return _error(403, f"{restricted} and you are not in the authorized list.", "GatedRepo")
        path = self.folder / name
        if ".." in Path(name).parts or not path.is_file():
            return _error(404, "Entry not found", code="EntryNotFound")
        data = path.read_bytes()
        etag = f'"{hashlib.sha256(data).hexdigest()}"'
        headers = {"X-Repo-Commit": COMMIT, "ETag": etag, "Content-Length": str(len(data))}
        return 200, headers, data if with_body else b""


def repo_files(folder: Path) -> list[Path]:
    """The files of a repo folder, relative to it, in a stable order."""
    return sorted(path.relative_to(folder) for path in Path(folder).rglob("*") if path.is_file())


def _json(value) -> tuple[int, dict[str, str], bytes]:
    return 200, {"Content-Type": "application/json"}, json.dumps(value).encode()


def _error(status: int, message: str, code: str | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"X-Error-Message": message, "Content-Type": "application/json"}
    if code:
        headers["X-Error-Code"] = code
    return status, headers, json.dumps({"error": message}).encode()


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            status, headers, body = hub.answer(self.command, self.path, self.headers.get("Authorization"))
            self.send_response(status)
            headers.setdefault("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _reply

        def log_message(self, *args) -> None:  # keep test output quiet
            pass

    return Handler
