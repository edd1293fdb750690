"""systemd's notification protocol (deploy/systemd/gatehouse.service is Type=notify): the real
binary started with NOTIFY_SOCKET naming a datagram socket this test owns. Every wait is a
receive with a socket timeout as its upper bound; the sender of each datagram is checked with
SO_PASSCRED, as systemd does for NotifyAccess=main."""
import contextlib
import ctypes
import os
import signal
import socket
import struct
import tempfile
import time
import unittest

from harness import NET_TIMEOUT, Gatehouse, request


class NotifySocket:
    """An abstract AF_UNIX datagram socket, like systemd's /run/systemd/notify."""
    _count = 0

    def __init__(self):
        NotifySocket._count += 1
        self.name = f"@gatehouse-notify-test-{os.getpid()}-{NotifySocket._count}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind("\0" + self.name[1:])
        self.sock.settimeout(NET_TIMEOUT)

    def receive(self):
        """(assignments as a dict, sender pid); raises socket.timeout after NET_TIMEOUT."""
        data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("iII")))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:struct.calcsize("iII")])[0]
        text = data.decode()
        return dict(line.split("=", 1) for line in text.split("\n") if line), pid

    def queued(self):
        """True when a datagram is waiting (without taking it)."""
        self.sock.setblocking(False)  # with a timeout set, Python would wait for one
        try:
            self.sock.recv(4096, socket.MSG_PEEK)
            return True
        except BlockingIOError:
            return False
        finally:
            self.sock.settimeout(NET_TIMEOUT)

    def close(self):
        self.sock.close()


@contextlib.contextmanager
def notify_env(name):
    """NOTIFY_SOCKET for the processes started inside (Popen copies the environment)."""
    os.environ["NOTIFY_SOCKET"] = name
    try:
        yield
    finally:
        del os.environ["NOTIFY_SOCKET"]


def wait_for_child(pid):
    """The exit status of an adopted child (this process is its subreaper), within NET_TIMEOUT."""
    deadline = time.monotonic() + NET_TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)  # polling a state the process reaches on its own; bounded
    raise AssertionError(f"pid {pid} did not exit")


def stop_orphan(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


RESPOND = "routes: [{ name: hello, match: { path: / }, respond: { status: 200, body: \"hi\\n\" } }]\n"


class Notify(unittest.TestCase):
    def setUp(self):
        self.notify = NotifySocket()
        self.addCleanup(self.notify.close)

    def start(self, config, **kw):
        gw = Gatehouse(config, **kw)
        with notify_env(self.notify.name):
            gw.start()
        self.addCleanup(gw.stop)
        return gw

    def test_ready_reload_failed_reload_and_stopping(self):
        gw = self.start(RESPOND)
        msg, pid = self.notify.receive()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertEqual(pid, gw.proc.pid)
        self.assertIn("serving config generation 1", msg["STATUS"])
        # READY=1 came after the listener was bound and serving: it answers now
        self.assertEqual(request(gw.port, path="/").status, 200)

        gw.write_config(Gatehouse.render(RESPOND.replace("hi", "hello")))
        before = time.monotonic()
        gw.signal(signal.SIGHUP)
        msg, pid = self.notify.receive()
        self.assertEqual(msg.get("RELOADING"), "1", msg)
        self.assertEqual(pid, gw.proc.pid)
        # CLOCK_MONOTONIC, the clock time.monotonic() reads on Linux
        usec = int(msg["MONOTONIC_USEC"])
        self.assertGreaterEqual(usec, int(before * 1e6) - 1000)
        self.assertLessEqual(usec, int(time.monotonic() * 1e6) + 1000)
        msg, _ = self.notify.receive()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertIn("serving config generation 2", msg["STATUS"])
        self.assertEqual(request(gw.port, path="/").body, b"hello\n")

        gw.write_config(Gatehouse.render(RESPOND + "bogus_key: 1\n"))
        gw.signal(signal.SIGHUP)
        msg, _ = self.notify.receive()
        self.assertEqual(msg.get("RELOADING"), "1", msg)
        msg, _ = self.notify.receive()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertIn("failed", msg["STATUS"])
        self.assertIn("bogus_key", msg["STATUS"])
        self.assertIn("generation 2 keeps serving", msg["STATUS"])
        self.assertNotIn("\n", msg["STATUS"])

        gw.signal(signal.SIGTERM)
        msg, pid = self.notify.receive()
        self.assertEqual(msg.get("STOPPING"), "1", msg)
        self.assertEqual(pid, gw.proc.pid)
        self.assertEqual(gw.wait(), 0)

    def test_ready_waits_for_service_discovery(self):
        d = tempfile.mkdtemp(prefix="gatehouse-notify-")
        endpoints = os.path.join(d, "endpoints.yaml")
        gw = self.start("routes: [{ name: all, upstream: u }]\n"
                        "upstreams:\n"
                        f"  - name: u\n    discovery: {{ file: {{ path: {endpoints} }}, wait_for_first: true, first_timeout: 60s }}\n")
        # serving, but not ready: discovery has not answered, so neither /-/ready nor systemd
        self.assertEqual(gw.admin("GET", "/-/ready")[0], 503)
        self.assertFalse(self.notify.queued(), "READY=1 before the upstreams were ready")
        with open(endpoints + ".tmp", "w") as f:
            f.write("[127.0.0.1:9]\n")
        os.rename(endpoints + ".tmp", endpoints)
        msg, pid = self.notify.receive()
        self.assertEqual(msg.get("READY"), "1", msg)
        self.assertEqual(pid, gw.proc.pid)
        self.assertEqual(gw.admin("GET", "/-/ready")[0], 200)

    def test_binary_upgrade_announces_the_new_main_pid(self):
        d = tempfile.mkdtemp(prefix="gatehouse-notify-upgrade-")
        sock_path = os.path.join(d, "upgrade.sock")
        old = self.start(RESPOND, args=["--upgrade-socket", sock_path])
        msg, pid = self.notify.receive()
        self.assertEqual((msg.get("READY"), pid), ("1", old.proc.pid))

        new = self.start(None, config_path=old.config_path, args=["--upgrade-socket", sock_path])
        # the old process, still the main pid (the only sender NotifyAccess=main accepts),
        # names the new one
        msg, pid = self.notify.receive()
        self.assertEqual(pid, old.proc.pid)
        self.assertEqual(msg.get("MAINPID"), str(new.proc.pid), msg)
        self.assertEqual(old.wait(), 0)
        # the old one drained without STOPPING=1 (the service goes on), and the new one sent
        # nothing: both would be queued by now
        self.assertFalse(self.notify.queued(), self.notify.receive() if self.notify.queued() else None)
        self.assertEqual(request(new.port, path="/").status, 200)

        new.signal(signal.SIGHUP)
        msg, pid = self.notify.receive()
        self.assertEqual((msg.get("RELOADING"), pid), ("1", new.proc.pid))
        msg, pid = self.notify.receive()
        self.assertEqual((msg.get("READY"), pid), ("1", new.proc.pid))
        new.signal(signal.SIGTERM)
        msg, pid = self.notify.receive()
        self.assertEqual((msg.get("STOPPING"), pid), ("1", new.proc.pid))
        self.assertEqual(new.wait(), 0)

    def test_sigusr2_starts_the_new_binary_inside_the_service(self):
        # systemd is the subreaper of its services: so is this test, so that the new process,
        # orphaned when the old one exits, becomes its child and can be waited for
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_CHILD_SUBREAPER = 36
        self.assertEqual(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0)
        self.addCleanup(libc.prctl, PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        d = tempfile.mkdtemp(prefix="gatehouse-notify-usr2-")
        old = self.start(RESPOND, args=["--upgrade-socket", os.path.join(d, "upgrade.sock")])
        msg, _ = self.notify.receive()
        self.assertEqual(msg.get("READY"), "1", msg)

        old.signal(signal.SIGUSR2)
        msg, pid = self.notify.receive()
        self.assertEqual(pid, old.proc.pid)
        new_pid = int(msg["MAINPID"])
        self.addCleanup(stop_orphan, new_pid)  # before old.stop (LIFO): the log pipe closes then
        # started by the old process (same control group), from the same binary, same arguments
        with open(f"/proc/{new_pid}/stat") as f:
            self.assertEqual(int(f.read().rsplit(")", 1)[1].split()[1]), old.proc.pid)
        self.assertEqual(os.path.realpath(f"/proc/{new_pid}/exe"), os.path.realpath(old.proc.args[0]))
        with open(f"/proc/{new_pid}/cmdline", "rb") as f:
            self.assertEqual(f.read().split(b"\0")[1:-1], [a.encode() for a in old.proc.args[1:]])
        self.assertEqual(old.wait(), 0)
        self.assertTrue(old.has_log(f"started .* as pid {new_pid}"))
        self.assertEqual(request(old.port, path="/").status, 200)  # the same socket, now the new one's

        os.kill(new_pid, signal.SIGTERM)
        msg, pid = self.notify.receive()
        self.assertEqual((msg.get("STOPPING"), pid), ("1", new_pid))
        self.assertEqual(wait_for_child(new_pid), 0)

    def test_sigusr2_without_upgrade_socket_is_ignored(self):
        gw = self.start(RESPOND)
        self.notify.receive()
        gw.signal(signal.SIGUSR2)
        self.assertTrue(gw.wait_for_log("SIGUSR2 ignored"))
        self.assertEqual(request(gw.port, path="/").status, 200)
        self.assertFalse(self.notify.queued())

    def test_without_notify_socket_nothing_is_sent(self):
        gw = Gatehouse(RESPOND).start()
        self.addCleanup(gw.stop)
        self.assertEqual(request(gw.port, path="/").status, 200)
        self.assertNotIn("sd_notify", gw.log())


if __name__ == "__main__":
    unittest.main()
