"""The YAML configs, installed with the package as `debris.configs` so that a wheel finds them."""

from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = CONFIG_DIR / "default.yaml"
