"""`admbench report DIR` re-renders a reproduction's report from its stored metrics files;
`admbench report compare REF.npz A.npz B.npz ...` evaluates archives (through the evaluation package) into one table."""

from __future__ import annotations

from pathlib import Path

import click

from benchmark.cli.options import device_option, metric_options


class _ReportGroup(click.Group):
    """`report DIR` is `report render DIR`: a first argument that is not a subcommand is the directory."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["render", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_ReportGroup)
def report() -> None:
    """Render reports from stored metrics, or compare sample archives.

    \b
    Examples:
      admbench report reproduction
      admbench report compare VIRTUAL_imagenet256_labeled.npz ours.npz theirs.npz --extractor inception-v3
    """


@report.command("render")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def render(directory: Path) -> None:
    """Re-render DIRECTORY/report/ from reproduce.json and the metrics files (nothing is recomputed)."""
    from reports.render import render_report

    for path in render_report(directory):
        click.echo(str(path))


@report.command("compare")
@click.argument("ref", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("archives", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--extractor", default="inception-v3", show_default=True, metavar="NAME", help="Feature extractor.")
@device_option("cpu", "Torch device for the feature extractor.")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Bootstrap resamples for a 95% FID interval (0 = none).")
@metric_options
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write compare.md and compare.csv into this folder.")
def compare(ref: Path, archives: tuple[Path, ...], extractor: str, device: str, bootstrap: int, metric_names: str,
            kid_subsets: int, kid_subset_size: int, out: Path | None) -> None:  # fmt: skip
    """Evaluate ARCHIVES against REF into one table (FID, sFID, IS, precision, recall, FID 95% CI, and the extras
    --metrics asks for, named with the extractor as `evaluate` names them).

    Every archive and both output files are checked before the first evaluation starts.
    """
    from benchmark.evaluation.evaluator import EvalOptions, bootstrap_settings, build_evaluator, check_cache_dir
    from benchmark.evaluation.selection import parse_metrics
    from benchmark.io.atomic import write_text_atomic
    from benchmark.io.npz import inspect_archive
    from benchmark.io.outputs import check_output_file, refuse_overwrite
    from benchmark.progress import make_reporter
    from reports.compare import comparison_table
    from reports.tables import to_csv, to_markdown

    options = EvalOptions(extractor=extractor, device=device, selection=parse_metrics(metric_names, kid_subsets,
                          kid_subset_size), bootstrap=bootstrap_settings(bootstrap))  # fmt: skip
    for path in (ref, *archives):
        inspect_archive(path)
    if out is not None:
        for target in (out / "compare.md", out / "compare.csv"):
            refuse_overwrite(target, (ref, *archives), "--out")
            check_output_file(target, "--out")
    check_cache_dir(options)
    results = build_evaluator(options).evaluate_all(ref, list(archives), make_reporter(False))
    table = comparison_table([r.to_dict() for r in results], [a.name for a in archives])
    text = to_markdown(table)
    click.echo(text, nl=False)
    if out is not None:
        write_text_atomic(out / "compare.md", text)
        write_text_atomic(out / "compare.csv", to_csv(table))
