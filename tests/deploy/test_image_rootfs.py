"""The container image's runtime stage (docker/Dockerfile), tested without a container engine.

A Debian root is built with mmdebstrap --variant=minbase (what debian:bookworm-slim is) and the
runtime stage's RUN lines, read from the Dockerfile so that the test and the image cannot drift,
are run in it. The binary and the config go where the stage's COPY lines put them, and inside a
chroot, as the stage's USER, `gatehouse check` passes on the image's config and the ENTRYPOINT
serves a request that curl sends from outside over loopback. A shared library the stage does not
install fails the test (ldd in the root names it).

The root is cached as a tarball under CACHE_DIR, keyed by the suite, the mirror and the RUN
lines: the first run downloads (~1-2 min), later runs only unpack it. Needs root (chroot, mount
namespace), mmdebstrap and, the first time, the Debian mirror. CTest label: image.
"""
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
DOCKERFILE = os.path.join(ROOT, "docker", "Dockerfile")
BIN = os.environ.get("GATEHOUSE_BIN", os.path.join(ROOT, "build", "gatehouse"))
MIRROR = os.environ.get("GATEHOUSE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
CACHE_DIR = os.environ.get("GATEHOUSE_ROOTFS_CACHE", "/var/tmp/gatehouse-rootfs-cache")
CACHE_KEEP = 3  # tarballs kept (other branches' Dockerfiles), the most recently used first
TIMEOUT = 20  # an upper bound for the daemon's start and stop, never a synchronisation


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def runtime_stage(text):
    """The last stage: its base image, RUN commands, COPY (source, destination) pairs, USER,
    ENTRYPOINT and CMD (exec form)."""
    stages = []
    for ins, args in dockerfile_instructions(text):
        if ins == "FROM":
            stages.append({"from": args.split()[0], "run": [], "copy": [], "user": "root", "entrypoint": [], "cmd": []})
        elif ins == "RUN":
            stages[-1]["run"].append(args)
        elif ins == "COPY":
            words = [w for w in args.split() if not w.startswith("--")]
            stages[-1]["copy"].append((" ".join(w for w in args.split() if w.startswith("--")), words[0], words[1]))
        elif ins == "USER":
            stages[-1]["user"] = args
        elif ins in ("ENTRYPOINT", "CMD"):
            stages[-1][ins.lower()] = json.loads(args)
    return stages[-1]


def rootfs_tarball(suite, runs):
    """The cached minbase root of `suite` with the `runs` commands run in it (built if missing)."""
    key = hashlib.sha256(json.dumps({"format": 1, "suite": suite, "mirror": MIRROR, "variant": "minbase",
                                     "arch": os.uname().machine, "runs": runs}).encode()).hexdigest()[:16]
    os.makedirs(CACHE_DIR, exist_ok=True)
    tarball = os.path.join(CACHE_DIR, f"{suite}-{key}.tar")
    if os.path.exists(tarball):
        os.utime(tarball)
        return tarball, True
    script = os.path.join(CACHE_DIR, f".{key}.sh")
    with open(script, "w") as f:
        f.write("set -e\n" + "\n".join(runs) + "\n")
    partial = tarball + f".partial-{os.getpid()}"
    cmd = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar", "--quiet",
           f"--customize-hook=chroot \"$1\" /bin/sh -e < {script}", suite, partial, MIRROR]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    os.unlink(script)
    if r.returncode != 0:
        if os.path.exists(partial):
            os.unlink(partial)
        raise AssertionError(f"mmdebstrap failed (is {MIRROR} reachable?):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    os.rename(partial, tarball)
    cached = sorted((os.path.join(CACHE_DIR, n) for n in os.listdir(CACHE_DIR) if n.endswith(".tar")),
                    key=os.path.getmtime, reverse=True)
    for old in cached[CACHE_KEEP:]:
        os.unlink(old)
    return tarball, False


def in_root(root, user, argv, **kw):
    """argv run in `root` as `user` with /proc and /tmp of its own, as a container has: a
    private mount namespace (gone with the process), then chroot. The process is argv itself."""
    shell = 'mount -t proc proc "$0/proc" && mount -t tmpfs tmpfs "$0/tmp" && u="$1" && shift && exec chroot --userspec="$u" "$0" "$@"'
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", shell, root, f"{user}:{user}", *argv]


@unittest.skipIf(os.environ.get("GATEHOUSE_SANITIZED") == "1",
                 "a sanitizer build links libasan/libubsan, which the image does not ship: checked in the plain build")
@unittest.skipUnless(os.geteuid() == 0, "needs root (chroot, a mount namespace, mmdebstrap --mode=root)")
@unittest.skipUnless(shutil.which("mmdebstrap"), "mmdebstrap is not installed (.ci/install-deps installs it)")
class ImageRuntimeStage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(DOCKERFILE) as f:
            cls.stage = runtime_stage(f.read())
        base = cls.stage["from"]
        m = re.fullmatch(r"debian:([a-z]+)(-slim)?", base)
        assert m, f"the runtime stage's base {base} is not a Debian image this test can build"
        started = time.monotonic()
        cls.tarball, cached = rootfs_tarball(m.group(1), cls.stage["run"])
        print(f"\nroot of {base}: {cls.tarball} ({'cached' if cached else 'built'} in {time.monotonic() - started:.1f} s)")
        cls.root = tempfile.mkdtemp(prefix="gatehouse-image-root-", dir="/var/tmp")
        subprocess.run(["tar", "-xf", cls.tarball, "-C", cls.root], check=True)
        # what the COPY lines put in the image: the binary from the build stage, files from the tree
        for flags, src, dst in cls.stage["copy"]:
            source = os.path.abspath(BIN) if "--from=" in flags and os.path.basename(src) == "gatehouse" else os.path.join(ROOT, src)
            target = os.path.join(cls.root, dst.lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(source, target)
            os.chmod(target, 0o755 if os.access(source, os.X_OK) else 0o644)
        cls.entrypoint = cls.stage["entrypoint"]
        cls.user = cls.stage["user"]

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "root", None):
            shutil.rmtree(cls.root, ignore_errors=True)

    def run_in_root(self, argv, user=None):
        return subprocess.run(in_root(self.root, user or self.user, argv), capture_output=True, text=True, timeout=60)

    def test_every_linked_library_is_installed(self):
        r = self.run_in_root(["ldd", self.entrypoint[0]], user="root")
        missing = [line.strip() for line in r.stdout.splitlines() if "not found" in line]
        self.assertEqual(missing, [], "the runtime stage lacks the packages of these libraries:\n" + "\n".join(missing))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_check_passes_on_the_image_config(self):
        config = self.stage["cmd"][self.stage["cmd"].index("--config") + 1]
        r = self.run_in_root([*self.entrypoint, "check", config])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_serves_a_request_from_the_root(self):
        with open(os.path.join(self.root, "etc/gatehouse/test.yaml"), "w") as f:
            f.write("workers: 1\n"
                    "admin: { listen: 127.0.0.1:0 }\n"
                    "listeners: [{ name: public, listen: 127.0.0.1:0 }]\n"
                    "routes: [{ name: hello, match: { path: / }, respond: { status: 200, body: \"hello from the image root\\n\" } }]\n")
        proc = subprocess.Popen(in_root(self.root, self.user, [*self.entrypoint, "--config", "/etc/gatehouse/test.yaml"]),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace")
        lines, cond = [], threading.Condition()

        def pump():
            for line in proc.stderr:
                with cond:
                    lines.append(line)
                    cond.notify_all()
            with cond:
                lines.append("<exit>\n")
                cond.notify_all()

        threading.Thread(target=pump, daemon=True).start()
        try:
            with cond:
                cond.wait_for(lambda: any(re.search(r"ready:|\[error\]|<exit>", l) for l in lines), TIMEOUT)
                log = "".join(lines)
            self.assertIn("ready:", log, log)
            port = re.search(r"listener public listening on [^\s]+:(\d+)", log).group(1)
            r = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), f"http://127.0.0.1:{port}/"], capture_output=True,
                               text=True)
            self.assertEqual((r.returncode, r.stdout), (0, "hello from the image root\n"), r.stderr)
            proc.terminate()
            self.assertEqual(proc.wait(TIMEOUT), 0, "".join(lines))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
