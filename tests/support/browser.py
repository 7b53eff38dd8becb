"""Serving the real app and driving it: a live uvicorn server in a thread, the app on an
event loop of its own answering in-process requests (and real HTTP once something connects),
a cookie-keeping HTTP client that fills the reader's forms, and Debian's Chromium for
Playwright.

Used by the subscriber, console and API tests, the browser tests and
``scripts/screenshots.py``.
"""

from __future__ import annotations

import asyncio
import atexit
import email
import email.policy
import logging
import os
import re
import socket
import ssl
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from jobs.deliver import DeliveryWorker
from mailer.config import Settings
from mailer.models import Subscriber
from mailer.sending.memory import MemorySender
from service.app import create_app
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRE_BROWSER = "R2P_TEST_REQUIRE_BROWSER"
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
# How long an in-process request may take before the test fails: a bound on a hung app,
# far above any request's time on a loaded machine (a live server's client waits 5 s).
REQUEST_LIMIT = 120.0
# How long a reader over HTTP waits for an answer (httpx's 5 s fails live tests on a
# loaded machine); in-process readers are bounded by REQUEST_LIMIT.
NETWORK_TIMEOUT = 30.0
# One TLS context for every test client of this process: httpx makes a new one (the CA
# bundle read and parsed, ~20 ms of CPU) for each client otherwise, though loopback is http.
TLS = ssl.create_default_context()
# The client address in-process requests come from, as uvicorn would see a loopback client.
LOOPBACK_CLIENT = ("127.0.0.1", 50000)
T = TypeVar("T")


def bound_socket() -> socket.socket:
    """A loopback socket already listening, so the port is ours before the app exists."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class PromptServer(uvicorn.Server):
    """uvicorn's server, stopping in milliseconds rather than 0.15 s or so (hundreds of
    tests start and stop one): it looks for a stop request every 10 ms instead of 100 ms,
    and skips uvicorn's fixed 0.1 s grace for open connections when none is open."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # on_tick refreshes the Date every 10th
            counter = (counter + 1) % 864_000
            await asyncio.sleep(0.01)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.server_state.connections or self.server_state.tasks:
            await super().shutdown(sockets)
            return
        for server in self.servers:
            server.close()
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


class LiveServer:
    """``app`` served by uvicorn in a background thread on ``sock``."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.app = app
        self.sock = sock
        self.server = PromptServer(
            uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        )
        self.thread = threading.Thread(
            target=lambda: self.server.run(sockets=[sock]), name="live-server", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> LiveServer:
        self.thread.start()
        wait_until(
            lambda: self.server.started or not self.thread.is_alive(),
            30,
            message="the live server's start-up",
        )
        if not self.server.started:
            raise RuntimeError("the app did not start")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@contextmanager
def serve(make_app: Callable[[str], FastAPI]) -> Iterator[LiveServer]:
    """Serve the app that ``make_app(base_url)`` builds; stopped on exit."""
    sock = bound_socket()
    host, port = sock.getsockname()[:2]
    server = LiveServer(make_app(f"http://{host}:{port}"), sock).start()
    try:
        yield server
    finally:
        server.stop()


def uvicorn_config(app: ASGIApp, *, lifespan: str) -> uvicorn.Config:
    """The settings a live server in the tests runs with (proxy headers trusted from
    loopback, as uvicorn's defaults and `r2p-mailer run` do)."""
    return uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False)


class AppServer:
    """``app`` on an event loop in a thread of its own, with its lifespan run as uvicorn
    runs it: ``transport()`` sends requests to it in-process (no socket, no HTTP parsing;
    the same ASGI stack uvicorn serves, X-Forwarded-For from loopback included), and real
    HTTP on ``sock`` is served from the first connection on (or at once when ``live``),
    by uvicorn on the same loop: one app, one lifespan, one state for both."""

    def __init__(self, app: FastAPI, sock: socket.socket, *, live: bool = False) -> None:
        self.app = app
        self.sock = sock
        self.live = live
        # What uvicorn serves: the app behind ProxyHeadersMiddleware; its lifespan runs here.
        self.stack = uvicorn_config(app, lifespan="on")
        self.stack.load()
        self.server = PromptServer(uvicorn_config(app, lifespan="off"))
        self.thread = threading.Thread(target=self._run, name="app-server", daemon=True)
        self.ready = threading.Event()
        self.failure: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stopping: asyncio.Event | None = None
        self.serving: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> AppServer:
        self.sock.listen(128)
        self.thread.start()
        if not self.ready.wait(30):
            raise RuntimeError("the app did not start in 30 s")
        if self.failure is not None:
            raise RuntimeError("the app did not start") from self.failure
        return self

    def stop(self) -> None:
        if self.loop is not None and self.stopping is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(timeout=30)
        self.sock.close()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the app's loop from another thread; its result."""
        assert self.loop is not None, "the app server is not running"
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(REQUEST_LIMIT)

    def transport(self) -> httpx.BaseTransport | None:
        """In-process requests to the app, or None (the network) for a ``live`` server."""
        return None if self.live else InProcessTransport(self)

    def _run(self) -> None:
        # asyncio.run: its main task is the root task anyio keeps its worker threads for.
        asyncio.run(self._main())

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        lifespan = self.stack.lifespan_class(self.stack)
        try:
            await lifespan.startup()
            if lifespan.should_exit:
                raise RuntimeError("the app's lifespan startup failed")
            if self.live:
                await self._serve_http()
            else:
                self.loop.add_reader(self.sock.fileno(), self._on_connection)
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
            raise
        self.ready.set()
        await self.stopping.wait()
        if self.serving is None:
            self.loop.remove_reader(self.sock.fileno())
        else:
            self.server.should_exit = True
            await self.serving
        await lifespan.shutdown()

    def _on_connection(self) -> None:
        """Something connected over the network: uvicorn takes the socket from here."""
        assert self.loop is not None
        self.loop.remove_reader(self.sock.fileno())
        self.serving = self.loop.create_task(self.server.serve(sockets=[self.sock]))

    async def _serve_http(self) -> None:
        self.serving = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        # uvicorn tells it started by a flag only, no event to wait for.
        while not self.server.started and not self.serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        if not self.server.started:
            await self.serving  # raises why it stopped
            raise RuntimeError("uvicorn did not start")


class InProcessTransport(httpx.BaseTransport):
    """httpx's sync transport to an ``AppServer`` without a socket: each request runs on
    the app's loop through httpx's ASGI transport. An exception in the app is logged as
    uvicorn logs it and answered 500, as a live server answers it."""

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.asgi = httpx.ASGITransport(
            app=self._logged, raise_app_exceptions=False, client=LOOPBACK_CLIENT
        )

    async def _logged(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.server.stack.loaded_app(scope, receive, send)
        except Exception:
            logging.getLogger("uvicorn.error").exception("Exception in ASGI application\n")
            raise

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()  # the body as a ByteStream, which the ASGI transport reads too
        status, headers, body = self.server.call(self._send(request))
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(body))

    async def _send(self, request: httpx.Request) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        response = await self.asgi.handle_async_request(request)
        body = b"".join([chunk async for chunk in response.aiter_raw()])
        return response.status_code, response.headers.raw, body


class Reader:
    """A person at the keyboard, minus the browser: keeps cookies, copies CSRF tokens.
    ``transport``: how requests reach the app (the network when None)."""

    def __init__(
        self, base_url: str, *, transport: httpx.BaseTransport | None = None, **headers: str
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url,
            headers=headers,
            follow_redirects=False,
            transport=transport,
            timeout=NETWORK_TIMEOUT,
            verify=TLS,
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def form_token(self, page: str = "/subscribe") -> str:
        match = CSRF_INPUT.search(self.get(page).text)
        assert match, f"no CSRF field on {page}"
        return match.group(1)

    def post(
        self, path: str, data: dict[str, Any], *, token_from: str | None = None
    ) -> httpx.Response:
        """POST a form; with ``token_from``, first open that page for a CSRF token."""
        if token_from is not None:
            data = {"csrf_token": self.form_token(token_from), **data}
        return self.http.post(path, data=data)

    def sign_up(self, address: str, **fields: Any) -> httpx.Response:
        data: dict[str, Any] = {
            "email": address,
            "digest": "on",
            "alerts": "on",
            "topics_mode": "all",
            "language": "en",
            "consent": "on",
            **fields,
        }
        return self.post("/subscribe", data, token_from="/subscribe")


def deliver(settings: Settings, factory: sessionmaker[Session]) -> list[EmailMessage]:
    """Run the delivery worker until nothing is due; the messages it sent, parsed."""
    sender = MemorySender()
    asyncio.run(DeliveryWorker(settings, factory, sender).run(once=True))
    return [parse(message) for _from, _to, message in sender.sent]


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    """The first link to ``/path/`` in the plain-text part."""
    match = re.search(rf"https?://\S+/{path}/\S+", text_of(message))
    assert match, f"no /{path}/ link in:\n{text_of(message)}"
    return match.group(0)


def unsubscribe_url(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"])
    match = re.fullmatch(r"<(https?://[^>]+)>", header.strip())
    assert match, header
    return match.group(1)


@dataclass
class Site:
    """The running app with its settings and database, and the readers using it (their
    requests in-process, or over HTTP when the site is ``live``); ``url`` also answers
    real HTTP, e.g. from ``httpx.post(site.url + path)``."""

    server: AppServer
    settings: Settings
    factory: sessionmaker[Session]
    readers: list[Reader] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def reader(self, **headers: str) -> Reader:
        reader = Reader(self.url, transport=self.server.transport(), **headers)
        self.readers.append(reader)
        return reader

    def client(self, **headers: str) -> httpx.Client:
        """A plain HTTP client of the app (no redirects followed), as its readers reach it;
        closed with the site."""
        client = httpx.Client(
            base_url=self.url, headers=headers, transport=self.server.transport(), verify=TLS
        )
        self.clients.append(client)
        return client

    def deliver(self) -> list[EmailMessage]:
        return deliver(self.settings, self.factory)

    def subscriber(self, address: str) -> Subscriber | None:
        with self.factory() as session:
            return session.scalar(select(Subscriber).where(Subscriber.email == address))

    def path(self, url: str) -> str:
        assert url.startswith(self.url + "/"), url
        return url[len(self.url) :]


@contextmanager
def running_site(settings_for: Callable[[str], Settings], *, live: bool = False) -> Iterator[Site]:
    """The app built by ``create_app(settings_for(base_url))`` at a loopback URL. Its readers
    send their requests in-process; with ``live``, over HTTP to uvicorn, for tests that need
    the real thing between them (a client's own address, the HTTP layer itself)."""
    sock = bound_socket()
    host, port = sock.getsockname()[:2]
    server = AppServer(create_app(settings_for(f"http://{host}:{port}")), sock, live=live)
    server.start()
    site = Site(server, server.app.state.settings, server.app.state.factory)
    try:
        yield site
    finally:
        for reader in site.readers:
            reader.close()
        for client in site.clients:
            client.close()
        server.stop()


def chromium_missing(executable: Path = CHROMIUM) -> str:
    """Why Chromium tests cannot run here, or '' when they can."""
    if not executable.exists():
        return f"Debian's Chromium is not installed at {executable} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return ""


def require_chromium(executable: Path = CHROMIUM) -> None:
    """Skip with the reason, or fail when CI demands the browser tests run."""
    reason = chromium_missing(executable)
    if not reason:
        return
    if os.environ.get(REQUIRE_BROWSER) == "1":
        pytest.fail(f"{REQUIRE_BROWSER}=1 but {reason}")
    pytest.skip(reason)


_shared: tuple[Playwright, Browser] | None = None


def shared_browser() -> Browser:
    """This process's headless Debian Chromium under Playwright (never a downloaded
    browser), launched on first use and kept until ``close_shared_browser`` (the tests call
    it after each module) or the process exits: a launch costs about a second of CPU, and
    each test gets contexts of its own (cookies, storage) anyway. While it is open,
    Playwright marks an event loop as running in this thread (its sync API's design), so
    ``asyncio.run`` works only on other threads."""
    global _shared
    if _shared is None or not _shared[1].is_connected():
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        _shared = (playwright, browser)
    return _shared[1]


@atexit.register
def close_shared_browser() -> None:
    global _shared
    if _shared is not None:
        playwright, browser = _shared
        _shared = None
        browser.close()
        playwright.stop()


@contextmanager
def chromium() -> Iterator[Browser]:
    """The shared Chromium (``shared_browser``); the contexts opened in it inside the block
    are closed after it, so nothing of one test reaches the next."""
    browser = shared_browser()
    before = set(browser.contexts)
    try:
        yield browser
    finally:
        for context in browser.contexts:
            if context not in before:
                context.close()


@contextmanager
def chromium_page(base_url: str) -> Iterator[Page]:
    """A fresh page (its own cookies) in headless Chromium, relative URLs on ``base_url``."""
    with chromium() as browser:
        context = browser.new_context(base_url=base_url)
        try:
            yield context.new_page()
        finally:
            context.close()
