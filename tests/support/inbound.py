"""``r2p-mailer inbound``'s receiver on loopback, in a thread of the test process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from jobs.inbound import InboundHandler, serve


@contextmanager
def receiving(handler: InboundHandler) -> Iterator[int]:
    """Serve ``handler`` on a free loopback port (yielded) until the block ends."""
    started = threading.Event()
    state: dict[str, object] = {}

    async def main() -> None:
        stop = asyncio.Event()
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop

        def ready(port: int) -> None:
            state["port"] = port
            started.set()

        await serve(handler, host="127.0.0.1", port=0, stop=stop, ready=ready)

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    if not started.wait(10):
        raise AssertionError("the inbound receiver did not start in 10 s")
    try:
        yield int(state["port"])  # type: ignore[call-overload]
    finally:
        loop, stop = state["loop"], state["stop"]
        assert isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event)
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
