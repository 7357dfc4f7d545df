"""A Rasa 3.6 server (from `make rasa-model`) for the Rasa integration test, started as soon as the run knows it
will need one: loading TensorFlow and the model takes ~40 s, which then passes while the tests before it run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

from tests.servers import free_port

HOME_CACHE = Path.home() / ".cache" / "yichuang"
RASA_VENV = Path(os.environ.get("YICHUANG_RASA_VENV", HOME_CACHE / "rasa-3.6.21"))
RASA_MODEL = Path(os.environ.get("YICHUANG_RASA_MODEL", HOME_CACHE / "rasa-project" / "models" / "yichuang.tar.gz"))
READY = "Rasa server is up and running"
START_SECONDS = 240


def rasa_installed() -> bool:
    """Whether `make rasa-model` has left a Rasa venv and a trained model here."""
    return (RASA_VENV / "bin" / "rasa").exists() and RASA_MODEL.exists()


def python310_runs() -> bool:
    """Whether some python3.10 runs here (a pyenv shim of an inactive version does not)."""
    candidates = [shutil.which("python3.10"), *map(str, Path.home().glob(".pyenv/versions/3.10*/bin/python3.10"))]
    return any(c and subprocess.run([c, "-c", ""], capture_output=True).returncode == 0 for c in candidates)


class RasaServer:
    """`rasa run --enable-api` on a free port of 127.0.0.1, its output read by a thread as it comes (so a full
    pipe never blocks it) until it says it is up.
    """

    def __init__(self) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self._proc = subprocess.Popen(
            [str(RASA_VENV / "bin" / "rasa"), "run", "--enable-api", "-m", str(RASA_MODEL), "-i", "127.0.0.1",
             "-p", self.url.rsplit(":", 1)[1]],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=RASA_MODEL.parent.parent)
        self._output: list[str] = []
        self._ready = threading.Event()
        self._ended = threading.Event()
        threading.Thread(target=self._read, name="rasa-output", daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        seen = ""
        for chunk in iter(lambda: os.read(self._proc.stdout.fileno(), 65536), b""):  # type: ignore[union-attr]
            text = chunk.decode(errors="replace")
            self._output.append(text)
            seen = (seen + text)[-len(READY) * 2:]
            if READY in seen:
                self._ready.set()
        self._ended.set()
        self._ready.set()  # wakes a waiter: the server ended before it was up

    def wait_ready(self) -> str:
        """Its URL once it is up; AssertionError with its output if it ends or takes over START_SECONDS."""
        if not self._ready.wait(START_SECONDS) or self._ended.is_set():
            self.stop()
            raise AssertionError(f"Rasa did not start:\n{''.join(self._output)[-3000:]}")
        return self.url

    def stop(self) -> None:
        """End the server. Idempotent."""
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._ended.wait(10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
