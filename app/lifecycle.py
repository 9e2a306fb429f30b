"""The process's lifecycle: starting, serving, draining; and the signals that begin draining.

The lifespan (builders/lifespan.py) moves it on; /ready (routes/probes.py) reports it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Lifecycle:
    """Where this process is: `starting` until its lifespan has opened everything, `serving`,
    then `draining` once shutdown begins. Only this makes /ready fail by default."""

    def __init__(self) -> None:
        self.state = "starting"

    def draining(self) -> bool:
        return self.state == "draining"

    @contextmanager
    def draining_on_signals(self) -> Iterator[None]:
        """While the block runs, SIGTERM and SIGINT make /ready fail at once, then go on to the
        server's own handler (which stops accepting and lets accepted requests finish). The
        servers' handlers are kept: uvicorn's is a Python handler, called next; granian's and
        hypercorn's run on the event loop, which hears the signal through its wakeup fd
        whatever Python handler is installed. Outside the main thread (an app in a test) this
        does nothing."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

        def drain(signum: int, frame: FrameType | None) -> None:
            self.state = "draining"
            handler = previous[signal.Signals(signum)]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                raise SystemExit(128 + signum)

        for sig in previous:
            signal.signal(sig, drain)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
