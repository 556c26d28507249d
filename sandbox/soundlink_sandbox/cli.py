"""Command line of the sandbox: ``soundlink-sandbox`` or ``python -m soundlink_sandbox``."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from soundlink_sandbox.data import DEFAULT_SEED, SandboxData, utc_today
from soundlink_sandbox.server import SandboxServer


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="soundlink-sandbox",
        description="Serve a local, deterministic Soundlink API for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument("--port-file", type=Path, help="write the bound port to this file once serving")
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        help="the sandbox's current UTC date, YYYY-MM-DD (default: the real UTC date)",
    )
    parser.add_argument("--scale", type=int, default=1, help="multiplies the engagement rows (default: 1)")
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help="seed of the data set (default: %(default)s)"
    )
    parser.add_argument(
        "--campaigns",
        type=int,
        default=6,
        help="campaigns in the account: the six fixed ones, plus generated ones mostly ended long ago",
    )
    parser.add_argument(
        "--full-precision",
        action="store_true",
        help="send money derived by division with every digit of a double (16-17), not 6 decimals",
    )
    args = parser.parse_args(argv)
    if args.scale < 1:
        parser.error("--scale must be at least 1")
    if args.campaigns < 6:
        parser.error("--campaigns must be at least 6 (the fixed campaigns)")
    return args


def _write_port_file(path: Path, port: int) -> None:
    # Written whole then renamed, so a reader polling for the file never sees half a number.
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(f"{port}\n")
    partial.replace(path)


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    data = SandboxData(
        seed=args.seed, scale=args.scale, full_precision=args.full_precision, campaigns=args.campaigns
    )
    server = SandboxServer((args.host, args.port), data, args.today or utc_today())
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        if args.port_file is not None:
            _write_port_file(args.port_file, server.port)
        print(
            f"soundlink sandbox on http://{args.host}:{server.port} "
            f"(today {server.state.today}, seed {args.seed}, scale {args.scale})",
            file=sys.stderr,
            flush=True,
        )
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
