"""The delivery worker of `r2p-mailer run` in a process of its own, so that sending and
request handling do not share one interpreter: on SQLite a worker in the web process took
the interpreter from the requests (/healthz p99 of seconds) and the requests took it from
the worker (sending fell to a third).

``WorkerProcess`` (in the web process) starts the child with multiprocessing's *spawn*
(a fresh interpreter, nothing inherited but the settings), wakes it with SIGUSR1 when mail
was just queued, restarts it with a logged line when it dies (at once after a long run,
waiting up to ``RESTART_MAX`` after quick crashes), and stops it with SIGTERM: the child
settles the batch in flight and exits 0. A child that exits 0 was asked to stop (by us, or
by a service manager signalling the whole group) and is not restarted.

The child (``serve_worker``) runs the same ``DeliveryWorker`` loop as `r2p-mailer worker`:
SIGTERM stops it, SIGUSR1 wakes it, SIGINT is left to the parent (a Ctrl-C reaches both:
the parent stops the child), and it stops by itself if its parent goes away (a pipe
whose far end only the parent holds reaches end of file).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event as ProcessEvent

from jobs.deliver import DeliveryWorker, Progress
from mailer.config import Settings
from mailer.db import make_engine, make_sessionmaker
from mailer.logs import configure_logging
from mailer.sending import make_sender

log = logging.getLogger(__name__)
RESTART_MIN = 1.0  # seconds before restarting a worker that ran for STEADY or longer
RESTART_MAX = 30.0  # ... doubling after each quick crash up to this
STEADY = 60.0


async def _watch_parent(lifeline: Connection, worker: DeliveryWorker) -> None:
    """The parent holds the other end of ``lifeline`` and never writes: it becomes
    readable (end of file) only when the parent is gone."""
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    loop.add_reader(lifeline.fileno(), gone.set)
    try:
        await gone.wait()
    finally:
        loop.remove_reader(lifeline.fileno())
    log.warning("the process that started this worker is gone; stopping")
    worker.stop()


async def serve_worker(
    settings: Settings,
    *,
    ready: Callable[[], None] = lambda: None,
    lifeline: Connection | None = None,
) -> Progress:
    """Run a delivery worker until SIGTERM (or its parent goes away); SIGUSR1 wakes it."""
    engine = make_engine(settings.database)
    try:
        worker = DeliveryWorker(settings, make_sessionmaker(engine), make_sender(settings))
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, worker.stop)
        loop.add_signal_handler(signal.SIGUSR1, worker.wake)
        ready()
        watch = asyncio.create_task(_watch_parent(lifeline, worker)) if lifeline else None
        try:
            return await worker.run()
        finally:
            if watch is not None:
                watch.cancel()
    finally:
        engine.dispose()


def child_main(settings: Settings, ready: ProcessEvent, lifeline: Connection) -> None:
    """Entry point of the spawned child."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging()
    progress = asyncio.run(serve_worker(settings, ready=ready.set, lifeline=lifeline))
    log.info(
        "delivery worker process %d stopped: %d sent, %d to retry, %d failed",
        os.getpid(),
        progress.sent,
        progress.retry,
        progress.failed,
    )


class WorkerProcess:
    """The child delivery worker, seen from the web process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.restarts = 0
        self._context = multiprocessing.get_context("spawn")
        self._process: SpawnProcess | None = None
        self._ready: ProcessEvent | None = None
        self._lifeline: Connection | None = None  # the end the child watches is its own
        self._started = 0.0
        self._stopping = False
        self._stopped = asyncio.Event()
        # Reaping a child frees its pid for reuse: never signal while that may happen.
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        with self._lock:
            return self._process is not None and self._process.is_alive()

    def start(self) -> None:
        ready = self._context.Event()
        theirs, ours = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=child_main,
            args=(self.settings, ready, theirs),
            name="r2p-delivery-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        with self._lock:
            if self._lifeline is not None:
                self._lifeline.close()
            self._process, self._ready, self._lifeline = process, ready, ours
        self._started = time.monotonic()
        log.info("delivery worker process %d started", process.pid)

    def wake(self) -> None:
        """Mail was just queued: tell the child (safe from any thread; a no-op until the
        child is ready to take the signal)."""
        with self._lock:
            process, ready = self._process, self._ready
            if process is None or ready is None or process.pid is None:
                return
            if not ready.is_set() or not process.is_alive():
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGUSR1)

    async def _exit_of(self, process: SpawnProcess) -> int:
        loop = asyncio.get_running_loop()
        exited = loop.create_future()

        def done() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(process.sentinel, done)
        try:
            await exited
        finally:
            loop.remove_reader(process.sentinel)
        with self._lock:
            process.join()
        return process.exitcode if process.exitcode is not None else -1

    async def supervise(self) -> None:
        """Start the child and keep it running until ``stop()``; a child that dies is
        restarted, with a logged line."""
        delay = RESTART_MIN
        self.start()
        while True:
            process = self._process
            assert process is not None
            code = await self._exit_of(process)
            if self._stopping:
                return
            if code == 0:
                log.warning(
                    "delivery worker process %d was stopped by a signal; not restarting it",
                    process.pid,
                )
                return
            ran = time.monotonic() - self._started
            delay = RESTART_MIN if ran >= STEADY else min(delay * 2, RESTART_MAX)
            how = f"signal {-code}" if code < 0 else f"code {code}"
            log.error(
                "delivery worker process %d died (%s) after %.0f s; restarting it in %.0f s",
                process.pid,
                how,
                ran,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=delay)
            if self._stopped.is_set():
                return
            self.restarts += 1
            self.start()

    async def stop(self, grace: float) -> None:
        """SIGTERM to the child: it settles its batch and exits; killed after ``grace``
        seconds."""
        self._stopping = True
        self._stopped.set()
        process = self._process
        if process is None:
            return
        deadline = time.monotonic() + grace
        signalled = False
        while True:
            with self._lock:
                if not process.is_alive():
                    return
                if not signalled:
                    process.terminate()
                    signalled = True
                elif time.monotonic() > deadline:
                    log.warning(
                        "delivery worker process %d did not stop in %gs; killing it",
                        process.pid,
                        grace,
                    )
                    process.kill()
                    deadline = float("inf")
            await asyncio.sleep(0.05)
