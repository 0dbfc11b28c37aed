// How gqa-loadgen reaches its target and what each request asks for: the
// address, API (router or worker), TLS and key, and the per-request settings
// (KV policy and dtype, sampling, ignore_eos). Plain structs shared by the
// flag parser and the gRPC sender.
#ifndef GQA_TOOLS_GQA_LOADGEN_TARGET_OPTIONS_H_
#define GQA_TOOLS_GQA_LOADGEN_TARGET_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>

#include "core/dtype.h"
#include "core/kv_options.h"

namespace gqa::loadgen {

enum class Api {
  kInference,  // gqa.v1.Inference (the router): text or token-id prompts
  kWorker,     // gqa.v1.Worker (one worker directly): token ids only
};

struct TargetOptions {
  std::string address;  // host:port, or any gRPC target name
  Api api = Api::kInference;
  // TLS: on when `tls` (or any TLS file is given). Empty paths: the system's
  // roots and no client certificate.
  bool tls = false;
  std::string tls_ca_path;
  std::string tls_cert_path;  // client certificate (mTLS), with tls_key_path
  std::string tls_key_path;
  std::string tls_server_name;  // overrides the name checked in the certificate
  // Sent as "authorization: Bearer <key>"; empty: none.
  std::string api_key;
  // Inference: the model to ask for (empty: the router's default).
  std::string model;
  // Worker: the tenant named in every Submit.
  std::string tenant = "loadgen";
  // Separate HTTP/2 connections, requests spread round-robin; >= 1.
  int64_t connections = 1;
  // Each request's gRPC deadline, in seconds.
  double request_timeout_s = 600;
};

struct RequestSettings {
  std::optional<KvPolicy> kv_policy;  // nullopt: the server's default
  std::optional<DType> kv_dtype;      // nullopt: any
  float temperature = 0.0f;           // 0: greedy
  uint64_t seed = 0;                  // request i samples with seed + i
  bool ignore_eos = true;             // fixed output lengths
  bool keep_output_tokens = false;    // record the output token ids (quality)
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_TARGET_OPTIONS_H_
