"""Options shared by several commands, checked while the command line is parsed (before anything is written)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def _check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from benchmark.device import check_device, local_rank, machine_accelerators, world_size

    if value is None:
        return None
    option = param.opts[0] if param.opts else "--device"
    return check_device(value, machine_accelerators(world_size(), local_rank()), option)


def device_option(default: str | None, help_text: str) -> Callable[[Any], Any]:
    """`--device DEV`: one of cpu, cuda, cuda:N, mps, checked against this machine (one line, exit 2, when not)."""
    return click.option("--device", default=default, show_default=default is not None, metavar="DEV", help=help_text,
                        callback=_check_device)  # fmt: skip


def metric_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--metrics LIST`, `--kid-subsets N`, `--kid-subset-size N` (for `selection.parse_metrics`)."""
    options = [
        click.option("--metrics", "metric_names", default="fid,sfid,is,pr", show_default=True, metavar="LIST",
                     help="Comma-separated metrics: fid,sfid,is,pr (the paper's, always computed) and the extras kid, "
                          "density_coverage, fid_per_class, label_accuracy, fd_inf."),
        click.option("--kid-subsets", type=click.IntRange(min=1), default=100, show_default=True,
                     help="KID: number of random subsets."),
        click.option("--kid-subset-size", type=click.IntRange(min=2), default=1000, show_default=True,
                     help="KID: rows per subset (capped at the smaller archive)."),
    ]  # fmt: skip
    for option in reversed(options):
        fn = option(fn)
    return fn
