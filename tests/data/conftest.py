"""A local HTTP file server on 127.0.0.1 for download tests: Range support and scripted failures."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest


class LocalServer:
    """A tiny HTTP file server: routes -> bytes, with Range support and scripted failures."""

    def __init__(self):
        self.routes: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self.cuts: dict[str, int] = {}  # path -> how many responses to cut halfway
        self.statuses: dict[str, list[int]] = {}  # path -> statuses to answer before serving
        self.ranges = True
        self.log: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.log.append((self.path, self.headers.get("Range")))
                if server.statuses.get(self.path):
                    code = server.statuses[self.path].pop(0)
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = server.routes.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                requested = self.headers.get("Range")
                if requested and server.ranges:
                    start = int(requested.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header(
                    "Content-Type", server.content_types.get(self.path, "application/octet-stream")
                )
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                chunk = body[start:]
                if server.cuts.get(self.path, 0) > 0:
                    server.cuts[self.path] -= 1
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(chunk)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def requests_to(self, path: str) -> list[str | None]:
        return [rng for logged, rng in self.log if logged == path]


@pytest.fixture
def server():
    local = LocalServer()
    local.thread.start()
    yield local
    local.httpd.shutdown()
    local.httpd.server_close()
