"""Timestep respacing (iDDPM section 4: sampling with fewer steps), parsed once from the reference syntax.

The text forms are guided-diffusion's: "" (every step), "250" or "90,60,60,20,20" (that many steps taken evenly
from each of as many equal sections of the process) and "ddim25" (the DDIM paper's integer stride giving exactly
25 steps). `Respacing.parse` is the one parser; `str()` gives the text back, `timesteps(T)` the kept steps of a
T-step process (or an InputError saying why they do not fit).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from benchmark.config import TextForm
from benchmark.errors import InputError

_NUMBER = re.compile(r"\s*(\d+)\s*")


class RespacingKind(enum.Enum):
    """Which rule picks the kept steps."""

    ALL = "all"  # "": every step of the process
    SECTIONS = "sections"  # "250", "90,60,60,20,20": counts per equal-sized section
    DDIM = "ddim"  # "ddimN": the integer stride giving exactly N steps


@dataclass(frozen=True)
class Respacing(TextForm):
    """A parsed respacing: its kind and its counts (the section counts, or (N,) for DDIM; () for ALL)."""

    kind: RespacingKind = RespacingKind.ALL
    counts: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.kind, RespacingKind):
            raise InputError(f"respacing kind must be a RespacingKind, got {self.kind!r}")
        if any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in self.counts):
            raise InputError(f"respacing counts must be integers >= 0, got {list(self.counts)}")
        wanted = {RespacingKind.ALL: "no counts", RespacingKind.DDIM: "one count", RespacingKind.SECTIONS: "counts"}
        n = len(self.counts)
        if (self.kind is RespacingKind.ALL and n) or (self.kind is RespacingKind.DDIM and n != 1) or (
                self.kind is RespacingKind.SECTIONS and not n):  # fmt: skip
            raise InputError(f"a {self.kind.value} respacing takes {wanted[self.kind]}, got {list(self.counts)}")

    @classmethod
    def parse(cls, text: str) -> Respacing:
        """The respacing written as `text` ("", "250", "90,60,60,20,20", "ddim25"; blanks around numbers allowed)."""
        if not isinstance(text, str):
            raise InputError(f"respacing must be a string, got {text!r}")
        body = text.strip()
        if not body:
            return cls()
        kind, parts = (RespacingKind.DDIM, [body[len("ddim"):]]) if body.startswith("ddim") else (
            RespacingKind.SECTIONS, body.split(","))  # fmt: skip
        matches = [_NUMBER.fullmatch(part) for part in parts]
        if not all(matches):
            raise InputError(f"respacing must be '' (every step), 'N', 'ddimN' or comma-separated section counts, "
                             f"got {text!r}")  # fmt: skip
        return cls(kind, tuple(int(m.group(1)) for m in matches if m is not None))

    @classmethod
    def sections(cls, counts: Sequence[int]) -> Respacing:
        """Section counts given as numbers (the reference's list form)."""
        return cls(RespacingKind.SECTIONS, tuple(int(c) for c in counts))

    def __str__(self) -> str:
        if self.kind is RespacingKind.DDIM:
            return f"ddim{self.counts[0]}"
        return ",".join(str(c) for c in self.counts)

    @property
    def count(self) -> int | None:
        """Sampling steps it asks for (None: every step of the process, however many that is)."""
        return None if self.kind is RespacingKind.ALL else sum(self.counts)

    def timesteps(self, num_timesteps: int) -> tuple[int, ...]:
        """Sorted steps of a `num_timesteps`-step process that are kept; InputError when they do not fit.

        Within a section of `size` steps, `count` steps are taken at the rounded positions of a fractional stride
        (size - 1) / (count - 1), as in the reference.
        """
        if self.kind is RespacingKind.ALL:
            return tuple(range(num_timesteps))
        if self.kind is RespacingKind.DDIM:
            desired = self.counts[0]
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return tuple(range(0, num_timesteps, stride))
            raise InputError(f"cannot take exactly {desired} DDIM steps of {num_timesteps} with an integer stride")
        counts = list(self.counts)
        size_per, extra = divmod(num_timesteps, len(counts))
        start = 0
        kept: set[int] = set()
        for i, count in enumerate(counts):
            size = size_per + (1 if i < extra else 0)
            if size < count:
                raise InputError(
                    f"cannot divide a section of {size} steps into {count} (respacing {counts} of {num_timesteps})"
                )
            stride = 1.0 if count <= 1 else (size - 1) / (count - 1)
            position = 0.0
            for _ in range(count):
                kept.add(start + round(position))
                position += stride
            start += size
        if not kept:
            raise InputError(f"timestep respacing {counts} keeps no steps")
        return tuple(sorted(kept))


__all__ = ["Respacing", "RespacingKind"]
