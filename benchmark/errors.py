"""User-facing errors: one line naming the file and the problem; the CLI turns them into exit code 2."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Bad user input (file, option or configuration). The message is a single line meant for the user."""

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = " ".join(str(message).split())
        self.message = text
        super().__init__(f"{self.path}: {text}" if self.path else text)
