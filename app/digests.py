"""SHA-256 on the event loop's thread, the GIL kept throughout.

hashlib lets the GIL go while it hashes 2 KiB or more in one call. On the event loop's thread
that is a loss: under granian one of the server's threads is waiting for the GIL, takes it, and
the loop then waits until that thread hands it back (docs/performance.md, "The GIL and granian's
threads"; a cold page's tag was 7% of a served worker's samples). Fed in pieces below that size,
hashlib keeps the GIL; the digest is the same."""

from __future__ import annotations

import hashlib

# The largest piece hashlib hashes without letting the GIL go (CPython's HASHLIB_GIL_MINSIZE,
# 2048, less one). A hash object that never took a piece of that size keeps the GIL for good.
PIECE = 2047


def sha256(*parts: bytes) -> hashlib._Hash:
    """The SHA-256 of the parts, one after the other."""
    digest = hashlib.sha256()
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), PIECE):
            digest.update(view[start : start + PIECE])
    return digest
