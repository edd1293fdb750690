#!/usr/bin/env python3
"""Holds N slowloris connections to a proxy: each sends a request head one byte every INTERVAL
seconds and never finishes it; a connection the proxy closes (408, header timeout) is opened again,
so the pressure stays at N. Prints "slow N" once all are open, then runs until stdin closes and
prints how many connections the proxy closed. Used by bench/hostile.sh."""
import argparse, resource, selectors, socket, sys, threading, time

p = argparse.ArgumentParser()
p.add_argument("port", type=int)
p.add_argument("count", type=int)
p.add_argument("--interval", type=float, default=2.0)
a = p.parse_args()
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.count + 1000), hard))
HEAD = b"GET /small HTTP/1.1\r\nHost: bench\r\nUser-Agent: slowloris\r\n" + b"X-Pad: " + b"a" * 4000

stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
sel = selectors.DefaultSelector()
conns = {}  # socket -> bytes sent
closed = 0


def open_one():
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", a.port))
    sel.register(s, selectors.EVENT_READ)
    conns[s] = 0


for _ in range(a.count):
    open_one()
print(f"slow {a.count}", flush=True)
while not stop.is_set():
    t0 = time.monotonic()
    for i, s in enumerate(list(conns)):
        if stop.is_set():
            break
        for key, _ in sel.select(timeout=0) if i % 64 == 0 else ():
            sel.unregister(key.fileobj)
            conns.pop(key.fileobj, None)
            key.fileobj.close()
            closed += 1
            open_one()
        if s not in conns:
            continue
        try:
            s.send(HEAD[conns[s] % len(HEAD) : conns[s] % len(HEAD) + 1])
            conns[s] += 1
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            sel.unregister(s)
            conns.pop(s, None)
            s.close()
            closed += 1
            open_one()
    time.sleep(max(0.0, a.interval - (time.monotonic() - t0)))
print(f"closed by the proxy {closed}", flush=True)
