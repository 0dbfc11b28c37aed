#!/usr/bin/env bash
# kvstore_vs_redis.sh: gqa-kvstore Put/Get throughput (memory tier, loopback
# gRPC, 8 clients, through KvStoreClient) next to redis-benchmark SET/GET of
# the same value sizes (-c 8) against a redis-server this script starts on a
# free port. Prints the machine and one markdown table; "CPU s/GB" is the CPU
# time (user + system) server and client together spent per 10^9 payload
# bytes moved, the figure that decides throughput when cores are shared.
#   bench/kvstore/kvstore_vs_redis.sh [BUILD_DIR] [SECONDS_PER_RUN]
# BUILD_DIR (default build) holds tools/gqa_kvstore/gqa-kvstore and
# bench/kvstore/kvstore_bench. Both servers run on this machine's cores beside
# their clients, as deployed on one host; nothing else should be running.
set -euo pipefail

build=${1:-build}
seconds=${2:-5}
clients=8
kvstore="$build/tools/gqa_kvstore/gqa-kvstore"
bench="$build/bench/kvstore/kvstore_bench"
for tool in "$kvstore" "$bench"; do
  [[ -x "$tool" ]] || { echo "missing $tool: build it first" >&2; exit 1; }
done
for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "missing $tool (Debian: redis-server, redis-tools)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# gqa-kvstore with only a memory tier; --port 0 and the port from its first line.
"$kvstore" --port 0 --listen 127.0.0.1 --memory-bytes 4GiB >"$work/kvstore.out" 2>"$work/kvstore.err" &
kvstore_pid=$!
pids+=("$kvstore_pid")
for _ in $(seq 300); do
  grep -q "listening on" "$work/kvstore.out" && break
  sleep 0.1
done
kvstore_port=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/kvstore.out" | head -1 | cut -d: -f2)
[[ -n "$kvstore_port" ]] || { cat "$work/kvstore.err" >&2; exit 1; }

# redis-server without persistence, so neither side touches the disk.
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
  --protected-mode no >"$work/redis.log" 2>&1 &
redis_pid=$!
pids+=("$redis_pid")
for _ in $(seq 300); do
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  sleep 0.1
done

kib() { if (( $1 % 1048576 == 0 )); then echo "$(( $1 / 1048576 )) MiB"; else echo "$(( $1 / 1024 )) KiB"; fi; }

# CPU seconds (user + system) a process has used so far, from /proc.
cpu_seconds() {
  awk -v tck="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / tck }' "/proc/$1/stat"
}

# redis-benchmark SET, then GET, of one value size: rows of the table, with
# the CPU time redis-server and redis-benchmark spent per GB moved. About
# $seconds seconds per test at the rate of a first short run.
redis_rows() {
  local bytes=$1 pipeline=$2 label=$3
  local probe n test before after csv
  probe=$(redis-benchmark -p "$redis_port" -c "$clients" -d "$bytes" -P "$pipeline" -n 2000 \
          -t set --csv | awk -F'"' '/"SET"/ {print $4}')
  n=$(awk -v r="$probe" -v s="$seconds" 'BEGIN { n = int(r * s); print (n < 2000 ? 2000 : n) }')
  for test in set get; do
    before=$(cpu_seconds "$redis_pid")
    csv=$(/usr/bin/time -f '%U %S' -o "$work/time" redis-benchmark -p "$redis_port" \
          -c "$clients" -d "$bytes" -P "$pipeline" -n "$n" -t "$test" --csv)
    after=$(cpu_seconds "$redis_pid")
    awk -F'"' -v bytes="$bytes" -v n="$n" -v size="$(kib "$bytes")" -v clients="$clients" \
        -v label="$label" -v server="$(awk -v a="$after" -v b="$before" 'BEGIN {print a - b}')" \
        -v client="$(awk '{print $1 + $2}' "$work/time")" '
      $2 == "SET" || $2 == "GET" {
        printf "| redis %s%s | %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f |\n",
               $2, label, size, clients, $4, $4 * bytes / 1e9, $10, $14,
               (server + client) / (n * bytes / 1e9)
      }' <<<"$csv"
  done
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(uname -sr)"
echo "redis: $(redis-server --version | awk '{print $3}'), ${seconds}s per kvstore run"
echo
echo "| Operation | Block / value | Clients | ops/s | GB/s | p50 ms | p99 ms | CPU s/GB |"
echo "|---|---|---|---|---|---|---|---|"
for bytes in 65536 1048576; do
  "$bench" --target "127.0.0.1:$kvstore_port" --clients "$clients" --block-bytes "$bytes" \
    --seconds "$seconds" --server-pid "$kvstore_pid" --markdown
  redis_rows "$bytes" 1 ""
done
# Streams of 16 blocks per call next to Redis pipelines of 16 commands.
"$bench" --target "127.0.0.1:$kvstore_port" --clients "$clients" --block-bytes 65536 \
  --blocks-per-call 16 --seconds "$seconds" --server-pid "$kvstore_pid" --markdown
redis_rows 65536 16 " (-P 16)"
