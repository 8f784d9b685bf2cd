"""Live audio for consumers that watch the stream as it is recorded (the dead-air monitor).

The recorder gives each station's ffmpeg a second output, 8 kHz mono s16le to a loopback UDP port,
only when a sink is given: decoding costs CPU that a plain stream-copy recording does not spend. A
reader thread cuts the datagrams into ~1 s blocks and hands them to one dispatcher thread through a
bounded queue, so a slow sink drops blocks (counted) instead of stalling ffmpeg and the recording.

UDP, not ffmpeg's stdout: a pipe breaks when the recorder dies and takes ffmpeg, and the recording,
with it. Datagrams to a port nobody holds are dropped, so an ffmpeg that outlives its recorder keeps
recording until the next recorder adopts it and binds the same port (docs/recorder.md).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:  # numpy is imported by the reader thread: `pige record` spawns ffmpeg sooner without it
    import numpy as np

log = logging.getLogger(__name__)


@runtime_checkable
class LiveAudioSink(Protocol):
    """Receives decoded audio while a station records, and hears when its stream goes down."""

    def feed(self, station_id: str, block_start: datetime, samples: np.ndarray, sample_rate: int) -> None:
        """`samples`: mono int16, about one second, starting at `block_start` (UTC, arrival time)."""

    def stream_down(self, station_id: str, at: datetime) -> None:
        """The station's stream stopped at `at` (UTC); `feed` resumes when it is back."""


class LiveDispatcher:
    """One thread that calls the sink for every station, so sink errors never reach a recording."""

    def __init__(self, sink: LiveAudioSink, max_blocks: int = 2000) -> None:
        self.sink = sink
        self.dropped = 0
        self.errors = 0
        self._queue: queue.Queue[tuple] = queue.Queue(max_blocks)
        self._thread = threading.Thread(target=self._run, name="live-dispatch", daemon=True)
        self._thread.start()

    def feed(self, station: str, start: datetime, samples: np.ndarray, rate: int) -> None:
        self._put(("feed", station, start, samples, rate))

    def stream_down(self, station: str, at: datetime) -> None:
        self._put(("down", station, at))

    def close(self, timeout_s: float = 5.0) -> None:
        self._queue.put(("stop",))
        self._thread.join(timeout_s)

    def _put(self, item: tuple) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item[0] == "stop":
                return
            try:
                if item[0] == "feed":
                    self.sink.feed(item[1], item[2], item[3], item[4])
                else:
                    self.sink.stream_down(item[1], item[2])
            except Exception:  # a broken consumer must not stop the others or the recording
                self.errors += 1
                log.exception("live audio sink failed for station %r", item[1])


class PcmReceiver:
    """The loopback UDP port one ffmpeg sends a station's live PCM to, read like a file."""

    PACKET_BYTES = 1024  # 64 ms at 8 kHz: small enough for loopback, never split across a sample

    def __init__(self, port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # A second of PCM is 16 KB: a reader held up by a busy machine must not lose datagrams.
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            self._sock.bind(("127.0.0.1", port))
        except OSError:
            self._sock.close()
            raise
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self._closing = threading.Event()
        self._buffer = bytearray()

    @property
    def url(self) -> str:
        """Where ffmpeg sends (an output URL)."""
        return f"udp://127.0.0.1:{self.port}?pkt_size={self.PACKET_BYTES}"

    def read(self, size: int) -> bytes:
        """`size` bytes; once `close()` was called, what is left (b"" at the end), as a pipe at EOF."""
        while len(self._buffer) < size and not self._closing.is_set():
            with contextlib.suppress(TimeoutError):
                self._buffer += self._sock.recv(65536)
        if self._closing.is_set():
            self._drain()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def close(self) -> None:
        """ffmpeg has exited: hand out what arrived, then end the reader (the socket closes with it)."""
        self._closing.set()

    def discard(self) -> None:
        """Close the port without reading it (no ffmpeg was started)."""
        self._closing.set()
        self._sock.close()

    def _drain(self) -> None:
        self._sock.setblocking(False)
        while True:
            try:
                self._buffer += self._sock.recv(65536)
            except (BlockingIOError, OSError):
                break
        if not self._buffer:
            self._sock.close()


def read_blocks(
    pipe: IO[bytes] | PcmReceiver,
    station: str,
    sample_rate: int,
    dispatcher: LiveDispatcher,
    now: Callable[[], datetime],
) -> None:
    """Read ~1 s blocks of s16le from `pipe` until it closes; the block's start is its arrival minus 1 s."""
    import numpy as np

    block_bytes = sample_rate * 2
    while True:
        data = pipe.read(block_bytes)
        if not data:
            return
        usable = len(data) - len(data) % 2
        samples = np.frombuffer(data[:usable], dtype=np.int16)
        arrived = now()
        dispatcher.feed(
            station, arrived - timedelta(seconds=len(samples) / sample_rate), samples, sample_rate
        )


class DeferredSink:
    """A sink built on a thread, so the recorder spawns its ffmpegs without waiting for its imports.

    `pige record`'s live dead-air monitor imports numpy and pandas (~0.75 s), and every second before
    the ffmpegs start is audio lost. Blocks that arrive before the sink is ready wait on the
    dispatcher thread, never on a recording. `close()` and `describe()` are passed on when the built
    sink has them.
    """

    READY_TIMEOUT_S = 60.0  # longer than any import takes; past it, blocks are dropped

    def __init__(self, build: Callable[[], LiveAudioSink], name: str = "live sink") -> None:
        self.name = name
        self.error: BaseException | None = None
        self._sink: LiveAudioSink | None = None
        self._ready = threading.Event()
        threading.Thread(target=self._build, args=(build,), name=f"{name} set-up", daemon=True).start()

    def _build(self, build: Callable[[], LiveAudioSink]) -> None:
        try:
            self._sink = build()
        except Exception as exc:  # recording goes on without it; describe() says why
            self.error = exc
            log.exception("%s could not start", self.name)
        finally:
            self._ready.set()

    def _target(self) -> LiveAudioSink | None:
        return self._sink if self._ready.wait(self.READY_TIMEOUT_S) else None

    def feed(self, station_id: str, block_start: datetime, samples: np.ndarray, sample_rate: int) -> None:
        sink = self._target()
        if sink is not None:
            sink.feed(station_id, block_start, samples, sample_rate)

    def stream_down(self, station_id: str, at: datetime) -> None:
        sink = self._target()
        if sink is not None:
            sink.stream_down(station_id, at)

    def describe(self) -> str:
        """What the built sink says of itself (waits for it), or why it could not start."""
        sink = self._target()
        if sink is None:
            return f"error: {self.name} could not start: {self.error!r}"
        return str(getattr(sink, "describe", self.name))

    def close(self) -> None:
        sink = self._target()
        if sink is not None and hasattr(sink, "close"):
            sink.close()
