"""debris: find spacecraft landing hardware in Mars flight imagery."""

__version__ = "0.1.0"
