"""Command line of the sample shop generator: `python -m dagster_project.sample_shop --help`."""

from __future__ import annotations

import argparse
import time
from datetime import date

from dagster_project.sample_shop.generator import SCALES, LandingInUse, ShopConfig, generate
from dagster_project.settings import load_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m dagster_project.sample_shop",
        description="Write a realistic sample shop into $CRM_DATA_DIR/landing: an empty "
        "landing zone, or over an earlier sample shop (never over other files).",
    )
    parser.add_argument(
        "--scale", default="demo", help=f"{' | '.join(SCALES)} or a number of customers"
    )
    parser.add_argument("--seed", type=int, default=42)
    defaults = ShopConfig()
    parser.add_argument(
        "--start", type=date.fromisoformat, default=defaults.start,
        help="first day (default: the first_partition_date setting)",
    )  # fmt: skip
    parser.add_argument("--days", type=int, default=defaults.days, help="days of history")
    parser.add_argument("--format", dest="fmt", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--bad-row-share",
        type=float,
        default=0.0,
        help="share of rows per entity that break the data contract (e.g. 0.002)",
    )
    parser.add_argument(
        "--bad-files", action="store_true", help="also write unreadable files on the last day"
    )
    parser.add_argument("--data-dir", default=None, help="default: $CRM_DATA_DIR or data/")
    return parser.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> ShopConfig:
    customers = SCALES.get(args.scale)
    if customers is None:
        if not args.scale.isdigit():
            raise SystemExit(
                f"--scale {args.scale!r}: use one of {', '.join(SCALES)} or a number of customers"
            )
        customers = int(args.scale)
    if not 0 <= args.bad_row_share < 1:
        raise SystemExit("--bad-row-share must be between 0 and 1, e.g. 0.002")
    return ShopConfig(
        customers=customers,
        start=args.start,
        days=args.days,
        seed=args.seed,
        fmt=args.fmt,
        bad_row_share=args.bad_row_share,
        bad_files=args.bad_files,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = config_from_args(args)
    settings = load_settings(args.data_dir)
    started = time.perf_counter()
    try:
        summary = generate(cfg, settings.data_dir)
    except LandingInUse as error:
        raise SystemExit(str(error)) from None
    rows = ", ".join(f"{name} {n:,}" for name, n in summary["rows"].items())
    print(
        f"Sample shop ({cfg.customers:,} customers, {cfg.start} to {cfg.end}, seed {cfg.seed}) "
        f"written to {settings.landing_dir} in {time.perf_counter() - started:.1f}s: {rows}"
    )
