"""A fake Binance spot REST API on 127.0.0.1 for offline tests of the real ccxt client.

Speaks what ccxt's ``binance`` needs for ``load_markets`` (``GET /api/v3/exchangeInfo``) and
``fetch_ohlcv`` (``GET /api/v3/klines``), serving candles from a frame. Faults can be queued
(``"429"``, ``"500"``, ``"503"``, ``"timeout"``, ``"short"``) for the next klines requests, or
made permanent (``always``); every request is recorded. The server thread stops by itself
after ``lifetime_s`` so a broken test cannot leave it running.
"""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd

SYMBOLS = {"BTCUSDT": ("BTC", "USDT"), "ETHUSDT": ("ETH", "USDT"), "ETHBTC": ("ETH", "BTC")}
MAX_LIMIT = 1000


class FakeBinance:
    """Serve ``candles`` (a 1h candle frame) as BTCUSDT klines; see the module docstring."""

    def __init__(
        self, candles: pd.DataFrame, interval: str = "1h", lifetime_s: float = 300.0
    ) -> None:
        self.interval = interval
        self.times = (candles.index.as_unit("ns").asi8 // 1_000_000).astype(np.int64)
        self.values = candles[["open", "high", "low", "close", "volume"]].to_numpy()
        self.step_ms = int(pd.Timedelta(interval).total_seconds() * 1000)
        self.faults: deque[str] = deque()
        self.always: str | None = None
        self.short_page: int | None = None
        self.delay_s = 0.0
        self.timeout_sleep_s = 2.0
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._timer = threading.Timer(lifetime_s, self.stop)
        self._timer.daemon = True

    @property
    def url(self) -> str:
        """Base URL to put in ``DataConfig.api_url``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def klines_requests(self) -> list[dict[str, str]]:
        """Query parameters of every klines request so far, in order."""
        with self._lock:
            return [params for path, params in self.requests if path.endswith("/klines")]

    def __enter__(self) -> "FakeBinance":
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self._timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.always:
                return self.always
            return self.faults.popleft() if self.faults else None

    def _klines(self, params: dict[str, str]) -> tuple[int, Any]:
        if params.get("symbol") not in SYMBOLS:
            return 400, {"code": -1121, "msg": "Invalid symbol."}
        if params.get("interval") != self.interval:
            return 400, {"code": -1120, "msg": "Invalid interval."}
        limit = min(int(params.get("limit", 500)), MAX_LIMIT)
        if self.symbol_empty(params["symbol"]):
            return 200, []
        if "startTime" in params:
            lo = int(np.searchsorted(self.times, int(params["startTime"]), side="left"))
            hi = lo + limit
        else:
            hi = len(self.times)
            lo = max(0, hi - limit)
        if "endTime" in params:
            hi = min(hi, int(np.searchsorted(self.times, int(params["endTime"]), side="right")))
        rows = []
        for ts, (o, h, low, c, v) in zip(self.times[lo:hi], self.values[lo:hi], strict=True):
            ts = int(ts)
            rows.append(
                [ts, _num(o), _num(h), _num(low), _num(c), _num(v), ts + self.step_ms - 1,
                 "0", 0, "0", "0", "0"]
            )  # fmt: skip
        return 200, rows

    def symbol_empty(self, symbol: str) -> bool:
        """Only BTCUSDT has candles; the other listed symbols return none."""
        return symbol != "BTCUSDT"

    def _exchange_info(self) -> dict[str, Any]:
        symbols = [
            {
                "symbol": market_id,
                "status": "TRADING",
                "baseAsset": base,
                "baseAssetPrecision": 8,
                "quoteAsset": quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "orderTypes": ["LIMIT", "MARKET"],
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "permissions": ["SPOT"],
                "permissionSets": [["SPOT"]],
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": "0.01",
                        "maxPrice": "1000000.00",
                        "tickSize": "0.01",
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001",
                        "maxQty": "9000.0",
                        "stepSize": "0.00001",
                    },
                ],  # fmt: skip
            }
            for market_id, (base, quote) in SYMBOLS.items()
        ]
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                with fake._lock:
                    fake.requests.append((parts.path, params))
                if parts.path == "/api/v3/exchangeInfo":
                    self._send(200, fake._exchange_info())
                    return
                if parts.path != "/api/v3/klines":
                    self._send(404, {"code": -1, "msg": f"not faked: {parts.path}"})
                    return
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                fault = fake._next_fault()
                if fault == "timeout":
                    time.sleep(fake.timeout_sleep_s)
                    self._send(200, [])
                    return
                if fault in ("429", "418"):
                    self._send(int(fault), {"code": -1003, "msg": "Too many requests."})
                    return
                if fault and fault.isdigit():
                    self._send(int(fault), "Service Unavailable", text=True)
                    return
                status, body = fake._klines(params)
                if status == 200 and (fault == "short" or fake.short_page):
                    body = body[: max(1, len(body) // 3) if fault == "short" else fake.short_page]
                self._send(status, body)

            def _send(self, status: int, body: Any, text: bool = False) -> None:
                data = (body if text else json.dumps(body)).encode()
                try:
                    self.send_response(status)
                    ctype = "text/plain" if text else "application/json"
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler


def _num(value: float) -> str:
    """A float as Binance sends it: a decimal string that parses back to the same float."""
    return repr(float(value))
