"""Reference formulas the tests and benchmarks check btcrl against (slow, obvious code;
not part of the package)."""
