"""Run `yichuang` as a real process for tests, and wait for it by reading its output (no sleeping)."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp

READY = "一窗已启动：http"
YICHUANG = str(Path(sys.executable).parent / "yichuang")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def yichuang_env(**values: str) -> dict[str, str]:
    """This environment without any YICHUANG_* setting, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YICHUANG_")}
    env.update(values)
    return env


class ServerProcess:
    """`yichuang serve ...` in the background; `start()` returns once every worker said it is ready."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path, ready_lines: int = 1, *,
                 own_session: bool = False) -> None:
        self.args, self.env, self.cwd, self.ready_lines = args, env, cwd, ready_lines
        self.own_session = own_session  # its own process group, as a command started in a terminal has
        self.output = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._output_grew = threading.Condition()

    def start(self, timeout: float = 60) -> None:
        """Start and wait (bounded) until `ready_lines` workers have printed the ready line."""
        self.proc = subprocess.Popen([YICHUANG, *self.args], env=self.env, cwd=self.cwd,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=self.own_session)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while self.output.count(READY) < self.ready_lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"yichuang {' '.join(self.args)} did not start:\n{self.output}")
            ready, _, _ = select.select([self.proc.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                self.output += chunk.decode(errors="replace")
        # Keep reading: a chatty server (DEBUG logs) would otherwise fill the pipe and block on its next write.
        self._reader = threading.Thread(target=self._drain, name="server-output", daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := os.read(self.proc.stdout.fileno(), 65536):
            with self._output_grew:
                self.output += chunk.decode(errors="replace")
                self._output_grew.notify_all()

    def wait_for_output(self, text: str, timeout: float) -> None:
        """Wait (bounded) until the server has printed `text` (after `start`)."""
        with self._output_grew:
            if not self._output_grew.wait_for(lambda: text in self.output, timeout):
                raise AssertionError(f"the server did not print {text!r} in {timeout:.0f} s:\n{self.output}")

    def interrupt(self) -> int:
        """Ctrl+C in the terminal: SIGINT to the whole process group (needs `own_session`), then as `stop`."""
        assert self.proc is not None and self.own_session
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        return self.stop(signum=None)

    def stop(self, signum: signal.Signals | None = signal.SIGTERM) -> int:
        """Send `signum` (SIGTERM), then wait (bounded); returns the exit code."""
        if self.proc is None:
            return 0
        if signum is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)  # the pipe reaches end-of-file once the process has exited
        elif self.proc.stdout is not None:
            self.output += self.proc.stdout.read().decode(errors="replace")
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code


async def worker_pids(http: aiohttp.ClientSession, base: str) -> set[int]:
    """The pool's worker pids, from /healthz over new connections (the kernel spreads them)."""
    pids: set[int] = set()
    for _ in range(60):
        async with http.get(f"{base}/healthz") as resp:
            pids.add((await resp.json())["worker"])
        if len(pids) == 2:
            break
    return pids


def run_at_once(script: str, copies: int = 2, timeout: float = 120) -> str:
    """Run `copies` Python processes of `script` at the same moment, as workers of a pool start, and return what
    they printed and logged (every level), together; fails the test if any of them failed.
    """
    logging_to_stdout = "import logging, sys\nlogging.basicConfig(level=1, stream=sys.stdout, format='%(message)s')\n"
    processes = [subprocess.Popen([sys.executable, "-c", logging_to_stdout + script], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(copies)]
    outputs = [process.communicate(timeout=timeout) for process in processes]
    assert [process.returncode for process in processes] == [0] * copies, [err for _out, err in outputs]
    return "".join(out for out, _err in outputs)
