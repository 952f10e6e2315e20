"""Optuna-coordinated jobs shared by ``tune`` and ``walkforward``: storage URLs, schema-safe opening."""
