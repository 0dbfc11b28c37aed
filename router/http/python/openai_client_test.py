#!/usr/bin/env python3
"""The HTTP front from the official `openai` Python client (PyPI; the venv
scripts/setup.sh makes over Debian's python3, which also holds python3-grpcio)
against `gqa serve --http-port` on the default model: chat and completions,
streaming and not, their greedy text equal to the gRPC API's, log-probabilities,
OpenAI-style errors for bad bodies, API keys, 429 past a key's stream limit,
and a client that disconnects mid-stream cancelling the worker's sequence.

  openai_client_test.py GQA_BINARY PROTO_DIR      (model: $GQA_DEFAULT_MODEL)
Exits 77 (skipped) when the default model or the openai package is absent.
"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import unittest

GQA, PROTO_DIR = sys.argv[1:3]
MODEL = os.environ.get("GQA_DEFAULT_MODEL") or os.path.expanduser(
    "~/.cache/gqaserve/models/SmolLM2-135M-Instruct.Q4_1.gguf")
KEY, ONE_STREAM_KEY = "sk-test-open", "sk-test-one-stream"
CHAT = [{"role": "system", "content": "You are brief."},
        {"role": "user", "content": "What is the capital of France?"}]


def generate_stubs(out_dir):
    protos = [os.path.join("gqa", "v1", name)
              for name in ("common.proto", "inference.proto", "worker.proto")]
    subprocess.run(
        ["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", f"--grpc_out={out_dir}",
         "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos],
        check=True)
    sys.path.insert(0, out_dir)


class OpenAiClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        generate_stubs(cls.tmp.name)
        keys = os.path.join(cls.tmp.name, "keys.txt")
        with open(keys, "w") as f:
            f.write(f"{KEY} tenant=t1\n{ONE_STREAM_KEY} tenant=t2 max_streams=1\n")
        cls.serve = subprocess.Popen(
            [GQA, "serve", "--model", MODEL, "--port", "0", "--workers", "1", "--threads", "1",
             "--http-port", "0", "--api-keys", keys],
            stdout=subprocess.PIPE, text=True)
        line, deadline = "", time.time() + 120
        while time.time() < deadline and not line.startswith("gqaserve is up"):
            line = cls.serve.stdout.readline()
            if not line:
                break
        match = re.match(r"gqaserve is up: router ([^,]+), 1 worker\(s\) (\S+),.*, http (\S+)",
                         line)
        if match is None:
            cls.serve.kill()
            raise RuntimeError(f"gqa serve did not come up: {line!r}")
        router, worker, cls.http = match.groups()
        import grpc
        import openai
        from gqa.v1 import inference_pb2, inference_pb2_grpc, worker_pb2, worker_pb2_grpc
        cls.pb, cls.worker_pb = inference_pb2, worker_pb2
        cls.channel = grpc.insecure_channel(router)
        cls.worker_channel = grpc.insecure_channel(worker)
        cls.stub = inference_pb2_grpc.InferenceStub(cls.channel)
        cls.worker = worker_pb2_grpc.WorkerStub(cls.worker_channel)
        cls.metadata = (("authorization", f"Bearer {KEY}"),)
        models = cls.stub.ListModels(inference_pb2.ListModelsRequest(), timeout=60,
                                     wait_for_ready=True, metadata=cls.metadata)
        cls.model = models.models[0].name
        cls.client = openai.OpenAI(base_url=f"http://{cls.http}/v1", api_key=KEY, max_retries=0,
                                   timeout=120)
        cls.openai = openai

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.worker_channel.close()
        cls.serve.send_signal(signal.SIGTERM)
        cls.serve.wait(timeout=60)
        cls.tmp.cleanup()

    def grpc_complete(self, max_tokens, chat=None, text=None, **fields):
        request = self.pb.GenerateRequest(max_tokens=max_tokens, **fields)
        if chat is not None:
            roles = {"system": 1, "user": 2, "assistant": 3}
            for message in chat:
                request.chat.messages.add(role=roles[message["role"]], content=message["content"])
        else:
            request.text = text
        request.sampling.temperature = 0.0
        return self.stub.Complete(request, timeout=120, metadata=self.metadata)

    def raw(self, method, path, body=None, headers=None):
        """One raw HTTP request; returns (status, parsed JSON body)."""
        connection = http.client.HTTPConnection(self.http, timeout=60)
        all_headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        all_headers.update(headers or {})
        connection.request(method, path, body=body, headers=all_headers)
        response = connection.getresponse()
        status, data = response.status, response.read()
        connection.close()
        return status, json.loads(data)

    def test_chat_greedy_text_equals_the_grpc_api(self):
        expected = self.grpc_complete(24, chat=CHAT)
        reply = self.client.chat.completions.create(model=self.model, messages=CHAT,
                                                    max_tokens=24, temperature=0)
        self.assertEqual(reply.object, "chat.completion")
        self.assertEqual(reply.choices[0].message.role, "assistant")
        self.assertEqual(reply.choices[0].message.content, expected.text)
        self.assertTrue(expected.text.strip())
        self.assertEqual(reply.usage.completion_tokens, len(expected.token_ids))
        self.assertEqual(reply.usage.prompt_tokens, expected.usage.num_prompt_tokens)
        self.assertEqual(reply.choices[0].finish_reason,
                         "length" if len(expected.token_ids) == 24 else "stop")
        # Streaming: the deltas join to the same text; usage comes last.
        chunks = list(self.client.chat.completions.create(
            model=self.model, messages=CHAT, max_tokens=24, temperature=0, stream=True,
            stream_options={"include_usage": True}))
        self.assertEqual(chunks[0].choices[0].delta.role, "assistant")
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        self.assertEqual(text, expected.text)
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        self.assertEqual(finishes[-1], reply.choices[0].finish_reason)
        self.assertEqual(chunks[-1].choices, [])
        self.assertEqual(chunks[-1].usage.completion_tokens, len(expected.token_ids))
        self.assertEqual(len({c.id for c in chunks}), 1)

    def test_completion_greedy_text_equals_the_grpc_api(self):
        prompt = "The three primary colours are"
        expected = self.grpc_complete(16, text=prompt, ignore_eos=True)
        reply = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=16,
                                               temperature=0, extra_body={"ignore_eos": True})
        self.assertEqual(reply.object, "text_completion")
        self.assertEqual(reply.choices[0].text, expected.text)
        self.assertEqual(reply.choices[0].finish_reason, "length")
        self.assertEqual(reply.usage.completion_tokens, 16)
        stream = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=16,
                                                temperature=0, stream=True,
                                                extra_body={"ignore_eos": True})
        chunks = list(stream)
        self.assertEqual("".join(c.choices[0].text for c in chunks), expected.text)
        self.assertEqual(chunks[-1].choices[0].finish_reason, "length")
        # A stop string ends the text before it, as in the gRPC API.
        stop = expected.text.split()[1]
        stopped = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=16,
                                                 temperature=0, stop=[stop])
        self.assertEqual(stopped.choices[0].text,
                         self.grpc_complete(16, text=prompt, stop_strings=[stop]).text)
        self.assertNotIn(stop, stopped.choices[0].text)
        self.assertEqual(stopped.choices[0].finish_reason, "stop")

    def test_logprobs_match_the_grpc_api(self):
        expected = self.grpc_complete(8, chat=CHAT, logprobs=True, top_logprobs=3)
        reply = self.client.chat.completions.create(model=self.model, messages=CHAT, max_tokens=8,
                                                    temperature=0, logprobs=True, top_logprobs=3)
        content = reply.choices[0].logprobs.content
        self.assertEqual(len(content), len(expected.token_ids))
        for entry, want in zip(content, expected.logprobs):
            self.assertAlmostEqual(entry.logprob, want.logprob, places=5)
            self.assertEqual(len(entry.top_logprobs), 3)
            # Greedy: the chosen token is the most probable one.
            self.assertEqual(entry.token, entry.top_logprobs[0].token)
            self.assertAlmostEqual(entry.logprob, entry.top_logprobs[0].logprob, places=5)
        legacy = self.client.completions.create(model=self.model, prompt="Hello", max_tokens=4,
                                                temperature=0, logprobs=2)
        self.assertEqual(len(legacy.choices[0].logprobs.tokens), 4)
        self.assertEqual(len(legacy.choices[0].logprobs.top_logprobs[0]), 2)

    def test_models_and_health(self):
        models = self.client.models.list()
        self.assertEqual([m.id for m in models.data], [self.model])
        status, body = self.raw("GET", "/health")
        self.assertEqual((status, body["status"]), (200, "ok"))

    def test_bad_bodies_get_openai_errors(self):
        chat = '"messages": [{"role": "user", "content": "hi"}]'
        cases = [
            ("{" + chat, 400, None, "not valid JSON"),
            ('{"messages": "hi"}', 400, "messages", "non-empty array"),
            ("{" + chat + ', "max_tokens": "ten"}', 400, "max_tokens", "integer"),
            ("{" + chat + ', "frobnicate": 1}', 400, "frobnicate", "unrecognized"),
            ("{" + chat + ', "n": 3}', 400, "n", "one choice"),
            ("{" + chat + ', "max_tokens": 100000}', 400, None, "max_tokens"),
            ("{" + chat + ', "model": "no-such-model"}', 404, None, "no-such-model"),
            ('{"prompt": "x", "padding": "' + "a" * (2 << 20) + '"}', 413, None, "exceeds"),
        ]
        for body, want_status, want_param, want_text in cases:
            with self.subTest(body=body[:60]):
                status, reply = self.raw("POST", "/v1/chat/completions", body=body.encode())
                self.assertEqual(status, want_status, reply)
                self.assertIn(want_text, reply["error"]["message"])
                self.assertIn("type", reply["error"])
                if want_param:
                    self.assertEqual(reply["error"]["param"], want_param)
        status, reply = self.raw("GET", "/v1/nowhere")
        self.assertEqual(status, 404)
        self.assertIn("no route", reply["error"]["message"])
        # The same errors through the client's exception classes.
        with self.assertRaises(self.openai.NotFoundError):
            self.client.chat.completions.create(model="no-such-model", messages=CHAT)
        with self.assertRaises(self.openai.BadRequestError):
            self.client.chat.completions.create(model=self.model, messages=CHAT, n=2)

    def test_a_stream_refused_before_its_first_token_gets_an_http_error(self):
        with self.assertRaises(self.openai.BadRequestError) as caught:
            list(self.client.completions.create(model=self.model, prompt="x", max_tokens=100000,
                                                stream=True))
        self.assertIn("max_tokens", str(caught.exception))

    def test_api_keys(self):
        status, reply = self.raw("GET", "/v1/models", headers={"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401)
        self.assertEqual(reply["error"]["type"], "authentication_error")
        connection = http.client.HTTPConnection(self.http, timeout=60)
        connection.request("POST", "/v1/completions", body=b'{"prompt": "x"}')
        response = connection.getresponse()
        self.assertEqual(response.status, 401)
        self.assertIn("API key", json.loads(response.read())["error"]["message"])
        connection.close()
        bad = self.openai.OpenAI(base_url=f"http://{self.http}/v1", api_key="nope",
                                 max_retries=0)
        with self.assertRaises(self.openai.AuthenticationError):
            bad.completions.create(model=self.model, prompt="x", max_tokens=1)

    def test_a_key_past_its_stream_limit_gets_429(self):
        limited = self.openai.OpenAI(base_url=f"http://{self.http}/v1", api_key=ONE_STREAM_KEY,
                                     max_retries=0, timeout=120)
        stream = limited.completions.create(model=self.model, prompt="Count:", max_tokens=2000,
                                            temperature=0, stream=True,
                                            extra_body={"ignore_eos": True})
        next(iter(stream))  # the first stream is running
        with self.assertRaises(self.openai.RateLimitError):
            limited.completions.create(model=self.model, prompt="x", max_tokens=1)
        stream.response.close()

    def running_on_worker(self):
        load = self.worker.Load(self.worker_pb.LoadRequest(), timeout=10)
        return load.num_running_sequences + load.num_waiting_sequences

    def test_a_client_that_disconnects_cancels_the_sequence(self):
        deadline = time.time() + 30
        while self.running_on_worker() and time.time() < deadline:
            time.sleep(0.1)  # an earlier test's stream may still be ending
        self.assertEqual(self.running_on_worker(), 0)
        stream = self.client.chat.completions.create(
            model=self.model, messages=CHAT, max_tokens=3000, temperature=0, stream=True,
            extra_body={"ignore_eos": True})
        chunks = iter(stream)
        for _ in range(4):
            next(chunks)
        self.assertEqual(self.running_on_worker(), 1)
        started = time.time()
        stream.response.close()  # the client goes away mid-stream
        while self.running_on_worker() and time.time() - started < 20:
            time.sleep(0.05)
        # 3000 tokens would take minutes on one CPU thread; the worker let go at once.
        self.assertEqual(self.running_on_worker(), 0)
        self.assertLess(time.time() - started, 10)


class NoWorkerTest(unittest.TestCase):
    """A router whose only worker never answers: 503 from /health and the API."""

    def test_no_worker_is_503(self):
        router = os.path.join(os.path.dirname(GQA), "..", "gqa_router", "gqa-router")
        process = subprocess.Popen(
            [router, "--model", MODEL, "--workers", "127.0.0.1:1", "--port", "0",
             "--listen", "127.0.0.1", "--http-port", "0", "--max-attempts", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            line = process.stdout.readline()
            match = re.search(r"http on (\S+?)\)?$", line.strip())
            self.assertIsNotNone(match, line)
            address = match.group(1)
            for method, path, body in (("GET", "/health", None),
                                       ("POST", "/v1/completions", b'{"prompt": "x"}'),
                                       ("POST", "/v1/completions",
                                        b'{"prompt": "x", "stream": true}')):
                connection = http.client.HTTPConnection(address, timeout=60)
                connection.request(method, path, body=body)
                response = connection.getresponse()
                reply = json.loads(response.read())
                connection.close()
                self.assertEqual(response.status, 503, (path, body, reply))
                self.assertIn("worker", reply["error"]["message"])
                self.assertEqual(reply["error"]["type"], "service_unavailable_error")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
            process.stdout.close()


if __name__ == "__main__":
    if not os.path.exists(MODEL):
        print(f"skipped: no default model at {MODEL}")
        sys.exit(77)
    try:
        import openai  # noqa: F401
    except ImportError:
        print("skipped: no openai package (scripts/setup.sh installs it into a venv)")
        sys.exit(77)
    unittest.main(argv=sys.argv[:1])
