"""A TCP fault proxy for the fault tests: put between the service and a real server, it passes
traffic through, freezes it (a black hole: bytes are taken and held, nothing answers, as a
stopped server or a cut network looks), loses every answer on its way back (a statement
arrives and runs, its reply never does), or resets every connection; it can also add latency
to every chunk either way (a slow or distant server); and it counts what the
service tried to send, so a test can tell "no network call" from "a call that hung"."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

PASS, BLACK_HOLE, RESET = "pass", "black-hole", "reset"
LOSE_REPLIES = "lose-replies"  # what the service sends arrives; every answer is lost on the way back


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards to `upstream`, in a thread of its own."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._mode = PASS
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.connections = 0  # connections the service opened
        self.offered = 0  # bytes the service sent, whether they went on or not
        self.latency = 0.0  # seconds added to every chunk, each way
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        asyncio.run_coroutine_threadsafe(self._switch(mode), self._loop).result(5)

    async def _switch(self, mode: str) -> None:
        self._mode = mode
        if mode == PASS:
            self._flowing.set()
            return
        if mode == LOSE_REPLIES:
            self._flowing.set()
            return
        self._flowing.clear()
        if mode == RESET:
            for writer in list(self._writers):
                writer.transport.abort()

    async def _listen(self) -> int:
        self._flowing.set()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _close(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(client_out)
        try:
            if self._mode == RESET:
                return
            await self._flowing.wait()  # a black hole answers no connection either
            server_in, server_out = await asyncio.open_connection(*self._upstream)
            self._writers.add(server_out)
            await asyncio.gather(
                self._pipe(client_in, server_out, count=True), self._pipe(server_in, client_out, reply=True)
            )
        except (OSError, asyncio.CancelledError):
            pass  # a cut connection, or the proxy stopping: the connection just ends
        finally:
            for writer in (client_out, locals().get("server_out")):
                if isinstance(writer, asyncio.StreamWriter):
                    self._writers.discard(writer)
                    writer.transport.abort()

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        count: bool = False,
        reply: bool = False,
    ) -> None:
        try:
            while data := await source.read(65536):
                if count:
                    self.offered += len(data)
                await self._flowing.wait()  # held, not lost, while the hole lasts
                if self._mode == RESET:
                    break
                if reply and self._mode == LOSE_REPLIES:
                    continue
                if self.latency:
                    await asyncio.sleep(self.latency)
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.transport.abort()


@contextmanager
def fault_proxy(host: str, port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(host, port)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
