"""Length-prefixed messages over a pair of pipes, and their mutual authentication.

One ``read`` usually brings a whole small message (and often the next ones): they are
kept in a buffer, so a reader driven by ``select``/``epoll`` must call :meth:`pending`
after each message, because the data already buffered does not make the pipe readable
again. Only one thread may read a channel; writers must hold their own lock.

Each message starts with a 4-byte marker and its length. Bytes that do not come from the
other end (anything else writing into the pipe, e.g. through ``/proc/<pid>/fd``) shift
the framing: the marker check turns that into :class:`CorruptChannelError` at once,
instead of a reader waiting for ever for the gigabytes a garbage length announces.
"""
from __future__ import annotations

import hmac
import os
import select
import struct
from typing import Any

_MAGIC = b"SZrt"
_HDR = struct.Struct("<4sQ")
_HSIZE = _HDR.size
_CHUNK = 1 << 16


# A worker exits with this status when its pipe from the driver carried garbage.
EXIT_CORRUPT_CHANNEL = 3


class AuthenticationError(ConnectionError):
    """The other end does not know the session key."""


class CorruptChannelError(Exception):
    """The pipe carried bytes that are not a message of this runtime.

    Not an ``OSError``: a reader must not mistake it for the other end closing the pipe.
    The channel cannot be resynchronised; its owner ends the connection (and the worker).
    """


class Channel:
    """A duplex message channel over two pipe file descriptors."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd
        self._buf = bytearray()
        self._unsent: list[memoryview] | None = None  # set by nonblocking_writes()

    def nonblocking_writes(self) -> None:
        """Never block in :meth:`send_bytes`: keep what the pipe cannot take yet.

        The owner must call :meth:`write_unsent` when the write end is writable while
        :meth:`has_unsent` is true.
        """
        os.set_blocking(self.wfd, False)
        self._unsent = []

    def has_unsent(self) -> bool:
        return bool(self._unsent)

    def write_unsent(self) -> bool:
        """Write what is queued; return True once nothing is left."""
        parts = self._unsent
        while parts:
            try:
                k = os.writev(self.wfd, parts[:64])
            except BlockingIOError:
                return False
            while parts and k >= len(parts[0]):
                k -= len(parts[0])
                parts.pop(0)
            if parts and k:
                parts[0] = parts[0][k:]
        return True

    def fileno(self) -> int:
        return self.rfd

    def send_bytes(self, data: Any) -> None:
        """Write one message (blocks until the pipe has taken it, unless nonblocking)."""
        n = len(data)
        if self._unsent is not None:
            self._unsent.append(memoryview(_HDR.pack(_MAGIC, n)))
            self._unsent.append(memoryview(data).cast("B"))
            self.write_unsent()
            return
        if n < 65536:
            view = memoryview(_HDR.pack(_MAGIC, n) + bytes(data))
            while view:
                view = view[os.write(self.wfd, view):]
            return
        parts = [memoryview(_HDR.pack(_MAGIC, n)), memoryview(data).cast("B")]
        while parts:
            k = os.writev(self.wfd, parts)
            while parts and k >= len(parts[0]):
                k -= len(parts[0])
                parts.pop(0)
            if parts and k:
                parts[0] = parts[0][k:]

    def pending(self) -> bool:
        """Whether a whole message is already buffered (no system call needed).

        Also true when the buffered header is garbage, so that the next
        :meth:`recv_bytes` reports it now rather than after the next message.
        """
        buf = self._buf
        if len(buf) < _HSIZE:
            return False
        magic, n = _HDR.unpack_from(buf)
        return bool(magic != _MAGIC or len(buf) >= _HSIZE + n)

    def recv_bytes(self, maxlength: int | None = None) -> Any:
        """Read one message; raise EOFError when the other end closed.

        Raises :class:`CorruptChannelError` when the bytes are not a framed message.
        """
        buf = self._buf
        while len(buf) < _HSIZE:
            chunk = os.read(self.rfd, _CHUNK)
            if not chunk:
                raise EOFError("the other end of the channel closed it")
            buf += chunk
        magic, n = _HDR.unpack_from(buf)
        if magic != _MAGIC:
            raise CorruptChannelError(
                f"the pipe (fd {self.rfd}) carried bytes that are not a runtime message: "
                f"{bytes(buf[:24])!r}...")
        if maxlength is not None and n > maxlength:
            raise AuthenticationError(f"message of {n} bytes where at most {maxlength} "
                                      f"were expected")
        end = _HSIZE + n
        while len(buf) < end and len(buf) - _HSIZE < _CHUNK:
            chunk = os.read(self.rfd, _CHUNK)
            if not chunk:
                raise EOFError("the other end of the channel closed it")
            buf += chunk
        if len(buf) >= end:
            data = bytes(buf[_HSIZE:end])
            del buf[:end]
            return data
        out = bytearray(n)  # a large message: read the rest straight into place
        have = len(buf) - _HSIZE
        out[:have] = buf[_HSIZE:]
        buf.clear()
        view = memoryview(out)
        while have < n:
            k = os.readv(self.rfd, [view[have:]])
            if not k:
                raise EOFError("the other end of the channel closed it")
            have += k
        return out

    def poll(self, timeout: float = 0.0) -> bool:
        """Whether a message can be read without blocking (within ``timeout`` s)."""
        if self.pending():
            return True
        return bool(select.select([self.rfd], [], [], timeout)[0])

    def close(self) -> None:
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass
        self.rfd = self.wfd = -1


def authenticate(ch: Channel, key: bytes, initiator: bool) -> None:
    """Mutual challenge: each side proves it knows ``key`` (HMAC-SHA256 of a nonce)."""
    mine = os.urandom(32)
    ch.send_bytes(mine)
    theirs = ch.recv_bytes(64)
    me, peer = (b"A", b"B") if initiator else (b"B", b"A")
    ch.send_bytes(hmac.new(key, me + theirs, "sha256").digest())
    proof = ch.recv_bytes(64)
    if not hmac.compare_digest(proof, hmac.new(key, peer + mine, "sha256").digest()):
        raise AuthenticationError("the other process does not know the session key")
