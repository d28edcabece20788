"""Where admbench keeps downloads, weights and feature caches."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "ADMBENCH_CACHE"


def cache_root(override: str | Path | None = None) -> Path:
    """`override`, else `$ADMBENCH_CACHE`, else `~/.cache/admbench`."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "admbench"
