"""What idle socket clients cost the socket source: a listening `zonecast aggregate` in, its
threads, resident memory and CPU with 0, 64 and 256 (the default cap) idle clients out.

Each client connects, sends the header and stays silent. The source gives every client a
thread that wakes every 100 ms to check its idle timeout and the stop flag; this script
measures what that costs, side by side in one run, to decide whether a polled design is
worth it. Usage: python3 benches/socket_idle_clients.py [path/to/zonecast] [seconds]
"""

import os
import socket
import subprocess
import sys
import time

BINARY = sys.argv[1] if len(sys.argv) > 1 else "target/release/zonecast"
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sample(pid: int) -> tuple[int, int, float]:
    """Threads, resident KiB and CPU seconds so far of `pid`."""
    threads = rss = 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Threads:"):
                threads = int(line.split()[1])
            elif line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    return threads, rss, cpu


def main() -> None:
    port = free_port()
    server = subprocess.Popen(
        [BINARY, "aggregate", "--listen", f"127.0.0.1:{port}", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    clients: list[socket.socket] = []
    rows = []
    try:
        for count in (0, 64, 256):
            while len(clients) < count:
                c = socket.create_connection(("127.0.0.1", port))
                c.sendall(b"tpep_pickup_datetime,PULocationID\n")
                clients.append(c)
            time.sleep(1.0)
            threads, rss, cpu0 = sample(server.pid)
            time.sleep(SECONDS)
            cpu = sample(server.pid)[2] - cpu0
            rows.append((count, threads, rss, 100.0 * cpu / SECONDS))
    finally:
        for c in clients:
            c.close()
        server.terminate()
        server.wait()
    print(f"{'idle clients':>12} {'threads':>8} {'RSS MiB':>8} {'CPU %':>6}")
    for count, threads, rss, cpu in rows:
        print(f"{count:>12} {threads:>8} {rss / 1024:>8.1f} {cpu:>6.2f}")
    base, full = rows[0], rows[-1]
    per_client_kib = (full[2] - base[2]) / max(full[0], 1)
    print(
        f"per idle client: {per_client_kib:.1f} KiB resident, "
        f"{(full[3] - base[3]) / max(full[0], 1) * 1000:.2f} milli-% CPU; "
        f"{full[0]} clients: {full[3] - base[3]:.2f}% of one core"
    )


if __name__ == "__main__":
    main()
