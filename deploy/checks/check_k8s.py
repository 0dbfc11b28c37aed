#!/usr/bin/env python3
"""Checks deploy/k8s the way CI does (ctest label `deploy`):
  check_k8s.py render       kubectl kustomize renders base and every overlay
  check_k8s.py validate     kubernetes-validate (strict) on every rendered object;
                            LeaderWorkerSet against deploy/k8s/schemas/leaderworkerset-v1.json
                            and its pod templates against PodTemplateSpec
  check_k8s.py conventions  deploy/checks/conventions.py on every overlay
  check_k8s.py selftest     the conventions check reports each of a set of
                            deliberately broken copies of the manifests
Exit 0 when everything holds; 1 with one line per problem otherwise."""

import copy
import json
import sys

from k8s_objects import K8S, OVERLAYS, name_of, render

KUBERNETES_VERSION = "1.32.0"  # the preinstalled kubectl's version


def rendered(include_base=False):
    dirs = ([("base", K8S / "base")] if include_base else []) + \
        [(o, K8S / "overlays" / o) for o in OVERLAYS]
    return {label: render(path) for label, path in dirs}


def cmd_render():
    for label, objects in rendered(include_base=True).items():
        kinds = sorted({o["kind"] for o in objects})
        print(f"{label}: {len(objects)} objects ({', '.join(kinds)})")
    return []


def validate_lws(obj, kubernetes_validate, jsonschema):
    schema = json.loads((K8S / "schemas" / "leaderworkerset-v1.json").read_text())
    problems = [f"{name_of(obj)}: {'/'.join(map(str, e.path))}: {e.message}"
                for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)]
    for key in ("leaderTemplate", "workerTemplate"):
        template = obj["spec"]["leaderWorkerTemplate"].get(key)
        if template is None:
            continue
        pod_template = {"apiVersion": "v1", "kind": "PodTemplate",
                        "metadata": {"name": f"{obj['metadata']['name']}-{key.lower()}"},
                        "template": template}
        problems += validate_one(pod_template, kubernetes_validate, f"{name_of(obj)} {key}")
    return problems


def validate_one(obj, kubernetes_validate, where):
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        return []
    except kubernetes_validate.ValidationError as e:
        path = "/".join(map(str, e.path))
        return [f"{where}: {path}: {e.message}"]


def cmd_validate():
    import jsonschema
    import kubernetes_validate
    problems = []
    for label, objects in rendered(include_base=True).items():
        counted = 0
        for obj in objects:
            where = f"{label}: {name_of(obj)}"
            if obj["kind"] == "LeaderWorkerSet":
                problems += [f"{label}: {p}" for p in validate_lws(obj, kubernetes_validate,
                                                                   jsonschema)]
            else:
                problems += validate_one(obj, kubernetes_validate, where)
            counted += 1
        print(f"{label}: {counted} objects validated against Kubernetes {KUBERNETES_VERSION}")
    return problems


def cmd_conventions():
    from conventions import check
    from conventions import pending_flags_note
    problems = []
    note = pending_flags_note()
    if note:
        print(note)
    for label, objects in rendered().items():
        found = check(objects)
        print(f"{label}: {len(objects)} objects, {len(found)} problems")
        problems += [f"{label}: {p}" for p in found]
    return problems


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def container(objects, kind, name):
    return find(objects, kind, name)["spec"]["template"]["spec"]["containers"][0]


def set_arg(c, flag, value):
    c["args"][c["args"].index(flag) + 1] = value


# Each breaks one convention; the check must name it (the substring).
BREAKAGES = [
    ("probe on the wrong port", "readinessProbe on port 50063",
     lambda o: container(o, "StatefulSet", "gqa-worker")["readinessProbe"]["grpc"]
     .__setitem__("port", 50063)),
    ("worker without limits", "no resources.limits.memory",
     lambda o: container(o, "StatefulSet", "gqa-worker")["resources"].pop("limits")),
    ("a flag the router does not have", "--worker-list is not a flag",
     lambda o: container(o, "Deployment", "gqa-router")["args"].__setitem__(2, "--worker-list")),
    ("router finds workers on the wrong port", "do not all serve --port 50099",
     lambda o: set_arg(container(o, "Deployment", "gqa-router"), "--workers",
                       "dns:gqa-worker:50099")),
    ("health port moved without its probes", "containerPort health=50072 but --health-port",
     lambda o: set_arg(container(o, "StatefulSet", "gqa-kvstore"), "--health-port", "50079")),
    ("service selector matches nothing", "Service/gqa-kvstore: selects no pods",
     lambda o: find(o, "Service", "gqa-kvstore")["spec"]["selector"]
     .__setitem__("app.kubernetes.io/name", "gqa-kv")),
    ("root container", "not runAsNonRoot",
     lambda o: find(o, "StatefulSet", "gqa-kvstore")["spec"]["template"]["spec"]
     ["securityContext"].__setitem__("runAsUser", 0)),
    ("policy opens a port nobody serves", "ingress port 50000",
     lambda o: find(o, "NetworkPolicy", "gqa-worker")["spec"]["ingress"][0]["ports"][0]
     .__setitem__("port", 50000)),
    ("scrape port differs from --metrics-port", "prometheus.io/port 9499",
     lambda o: find(o, "StatefulSet", "gqa-worker")["spec"]["template"]["metadata"]
     ["annotations"].__setitem__("prometheus.io/port", "9499")),
    ("KV cache bigger than the memory limit", "--kv-bytes 40GiB leaves less than 20%",
     lambda o: find(o, "ConfigMap", "gqa-config")["data"].__setitem__("KV_BYTES", "40GiB")),
    ("model outside any volume", "--model /data/m.gguf is on no mounted volume",
     lambda o: set_arg(container(o, "StatefulSet", "gqa-worker"), "--model", "/data/m.gguf")),
]


def lws_args(objects, key):
    lws = find(objects, "LeaderWorkerSet", "gqa-worker-group")
    return lws["spec"]["leaderWorkerTemplate"][key]["spec"]["containers"][0]


# The same for multi-node-tp's LeaderWorkerSet.
TP_BREAKAGES = [
    ("--tp differs from the group size", "--tp 3 but the group size is 2",
     lambda o: set_arg(lws_args(o, "workerTemplate"), "--tp", "3")),
    ("leader is not rank 0", "--rank 1, expected 0",
     lambda o: set_arg(lws_args(o, "leaderTemplate"), "--rank", "1")),
]


def cmd_selftest():
    from conventions import check
    problems = []
    for overlay, breakages in (("gpu", BREAKAGES), ("multi-node-tp", TP_BREAKAGES)):
        problems += noticed(render(K8S / "overlays" / overlay), overlay, breakages, check)
    return problems


def noticed(base, overlay, breakages, check):
    problems = [f"the unbroken {overlay} overlay: {p}" for p in check(base)]
    for label, expected, breakage in breakages:
        broken = copy.deepcopy(base)
        breakage(broken)
        found = check(broken)
        if not any(expected in p for p in found):
            problems.append(f"'{label}' went unnoticed (wanted '{expected}'; got {found})")
        else:
            print(f"noticed: {label}")
    return problems


def main():
    commands = {"render": cmd_render, "validate": cmd_validate,
                "conventions": cmd_conventions, "selftest": cmd_selftest}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        problems = commands[sys.argv[1]]()
    except RuntimeError as e:
        problems = [str(e)]
    for p in problems:
        print(f"PROBLEM {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
