"""The `admbench` command line (also `python cli.py`): one click group, one module per command family.

Command modules parse arguments and print. Each command imports the runners, reports and evaluation modules it
runs inside its function: importing all of them up front doubles the start-up of every command (about 1.1 s more
on two CPU cores, mostly matplotlib, pandas and the runners), including `--help` and argument errors. These are the
tree's only function-local imports besides optional dependencies (TensorFlow, PIL) and import cycles.
"""

from __future__ import annotations

import sys

import click

from benchmark import __version__
from benchmark.errors import InputError


class _Group(click.Group):
    """A click group that turns InputError into one line on stderr and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except InputError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; rerun the same command to resume", err=True)
            sys.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="admbench")
def main() -> None:
    """admbench: reproducible evaluation and benchmarking for ADM (Dhariwal & Nichol, 2021).

    \b
    Examples:
      admbench evaluate REF.npz SAMPLE.npz
      admbench demo
      admbench perf
    """


def _register() -> None:
    from benchmark.cli import (
        evaluate_cmd,
        inception_cmd,
        perf_cmd,
        reference_cmd,
        report_cmd,
        reproduce_cmd,
        runners_cmd,
    )

    main.add_command(evaluate_cmd.evaluate)
    main.add_command(evaluate_cmd.demo)
    main.add_command(evaluate_cmd.list_extractors)
    main.add_command(perf_cmd.perf)
    main.add_command(reference_cmd.reference)
    main.add_command(inception_cmd.inception)
    main.add_command(runners_cmd.train)
    main.add_command(runners_cmd.train_classifier)
    main.add_command(runners_cmd.sample)
    main.add_command(reproduce_cmd.reproduce)
    main.add_command(report_cmd.report)


_register()
