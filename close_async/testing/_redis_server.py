"""A throwaway ``redis-server`` on loopback, for the Redis gate's tests, benchmark and example.

It runs the real server binary (Debian: ``apt-get install redis-server``) on a free port of
127.0.0.1, keeps nothing on disk, and stops with the ``with`` block. A missing binary is an
error, never a reason to skip: the Redis gate is only tested against a real Redis.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["RedisServer", "RedisServerError"]

_START_SECONDS = 10.0
_PING = b"*1\r\n$4\r\nPING\r\n"
_FLUSHALL = b"*1\r\n$8\r\nFLUSHALL\r\n"


class RedisServerError(RuntimeError):
    """redis-server is missing, or did not start."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _command(host: str, port: int, command: bytes) -> bytes:
    with socket.create_connection((host, port), timeout=2.0) as conn:
        conn.sendall(command)
        return conn.recv(64)


def _answers(host: str, port: int) -> bool:
    try:
        return _command(host, port, _PING).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """Run ``redis-server`` on a free loopback port: ``with RedisServer() as redis: redis.url``.

    ``kill()`` stops it at once (SIGKILL), to test what happens when Redis goes away;
    ``start()`` again brings it back on the same port, empty.
    """

    def __init__(self, *, binary: str = "redis-server", host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self._binary = binary
        self._process: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of database 0."""
        if not self.port:
            raise RuntimeError("the Redis server is not started")
        return f"redis://{self.host}:{self.port}/0"

    def start(self) -> None:
        """Start the server (on a new free port the first time) and wait until it answers."""
        path = shutil.which(self._binary)
        if path is None:
            raise RedisServerError(
                f"{self._binary} is not installed (Debian: apt-get install redis-server); "
                "the Redis rate-limit gate is tested against a real Redis only"
            )
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="close-redis-")
        self.port = self.port or _free_port(self.host)
        log = Path(self._dir.name) / "redis.log"
        command = [path, "--port", str(self.port), "--bind", self.host, "--save", ""]
        command += ["--appendonly", "no", "--dir", self._dir.name, "--logfile", str(log)]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + _START_SECONDS
        while not _answers(self.host, self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                raise RedisServerError(f"redis-server did not start on {self.url}:\n{detail}")
            time.sleep(0.02)

    def flush(self) -> None:
        """Empty every database (between tests)."""
        reply = _command(self.host, self.port, _FLUSHALL)
        if not reply.startswith(b"+OK"):
            raise RedisServerError(f"FLUSHALL failed: {reply!r}")

    def kill(self) -> None:
        """Stop the server at once, the way a crash would."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server and forget its files."""
        self._end(signal.SIGTERM)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def _end(self, signum: int) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signum)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
