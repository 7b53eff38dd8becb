"""A local HTTP server for feed tests and benchmarks: files with ETag/Last-Modified, and
hand-written handlers for hostile answers (slow, huge, loops, bombs, errors). Given a
server-side ``ssl.SSLContext`` (``tls``) it serves https instead (the SNS certificate
host of the webhook tests).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import ssl
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "feeds"
LAST_MODIFIED = "Mon, 16 Nov 2026 20:00:00 GMT"

Handler = Callable[[BaseHTTPRequestHandler], None]
# The fixture feeds' newest entry, and how much closer together ``this_weeks`` puts their
# dates (they span 18 days; a digest's window is a week).
FIXTURE_NEWEST = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
FIXTURE_PRESS = 3
_PUB_DATE = re.compile(rb"<pubDate>([^<]+)</pubDate>")


def this_weeks(feed: bytes, now: datetime | None = None) -> bytes:
    """A fixture feed as if published in the week before ``now``: every date moved so the
    newest entry is an hour old, the gaps pressed ``FIXTURE_PRESS`` times closer (order
    kept, within one feed and across feeds)."""
    anchor = (now or datetime.now(UTC)) - timedelta(hours=1)

    def moved(match: re.Match[bytes]) -> bytes:
        when = parsedate_to_datetime(match.group(1).decode())
        recent = anchor - (FIXTURE_NEWEST - when) / FIXTURE_PRESS
        return b"<pubDate>" + format_datetime(recent.astimezone(UTC)).encode() + b"</pubDate>"

    return _PUB_DATE.sub(moved, feed)


BOMB_BLOCK = b" " * 1_000_000


def gzip_bomb(megabytes: int, head: bytes = b"<rss>") -> bytes:
    """A gzip file of ``head`` and then ``megabytes`` MB of spaces, in milliseconds: one
    compressed megabyte is repeated (a full flush makes each deflate block stand alone), so
    nothing is compressed ``megabytes`` times; the trailer is written by hand."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(BOMB_BLOCK) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = zlib.crc32(head)
    for _ in range(megabytes):
        crc = zlib.crc32(BOMB_BLOCK, crc)
    size = len(head) + megabytes * len(BOMB_BLOCK)
    last_block = b"\x03\x00"  # an empty final block (fixed Huffman codes, end of block)
    return start + block * megabytes + last_block + struct.pack("<II", crc, size % 2**32)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    tls: ssl.SSLContext | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def requests_to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def serve_bytes(
        self,
        path: str,
        body: bytes,
        *,
        validators: bool = True,
        content_type: str = "application/rss+xml; charset=utf-8",
    ) -> str:
        """Serve ``body`` at ``path``; with validators, answer 304 to a matching request."""
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'

        def handler(request: BaseHTTPRequestHandler) -> None:
            if validators and request.headers.get("If-None-Match") == etag:
                request.send_response(304)
                request.send_header("ETag", etag)
                request.end_headers()
                return
            request.send_response(200)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(body)))
            if validators:
                request.send_header("ETag", etag)
                request.send_header("Last-Modified", LAST_MODIFIED)
            request.end_headers()
            request.wfile.write(body)

        self.routes[path] = handler
        return self.url(path)

    def serve_file(self, path: str, name: str, **kwargs: object) -> str:
        return self.serve_bytes(path, (DATA / name).read_bytes(), **kwargs)  # type: ignore[arg-type]

    def serve_this_weeks(self, path: str, name: str) -> str:
        """A fixture feed dated as this week's news (``this_weeks``), for digests, which
        carry what was published in their week."""
        return self.serve_bytes(path, this_weeks((DATA / name).read_bytes()))

    def serve(self, path: str, handler: Handler) -> str:
        self.routes[path] = handler
        return self.url(path)

    def start(self) -> FeedServer:
        server_ref = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server_ref.seen.append(Seen(self.path, dict(self.headers.items())))
                handler = server_ref.routes.get(self.path)
                if handler is None:
                    self.send_error(404)
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    handler(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.server.daemon_threads = True
        if self.tls is not None:  # the handshake is made in each request's thread
            self.server.socket = self.tls.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        # A short poll interval: shutdown() waits up to one interval (10 ms) for the loop
        # to notice.
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
