"""Candles: sources (ccxt, csv, sample), validation and the parquet store."""
