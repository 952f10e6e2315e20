"""Column names of a candle frame.

A candle frame is a ``pandas.DataFrame`` indexed by a tz-aware UTC ``DatetimeIndex`` named
``time`` (the bar's open time), with float64 columns ``open, high, low, close, volume``
(prices in quote currency, volume in base units), sorted, unique.
"""

TIME = "time"
OPEN = "open"
HIGH = "high"
LOW = "low"
CLOSE = "close"
VOLUME = "volume"
OHLCV = (OPEN, HIGH, LOW, CLOSE, VOLUME)
FILLED = "filled"  # bool, only on frames returned with data.fill_gaps: True = forward-filled bar
