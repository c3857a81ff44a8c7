"""
The ``merchantry`` command.

Our own commands are ``serve`` (web server and worker together), ``worker``,
``demo`` and ``check-config``; every other name goes to Django's management
commands (``merchantry migrate``, ``merchantry createsuperuser``, ...).

Configuration is validated before anything else runs: an invalid environment
prints one line naming the variable and exits with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence

from merchantry import __version__
from merchantry.config import Config, ConfigError, get_config

__all__ = ["bootstrap", "main"]

EXIT_CONFIG_ERROR = 2
STOP_TIMEOUT_SECONDS = 20


def bootstrap() -> Config:
    """Validate the configuration, or print why it is invalid and exit."""
    try:
        return get_config()
    except ConfigError as exc:
        print(f"merchantry: invalid configuration: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG_ERROR) from None


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merchantry.settings")
    import django

    django.setup()


# -- check-config -----------------------------------------------------------------


def cmd_check_config(argv: Sequence[str]) -> int:
    """Print the effective configuration, secrets masked."""
    argparse.ArgumentParser(
        prog="merchantry check-config",
        description="Validate the configuration and print it with secrets masked.",
    ).parse_args(argv)
    config = bootstrap()
    rows = config.masked()
    width = max(len(name) for name in rows)
    print("Configuration is valid. Effective values:")
    for name, value in rows.items():
        print(f"  {name.ljust(width)}  {value}")
    return 0


# -- worker -----------------------------------------------------------------------


def cmd_worker(argv: Sequence[str]) -> int:
    """Run background jobs (and the periodic-job scheduler) until stopped."""
    parser = argparse.ArgumentParser(
        prog="merchantry worker",
        description="Run background jobs from the configured queue (database or Redis).",
    )
    parser.add_argument("--queue", default="default", help="queue name (default: %(default)s)")
    parser.add_argument(
        "--burst", action="store_true", help="run the jobs waiting now, then exit (no scheduler)"
    )
    parser.add_argument("--no-scheduler", action="store_true", help="do not enqueue periodic jobs")
    args = parser.parse_args(argv)
    config = bootstrap()
    _setup_django()
    from django.core.management import call_command

    from merchantry.core.jobs import run_scheduler

    stop = threading.Event()
    scheduler = None
    if not (args.burst or args.no_scheduler):
        scheduler = threading.Thread(
            target=run_scheduler, args=(stop,), name="merchantry-scheduler", daemon=True
        )
        scheduler.start()
    try:
        if config.job_queue == "redis":
            call_command(
                "rqworker",
                args.queue,
                job_class="django_tasks_rq.backend.Job",
                burst=args.burst,
                with_scheduler=not args.burst,
            )
        else:
            call_command(
                "db_worker",
                queue_name=args.queue,
                batch=args.burst,
                reload=False,
                startup_delay=not args.burst,
                interval=1,
            )
    except SystemExit as exc:  # db_worker exits from its signal handler
        return int(exc.code or 0)
    finally:
        stop.set()
        if scheduler is not None:
            scheduler.join(timeout=5)
    return 0


# -- serve ------------------------------------------------------------------------


def _banner(config: Config) -> str:
    host = config.host if config.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    base = f"http://{host}:{config.port}"
    return "\n".join(
        [
            "",
            f"  Merchantry {__version__} is running.",
            f"    Storefront  {base}/",
            f"    Admin       {base}/admin/",
            f"    API docs    {base}/api/v1/docs",
            f"    Readiness   {base}/readyz",
            f"    Data        {config.data_dir.resolve()}"
            + ("" if config.database_url else " (embedded SQLite)"),
            f"    Jobs        {config.job_queue} queue",
            "  Press Ctrl-C to stop.",
            "",
        ]
    )


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        try:
            child.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def cmd_serve(argv: Sequence[str]) -> int:
    """Run the production web server (gunicorn) and a worker until stopped."""
    parser = argparse.ArgumentParser(
        prog="merchantry serve",
        description="Serve the shop, the admin and the APIs, with a background worker.",
    )
    parser.add_argument("--host", help="address to bind (default: HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind (default: PORT or 8000)")
    parser.add_argument("--no-worker", action="store_true", help="do not start a worker")
    parser.add_argument(
        "--no-collectstatic", action="store_true", help="skip collecting static files"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.host:
        env["HOST"] = args.host
    if args.port:
        env["PORT"] = str(args.port)
    os.environ.update({k: env[k] for k in ("HOST", "PORT") if k in env})
    get_config.cache_clear()
    config = bootstrap()

    python = sys.executable
    if not args.no_collectstatic:
        subprocess.run(
            [python, "-m", "merchantry", "collectstatic", "--noinput", "--verbosity", "0"],
            check=True,
            env=env,
        )
    children = [
        subprocess.Popen(
            [python, "-m", "gunicorn", "--config", "python:merchantry.gunicorn_conf"], env=env
        )
    ]
    if not args.no_worker:
        children.append(subprocess.Popen([python, "-m", "merchantry", "worker"], env=env))

    stopping = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stopping.set()

    previous: dict[int, Callable[..., object] | int | None] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, on_signal)
    print(_banner(config), flush=True)
    exit_code = 0
    try:
        while not stopping.is_set():
            dead = [child for child in children if child.poll() is not None]
            if dead:
                print(
                    f"merchantry: a server process exited (status {dead[0].returncode}); "
                    "stopping the others.",
                    file=sys.stderr,
                )
                exit_code = 1
                break
            stopping.wait(0.5)
    finally:
        _stop_children(children)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if exit_code == 0:
        print("merchantry: stopped.", flush=True)
    return exit_code


# -- demo -------------------------------------------------------------------------


def cmd_demo(argv: Sequence[str]) -> int:
    """Seed the demo shop (idempotent)."""
    argparse.ArgumentParser(
        prog="merchantry demo",
        description="Create the demo data if it is missing; safe to run again.",
    ).parse_args(argv)
    bootstrap()
    _setup_django()
    from merchantry.demo import seed_demo

    for line in seed_demo():
        print(line)
    return 0


def cmd_seed(argv: Sequence[str]) -> int:
    """Generate sample data: ``seed catalog --shop SLUG --products N``."""
    parser = argparse.ArgumentParser(prog="merchantry seed", description="Generate sample data.")
    kinds = parser.add_subparsers(dest="kind", required=True, metavar="KIND")
    catalog = kinds.add_parser("catalog", help="products with variants, prices and categories")
    catalog.add_argument("--shop", required=True, help="the shop's slug")
    catalog.add_argument("--products", required=True, type=int, help="how many products to add")
    catalog.add_argument("--channel", help="the channel to price and publish on (default: first)")
    catalog.add_argument("--images", action="store_true", help="give each product an image")
    catalog.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    bootstrap()
    _setup_django()
    from merchantry.catalog.seed import SeedError, seed_command

    try:
        for line in seed_command(
            shop_slug=args.shop,
            products=args.products,
            channel_slug=args.channel,
            images=args.images,
            seed=args.seed,
        ):
            print(line)
    except SeedError as exc:
        print(f"merchantry seed: {exc}", file=sys.stderr)
        return 1
    return 0


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "serve": cmd_serve,
    "worker": cmd_worker,
    "demo": cmd_demo,
    "seed": cmd_seed,
    "check-config": cmd_check_config,
}

# Django names commands after their module, with underscores.
COMMAND_ALIASES = {"rotate-encryption-keys": "rotate_encryption_keys"}

USAGE = """\
usage: merchantry <command> [options]

Merchantry commands:
  serve          run the web server and a background worker
  worker         run background jobs and the periodic-job scheduler
  demo           seed the demo shop (safe to run again)
  seed catalog --shop SLUG --products N [--channel SLUG] [--images] [--seed N]
                 add generated products (categories, variants, prices) to a shop
  check-config   validate the configuration and print it, secrets masked

Shops, channels, staff and keys (see `merchantry <command> --help`):
  shop create SLUG --name NAME --currency USD --country US [--domain HOST] | shop list
  channel create --shop SLUG CHANNEL_SLUG --kind web --currency USD | channel list --shop SLUG
  staff create --shop SLUG --email EMAIL --role owner | staff list --shop SLUG
  apikey create --shop SLUG --kind secret|publishable [--channel SLUG]
                [--permissions all|catalog.view,...] --name LABEL   (prints only the key)
  apikey revoke --shop SLUG PREFIX_OR_ID | apikey list --shop SLUG

Inventory:
  inventory verify [--shop SLUG]    check stock levels against the ledger (exit 1 on a difference)

Plugins:
  plugins list | plugins health [--shop SLUG]
  plugin new NAME [--dir PATH]      scaffold a plugin package
  rotate-encryption-keys            re-encrypt stored secrets with the first key

Every Django management command works too, e.g. `merchantry migrate`,
`merchantry makemigrations`, `merchantry createsuperuser`, `merchantry shell`.
Run `merchantry help --django` to list them.
"""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``merchantry`` command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or args == ["help"]:
        print(USAGE)
        return 0
    if args[0] in ("--version", "version"):
        print(f"merchantry {__version__}")
        return 0
    if args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    if args[0] == "help" and len(args) == 2 and args[1] in COMMANDS:
        return COMMANDS[args[1]](["--help"])
    if args[:2] == ["help", "--django"]:
        args = ["help"]
    args[0] = COMMAND_ALIASES.get(args[0], args[0])
    bootstrap()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merchantry.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["merchantry", *args])
    return 0


if __name__ == "__main__":
    sys.exit(main())
