"""How many aggTrade frames per second the stand-in generates and delivers to one client.

The stand-in runs as `orderflow simulate` in its own process (as when it feeds an engine
benchmark); this process is a minimal websocket client subscribed to every contract's aggTrade stream
(SUBSCRIBE batches of 200) that counts frames without parsing them. For each target
rate it prints the frames/s the stand-in sent (its /admin/stats counter) and the client received,
the CPU share of both processes, and the ratio to the first row (the default 2,000/s) as
baseline. A stand-in CPU share well below 100 % means the stand-in is not the bottleneck.

    python benchmarks/bench_standin.py [--rates 2000,60000,120000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import orjson

ROOT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


async def _sent(session: aiohttp.ClientSession, rest_url: str) -> int:
    async with session.get(f"{rest_url}/admin/stats") as resp:
        return int((await resp.json())["agg_frames_sent"])


class _Socket:
    """A minimal websocket client that only counts text frames.

    aiohttp's client costs several microseconds per message and saturates first; this one
    parses frame headers straight from the byte stream so that the stand-in is what is measured.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self._buf = b""

    @classmethod
    async def connect(cls, ws_url: str, path: str) -> _Socket:
        host, port = ws_url.removeprefix("ws://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError(f"websocket upgrade refused: {head[:200]!r}")
        return cls(reader, writer)

    def send_text(self, payload: bytes) -> None:
        mask = os.urandom(4)
        n = len(payload)
        header = bytes((0x81, 0x80 | n)) if n < 126 else bytes((0x81, 0xFE)) + n.to_bytes(2, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(header + mask + masked)

    async def count(self, seconds: float) -> tuple[int, int]:
        frames = nbytes = 0
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            chunk = await asyncio.wait_for(self.reader.read(1 << 20), timeout=5)
            if not chunk:
                raise RuntimeError("the stand-in closed the connection")
            buf = self._buf + chunk if self._buf else chunk
            i, end = 0, len(buf)
            while end - i >= 2:
                length, header = buf[i + 1] & 0x7F, 2
                if length == 126:
                    if end - i < 4:
                        break
                    length, header = int.from_bytes(buf[i + 2 : i + 4], "big"), 4
                elif length == 127:
                    if end - i < 10:
                        break
                    length, header = int.from_bytes(buf[i + 2 : i + 10], "big"), 10
                if end - i < header + length:
                    break
                if buf[i] & 0x0F == 1:
                    frames += 1
                    nbytes += length
                i += header + length
            self._buf = buf[i:]
        return frames, nbytes

    def close(self) -> None:
        self.writer.close()


async def _measure(rate: float, symbols: int, seconds: float, warmup: float) -> dict:
    command = [
        sys.executable,
        "-m",
        "pipelines.cli",
        "--log-level",
        "WARNING",
        "simulate",
        "--port",
        "0",
        "--symbols",
        str(symbols),
        "--rate",
        str(rate),
        "--duration",
        str(seconds + warmup + 60),
    ]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        words = proc.stdout.readline().split()  # "rest: http://...  ws: ws://..."
        rest_url, ws_url = words[1], words[3]
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{rest_url}/fapi/v1/exchangeInfo") as resp:
                info = await resp.json()
            names = [
                f"{s['symbol'].lower()}@aggTrade"
                for s in info["symbols"]
                if s["status"] == "TRADING"
            ]
            ws = await _Socket.connect(ws_url, "/market/ws")
            try:
                for i in range(0, len(names), 200):
                    request = {"method": "SUBSCRIBE", "params": names[i : i + 200], "id": i}
                    ws.send_text(orjson.dumps(request))
                    await ws.count(0.3)  # stay well under 10 messages/s, keep reading
                await ws.count(warmup)
                sent0 = await _sent(session, rest_url)
                cpu0, client0 = _cpu_seconds(proc.pid), time.process_time()
                t0 = time.perf_counter()
                frames, nbytes = await ws.count(seconds)
                elapsed = time.perf_counter() - t0
                server_cpu = (_cpu_seconds(proc.pid) - cpu0) / elapsed
                client_cpu = (time.process_time() - client0) / elapsed
                sent = await _sent(session, rest_url) - sent0
            finally:
                ws.close()
        return {
            "sent_s": sent / elapsed,
            "frames_s": frames / elapsed,
            "mb_s": nbytes / elapsed / 1e6,
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2000,60000,120000")
    parser.add_argument("--symbols", type=int, default=600)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    print(
        f"stand-in -> 1 client over loopback, {args.symbols} contracts, "
        f"{args.seconds:g} s per rate, {os.cpu_count()} cores"
    )
    print(
        f"{'target/s':>9} {'sent/s':>9} {'recv/s':>9} {'MB/s':>6} {'stand-in CPU':>12} "
        f"{'client CPU':>10} {'vs baseline':>11}"
    )
    baseline = None
    for rate in rates:
        r = asyncio.run(_measure(rate, args.symbols, args.seconds, args.warmup))
        baseline = baseline or r["frames_s"]
        print(
            f"{rate:>9.0f} {r['sent_s']:>9.0f} {r['frames_s']:>9.0f} {r['mb_s']:>6.1f} "
            f"{r['server_cpu']:>12.0%} {r['client_cpu']:>10.0%} "
            f"{r['frames_s'] / baseline:>10.1f}x",
            flush=True,
        )


if __name__ == "__main__":
    main()
