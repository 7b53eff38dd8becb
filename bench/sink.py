"""An SMTP sink for benchmarks: accepts every message and throws it away.

    python bench/sink.py PORT

A minimal ESMTP server on asyncio streams that scans DATA in chunks (aiosmtpd reads it a
line at a time and becomes the bottleneck). Runs in its own process so the sender being
measured has its own core. Prints "ready" once listening; stops on SIGTERM. For each
accepted message that carries a marker ``R2PBENCH-<n>`` it prints ``marked <n> <unix
time>``, so a benchmark can time when an alert arrived.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time

END_OF_DATA = b"\r\n.\r\n"
MARKER = re.compile(rb"R2PBENCH-(\d+)")


async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"220 sink ESMTP\r\n")
    try:
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in {b"EHLO", b"HELO"}:
                writer.write(b"250-sink\r\n250-8BITMIME\r\n250-PIPELINING\r\n250 SIZE 50000000\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                buffer = b""
                marked = None
                while True:
                    chunk = await reader.read(65536)
                    if not chunk:
                        return
                    if marked is None and (found := MARKER.search(buffer[-16:] + chunk)):
                        marked = found.group(1).decode()
                    buffer = buffer[-16:] + chunk
                    if END_OF_DATA in buffer:
                        break
                writer.write(b"250 2.0.0 Ok: queued\r\n")
                if marked is not None:
                    print(f"marked {marked} {time.time():.6f}", flush=True)
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                return
            else:  # MAIL, RCPT, RSET, NOOP
                writer.write(b"250 OK\r\n")
            await writer.drain()
    except ConnectionError:
        return
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(session, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("ready", flush=True)
    async with server:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
