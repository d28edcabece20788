"""guided_diffusion.logger -> benchmark.compat.logger (same names; the current logger is shared with it)."""

from benchmark.compat.logger import (
    DEBUG,
    DISABLED,
    ERROR,
    INFO,
    WARN,
    Logger,
    configure,
    debug,
    dumpkvs,
    error,
    get_current,
    get_dir,
    getkvs,
    info,
    log,
    logkv,
    logkv_mean,
    logkvs,
    scoped_configure,
    set_level,
    warn,
)

__all__ = [
    "DEBUG", "DISABLED", "ERROR", "INFO", "WARN", "Logger", "configure", "debug", "dumpkvs", "error", "get_current",
    "get_dir", "getkvs", "info", "log", "logkv", "logkv_mean", "logkvs", "scoped_configure", "set_level", "warn",
]  # fmt: skip
