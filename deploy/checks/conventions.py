"""The conventions every rendered gqaserve object must follow, checked against
the binaries' own sources (flag tables in tools/*/main.cc, metric names in
*_metrics.cc): resources, probes and a non-root securityContext on every
container; selectors that select pods; ports, probes, Services, DNS targets
and NetworkPolicies that agree with the flags each binary is started with.
check(objects) returns a list of problems (empty: all good)."""

import re

import yaml

from k8s_objects import K8S, REPO, name_of, pod_templates, selector_matches

BINARIES = {
    "/usr/local/bin/gqa-worker": ["tools/gqa_worker/main.cc", "tools/gqa/local_engine.h"],
    "/usr/local/bin/gqa-router": ["tools/gqa_router/main.cc"],
    "/usr/local/bin/gqa-kvstore": ["tools/gqa_kvstore/main.cc"],
}
# NOTE(deploy): tensor parallelism's flags are being added by issue #10
# (`gqa-worker --tp N --rank R --tp-addr HOST:PORT`). Until gqa-worker's flag
# table has them they are accepted here, by name, for the worker only; once
# they land they are checked like every other flag.
PENDING_WORKER_FLAGS = {"tp", "rank", "tp-addr"}
# Named container ports and the flag that sets each.
PORT_FLAGS = {"grpc": "port", "health": "health-port", "metrics": "metrics-port"}
PATH_FLAGS = {"model", "api-keys", "tls-cert", "tls-key", "tls-client-ca", "tokens-file",
              "disk-dir"}


def flag_table(sources):
    """{flag name: takes_value} from the FlagSpec arrays in `sources`."""
    flags = {"help": False}
    for source in sources:
        text = (REPO / source).read_text()
        for body in re.findall(r"constexpr FlagSpec \w+\[\] = \{(.*?)\};", text, re.S):
            for name, switch in re.findall(r'\{"([a-z0-9-]+)"(\s*,\s*false)?\}', body):
                flags[name] = not switch
    return flags


def exported_metrics():
    """Every gqa_* metric name the services register."""
    names = set()
    for pattern in ("worker/service/*.cc", "kvstore/service/*.cc", "router/**/*.cc"):
        for path in REPO.glob(pattern):
            names.update(re.findall(r'"(gqa_(?:worker|kvstore|router)_[a-z0-9_]+)"',
                                    path.read_text()))
    return names


def env_values(spec, container, objects):
    """$(VAR) values a container can expand: literal env and envFrom ConfigMaps."""
    values = {}
    configmaps = {o["metadata"]["name"]: o.get("data", {}) for o in objects
                  if o["kind"] == "ConfigMap"}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            values.update(configmaps.get(ref["name"], {}))
    for env in container.get("env", []):
        if "value" in env:
            values[env["name"]] = env["value"]
    return values


def expand(text, values):
    return re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), str(text))


UNITS = {"": 1, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4,
         "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def byte_size(text):
    """Bytes of a flag size ("4GiB", "512MiB", "4GB") or a Kubernetes quantity
    ("6Gi", "768Mi"); None when it is neither (e.g. an unexpanded $(VAR))."""
    match = re.fullmatch(r"(\d+)(K|M|G|T|Ki|Mi|Gi|Ti)?B?", str(text))
    if not match:
        return None
    return int(match.group(1)) * UNITS[match.group(2) or ""]


def parse_args(args, table, pending, where, problems):
    """{flag: value or True} from a container's args, reporting unknown flags,
    missing values and repeated flags."""
    flags, i = {}, 0
    while i < len(args):
        word = str(args[i])
        if not word.startswith("--"):
            problems.append(f"{where}: stray argument '{word}' (not after a flag)")
            i += 1
            continue
        name = word[2:]
        if name not in table and name not in pending:
            problems.append(f"{where}: --{name} is not a flag of this binary")
        takes_value = table.get(name, True)
        if name in flags:
            problems.append(f"{where}: --{name} given twice")
        if takes_value:
            if i + 1 >= len(args) or str(args[i + 1]).startswith("--"):
                problems.append(f"{where}: --{name} needs a value")
                flags[name] = ""
                i += 1
                continue
            flags[name] = str(args[i + 1])
            i += 2
        else:
            flags[name] = True
            i += 1
    return flags


class Checker:
    def __init__(self, objects):
        self.objects = objects
        self.templates = pod_templates(objects)
        self.problems = []
        self.metrics = exported_metrics()
        # (template, container, flags) for every gqaserve container
        self.servers = []

    def by_kind(self, kind):
        return [o for o in self.objects if o["kind"] == kind]

    def find(self, kind, name):
        for o in self.objects:
            if o["kind"] == kind and o["metadata"]["name"] == name:
                return o
        return None

    def selected(self, selector):
        return [t for t in self.templates if selector_matches(selector, t.labels)]

    def run(self):
        for t in self.templates:
            self.check_pod(t)
        self.check_workload_selectors()
        self.check_services()
        self.check_references()
        self.check_network_policies()
        self.check_autoscaling()
        self.check_alerts()
        return self.problems

    # ----- containers
    def check_pod(self, t):
        pod_sc = t.spec.get("securityContext", {})
        for kind in ("containers", "initContainers"):
            for c in t.spec.get(kind, []):
                where = f"{t.where} container {c['name']}"
                self.check_container(t, c, pod_sc, where, init=kind == "initContainers")

    def check_container(self, t, c, pod_sc, where, init):
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in res.get(part, {}):
                    self.problems.append(f"{where}: no resources.{part}.{resource}")
        gpu_request = res.get("requests", {}).get("nvidia.com/gpu")
        if gpu_request != res.get("limits", {}).get("nvidia.com/gpu"):
            self.problems.append(f"{where}: nvidia.com/gpu requests and limits differ")
        if gpu_request and not any(tol.get("key") == "nvidia.com/gpu"
                                   for tol in t.spec.get("tolerations", [])):
            self.problems.append(f"{where}: asks for a GPU but tolerates no nvidia.com/gpu taint")
        sc = c.get("securityContext", {})
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if non_root is not True or uid in (None, 0):
            self.problems.append(f"{where}: not runAsNonRoot with a non-zero runAsUser")
        if sc.get("allowPrivilegeEscalation") is not False:
            self.problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            self.problems.append(f"{where}: capabilities do not drop ALL")
        image = c.get("image", "")
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest"):
            self.problems.append(f"{where}: image '{image}' has no fixed tag")
        if not init:
            for probe in ("readinessProbe", "livenessProbe"):
                if probe not in c:
                    self.problems.append(f"{where}: no {probe}")
        command = (c.get("command") or [None])[0]
        if command in BINARIES:
            self.check_server(t, c, where)

    def check_server(self, t, c, where):
        binary = c["command"][0]
        table = flag_table(BINARIES[binary])
        pending = PENDING_WORKER_FLAGS if binary.endswith("gqa-worker") else set()
        values = env_values(t.spec, c, self.objects)
        args = [expand(a, values) for a in c.get("args", [])]
        flags = parse_args(args, table, pending, where, self.problems)
        self.servers.append((t, c, flags))
        for required in ["port"] + (["workers"] if binary.endswith("gqa-router") else []):
            if required not in flags:
                self.problems.append(f"{where}: --{required} is required")
        ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        for port_name, flag in PORT_FLAGS.items():
            if (port_name in ports) != (flag in flags):
                self.problems.append(f"{where}: containerPort '{port_name}' and --{flag} "
                                     "must come together")
            elif port_name in ports and str(ports[port_name]) != flags[flag]:
                self.problems.append(f"{where}: containerPort {port_name}={ports[port_name]} "
                                     f"but --{flag} {flags[flag]}")
        for port_name in ports:
            if port_name not in PORT_FLAGS and port_name != "tp-rendezvous":
                self.problems.append(f"{where}: containerPort '{port_name}' matches no flag")
        if "tp-rendezvous" in ports:
            addr = flags.get("tp-addr", "")
            if not addr.endswith(f":{ports['tp-rendezvous']}"):
                self.problems.append(f"{where}: tp-rendezvous port {ports['tp-rendezvous']} "
                                     f"but --tp-addr '{addr}'")
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe not in c:
                continue
            grpc = c[probe].get("grpc")
            if grpc is None:
                self.problems.append(f"{where}: {probe} is not a native gRPC probe")
            elif str(grpc.get("port")) != flags.get("health-port"):
                self.problems.append(f"{where}: {probe} on port {grpc.get('port')} but "
                                     f"--health-port {flags.get('health-port')}")
        if t.annotations.get("prometheus.io/scrape") == "true":
            if t.annotations.get("prometheus.io/port") != flags.get("metrics-port"):
                self.problems.append(f"{where}: prometheus.io/port "
                                     f"{t.annotations.get('prometheus.io/port')} but "
                                     f"--metrics-port {flags.get('metrics-port')}")
        elif "metrics-port" in flags:
            self.problems.append(f"{where}: serves metrics but its pods are not scraped")
        mounts = [m["mountPath"] for m in c.get("volumeMounts", [])]
        for flag in PATH_FLAGS & flags.keys():
            path = flags[flag]
            if path.startswith("/") and not any(path == m or path.startswith(m.rstrip("/") + "/")
                                                for m in mounts):
                self.problems.append(f"{where}: --{flag} {path} is on no mounted volume")
        if "tp" in flags:
            self.check_tensor_parallel(t, flags, where)
        # NOTE(deploy): gqa-worker serves the CPU backend, so its KV cache
        # (--kv-bytes) and the kvstore's memory tier live in the container's
        # memory: they must fit its limit with room for weights and threads.
        limit = byte_size(c.get("resources", {}).get("limits", {}).get("memory", ""))
        for flag in ("kv-bytes", "memory-bytes"):
            size = byte_size(flags.get(flag, ""))
            if size is not None and limit is not None and size > 0.8 * limit:
                self.problems.append(f"{where}: --{flag} {flags[flag]} leaves less than 20% of "
                                     f"its memory limit {c['resources']['limits']['memory']}")

    def check_tensor_parallel(self, t, flags, where):
        if t.owner["kind"] != "LeaderWorkerSet":
            self.problems.append(f"{where}: --tp outside a LeaderWorkerSet")
            return
        size = t.owner["spec"]["leaderWorkerTemplate"].get("size", 1)
        if flags["tp"] != str(size):
            self.problems.append(f"{where}: --tp {flags['tp']} but the group size is {size}")
        want_rank = "0" if t.where.endswith("leaderTemplate") else "$(LWS_WORKER_INDEX)"
        if flags.get("rank") != want_rank:
            self.problems.append(f"{where}: --rank {flags.get('rank')}, expected {want_rank}")
        if not flags.get("tp-addr", "").startswith("$(LWS_LEADER_ADDRESS):"):
            self.problems.append(f"{where}: --tp-addr must be the leader's address")

    # ----- selectors and references
    def check_workload_selectors(self):
        for t in self.templates:
            if t.owner["kind"] in ("Deployment", "StatefulSet"):
                if not selector_matches(t.owner["spec"]["selector"], t.labels):
                    self.problems.append(f"{t.where}: selector does not match its pod template")
            if t.owner["kind"] == "StatefulSet":
                svc = self.find("Service", t.owner["spec"].get("serviceName", ""))
                if svc is None or svc["spec"].get("clusterIP") != "None":
                    self.problems.append(f"{t.where}: serviceName is not a headless Service")
        for pdb in self.by_kind("PodDisruptionBudget"):
            if not self.selected(pdb["spec"]["selector"]):
                self.problems.append(f"{name_of(pdb)}: selects no pods")

    def container_ports(self, templates):
        ports = {}
        for t in templates:
            for c in t.spec["containers"]:
                for p in c.get("ports", []):
                    ports[p.get("name")] = p["containerPort"]
                    ports[p["containerPort"]] = p["containerPort"]
        return ports

    def check_services(self):
        for svc in self.by_kind("Service"):
            pods = self.selected(svc["spec"].get("selector"))
            if not pods:
                self.problems.append(f"{name_of(svc)}: selects no pods")
                continue
            ports = self.container_ports(pods)
            for p in svc["spec"]["ports"]:
                target = p.get("targetPort", p["port"])
                if target not in ports:
                    self.problems.append(f"{name_of(svc)}: targetPort {target} is no container "
                                         "port of its pods")
                elif ports[target] != p["port"]:
                    self.problems.append(f"{name_of(svc)}: port {p['port']} forwards to "
                                         f"{ports[target]}; keep them equal so addresses agree")
        for t, c, flags in self.servers:
            where = f"{t.where} container {c['name']}"
            for target in flags.get("workers", "").split(","):
                if target.startswith("dns:"):
                    self.check_address(where, "--workers", target[4:], headless=True)
            if "kvstore" in flags:
                self.check_address(where, "--kvstore", flags["kvstore"], headless=False)

    def check_address(self, where, flag, address, headless):
        host, _, port = address.rpartition(":")
        svc = self.find("Service", host.split(".")[0])
        if svc is None:
            self.problems.append(f"{where}: {flag} {address} names no Service")
            return
        if headless and svc["spec"].get("clusterIP") != "None":
            self.problems.append(f"{where}: {flag} dns:{address} needs a headless Service")
        if not any(str(p["port"]) == port for p in svc["spec"]["ports"]):
            self.problems.append(f"{where}: {flag} {address}: the Service has no port {port}")
        pods = self.selected(svc["spec"]["selector"])
        served = [f for t, c, f in self.servers if t in pods]
        if not served or any(f.get("port") != port for f in served):
            self.problems.append(f"{where}: {flag} {address}: its pods do not all serve --port "
                                 f"{port}")

    def check_references(self):
        names = {(o["kind"], o["metadata"]["name"]) for o in self.objects}
        for t in self.templates:
            claims = {v["metadata"]["name"] for v in
                      t.owner["spec"].get("volumeClaimTemplates", [])}
            volumes = {v["name"] for v in t.spec.get("volumes", [])} | claims
            for v in t.spec.get("volumes", []):
                for field, kind, key in (("secret", "Secret", "secretName"),
                                         ("configMap", "ConfigMap", "name"),
                                         ("persistentVolumeClaim", "PersistentVolumeClaim",
                                          "claimName")):
                    if field in v and (kind, v[field][key]) not in names:
                        self.problems.append(f"{t.where}: volume {v['name']} needs {kind} "
                                             f"{v[field][key]}")
            for c in t.spec.get("containers", []) + t.spec.get("initContainers", []):
                for m in c.get("volumeMounts", []):
                    if m["name"] not in volumes:
                        self.problems.append(f"{t.where}: mount of unknown volume {m['name']}")
                for e in c.get("envFrom", []):
                    if "configMapRef" in e and ("ConfigMap", e["configMapRef"]["name"]) not in names:
                        self.problems.append(f"{t.where}: envFrom names a missing ConfigMap")
                for e in c.get("env", []):
                    ref = e.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        secret = self.find("Secret", ref["name"])
                        data = {**(secret or {}).get("data", {}),
                                **(secret or {}).get("stringData", {})}
                        if ref["key"] not in data:
                            self.problems.append(f"{t.where}: env {e['name']} needs key "
                                                 f"{ref['key']} of Secret {ref['name']}")

    # ----- network policies
    def check_network_policies(self):
        for np in self.by_kind("NetworkPolicy"):
            spec = np["spec"]
            selected = self.selected(spec["podSelector"]) if spec["podSelector"] else \
                self.templates
            if not selected:
                self.problems.append(f"{name_of(np)}: selects no pods")
                continue
            for rule in spec.get("ingress", []):
                ports = self.container_ports(selected)
                for p in rule.get("ports", []):
                    if p["port"] not in ports:
                        self.problems.append(f"{name_of(np)}: ingress port {p['port']} is no "
                                             "container port of the pods it selects")
                self.check_peers(np, rule.get("from", []))
            for rule in spec.get("egress", []):
                peers = self.check_peers(np, rule.get("to", []))
                if peers:
                    ports = self.container_ports(peers)
                    for p in rule.get("ports", []):
                        if p["port"] not in ports:
                            self.problems.append(f"{name_of(np)}: egress port {p['port']} is no "
                                                 "container port of its peers")

    def check_peers(self, np, peers):
        """Pods of this namespace that `peers` name (those without a
        namespaceSelector); reports a podSelector that selects none."""
        found = []
        for peer in peers:
            if "podSelector" in peer and "namespaceSelector" not in peer:
                pods = self.selected(peer["podSelector"])
                if not pods:
                    self.problems.append(f"{name_of(np)}: peer {peer['podSelector']} selects "
                                         "no pods")
                found += pods
        return found

    # ----- autoscaling and monitoring
    def check_autoscaling(self):
        adapter = yaml.safe_load((K8S / "monitoring" / "prometheus-adapter.yaml").read_text())
        published = {}
        for rule in adapter["rules"]:
            series = re.match(r"\s*'?([a-z_:]+)", rule["seriesQuery"]).group(1)
            published[rule["name"]["as"]] = series
            for metric in re.findall(r"gqa_[a-z0-9_]+", rule["seriesQuery"] + rule["metricsQuery"]):
                if metric not in self.metrics:
                    self.problems.append(f"prometheus-adapter: {metric} is exported by no binary")
        for hpa in self.by_kind("HorizontalPodAutoscaler"):
            ref = hpa["spec"]["scaleTargetRef"]
            if self.find(ref["kind"], ref["name"]) is None:
                self.problems.append(f"{name_of(hpa)}: scales missing {ref['kind']}/{ref['name']}")
            for metric in hpa["spec"].get("metrics", []):
                if metric["type"] == "Pods" and metric["pods"]["metric"]["name"] not in published:
                    self.problems.append(f"{name_of(hpa)}: metric "
                                         f"{metric['pods']['metric']['name']} is not published "
                                         "by the prometheus-adapter rules")

    def check_alerts(self):
        text = (K8S / "base" / "monitoring" / "alerts.yaml").read_text()
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                for metric in re.findall(r"gqa_[a-z0-9_]+", rule["expr"]):
                    base = re.sub(r"_(bucket|sum|count)$", "", metric)
                    if metric not in self.metrics and base not in self.metrics:
                        self.problems.append(f"alert {rule['alert']}: {metric} is exported by "
                                             "no binary")


def pending_flags_note():
    """A line saying which pending flags are tolerated, or "" once they exist."""
    missing = PENDING_WORKER_FLAGS - flag_table(BINARIES["/usr/local/bin/gqa-worker"]).keys()
    if not missing:
        return ""
    return ("note: gqa-worker has no " + ", ".join(f"--{f}" for f in sorted(missing)) +
            " yet (issue #10): accepted by name in multi-node-tp, their values checked against "
            "the LeaderWorkerSet")


def check(objects):
    return Checker(objects).run()
