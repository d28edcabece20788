"""Entry point: `python cli.py ...` is the same click group as the `admbench` console script."""

from benchmark.cli import main

if __name__ == "__main__":
    main()
