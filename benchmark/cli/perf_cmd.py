"""`admbench perf`: every perf section measured side by side, printed as one table of ratios."""

from __future__ import annotations

import json
from collections.abc import Callable

import click

from benchmark.perf.common import PerfRow


def _sections() -> dict[str, Callable[[bool], list[PerfRow]]]:
    from benchmark.perf import diffusion, evaluation, inception, models, reproduce, runners

    return {
        "evaluation": evaluation.run,
        "inception": inception.run,
        "diffusion": diffusion.run,
        "models": models.run,
        "runners": runners.run,
        "reproduce": reproduce.run,
    }


@click.command()
@click.option("--section", "sections", multiple=True, metavar="NAME", help="Run only these sections (repeatable).")
@click.option("--quick", is_flag=True, help="Smaller problem sizes (a smoke check of the perf code itself).")
@click.option("--json", "as_json", is_flag=True, help="Print rows as JSON instead of a table.")
def perf(sections: tuple[str, ...], quick: bool, as_json: bool) -> None:
    """Measure admbench against baselines in one run and print the ratios.

    \b
    Examples:
      admbench perf
      admbench perf --section evaluation --quick
    """
    from rich.console import Console
    from rich.table import Table

    available = _sections()
    unknown = [s for s in sections if s not in available]
    if unknown:
        raise click.BadParameter(f"unknown section(s) {unknown}; choose from {sorted(available)}", param_hint="--section")
    rows: list[PerfRow] = []
    for name, run in available.items():
        if sections and name not in sections:
            continue
        rows.extend(run(quick))
    if as_json:
        click.echo(json.dumps([{**r.__dict__, "ratio": r.ratio} for r in rows], indent=2))
        return
    table = Table(title="admbench perf (ratio > 1: admbench is better)")
    for col in ("section", "measurement", "admbench", "baseline", "ratio", "note"):
        table.add_column(col)
    for r in rows:
        base = "" if r.baseline is None else f"{r.baseline:.4g} {r.unit} ({r.baseline_name})"
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}x"
        table.add_row(r.section, r.name, f"{r.ours:.4g} {r.unit}", base, ratio, r.note)
    Console(width=200).print(table)
