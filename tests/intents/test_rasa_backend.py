"""YICHUANG_NLU=rasa against a real Rasa 3.6 server (from `make rasa-model`), and the fall-back when it stops.

Runs in CI. Skipped with the reason shown only where python3.10 or the trained model is missing and CI is
not set.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from bot.app import create_app
from bot.typedefs import NLU_BACKEND
from core.settings import Settings
from intents.rasa import RasaNLU
from tests.backends import unavailable
from tests.conftest import EARLY_RASA
from tests.rasa_server import RASA_MODEL, RasaServer, python310_runs, rasa_installed
from tests.servers import free_port

pytestmark = pytest.mark.rasa_server  # tests/conftest.py starts the server as the run begins


@pytest.fixture(scope="module")
def rasa_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if not rasa_installed():
        if not python310_runs():
            unavailable("python3.10 is missing, so Rasa 3.6 cannot be installed here")
        unavailable(f"no trained Rasa model at {RASA_MODEL}: run `make rasa-model` first")
    server = request.config.stash.get(EARLY_RASA, None) or RasaServer()
    try:
        yield server.wait_ready()
    finally:
        server.stop()


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
