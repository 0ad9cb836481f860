"""Configuration: the schema, its loading from defaults, profiles, TOML, environment and CLI."""

from config.loader import LoadedConfig, load_config
from config.schema import Config

__all__ = ["Config", "LoadedConfig", "load_config"]
