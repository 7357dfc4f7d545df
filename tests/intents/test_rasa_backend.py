"""YICHUANG_NLU=rasa against a real Rasa 3.6 server (from `make rasa-model`), and the fall-back when it stops.

Runs in CI. Skipped with the reason shown only where python3.10 or the trained model is missing and CI is
not set.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_app
from bot.typedefs import NLU_BACKEND
from core.settings import Settings
from intents.rasa import RasaNLU
from tests.backends import unavailable
from tests.servers import free_port

HOME_CACHE = Path.home() / ".cache" / "yichuang"
RASA_VENV = Path(os.environ.get("YICHUANG_RASA_VENV", HOME_CACHE / "rasa-3.6.21"))
RASA_MODEL = Path(os.environ.get("YICHUANG_RASA_MODEL", HOME_CACHE / "rasa-project" / "models" / "yichuang.tar.gz"))
READY = "Rasa server is up and running"


def _python310() -> bool:
    """Whether some python3.10 runs here (a pyenv shim of an inactive version does not)."""
    import subprocess

    candidates = [shutil.which("python3.10"), *map(str, Path.home().glob(".pyenv/versions/3.10*/bin/python3.10"))]
    return any(c and subprocess.run([c, "-c", ""], capture_output=True).returncode == 0 for c in candidates)


@pytest.fixture(scope="module")
def rasa_url() -> Iterator[str]:
    if not (RASA_VENV / "bin" / "rasa").exists() or not RASA_MODEL.exists():
        if not _python310():
            unavailable("python3.10 is missing, so Rasa 3.6 cannot be installed here")
        unavailable(f"no trained Rasa model at {RASA_MODEL}: run `make rasa-model` first")
    import select
    import subprocess
    import time

    port = free_port()
    proc = subprocess.Popen([str(RASA_VENV / "bin" / "rasa"), "run", "--enable-api", "-m", str(RASA_MODEL),
                             "-i", "127.0.0.1", "-p", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            cwd=RASA_MODEL.parent.parent)
    assert proc.stdout is not None
    output, deadline = "", time.monotonic() + 240
    while READY not in output:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or proc.poll() is not None:
            proc.kill()
            raise AssertionError(f"Rasa did not start:\n{output[-3000:]}")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if ready:
            output += os.read(proc.stdout.fileno(), 65536).decode(errors="replace")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=60)
    proc.stdout.close()


def rasa_says(url: str, text: str) -> dict[str, Any]:
    request = urllib.request.Request(url + "/model/parse", data=json.dumps({"text": text}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return dict(json.load(resp))


async def test_the_bot_uses_rasa_and_falls_back_when_it_is_down(aiohttp_client: Any, settings: Settings,
                                                               rasa_url: str) -> None:
    rasa_settings = settings.model_copy(update={"nlu": "rasa", "rasa_url": rasa_url})
    client = await aiohttp_client(create_app(rasa_settings))
    backend = client.app[NLU_BACKEND]
    assert isinstance(backend, RasaNLU)
    text = "二手房过户要带啥材料"
    resp = await client.post("/api/v1/nlu/parse", json={"text": text})
    body = await resp.json()
    direct = rasa_says(rasa_url, text)
    assert body["intent"]["name"] == direct["intent"]["name"]
    assert body["intent"]["confidence"] == pytest.approx(direct["intent"]["confidence"], abs=1e-4)  # API rounds to 4
    assert backend.fallbacks == 0

    # Rasa goes away: the bot keeps answering with the built-in NLU.
    down = rasa_settings.model_copy(update={"rasa_url": f"http://127.0.0.1:{free_port()}"})
    client_down = await aiohttp_client(create_app(down))
    resp = await client_down.post("/api/v1/nlu/parse", json={"text": text})
    assert resp.status == 200
    assert (await resp.json())["intent"]["name"] == "ask_materials"
    assert client_down.app[NLU_BACKEND].fallbacks == 1
