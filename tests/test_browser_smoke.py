"""The browser fixtures work: a real Chromium reads the live service."""

from typing import Any

import pytest
from servers import LiveServer

pytestmark = pytest.mark.browser


def test_chromium_reads_the_api(live_server: LiveServer, page: Any) -> None:
    page.goto(f"{live_server.url}/healthz")
    assert '"database":"up"' in page.content().replace(" ", "")
