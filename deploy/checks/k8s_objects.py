"""Rendered Kubernetes objects as deploy/checks sees them: rendering overlays
with `kubectl kustomize`, and the pod templates every workload carries
(LeaderWorkerSet included, with the labels its controller adds).
Used by check_k8s.py and its self-test."""

import pathlib
import subprocess

import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ["cpu-demo", "gpu", "multi-node-tp"]
LWS_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"


def render(path):
    """The objects `kubectl kustomize path` renders; raises RuntimeError with
    kubectl's message when it fails."""
    result = subprocess.run(["kubectl", "kustomize", str(path)], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def name_of(obj):
    return f"{obj['kind']}/{obj['metadata']['name']}"


class PodTemplate:
    """One pod template: the object it belongs to, its labels and pod spec."""

    def __init__(self, owner, where, labels, spec, annotations):
        self.owner = owner
        self.where = where  # e.g. "LeaderWorkerSet/gqa-worker leaderTemplate"
        self.labels = labels
        self.spec = spec
        self.annotations = annotations


def pod_templates(objects):
    """Every pod template of Deployments, StatefulSets and LeaderWorkerSets.
    LeaderWorkerSet pods get the worker-index label its controller sets:
    "0" for the leader, "1" standing for the other ranks."""
    templates = []
    for obj in objects:
        kind, spec = obj["kind"], obj.get("spec", {})
        if kind in ("Deployment", "StatefulSet"):
            t = spec["template"]
            meta = t.get("metadata", {})
            templates.append(PodTemplate(obj, name_of(obj), dict(meta.get("labels", {})),
                                         t["spec"], meta.get("annotations", {})))
        elif kind == "LeaderWorkerSet":
            lwt = spec["leaderWorkerTemplate"]
            for key, index in (("leaderTemplate", "0"), ("workerTemplate", "1")):
                t = lwt.get(key)
                if t is None:
                    continue
                meta = t.get("metadata", {})
                labels = dict(meta.get("labels", {}))
                labels[LWS_INDEX_LABEL] = index
                templates.append(PodTemplate(obj, f"{name_of(obj)} {key}", labels, t["spec"],
                                             meta.get("annotations", {})))
    return templates


def selector_matches(selector, labels):
    """True when a LabelSelector (matchLabels/matchExpressions) or a plain
    Service selector map selects `labels`."""
    if selector is None:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        match_labels, expressions = selector, []
    else:
        match_labels = selector.get("matchLabels", {})
        expressions = selector.get("matchExpressions", [])
    if any(labels.get(k) != v for k, v in match_labels.items()):
        return False
    for e in expressions:
        value, op = labels.get(e["key"]), e["operator"]
        if op == "In" and value not in e["values"]:
            return False
        if op == "NotIn" and value in e["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True
