"""How the MLflow screenshots of this folder were taken: headless Chromium (Debian's
``chromium``) over the DevTools protocol on a real ``mlflow server`` at 127.0.0.1. It opens
URL, closes MLflow 3.18's Assistant panel, runs each JS step, and saves a PNG.

    python docs/img/shoot.py URL OUT.png WIDTH,HEIGHT [JS ...]

e.g. the compare view with "Show diff only" on, scrolled to the run details:

    python docs/img/shoot.py "http://127.0.0.1:5055/#/compare-runs?runs=[...]&experiments=[...]" \
        docs/img/mlflow-compare.png 1440,900 \
        "[...document.querySelectorAll('[role=switch]')].forEach(x => x.click())" \
        "[...document.querySelectorAll('div')].find(e => e.textContent.trim() === 'Run details')
            .scrollIntoView()"

Needs ``websockets`` (an MLflow dependency)."""

import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import websockets

PORT = 9333
CLOSE_ASSISTANT = "document.querySelector('button[aria-label=\"Close\"]')?.click()"


async def shoot(url: str, out: str, width: int, height: int, steps: list[str]) -> None:
    pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{PORT}/json/list"))
    async with websockets.connect(pages[0]["webSocketDebuggerUrl"], max_size=2**28) as ws:
        sent = 0

        async def call(method: str, **params: object) -> dict:
            nonlocal sent
            sent += 1
            await ws.send(json.dumps({"id": sent, "method": method, "params": params}))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == sent:
                    return message.get("result", {})

        await call("Page.enable")
        await call(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=height, deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        await call("Page.navigate", url=url)
        await asyncio.sleep(12)  # the UI fetches runs and draws
        for js in (CLOSE_ASSISTANT, *steps):
            await call("Runtime.evaluate", expression=js, awaitPromise=True)
            await asyncio.sleep(3)
        shot = await call("Page.captureScreenshot", format="png")
        Path(out).write_bytes(base64.b64decode(shot["data"]))


def main() -> None:
    url, out, size, *steps = sys.argv[1:]
    width, height = (int(v) for v in size.split(","))
    with tempfile.TemporaryDirectory(prefix="shoot-") as profile:
        browser = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--no-first-run", "--disable-background-networking",
             f"--remote-debugging-port={PORT}", f"--user-data-dir={profile}",
             f"--window-size={size}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(4)
            asyncio.run(shoot(url, out, width, height, steps))
        finally:
            browser.terminate()
            browser.wait(timeout=30)


if __name__ == "__main__":
    main()
