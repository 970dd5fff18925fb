"""The two papers' experiments as code: ``marketcast reproduce vix-paper`` and ``stock-paper``."""
