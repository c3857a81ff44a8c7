"""
Store API throughput and latency against the production server on PostgreSQL.

    .venv/bin/python bench/store_api.py --products 10000

Creates (or reuses) the database named by --database, seeds a shop with
``merchantry seed catalog``, starts ``merchantry serve`` (gunicorn) on a free
port, and drives three scenarios -- a listing page of 24 products, a search,
and a product by handle -- with 1, 8 and 32 concurrent keep-alive clients. It
reports requests/s, p50/p95/p99 latency, SQL queries per request and the
server's CPU time per request (user + system time of the gunicorn processes,
read from /proc, divided by the requests served).

The Store read cache is off unless --redis is given, so by default every
request is uncached: the numbers are the database path.

The clients are keep-alive HTTP/1.1 connections in a closed loop (each sends
its next request when the last answer has arrived), spread over two processes
that each run their share on one asyncio loop: a request costs the load
generator well under a tenth of what it costs the server, so the generator
takes little of a small machine's CPU. Latency is timed with a monotonic clock
from the request's write to the answer's last byte.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
SHOP = "bench"
# Load-generator processes: each runs its share of the clients on one asyncio
# loop, so 32 clients cost two processes, not 32, of the machine's CPU.
CLIENT_PROCESSES = 2
WORDS = ["linen", "cotton", "shirt", "wool", "lamp", "mug", "classic", "organic", "jacket", "tee"]


def _env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{args.database}"
    env["MERCHANTRY_DATA_DIR"] = str(Path(args.data_dir).resolve())
    env["LOG_LEVEL"] = "warning"
    env["MERCHANTRY_WEB_WORKERS"] = str(args.workers)
    # Every client of the benchmark comes from one address with one key: the
    # per-address and per-key limits would answer 429 to nearly all of it.
    env["MERCHANTRY_RATE_LIMIT_PUBLISHABLE"] = "off"
    env["MERCHANTRY_RATE_LIMIT_IP"] = "off"
    env.pop("REDIS_URL", None)
    if args.redis:
        env["REDIS_URL"] = args.redis
    return env


def _run(cmd: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare(args: argparse.Namespace) -> dict[str, str]:
    """Migrate, create the shop, seed it; return the publishable key and some handles."""
    env = _env(args)
    if args.fresh:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", args.database],
            check=True,
        )
    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", args.database],
        capture_output=True,
        check=False,
    )
    _run([str(BIN / "merchantry"), "migrate", "--noinput"], env)
    script = f"""
import django, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merchantry.settings")
django.setup()
from merchantry.core.actors import SYSTEM_ACTOR
from merchantry.tenancy.models import Shop, Channel
from merchantry.tenancy import services
from merchantry.catalog.models import Product
shop = Shop.objects.filter(slug="{SHOP}").first() or services.shop_create(
    actor=SYSTEM_ACTOR, slug="{SHOP}", name="Bench", currency="USD", country="US")
channel = Channel.objects.filter(shop=shop, slug="web").first() or services.channel_create(
    actor=SYSTEM_ACTOR, shop=shop, slug="web", name="Web")
key = services.apikey_create(actor=SYSTEM_ACTOR, shop=shop, kind="publishable",
    name="bench", channel=channel)
print(json.dumps({{"key": key.raw, "products": Product.objects.filter(shop=shop).count()}}))
"""
    info = json.loads(_run([str(BIN / "python"), "-c", script], env).strip().splitlines()[-1])
    if info["products"] < args.products:
        started = time.perf_counter()
        _run(
            [
                str(BIN / "merchantry"), "seed", "catalog", "--shop", SHOP,
                "--products", str(args.products - info["products"]), "--channel", "web",
            ],
            env,
        )  # fmt: skip
        print(f"seeded {args.products - info['products']} products in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    handles = json.loads(
        _run(
            [
                str(BIN / "python"), "-c",
                "import django,os,json;os.environ.setdefault('DJANGO_SETTINGS_MODULE',"
                "'merchantry.settings');django.setup();"
                "from merchantry.catalog.models import Product;"
                f"print(json.dumps(list(Product.objects.filter(shop__slug='{SHOP}',"
                "status='active').order_by('?').values_list('handle',flat=True)[:500])))",
            ],
            env,
        ).strip().splitlines()[-1]
    )  # fmt: skip
    return {"key": info["key"], "handles": handles}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    env = _env(args)
    env["PORT"] = str(port)
    server = subprocess.Popen(
        [str(BIN / "merchantry"), "serve", "--no-worker", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    sys.exit("the server did not start")


def _cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds of the process tree under ``root_pid``."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[1] is ppid, [3] is pgrp (start_new_session: the server's pid).
        if int(fields[2]) == root_pid or int(entry.name) == root_pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def _connection(port: int, paths: list[str], key: str, deadline: float, rng) -> tuple:
    """One keep-alive client: request after request until the deadline."""
    import asyncio

    latencies: list[float] = []
    errors = 0
    head = f"Host: 127.0.0.1:{port}\r\nX-Publishable-Key: {key}\r\n\r\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while time.perf_counter() < deadline:
        request = f"GET {rng.choice(paths)} HTTP/1.1\r\n{head}".encode()
        started = time.perf_counter()
        try:
            writer.write(request)
            status_and_headers = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in status_and_headers.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            errors += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            continue
        latencies.append(time.perf_counter() - started)
        if status_and_headers[9:12] != b"200":
            errors += 1
    writer.close()
    return latencies, errors


def _client_process(port: int, paths: list[str], key: str, connections: int, seconds, out) -> None:
    """A load-generator process: ``connections`` clients on one asyncio loop."""
    import asyncio

    async def main() -> None:
        rng = random.Random(os.getpid())
        deadline = time.perf_counter() + seconds
        results = await asyncio.gather(
            *(_connection(port, paths, key, deadline, rng) for _ in range(connections))
        )
        latencies = [x for lat, _ in results for x in lat]
        out.put((latencies, sum(err for _, err in results), time.process_time()))

    asyncio.run(main())


def _run_clients(port: int, paths: list[str], key: str, clients: int, seconds: float) -> tuple:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    processes = min(clients, CLIENT_PROCESSES)
    shares = [clients // processes + (i < clients % processes) for i in range(processes)]
    procs = [
        multiprocessing.Process(
            target=_client_process, args=(port, paths, key, share, seconds, queue)
        )
        for share in shares
    ]
    for p in procs:
        p.start()
    latencies, errors, cpu = [], 0, 0.0
    for _ in procs:
        lat, err, used = queue.get()
        latencies += lat
        errors += err
        cpu += used
    for p in procs:
        p.join()
    return latencies, errors, cpu


def drive(port: int, server_pid: int, paths: list[str], key: str, clients: int, seconds: float):
    """Drive the server with ``clients`` concurrent keep-alive connections."""
    _run_clients(port, paths, key, min(clients, 4), 2.0)  # warm workers and connections
    cpu_before = _cpu_seconds(server_pid)
    started = time.perf_counter()
    latencies, errors, client_cpu = _run_clients(port, paths, key, clients, seconds)
    elapsed = time.perf_counter() - started
    cpu = _cpu_seconds(server_pid) - cpu_before
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000

    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "mean": statistics.fmean(latencies) * 1000 if latencies else 0,
        "cpu_ms": cpu / max(1, len(latencies)) * 1000,
        "client_cpu_ms": client_cpu / max(1, len(latencies)) * 1000,
    }


def count_queries(args: argparse.Namespace, key: str, paths: dict[str, str]) -> dict[str, int]:
    """SQL queries per request of each scenario, counted in-process with the test client."""
    env = _env(args)
    script = f"""
import django, json, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "merchantry.settings")
django.setup()
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
client = Client(headers={{"X-Publishable-Key": {key!r}}}, HTTP_HOST="127.0.0.1")
paths = {json.dumps(paths)}
out = {{}}
for name, path in paths.items():
    client.get(path)
    with CaptureQueriesContext(connection) as q:
        r = client.get(path)
    assert r.status_code == 200, (path, r.status_code, r.content[:300])
    out[name] = len(q)
print(json.dumps(out))
"""
    return json.loads(_run([str(BIN / "python"), "-c", script], env).strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--database", default="merchantry_bench")
    parser.add_argument("--data-dir", default="/tmp/merchantry-bench")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--redis", help="a Redis URL: turns the Store read cache on")
    parser.add_argument("--fresh", action="store_true", help="drop the database first")
    parser.add_argument("--scenarios", default="list,search,detail")
    args = parser.parse_args()
    Path(args.data_dir).mkdir(parents=True, exist_ok=True)

    info = prepare(args)
    key, handles = info["key"], info["handles"]
    base = "/api/v1/store"
    scenarios = {
        "list": [f"{base}/products?limit=24"]
        + [f"{base}/products?limit=24&sort={s}" for s in ("price", "-price", "newest")],
        "search": [f"{base}/products?limit=24&q={w}" for w in WORDS],
        "detail": [f"{base}/products/{h}" for h in handles],
    }
    wanted = args.scenarios.split(",")
    queries = count_queries(args, key, {name: scenarios[name][0] for name in wanted})
    port = _free_port()
    server = start_server(args, port)
    try:
        print(
            f"products={args.products} workers={args.workers} "
            f"cache={'on' if args.redis else 'off'} seconds={args.seconds} "
            f"load={os.getloadavg()[0]:.2f}"
        )
        print(f"{'scenario':8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'cpu ms/req':>10} {'client cpu':>10} "
              f"{'queries':>7} {'errors':>6}")  # fmt: skip
        for name in wanted:
            for clients in (int(c) for c in args.clients.split(",")):
                r = drive(port, server.pid, scenarios[name], key, clients, args.seconds)
                print(f"{name:8} {clients:>7} {r['rps']:>8.1f} {r['p50']:>8.1f} "
                      f"{r['p95']:>8.1f} {r['p99']:>8.1f} {r['cpu_ms']:>10.2f} "
                      f"{r['client_cpu_ms']:>10.2f} "
                      f"{queries[name]:>7} {r['errors']:>6}", flush=True)  # fmt: skip
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
