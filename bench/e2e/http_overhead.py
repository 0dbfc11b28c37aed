#!/usr/bin/python3
"""HTTP front overhead (issue #12): the same closed-loop streaming load through
the router's gRPC API (gqa.v1.Inference.Generate) and through its OpenAI HTTP
front (POST /v1/completions, stream: true), one after the other in one run,
with one Python client design for both (a thread per stream; grpcio for gRPC,
http.client with keep-alive for HTTP), so the difference is the front.
Prompts are 128 token ids, 64 output tokens (ignore_eos).

  http_overhead.py ROUTER_ADDR HTTP_ADDR PROTO_DIR [streams] [seconds]
Prints a markdown table: requests/s, output tokens/s, TTFT p50/p99, E2E p50.
"""
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROUTER, HTTP, PROTO_DIR = sys.argv[1:4]
STREAMS = int(sys.argv[4]) if len(sys.argv) > 4 else 16
SECONDS = float(sys.argv[5]) if len(sys.argv) > 5 else 20
WARMUP_S, INPUT_LEN, OUTPUT_LEN = 3.0, 128, 64


def stubs():
    out = tempfile.mkdtemp()
    protos = [f"gqa/v1/{name}" for name in ("common.proto", "inference.proto")]
    subprocess.run(["protoc", f"-I{PROTO_DIR}", f"--python_out={out}", f"--grpc_out={out}",
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos], check=True)
    sys.path.insert(0, out)


def prompt(rng):
    return [rng.randrange(1000, 40000) for _ in range(INPUT_LEN)]


def grpc_worker(stop, records, seed):
    import grpc
    from gqa.v1 import inference_pb2, inference_pb2_grpc
    channel = grpc.insecure_channel(ROUTER)
    stub = inference_pb2_grpc.InferenceStub(channel)
    rng = random.Random(seed)
    while not stop.is_set():
        request = inference_pb2.GenerateRequest(max_tokens=OUTPUT_LEN, ignore_eos=True)
        request.token_ids.token_ids.extend(prompt(rng))
        request.sampling.temperature = 0.0
        start, first, tokens = time.perf_counter(), None, 0
        for message in stub.Generate(request, timeout=60):
            if first is None and len(message.token_ids):
                first = time.perf_counter()
            tokens += len(message.token_ids)
        records.append((start, first - start, time.perf_counter() - start, tokens))
    channel.close()


def http_worker(stop, records, seed):
    connection = http.client.HTTPConnection(HTTP, timeout=60)
    rng = random.Random(seed)
    while not stop.is_set():
        body = json.dumps({"prompt": prompt(rng), "max_tokens": OUTPUT_LEN, "temperature": 0,
                           "stream": True, "stream_options": {"include_usage": True},
                           "ignore_eos": True})
        start, first, tokens = time.perf_counter(), None, 0
        connection.request("POST", "/v1/completions", body=body,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {response.read()[:200]}")
        for line in response:
            if not line.startswith(b"data: "):
                continue
            data = line[6:].strip()
            if data == b"[DONE]":
                break
            event = json.loads(data)
            if first is None and event["choices"]:
                first = time.perf_counter()
            if event.get("usage"):
                tokens = event["usage"]["completion_tokens"]
        response.read()
        records.append((start, first - start, time.perf_counter() - start, tokens))
    connection.close()


def run(label, worker):
    stop, records = threading.Event(), []
    threads = [threading.Thread(target=worker, args=(stop, records, i)) for i in range(STREAMS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(WARMUP_S + SECONDS)
    stop.set()
    for t in threads:
        t.join()
    # Requests started inside the measured window [t0 + warm-up, t0 + warm-up + SECONDS).
    window = [r for r in records if t0 + WARMUP_S <= r[0] < t0 + WARMUP_S + SECONDS]
    ttft = sorted(r[1] * 1000 for r in window)
    e2e = sorted(r[2] * 1000 for r in window)
    p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return {"label": label, "requests": len(window), "rps": len(window) / SECONDS,
            "tps": sum(r[3] for r in window) / SECONDS, "ttft_p50": statistics.median(ttft),
            "ttft_p99": p(ttft, 0.99), "e2e_p50": statistics.median(e2e),
            "tokens_ok": all(r[3] == OUTPUT_LEN for r in window)}


def main():
    stubs()
    grpc_result = run("gRPC", grpc_worker)
    http_result = run("HTTP", http_worker)
    print(f"{STREAMS} streams, {SECONDS:.0f} s after {WARMUP_S:.0f} s warm-up; "
          f"{INPUT_LEN}-token prompts, {OUTPUT_LEN} output tokens\n")
    print("| metric | gRPC API | HTTP front | HTTP vs gRPC |\n|---|---|---|---|")
    for key, name in (("rps", "requests/s"), ("tps", "output tokens/s")):
        g, h = grpc_result[key], http_result[key]
        print(f"| {name} | {g:.2f} | {h:.2f} | {100 * (h - g) / g:+.1f}% |")
    for key, name in (("ttft_p50", "TTFT p50 (ms)"), ("ttft_p99", "TTFT p99 (ms)"),
                      ("e2e_p50", "E2E p50 (ms)")):
        g, h = grpc_result[key], http_result[key]
        print(f"| {name} | {g:.2f} | {h:.2f} | {h - g:+.2f} ms |")
    print(f"\nrequests: gRPC {grpc_result['requests']}, HTTP {http_result['requests']}; "
          f"every request got {OUTPUT_LEN} tokens: "
          f"{grpc_result['tokens_ok'] and http_result['tokens_ok']}")


if __name__ == "__main__":
    main()
