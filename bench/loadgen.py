"""A small HTTP/1.1 keep-alive load generator (stdlib asyncio), run in its own process.

`python -m bench.loadgen --port P --path /oauth2/token --body ... --header 'K: V' ...`
opens N connections to 127.0.0.1, each sending the same request back to back (closed
loop), warms up, then measures for a fixed time and prints one JSON object: requests
completed in the window, req/s, latency percentiles (ms), status counts, errors.
A request belongs to the window if it completes inside it; latency is from writing the
request to reading the whole response (queueing in the server included). `--latencies`
adds every in-window latency (ms, sorted) so a caller can pool several runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time


def build_request(method: str, path: str, host: str, headers: list[str], body: bytes) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += headers
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _connection(host, port, request, clock, window, latencies, statuses, stop):
    reader, writer = await asyncio.open_connection(host, port)
    start, end = window
    try:
        while not stop.is_set():
            t0 = clock()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
                    break
            if length:
                await reader.readexactly(length)
            t1 = clock()
            if start <= t1 <= end:
                latencies.append(t1 - t0)
                statuses[status] = statuses.get(status, 0) + 1
            if t1 > end:
                break
    finally:
        writer.close()


def percentile(ms: list[float], p: float) -> float:
    """The p-quantile of sorted `ms` (nearest rank, no interpolation)."""
    return ms[min(len(ms) - 1, int(p * len(ms)))] if ms else float("nan")


async def load(host, port, request, connections, warmup, duration,
               keep_latencies: bool = False) -> dict:
    clock = time.perf_counter
    begin = clock()
    window = (begin + warmup, begin + warmup + duration)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop = asyncio.Event()
    tasks = [asyncio.create_task(
        _connection(host, port, request, clock, window, latencies, statuses, stop))
        for _ in range(connections)]
    errors = []
    for result in await asyncio.gather(*tasks, return_exceptions=True):
        if isinstance(result, BaseException):
            errors.append(f"{type(result).__name__}: {result}")
    ms = sorted(x * 1000 for x in latencies)
    result = {
        "requests": len(ms), "rps": len(ms) / duration, "connections": connections,
        "duration": duration, "p50_ms": percentile(ms, 0.50),
        "p90_ms": percentile(ms, 0.90), "p99_ms": percentile(ms, 0.99),
        "max_ms": ms[-1] if ms else float("nan"),
        "mean_ms": statistics.fmean(ms) if ms else float("nan"),
        "statuses": {str(k): v for k, v in sorted(statuses.items())}, "errors": errors[:5],
    }
    if keep_latencies:
        result["latencies_ms"] = [round(x, 4) for x in ms]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--path", default="/oauth2/token")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--body", default="")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--latencies", action="store_true",
                        help="include every in-window latency (ms, sorted)")
    args = parser.parse_args(argv)
    request = build_request(args.method, args.path, f"{args.host}:{args.port}", args.header,
                            args.body.encode())
    result = asyncio.run(load(args.host, args.port, request, args.connections, args.warmup,
                              args.duration, args.latencies))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
