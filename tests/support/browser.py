"""Serving the real app and driving it: a live uvicorn server in a thread, a cookie-keeping
HTTP client that fills the reader's forms, and Debian's Chromium for Playwright.

Used by the subscriber tests, the browser tests and ``scripts/screenshots.py``.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jobs.deliver import DeliveryWorker
from mailer.config import Settings
from mailer.models import Subscriber
from mailer.sending.memory import MemorySender
from service.app import create_app
from tests.support.waiting import wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

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


class Reader:
    """A person at the keyboard, minus the browser: keeps cookies, copies CSRF tokens."""

    def __init__(self, base_url: str, **headers: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, follow_redirects=False)

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
    """The running app with its settings and database, and the readers using it."""

    server: LiveServer
    settings: Settings
    factory: sessionmaker[Session]
    readers: list[Reader] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url

    def reader(self, **headers: str) -> Reader:
        reader = Reader(self.url, **headers)
        self.readers.append(reader)
        return reader

    def deliver(self) -> list[EmailMessage]:
        return deliver(self.settings, self.factory)

    def subscriber(self, address: str) -> Subscriber | None:
        with self.factory() as session:
            return session.scalar(select(Subscriber).where(Subscriber.email == address))

    def path(self, url: str) -> str:
        assert url.startswith(self.url + "/"), url
        return url[len(self.url) :]


@contextmanager
def running_site(settings_for: Callable[[str], Settings]) -> Iterator[Site]:
    """The app built by ``create_app(settings_for(base_url))``, served on loopback."""
    with serve(lambda url: create_app(settings_for(url))) as server:
        app = server.app
        site = Site(server, app.state.settings, app.state.factory)
        try:
            yield site
        finally:
            for reader in site.readers:
                reader.close()


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


@contextmanager
def chromium() -> Iterator[Browser]:
    """Headless Debian Chromium under Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(base_url: str) -> Iterator[Page]:
    """A fresh page (its own cookies) in headless Chromium, relative URLs on ``base_url``."""
    with chromium() as browser:
        context = browser.new_context(base_url=base_url)
        try:
            yield context.new_page()
        finally:
            context.close()
