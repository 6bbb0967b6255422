"""The `oma` command: `oma run` executes a VideoJob on this machine, without a cluster."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from oma.models.videojob import MAX_PARALLELISM, MIN_CHUNK_SECONDS, VideoJob
from oma.worker.execute import TerminalReporter, Volumes, destination, execute
from oma.worker.exitcodes import Exit, WorkerError
from oma.worker.parallel import execute_parallel


def _volume(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH, got {value!r}")
    return name, Path(path)


def _parallelism(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_PARALLELISM:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_PARALLELISM}, got {value!r}")
    return int(value)


def load(path: Path) -> VideoJob:
    """`oma run`'s validation: the strict models, so it accepts what the apiserver accepts and nothing else."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise WorkerError(Exit.INVALID_SPEC, "InvalidSpec", f"cannot read {path}: {e}") from e
    try:
        return VideoJob.model_validate(data)
    except ValidationError as e:
        raise WorkerError(Exit.INVALID_SPEC, "InvalidSpec", f"{path} is not a valid VideoJob:\n{e}") from e


def run(args: argparse.Namespace) -> int:
    volumes = Volumes(root=Path(args.volume_root), overrides=dict(args.volume or []))
    try:
        job = load(Path(args.file))
        dest = destination(job.spec, Path(args.output))
        reporter = TerminalReporter(sys.stderr)
        parallel = args.parallel if args.parallel is not None else (job.spec.parallelism or 1)
        if parallel > 1:
            results = execute_parallel(
                job.spec,
                dest,
                volumes,
                reporter,
                parallel,
                args.allow_private_inputs,
                threads=args.threads_per_chunk,
                min_chunk_seconds=args.min_chunk_seconds,
            )
        else:
            results = execute(job.spec, dest, volumes, reporter, args.allow_private_inputs)
    except WorkerError as e:
        print(f"\nerror: {e.reason}: {e.message}", file=sys.stderr)
        return int(e.code)
    for r in results:
        print(dest / r.uri)
    return 0


def _command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def _add_run_arguments(r: argparse.ArgumentParser) -> None:
    r.add_argument("-f", "--file", required=True, help="VideoJob manifest (YAML)")
    r.add_argument("-o", "--output", required=True, help="directory standing in for the destination PVC")
    r.add_argument(
        "--volume",
        action="append",
        type=_volume,
        metavar="NAME=PATH",
        help="where the PVC NAME's files are, for pvc inputs (repeatable)",
    )
    r.add_argument("--volume-root", default=".", help="PVCs not named by --volume are ROOT/<claimName>")
    r.add_argument(
        "--allow-private-inputs",
        action="store_true",
        help="allow input URLs that resolve to private or loopback addresses",
    )
    r.add_argument(
        "--parallel",
        type=_parallelism,
        metavar="N",
        help="split the encode into N chunks encoded at once, then stitch them (default: spec.parallelism, else 1)",
    )
    r.add_argument(
        "--min-chunk-seconds",
        type=float,
        default=MIN_CHUNK_SECONDS,
        help=f"with --parallel: the shortest chunk (default {MIN_CHUNK_SECONDS:g}); short sources get fewer chunks",
    )
    r.add_argument(
        "--threads-per-chunk", type=int, default=None, help="with --parallel: ffmpeg -threads for each chunk encoder"
    )


def _parser(argv: list[str] | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oma", description="oma: declarative video processing on Kubernetes")
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_run_arguments(
        sub.add_parser("run", help="run a VideoJob on this machine (no cluster); prints the output paths")
    )
    op = sub.add_parser("operator", help="run the VideoJob operator against the current kubeconfig")
    if _command(sys.argv[1:] if argv is None else argv) == "operator":
        # Only the operator's own command imports it (and kopf): `oma dashboard` and `oma worker` stay light.
        from oma.operator.main import add_arguments

        add_arguments(op)
    d = sub.add_parser("dashboard", help="serve the dashboard (web UI and REST API), or manage its API tokens")
    from oma.dashboard.cli import add_arguments as add_dashboard_arguments

    add_dashboard_arguments(d)
    st = sub.add_parser("stack", help="operate on an OmaStack: restore its databases from a backup")
    from oma.cli.stack import add_arguments as add_stack_arguments

    add_stack_arguments(st)
    w = sub.add_parser("worker", help="(in a Job) run the VideoJob named by $OMA_VIDEOJOB_NAME")
    w.add_argument("--allow-private-inputs", action="store_true")
    w.add_argument(
        "--step",
        choices=["encode", "plan", "chunk", "stitch"],
        default="encode",
        help="with spec.parallelism: plan the split, encode chunk $JOB_COMPLETION_INDEX, or stitch",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser(argv).parse_args(argv)
    if args.cmd == "run":
        return run(args)
    if args.cmd == "operator":
        from oma.operator.main import run as run_operator

        return run_operator(args)
    if args.cmd == "dashboard":
        from oma.dashboard.cli import run as run_dashboard

        return run_dashboard(args)
    if args.cmd == "stack":
        from oma.cli.stack import run as run_stack

        return run_stack(args)
    if args.cmd == "worker":
        from oma.worker.incluster import main as worker_main

        return worker_main(args.allow_private_inputs, args.step)
    return 2


if __name__ == "__main__":
    sys.exit(main())
