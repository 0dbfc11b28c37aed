#!/usr/bin/python3
"""The router's API from another language: Python (Debian's python3-grpcio)
with stubs generated from proto/ at test time talks to a local cluster
started by `gqa serve` on the default model.

  router_client_test.py GQA_BINARY PROTO_DIR      (model: $GQA_DEFAULT_MODEL)
Exits 77 (skipped) when the default model is absent.
"""
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


def generate_stubs(out_dir):
    protos = [os.path.join("gqa", "v1", name)
              for name in ("common.proto", "inference.proto")]
    subprocess.run(
        ["protoc", f"-I{PROTO_DIR}", f"--python_out={out_dir}", f"--grpc_out={out_dir}",
         "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", *protos],
        check=True)
    sys.path.insert(0, out_dir)


class RouterClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stub_dir = tempfile.TemporaryDirectory()
        generate_stubs(cls.stub_dir.name)
        cls.serve = subprocess.Popen(
            [GQA, "serve", "--model", MODEL, "--port", "0", "--workers", "1", "--threads", "1"],
            stdout=subprocess.PIPE, text=True)
        address = None
        deadline = time.time() + 120
        while time.time() < deadline:
            line = cls.serve.stdout.readline()
            if not line:
                break
            match = re.match(r"gqaserve is up: router ([^,]+),", line)
            if match:
                address = match.group(1)
                break
        if address is None:
            cls.serve.kill()
            raise RuntimeError("gqa serve did not come up")
        import grpc
        from gqa.v1 import common_pb2, inference_pb2, inference_pb2_grpc
        cls.pb = inference_pb2
        cls.common = common_pb2
        cls.channel = grpc.insecure_channel(address)
        cls.stub = inference_pb2_grpc.InferenceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.serve.send_signal(signal.SIGTERM)
        cls.serve.wait(timeout=60)
        cls.stub_dir.cleanup()

    def request(self, text, max_tokens=12):
        request = self.pb.GenerateRequest(text=text, max_tokens=max_tokens)
        request.sampling.temperature = 0.0
        request.sampling.seed = 1
        return request

    def test_generate_streams_the_same_text_complete_returns(self):
        request = self.request("The capital of France is")
        chunks = list(self.stub.Generate(request, timeout=60, wait_for_ready=True))
        streamed_text = "".join(chunk.text for chunk in chunks)
        streamed_ids = [i for chunk in chunks for i in chunk.token_ids]
        self.assertTrue(chunks[0].request_id)
        self.assertEqual(len(streamed_ids), 12)
        self.assertTrue(streamed_text.strip())
        final = chunks[-1]
        self.assertEqual(final.usage.num_generated_tokens, 12)
        self.assertEqual(final.finish_reason, self.common.FINISH_REASON_LENGTH)
        whole = self.stub.Complete(request, timeout=60)
        self.assertEqual(whole.text, streamed_text)
        self.assertEqual(list(whole.token_ids), streamed_ids)

    def test_tokenize_and_list_models(self):
        tokens = self.stub.Tokenize(self.pb.TokenizeRequest(text="hello world"), timeout=30)
        self.assertGreater(len(tokens.token_ids), 0)
        models = self.stub.ListModels(self.pb.ListModelsRequest(), timeout=30, wait_for_ready=True)
        self.assertEqual(len(models.models), 1)
        self.assertEqual(models.models[0].shape.num_kv_heads, 3)

    def test_a_bad_request_is_invalid_argument(self):
        import grpc
        with self.assertRaises(grpc.RpcError) as caught:
            list(self.stub.Generate(self.pb.GenerateRequest(), timeout=30))
        self.assertEqual(caught.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)


if __name__ == "__main__":
    if not os.path.exists(MODEL):
        print(f"skipped: no default model at {MODEL}")
        sys.exit(77)
    unittest.main(argv=sys.argv[:1])
