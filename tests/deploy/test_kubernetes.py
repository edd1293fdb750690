"""deploy/kubernetes/ (the kustomize base) and deploy/kubernetes/overlays/redis, checked offline:
`kubectl kustomize` renders each, every rendered object is validated against the Kubernetes
OpenAPI schemas (npm kubernetes-models, pinned in tests/deploy/node/package-lock.json; run by
tests/deploy/node/validate.mjs), the gatehouse config in the ConfigMap passes this build's
`gatehouse check`, and our own checks hold: the Deployment and the config agree (probe, listener
and Service ports, drain timing), every container is hardened and has resources, images are
pinned, the config is mounted as a directory (hot reload), and the PDB, HPA, Services and
NetworkPolicy select what they are meant to. No cluster is needed.

kubectl: GATEHOUSE_KUBECTL, else `kubectl` on PATH (.ci/install-deps makes sure there is one, with
kustomize v5)."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
K8S = os.path.join(ROOT, "deploy", "kubernetes")
NODE_DIR = os.path.join(HERE, "node")
BIN = os.environ.get("GATEHOUSE_BIN", os.path.join(ROOT, "build", "gatehouse"))
KUBECTL = os.environ.get("GATEHOUSE_KUBECTL") or shutil.which("kubectl")
NODE = shutil.which("node")
GATEHOUSE = "gatehouse"  # the Deployment, its container and the Service
CONFIG_MAP = "gatehouse-config"
# The time a terminating pod's removal from the Service's EndpointSlice takes to reach every
# kube-proxy and ingress controller, on top of the readiness probe noticing the 503 (a few
# seconds in a healthy cluster; docs/operations.md "Kubernetes").
ENDPOINT_PROPAGATION_S = 3
DRAIN_DEFAULTS = {"delay": "0s", "timeout": "30s"}  # docs/configuration.md
LOOPBACK = ("127.", "[::1]", "localhost")


def seconds(value):
    """A gatehouse duration (250ms, 5s, 2m, 1h, 1d) in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)", str(value).strip())
    assert m, f"not a duration: {value!r}"
    return float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def port_of(address):
    """The port of a gatehouse address: host:port or [v6]:port."""
    return int(address.rsplit(":", 1)[1])


def host_of(address):
    return address.rsplit(":", 1)[0]


def project_version():
    with open(os.path.join(ROOT, "CMakeLists.txt")) as f:
        return re.search(r"project\(gatehouse VERSION ([0-9.]+)", f.read()).group(1)


def pod_templates(objects):
    """[(workload object, pod spec, pod labels)] for every workload that has a pod template."""
    out = []
    for o in objects:
        tpl = (o.get("spec") or {}).get("template")
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job") and tpl:
            out.append((o, tpl.get("spec") or {}, (tpl.get("metadata") or {}).get("labels") or {}))
    return out


def containers_of(pod_spec):
    return list(pod_spec.get("initContainers") or []) + list(pod_spec.get("containers") or [])


def selects(selector, labels):
    """Whether matchLabels (a dict) selects a pod with these labels; an empty selector selects
    everything, which we never want, so it counts as not selecting."""
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def resolve_port(container, port):
    """A probe's or Service's port (a number or a containerPort name) as a number, or None when
    the container has no such port."""
    ports = container.get("ports") or []
    if isinstance(port, str) and not port.isdigit():
        return next((p["containerPort"] for p in ports if p.get("name") == port), None)
    return next((p["containerPort"] for p in ports if p["containerPort"] == int(port)), None)


def render(target):
    r = subprocess.run([KUBECTL, "kustomize", target], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"kubectl kustomize {os.path.relpath(target, ROOT)} failed:\n{r.stderr}")
    return [o for o in yaml.safe_load_all(r.stdout) if o]


def schema_errors(objects):
    r = subprocess.run([NODE, os.path.join(NODE_DIR, "validate.mjs")], input=json.dumps(objects), capture_output=True,
                       text=True, timeout=120, cwd=NODE_DIR)
    if r.returncode != 0:
        raise AssertionError(f"tests/deploy/node/validate.mjs failed:\n{r.stderr}")
    return json.loads(r.stdout)


if not KUBECTL:
    MISSING = "kubectl is not installed (.ci/install-deps installs it)"
elif not (NODE and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "kubernetes-models"))):
    MISSING = "node or tests/deploy/node/node_modules is missing (.ci/install-deps runs npm ci there)"
else:
    MISSING = None


# Skipped on a developer's machine without the tools; in CI (CI=true), where .ci/install-deps
# has run, a missing tool fails instead.
@unittest.skipIf(MISSING and os.environ.get("CI") != "true", MISSING)
class Rendered:
    """Checks every rendering must pass; the subclasses name what to render."""
    TARGET = None

    @classmethod
    def setUpClass(cls):
        if MISSING:
            raise AssertionError(MISSING)
        cls.objects = render(cls.TARGET)
        cls.rel = os.path.relpath(cls.TARGET, ROOT)

    # -- lookups --------------------------------------------------------------------------------

    def find(self, kind, name=None):
        found = [o for o in self.objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
        return found

    def one(self, kind, name):
        found = self.find(kind, name)
        self.assertEqual(len(found), 1, f"{self.rel}: expected exactly one {kind} {name!r}, rendered {len(found)}")
        return found[0]

    def deployment(self):
        return self.one("Deployment", GATEHOUSE)

    def pod_spec(self):
        return self.deployment()["spec"]["template"]["spec"]

    def pod_labels(self):
        return self.deployment()["spec"]["template"]["metadata"]["labels"]

    def container(self):
        cs = [c for c in self.pod_spec()["containers"] if c["name"] == GATEHOUSE]
        self.assertEqual(len(cs), 1, f"{self.rel}: the Deployment needs one container named {GATEHOUSE!r}")
        return cs[0]

    def config_text(self):
        cm = self.one("ConfigMap", CONFIG_MAP)
        key = os.path.basename(self.config_path())
        self.assertIn(key, cm.get("data") or {}, f"{self.rel}: ConfigMap {CONFIG_MAP} has no key {key!r} "
                                                 f"(the file --config names)")
        return cm["data"][key]

    def config(self):
        return yaml.safe_load(self.config_text())

    def config_path(self):
        args = self.container().get("args") or []
        self.assertIn("--config", args, f"{self.rel}: the gatehouse container's args must name --config FILE")
        return args[args.index("--config") + 1]

    # -- the checks -----------------------------------------------------------------------------

    def test_renders_every_object_the_deployment_needs(self):
        for kind, name in (("Deployment", GATEHOUSE), ("Service", GATEHOUSE), ("ConfigMap", CONFIG_MAP),
                           ("PodDisruptionBudget", GATEHOUSE), ("HorizontalPodAutoscaler", GATEHOUSE)):
            self.one(kind, name)

    def test_every_object_passes_the_kubernetes_schema(self):
        results = schema_errors(self.objects)
        self.assertEqual(len(results), len(self.objects))
        bad = [f"{r['apiVersion']} {r['kind']} {r['name']}:\n    " + "\n    ".join(r["errors"])
               for r in results if r["errors"]]
        if bad:
            self.fail(f"{self.rel}: objects the Kubernetes schemas reject:\n" + "\n".join(bad))

    def test_the_config_passes_gatehouse_check(self):
        with tempfile.TemporaryDirectory(prefix="gatehouse-k8s-") as d:
            path = os.path.join(d, os.path.basename(self.config_path()))
            with open(path, "w") as f:
                f.write(self.config_text())
            r = subprocess.run([BIN, "check", path], capture_output=True, text=True, timeout=60)
        out = (r.stdout + r.stderr).replace(d + "/", "")
        self.assertEqual(r.returncode, 0, f"{self.rel}: gatehouse check rejects ConfigMap {CONFIG_MAP}:\n{out}")
        warnings = [line for line in out.splitlines() if ": warning:" in line]
        if warnings:
            self.fail(f"{self.rel}: gatehouse check warns about ConfigMap {CONFIG_MAP}:\n" + "\n".join(warnings))

    def test_every_container_has_cpu_and_memory_requests_and_limits(self):
        for w, spec, _ in pod_templates(self.objects):
            for c in containers_of(spec):
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for what in ("cpu", "memory"):
                        self.assertIn(what, res.get(part) or {},
                                      f"{self.rel}: {w['kind']} {w['metadata']['name']}, container {c['name']}: "
                                      f"no resources.{part}.{what}")

    def test_images_are_pinned_to_a_version(self):
        for w, spec, _ in pod_templates(self.objects):
            for c in containers_of(spec):
                image = c.get("image", "")
                where = f"{self.rel}: {w['kind']} {w['metadata']['name']}, container {c['name']}: image {image!r}"
                if "@sha256:" in image:
                    continue
                name, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
                self.assertTrue(tag, f"{where} has no tag (it would mean latest)")
                self.assertNotEqual(tag, "latest", f"{where}: never latest")
                self.assertRegex(tag, r"^v?\d+\.\d+", f"{where}: the tag should be a version")
        image = self.container()["image"]
        self.assertEqual(image.rpartition(":")[2], project_version(),
                         f"{self.rel}: the gatehouse image {image!r} should be the version this tree builds "
                         f"(CMakeLists.txt: {project_version()})")

    def test_every_pod_runs_hardened(self):
        for w, spec, _ in pod_templates(self.objects):
            pod_sc = spec.get("securityContext") or {}
            where = f"{self.rel}: {w['kind']} {w['metadata']['name']}"
            self.assertIs(pod_sc.get("runAsNonRoot"), True, f"{where}: securityContext.runAsNonRoot must be true")
            uid = pod_sc.get("runAsUser")
            self.assertTrue(isinstance(uid, int) and uid > 0, f"{where}: securityContext.runAsUser must be a fixed "
                                                              f"non-zero UID (runAsNonRoot cannot check a named USER)")
            self.assertIs(spec.get("automountServiceAccountToken"), False,
                          f"{where}: automountServiceAccountToken must be false (nothing here talks to the API)")
            self.assertFalse(spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"),
                             f"{where}: no host namespaces")
            for c in containers_of(spec):
                sc = c.get("securityContext") or {}
                at = f"{where}, container {c['name']}: securityContext"
                self.assertIs(sc.get("readOnlyRootFilesystem"), True, f"{at}.readOnlyRootFilesystem must be true")
                self.assertIs(sc.get("allowPrivilegeEscalation"), False, f"{at}.allowPrivilegeEscalation must be false")
                self.assertIs(sc.get("privileged", False), False, f"{at}.privileged must not be true")
                self.assertIs(sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")), True, f"{at}.runAsNonRoot must be true")
                self.assertNotEqual(sc.get("runAsUser", uid), 0, f"{at}.runAsUser must not be 0")
                seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
                self.assertEqual(seccomp, "RuntimeDefault", f"{at}.seccompProfile.type must be RuntimeDefault")
                caps = sc.get("capabilities") or {}
                self.assertEqual(caps.get("drop"), ["ALL"], f"{at}.capabilities.drop must be [ALL]")
                low = [p["containerPort"] for p in c.get("ports") or [] if p["containerPort"] < 1024]
                added = set(caps.get("add") or [])
                self.assertLessEqual(added, {"NET_BIND_SERVICE"} if low else set(),
                                     f"{at}.capabilities.add {sorted(added)}: only NET_BIND_SERVICE, and only for a "
                                     f"port < 1024 (ports: {[p['containerPort'] for p in c.get('ports') or []]}); "
                                     f"prefer high ports")

    def test_probes_use_the_probes_listener(self):
        config, c = self.config(), self.container()
        self.assertIn("probes", config, f"{self.rel}: the config needs probes.listen (the kubelet cannot reach an "
                                        f"admin API on loopback, and must not need its token)")
        listen = config["probes"]["listen"]
        self.assertNotRegex(host_of(listen), r"^(127\.|\[::1\]|localhost)",
                            f"{self.rel}: probes.listen {listen} must be reachable from the kubelet (pod address)")
        want = port_of(listen)
        for kind, path in (("livenessProbe", "/-/healthy"), ("readinessProbe", "/-/ready"), ("startupProbe", "/-/healthy")):
            probe = c.get(kind)
            if probe is None and kind == "startupProbe":
                continue
            self.assertIsNotNone(probe, f"{self.rel}: the gatehouse container has no {kind}")
            get = probe.get("httpGet")
            self.assertIsNotNone(get, f"{self.rel}: {kind} should be an httpGet on the probes listener")
            self.assertEqual(get.get("path"), path, f"{self.rel}: {kind} path")
            port = resolve_port(c, get["port"])
            self.assertIsNotNone(port, f"{self.rel}: {kind} port {get['port']!r} is not a containerPort of the "
                                       f"gatehouse container")
            self.assertEqual(port, want, f"{self.rel}: {kind} goes to port {port}, but probes.listen is {listen}")
        # every other container's probes name ports it has
        for w, spec, _ in pod_templates(self.objects):
            for other in containers_of(spec):
                for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                    p = other.get(kind) or {}
                    for how in ("httpGet", "tcpSocket", "grpc"):
                        if how in p:
                            self.assertIsNotNone(resolve_port(other, p[how]["port"]),
                                                 f"{self.rel}: {w['metadata']['name']}/{other['name']} {kind} port "
                                                 f"{p[how]['port']!r} is not one of its containerPorts")

    def test_admin_api_is_loopback_or_authenticated(self):
        admin = self.config().get("admin") or {}
        listen = admin.get("listen", "127.0.0.1:9901")
        if not listen.startswith(LOOPBACK):
            self.assertIn("auth", admin, f"{self.rel}: admin.listen {listen} is reachable in the cluster without "
                                         f"admin.auth")
        admin_port = port_of(listen)
        exposed = [p["containerPort"] for p in self.container().get("ports") or []]
        if listen.startswith(LOOPBACK):
            self.assertNotIn(admin_port, exposed, f"{self.rel}: the admin port {admin_port} is loopback-only; "
                                                  f"declaring it as a containerPort suggests otherwise")

    def test_every_container_port_is_a_gatehouse_listener(self):
        config, c = self.config(), self.container()
        listening = {port_of(l["listen"]): l["name"] for l in config["listeners"]}
        listening[port_of(config["probes"]["listen"])] = "probes"
        declared = {p["containerPort"] for p in c.get("ports") or []}
        for port, name in listening.items():
            self.assertIn(port, declared, f"{self.rel}: listener {name} (port {port}) is not a containerPort")
        for port in declared:
            self.assertIn(port, listening, f"{self.rel}: containerPort {port} is no listener in the config")

    def test_services_select_one_workload_and_target_its_ports(self):
        templates = pod_templates(self.objects)
        for svc in self.find("Service"):
            sel = svc["spec"].get("selector") or {}
            name = svc["metadata"]["name"]
            chosen = [(w, spec) for w, spec, labels in templates if selects(sel, labels)]
            self.assertEqual(len(chosen), 1, f"{self.rel}: Service {name} selector {sel} selects "
                                             f"{[w['metadata']['name'] for w, _ in chosen]}, not exactly one workload")
            w, spec = chosen[0]
            for p in svc["spec"]["ports"]:
                target = p.get("targetPort", p["port"])
                found = [resolve_port(c, target) for c in spec["containers"]]
                self.assertTrue(any(x is not None for x in found),
                                f"{self.rel}: Service {name} port {p['port']} targets {target!r}, which is no "
                                f"containerPort of {w['metadata']['name']}")
        # the gatehouse Service reaches the public listener
        config = self.config()
        svc = self.one("Service", GATEHOUSE)
        public = {port_of(l["listen"]) for l in config["listeners"]}
        for p in svc["spec"]["ports"]:
            self.assertIn(resolve_port(self.container(), p.get("targetPort", p["port"])), public,
                          f"{self.rel}: Service {GATEHOUSE} port {p['port']} is not one of the config's listeners")

    def test_drain_timing(self):
        drain = {**DRAIN_DEFAULTS, **(self.config().get("drain") or {})}
        delay, timeout = seconds(drain["delay"]), seconds(drain["timeout"])
        grace = self.pod_spec().get("terminationGracePeriodSeconds", 30)
        self.assertGreater(grace, delay + timeout,
                           f"{self.rel}: terminationGracePeriodSeconds {grace} must be above drain.delay + "
                           f"drain.timeout ({delay:g} s + {timeout:g} s) or the kubelet kills requests in flight")
        rp = self.container()["readinessProbe"]
        noticed = rp.get("periodSeconds", 10) * rp.get("failureThreshold", 3)
        self.assertGreaterEqual(delay, noticed + ENDPOINT_PROPAGATION_S,
                                f"{self.rel}: drain.delay {delay:g} s is shorter than the readiness probe's "
                                f"{noticed} s plus {ENDPOINT_PROPAGATION_S} s of endpoint propagation: new "
                                f"connections would meet a closed listener")
        pre_stop = (self.container().get("lifecycle") or {}).get("preStop")
        self.assertIsNone(pre_stop, f"{self.rel}: no preStop hook: drain.delay keeps accepting after SIGTERM")

    def test_config_is_mounted_as_a_directory(self):
        spec, c = self.pod_spec(), self.container()
        vols = {v["name"]: v for v in spec.get("volumes") or []}
        cfg_dir = os.path.dirname(self.config_path())
        mounts = [m for m in c.get("volumeMounts") or [] if m["mountPath"].rstrip("/") == cfg_dir]
        self.assertEqual(len(mounts), 1, f"{self.rel}: nothing is mounted at {cfg_dir}, the directory of --config")
        m = mounts[0]
        self.assertNotIn("subPath", m, f"{self.rel}: the config is mounted with subPath: a subPath mount never sees a "
                                       f"ConfigMap update, so gatehouse would never reload it")
        self.assertNotIn("subPathExpr", m, f"{self.rel}: the config is mounted with subPathExpr (see subPath)")
        cm_ref = (vols.get(m["name"]) or {}).get("configMap")
        self.assertIsNotNone(cm_ref, f"{self.rel}: volume {m['name']} should be the ConfigMap")
        self.assertEqual(cm_ref["name"], CONFIG_MAP,
                         f"{self.rel}: the config volume refers to {cm_ref['name']!r}: with kustomize's name hash "
                         f"an edit makes a new ConfigMap and a rollout, not an update the pods reload")
        self.assertFalse(cm_ref.get("items"), f"{self.rel}: keep the whole ConfigMap (no items): one file per key")
        # every other mount of a ConfigMap or Secret is a directory too (a token, certificates)
        for other in c.get("volumeMounts") or []:
            v = vols.get(other["name"]) or {}
            if "configMap" in v or "secret" in v or "projected" in v:
                self.assertNotIn("subPath", other, f"{self.rel}: {other['name']} mounted with subPath (no updates)")
        # every ConfigMap any pod refers to is rendered
        names = {o["metadata"]["name"] for o in self.find("ConfigMap")}
        for w, pspec, _ in pod_templates(self.objects):
            for v in pspec.get("volumes") or []:
                if "configMap" in v:
                    self.assertIn(v["configMap"]["name"], names,
                                  f"{self.rel}: {w['metadata']['name']} mounts a ConfigMap that is not rendered")

    def test_pdb_and_hpa_target_the_deployment(self):
        d, labels = self.deployment(), self.pod_labels()
        sel = d["spec"]["selector"]["matchLabels"]
        self.assertTrue(selects(sel, labels), f"{self.rel}: the Deployment's selector does not match its pods")
        others = [l for w, _, l in pod_templates(self.objects) if w is not d]
        pdb = self.one("PodDisruptionBudget", GATEHOUSE)
        psel = pdb["spec"]["selector"].get("matchLabels") or {}
        self.assertTrue(selects(psel, labels), f"{self.rel}: the PodDisruptionBudget's selector {psel} does not "
                                               f"match the gatehouse pods' labels {labels}")
        self.assertFalse(any(selects(psel, l) for l in others),
                         f"{self.rel}: the PodDisruptionBudget also selects another workload's pods")
        hpa = self.one("HorizontalPodAutoscaler", GATEHOUSE)
        self.assertEqual(hpa["apiVersion"], "autoscaling/v2")
        ref = hpa["spec"]["scaleTargetRef"]
        self.assertEqual((ref.get("apiVersion"), ref["kind"], ref["name"]), ("apps/v1", "Deployment", d["metadata"]["name"]),
                         f"{self.rel}: the HPA scales {ref}, not the gatehouse Deployment")
        cpu = [m for m in hpa["spec"].get("metrics") or []
               if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
        self.assertTrue(cpu, f"{self.rel}: the HPA should scale on CPU")
        # the HPA owns the replica count; a replicas field would be reset on every apply
        self.assertNotIn("replicas", d["spec"], f"{self.rel}: the Deployment sets replicas, which the HPA owns")
        # a disruption leaves one pod serving
        unavailable = pdb["spec"].get("maxUnavailable")
        if unavailable is not None:
            self.assertLess(int(unavailable), hpa["spec"].get("minReplicas", 1),
                            f"{self.rel}: the PDB allows every pod of minReplicas to go at once")
        else:
            self.assertGreaterEqual(int(pdb["spec"]["minAvailable"]), 1)
        for np in self.find("NetworkPolicy"):
            ns = np["spec"]["podSelector"].get("matchLabels") or {}
            self.assertTrue(any(selects(ns, l) for _, _, l in pod_templates(self.objects)),
                            f"{self.rel}: NetworkPolicy {np['metadata']['name']} selects no pods")


class KubernetesBase(Rendered, unittest.TestCase):
    TARGET = K8S


class KubernetesRedisOverlay(Rendered, unittest.TestCase):
    TARGET = os.path.join(K8S, "overlays", "redis")

    def test_the_config_is_the_base_one_plus_a_shared_rate_limit(self):
        base_cm = [o for o in render(K8S) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == CONFIG_MAP]
        self.assertEqual(len(base_cm), 1, f"deploy/kubernetes: one ConfigMap {CONFIG_MAP}")
        base_config = yaml.safe_load(base_cm[0]["data"][os.path.basename(self.config_path())])
        config = self.config()
        stores = config.get("redis") or []
        self.assertTrue(stores, f"{self.rel}: the config has no redis store")
        used = set()
        for route in config["routes"]:
            kept = []
            for mw in route.get("middleware") or []:
                if "rate_limit" in mw:
                    used.add(mw["rate_limit"].get("store"))
                else:
                    kept.append(mw)
            if kept:
                route["middleware"] = kept
            else:
                route.pop("middleware", None)
        self.assertEqual(used, {s["name"] for s in stores},
                         f"{self.rel}: every rate_limit should use the redis store, and the store be used")
        del config["redis"]
        self.maxDiff = None
        self.assertEqual(yaml.safe_dump(config, sort_keys=False), yaml.safe_dump(base_config, sort_keys=False),
                         f"{self.rel}: apart from redis and rate_limit, the overlay's gatehouse.yaml must equal "
                         f"the base's (deploy/kubernetes/base/gatehouse.yaml; copy the change over)")

    def test_the_redis_store_is_the_redis_service(self):
        services = {s["metadata"]["name"]: s for s in self.find("Service")}
        names = sorted(services)
        for store in self.config()["redis"]:
            addresses = store["address"] if isinstance(store["address"], list) else [store["address"]]
            for a in addresses:
                host, port = host_of(a), port_of(a)
                self.assertIn(host, names, f"{self.rel}: redis address {a}: no Service {host!r} is rendered")
                self.assertIn(port, [p["port"] for p in services[host]["spec"]["ports"]],
                              f"{self.rel}: redis address {a}: Service {host} has no port {port}")
        # only gatehouse's pods may connect to Redis
        redis_labels = self.one("Deployment", "gatehouse-redis")["spec"]["template"]["metadata"]["labels"]
        policies = [np for np in self.find("NetworkPolicy")
                    if selects(np["spec"]["podSelector"].get("matchLabels") or {}, redis_labels)]
        self.assertEqual(len(policies), 1, f"{self.rel}: one NetworkPolicy should guard the Redis pods")
        peers = [f["podSelector"].get("matchLabels") or {} for rule in policies[0]["spec"]["ingress"]
                 for f in rule.get("from") or []]
        self.assertTrue(peers and all(selects(p, self.pod_labels()) for p in peers),
                        f"{self.rel}: the Redis NetworkPolicy should admit the gatehouse pods only")


if __name__ == "__main__":
    unittest.main()
