"""Run every benchmark and print one combined summary: ``python -m benchmarks``.

Options: ``--device cpu|cuda|all`` (default all: the CPU, plus CUDA when
available), ``--repeats`` and ``--budget-s`` (defaults: each benchmark's own).
Each benchmark writes ``results/bench/<name>_<device>.json``.
"""

import sys
from collections.abc import Sequence

from benchmarks import bench_augment, bench_pershom, bench_train_step
from benchmarks.common import add_options, check_options, format_table
from toposhape.cli import Parser, run_command

BENCHMARKS = (bench_pershom.BENCHMARK, bench_train_step.BENCHMARK, bench_augment.BENCHMARK)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks, then print the combined summary and the files written.

    Returns the exit status; errors as :func:`toposhape.cli.run_command` reports them.
    """
    return run_command(_command, argv)


def _command(argv: Sequence[str] | None) -> None:
    cli = Parser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    add_options(cli, repeats=None, budget_s=None)
    args = cli.parse_args(argv)
    settings = [
        (
            bench,
            bench.repeats if args.repeats is None else args.repeats,
            bench.budget_s if args.budget_s is None else args.budget_s,
        )
        for bench in BENCHMARKS
    ]
    for _, repeats, budget_s in settings:
        check_options(repeats, budget_s)
    rows, paths = [], []
    for bench, repeats, budget_s in settings:
        for path, record in bench.run(args.device, repeats, budget_s):
            rows += [
                [bench.name, record["device"], *row[:-1], "yes" if row[-1] else "NO"]
                for row in bench.summary(record)
            ]
            paths.append(path)
    headers = ["benchmark", "device", "case", "measure", "value", "target", "met"]
    print("Summary", format_table(headers, rows), *(f"wrote {p}" for p in paths), sep="\n")


if __name__ == "__main__":
    sys.exit(main())
