#!/usr/bin/python3
"""Checks deploy/docker's Dockerfiles against the set-up script and a build
(no Docker engine needed):
  check_images.py BUILD_DIR
- the runtime stage installs every package of scripts/deps/debian-runtime.txt
  and nothing else (the CUDA image may add CUDA runtime, cuBLAS and NCCL);
- the build stage installs scripts/deps/debian-build.txt;
- every binary the image copies from the build exists in BUILD_DIR and is
  executable, and every shared library it links directly (ELF NEEDED) comes
  from a runtime package or from the base image (libc, libstdc++, libgcc);
- the image runs as a numeric non-root user;
- every binary the Kubernetes manifests start is one the image carries.
Exit 0 when all hold; 1 with one line per problem."""

import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCKER = REPO / "deploy" / "docker"
# in debian:12-slim already (Essential or required by apt)
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
# a sanitizer build's runtimes (the images are built without sanitizers)
SANITIZER_RUNTIMES = re.compile(r"^lib(asan|ubsan|tsan|lsan|clang_rt)")
CUDA_EXTRAS = re.compile(r"^(cuda-cudart-\d+-\d+|libcublas-\d+-\d+|libnccl2)$")
# CUDA's own libraries: a build with the CUDA toolkit links them (from
# /usr/local/cuda, no Debian package); the CPU image builds with
# GQA_WITH_CUDA=OFF and the CUDA image installs them as CUDA_EXTRAS.
CUDA_LIBRARIES = re.compile(r"^lib(cudart|cublas|cublasLt|nccl|cuda)\.so")


def package_list(path):
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def stages(dockerfile):
    """[(stage name, [instruction lines with continuations joined])]."""
    result, lines, current = [], [], ""
    for raw in dockerfile.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    for line in lines:
        if line.upper().startswith("FROM "):
            match = re.search(r"\bAS\s+(\S+)", line, re.I)
            result.append((match.group(1) if match else "", [line]))
        elif result:
            result[-1][1].append(line)
    return result


def installed_packages(instructions):
    packages = []
    for line in instructions:
        for part in re.findall(r"apt-get install ([^&]*)", line):
            packages += [w for w in part.split() if not w.startswith("-")]
    return packages


def needed_libraries(binary):
    out = subprocess.run(["readelf", "-d", str(binary)], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", out)


def library_paths(binary):
    """{soname: resolved path} as the dynamic loader finds them here."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    return dict(re.findall(r"^\s*(\S+) => (/\S+)", out, re.M))


def packages_of(paths):
    """{path: Debian package} for the files in `paths`, in one dpkg -S call
    (a library may be registered under /lib or /usr/lib: merged /usr)."""
    candidates = {}
    for path in paths:
        real = os.path.realpath(path)
        for c in (path, real, real.replace("/usr/lib/", "/lib/", 1)):
            candidates.setdefault(c, path)
    out = subprocess.run(["dpkg", "-S", *candidates], capture_output=True, text=True).stdout
    owners = {}
    for line in out.splitlines():
        pkg, _, file = line.partition(": ")
        if file in candidates:
            owners.setdefault(candidates[file], pkg.split(":")[0].strip())
    return owners


def check_image(dockerfile, build_dir, runtime, build_list, problems):
    name = dockerfile.name
    found = dict(stages(dockerfile))
    if "runtime" not in found or "build" not in found:
        problems.append(f"{name}: needs stages 'build' and 'runtime'")
        return set()
    build_text = " ".join(found["build"])
    if "scripts/deps/debian-build.txt" not in build_text:
        problems.append(f"{name}: the build stage does not install scripts/deps/debian-build.txt")
    installed = installed_packages(found["runtime"])
    for pkg in runtime:
        if pkg not in installed:
            problems.append(f"{name}: runtime package {pkg} (debian-runtime.txt) is not installed")
    cuda = "cuda" in name
    for pkg in installed:
        if pkg not in runtime and not (cuda and CUDA_EXTRAS.match(pkg)):
            problems.append(f"{name}: installs {pkg}, which debian-runtime.txt does not list")
    for pkg in installed:
        if pkg in build_list and pkg not in runtime:
            problems.append(f"{name}: build-only package {pkg} in the runtime image")
    users = [line.split()[1] for line in found["runtime"] if line.upper().startswith("USER ")]
    if not users or not users[-1].split(":")[0].isdigit() or users[-1].split(":")[0] == "0":
        problems.append(f"{name}: the runtime stage must end with USER <non-zero uid>")
    carried = set()
    for line in found["runtime"]:
        match = re.match(r"COPY --from=build /build/(\S+) (\S+)", line)
        if not match:
            continue
        source, dest = match.groups()
        carried.add(dest)
        binary = build_dir / source
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            problems.append(f"{name}: copies /build/{source}, which the build has not made "
                            f"({binary} missing)")
            continue
        paths = library_paths(binary)
        owners = packages_of(paths.values())
        for soname in needed_libraries(binary):
            if SANITIZER_RUNTIMES.match(soname) or CUDA_LIBRARIES.match(soname):
                continue
            path = paths.get(soname)
            pkg = owners.get(path) if path else None
            if pkg is None:
                problems.append(f"{name}: {source} needs {soname}, found in no Debian package")
            elif pkg not in runtime and pkg not in BASE_IMAGE_PACKAGES:
                problems.append(f"{name}: {source} needs {soname} from {pkg}, which "
                                "debian-runtime.txt does not list")
    print(f"{name}: {len(installed)} runtime packages, {len(carried)} binaries checked")
    return carried


def manifest_commands():
    commands = set()
    for path in (REPO / "deploy" / "k8s").rglob("*.yaml"):
        commands.update(re.findall(r"command: \[(/usr/local/bin/[a-z-]+)\]", path.read_text()))
    return commands


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    build_dir = pathlib.Path(sys.argv[1])
    runtime = package_list(REPO / "scripts" / "deps" / "debian-runtime.txt")
    build_list = package_list(REPO / "scripts" / "deps" / "debian-build.txt")
    problems = []
    dockerfiles = sorted(DOCKER.glob("Dockerfile.*[!e]"))  # not the .dockerignore files
    if [d.name for d in dockerfiles] != ["Dockerfile.cpu", "Dockerfile.cuda"]:
        problems.append(f"expected Dockerfile.cpu and Dockerfile.cuda, found "
                        f"{[d.name for d in dockerfiles]}")
    for dockerfile in dockerfiles:
        carried = check_image(dockerfile, build_dir, runtime, build_list, problems)
        for command in sorted(manifest_commands() - carried):
            problems.append(f"{dockerfile.name}: the manifests run {command}, not in the image")
    for p in problems:
        print(f"PROBLEM {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
