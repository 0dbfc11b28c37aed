#include "core/safetensors/safetensors_corpus_cases.h"

#include <functional>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/safetensors/safetensors_writer.h"
#include "nlohmann/json.hpp"

namespace gqa {
namespace {

using Json = nlohmann::ordered_json;
using Code = absl::StatusCode;
constexpr Code kOk = Code::kOk;
constexpr Code kInvalid = Code::kInvalidArgument;
constexpr Code kUnimplemented = Code::kUnimplemented;

// A file of `header` followed by `data_bytes` bytes of data.
std::string File(absl::string_view header, size_t data_bytes) {
  return SafetensorsBytes(header, std::string(data_bytes, '\x01'));
}

// An 8-byte little-endian header length that need not match what follows.
std::string Length(uint64_t length) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((length >> (8 * i)) & 0xFF));
  return out;
}

// One F32 tensor 't' of shape [2] at [0, 8): the smallest interesting file.
std::string OneTensor(absl::string_view entry, size_t data_bytes = 8) {
  return File(absl::StrCat(R"({"t":)", entry, "}"), data_bytes);
}

std::string ValidFile() {
  SafetensorsWriter writer;
  const std::vector<float> values = {1.0f, -2.0f, 0.5f, 3.0f, 0.25f, -1.0f};
  CHECK(writer
            .AddTensor("model.embed_tokens.weight", SafetensorsDtype::kF32, {2, 3},
                       EncodeFloats(values, SafetensorsDtype::kF32))
            .ok());
  CHECK(writer
            .AddTensor("model.norm.weight", SafetensorsDtype::kBF16, {3},
                       EncodeFloats({1.0f, 2.0f, 0.5f}, SafetensorsDtype::kBF16))
            .ok());
  CHECK(writer.AddTensor("step", SafetensorsDtype::kI64, {}, std::string(8, '\0')).ok());
  CHECK(writer.AddTensor("empty", SafetensorsDtype::kF16, {0, 4}, "").ok());
  writer.AddMetadata("format", "pt");
  return writer.Finish();
}

Json BaseConfig() {
  return Json{{"architectures", {"LlamaForCausalLM"}},
              {"model_type", "llama"},
              {"hidden_size", 40},
              {"intermediate_size", 48},
              {"num_attention_heads", 4},
              {"num_key_value_heads", 2},
              {"head_dim", 8},
              {"num_hidden_layers", 2},
              {"vocab_size", 64},
              {"max_position_embeddings", 128},
              {"rms_norm_eps", 1e-5},
              {"rope_theta", 10000.0},
              {"rope_scaling", nullptr},
              {"tie_word_embeddings", false},
              {"hidden_act", "silu"},
              {"torch_dtype", "float32"}};
}

std::string Config(const std::function<void(Json&)>& edit) {
  Json config = BaseConfig();
  edit(config);
  return config.dump(2);
}

Json Llama3Scaling() {
  return Json{{"rope_type", "llama3"},
              {"factor", 8.0},
              {"low_freq_factor", 1.0},
              {"high_freq_factor", 4.0},
              {"original_max_position_embeddings", 8192}};
}

void AddFileCases(std::vector<SafetensorsCorpusCase>& cases) {
  const auto file = [&cases](std::string name, std::string bytes, Code code, std::string phrase) {
    cases.push_back(
        {std::move(name), std::move(bytes), SafetensorsCaseStage::kFile, code, std::move(phrase)});
  };
  const std::string f32 = R"({"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  file("valid_tensors", ValidFile(), kOk, "");
  file("valid_empty", SafetensorsBytes("{}      ", ""), kOk, "");
  file("valid_metadata_only", SafetensorsBytes(R"({"__metadata__":{"a":"b"}})", ""), kOk, "");
  file("too_short", std::string("\x05\0\0\0\0", 5), kInvalid, "shorter than the 8-byte header");
  file("header_length_huge", Length(uint64_t{1} << 40) + "{}", kInvalid, "exceeds the limit");
  file("header_length_past_eof", Length(64) + "{}", kInvalid, "runs past the end of the file");
  file("header_empty", SafetensorsBytes("", ""), kInvalid, "does not start with '{'");
  file("header_leading_space", SafetensorsBytes(R"( {"t":1})", ""), kInvalid,
       "does not start with '{'");
  file("header_invalid_json", SafetensorsBytes(R"({"t":)", ""), kInvalid, "not valid JSON");
  file("header_trailing_garbage", SafetensorsBytes("{}x", ""), kInvalid, "not valid JSON");
  file("header_nested_too_deep",
       SafetensorsBytes(absl::StrCat(R"({"a":)", std::string(80, '['), std::string(80, ']'), "}"),
                        ""),
       kInvalid, "nested deeper than");
  file("name_not_utf8", SafetensorsBytes("{\"\xff\":1}", ""), kInvalid, "not valid JSON");
  file("duplicate_tensor", File(absl::StrCat(R"({"t":)", f32, R"(,"t":)", f32, "}"), 8), kInvalid,
       "key 't' occurs twice");
  file("duplicate_entry_key",
       OneTensor(R"({"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]})"), kInvalid,
       "key 'dtype' occurs twice in 't'");
  file("duplicate_metadata", SafetensorsBytes(R"({"__metadata__":{},"__metadata__":{}})", ""),
       kInvalid, "key '__metadata__' occurs twice");
  file("metadata_not_object", SafetensorsBytes(R"({"__metadata__":[]})", ""), kInvalid,
       "'__metadata__' is a JSON array");
  file("metadata_value_not_string", SafetensorsBytes(R"({"__metadata__":{"n":1}})", ""), kInvalid,
       "value of 'n' is a JSON integer, not a string");
  file("empty_tensor_name", File(absl::StrCat(R"({"":)", f32, "}"), 8), kInvalid,
       "tensor name of 0 bytes");
  file("entry_not_object", OneTensor("[1]"), kInvalid, "entry is a JSON array");
  file("entry_unknown_key",
       OneTensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,8],"stride":[1]})"), kInvalid,
       "unknown key 'stride'");
  file("entry_missing_dtype", OneTensor(R"({"shape":[2],"data_offsets":[0,8]})"), kInvalid,
       "missing 'dtype'");
  file("entry_missing_offsets", OneTensor(R"({"dtype":"F32","shape":[2]})"), kInvalid,
       "missing 'data_offsets'");
  file("dtype_not_string", OneTensor(R"({"dtype":4,"shape":[2],"data_offsets":[0,8]})"), kInvalid,
       "dtype is a JSON integer");
  file("dtype_unknown", OneTensor(R"({"dtype":"Q4_0","shape":[2],"data_offsets":[0,8]})"), kInvalid,
       "unknown dtype 'Q4_0'");
  file("dtype_lower_case", OneTensor(R"({"dtype":"f32","shape":[2],"data_offsets":[0,8]})"),
       kInvalid, "unknown dtype 'f32'");
  file("shape_not_array", OneTensor(R"({"dtype":"F32","shape":2,"data_offsets":[0,8]})"), kInvalid,
       "shape is a JSON integer");
  file("shape_negative", OneTensor(R"({"dtype":"F32","shape":[-2],"data_offsets":[0,8]})"),
       kInvalid, "a shape dimension is negative (-2)");
  file("shape_not_integer", OneTensor(R"({"dtype":"F32","shape":[2.0],"data_offsets":[0,8]})"),
       kInvalid, "a shape dimension is a JSON number");
  file("shape_rank_nine",
       OneTensor(R"({"dtype":"F32","shape":[1,1,1,1,1,1,1,1,2],"data_offsets":[0,8]})"), kInvalid,
       "9 dimensions (at most 8)");
  file("shape_overflow",
       OneTensor(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]})"),
       kInvalid, "overflows a 64-bit byte size");
  file("shape_dim_huge",
       OneTensor(R"({"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,8]})"), kInvalid,
       "overflows");
  file("offsets_not_array", OneTensor(R"({"dtype":"F32","shape":[2],"data_offsets":"0-8"})"),
       kInvalid, "data_offsets is a JSON string");
  file("offsets_three", OneTensor(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4,8]})"),
       kInvalid, "data_offsets has 3 elements");
  file("offsets_negative", OneTensor(R"({"dtype":"F32","shape":[2],"data_offsets":[-8,0]})"),
       kInvalid, "data_offsets[0] is negative");
  file("offsets_reversed", OneTensor(R"({"dtype":"F32","shape":[0],"data_offsets":[8,0]})"),
       kInvalid, "have begin > end");
  file("size_mismatch", OneTensor(R"({"dtype":"F32","shape":[3],"data_offsets":[0,8]})"), kInvalid,
       "hold 8 bytes but shape [3] of F32 needs 12");
  file("offsets_past_buffer", OneTensor(f32, 4), kInvalid,
       "run past the end of the data buffer (4 bytes)");
  file(
      "offsets_huge",
      OneTensor(
          R"({"dtype":"U8","shape":[8],"data_offsets":[18446744073709551607,18446744073709551615]})"),
      kInvalid, "run past the end of the data buffer");
  file("overlap",
       File(absl::StrCat(R"({"a":)", f32,
                         R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
            12),
       kInvalid, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' [0, 8]");
  file("same_offsets", File(absl::StrCat(R"({"a":)", f32, R"(,"b":)", f32, "}"), 8), kInvalid,
       "overlap tensor");
  file("hole",
       File(absl::StrCat(R"({"a":)", f32,
                         R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}})"),
            20),
       kInvalid, "tensor 'b': hole: data bytes [8, 12) before it");
  file("hole_at_start", OneTensor(R"({"dtype":"F32","shape":[2],"data_offsets":[4,12]})", 12),
       kInvalid, "hole: data bytes [0, 4)");
  file("trailing_bytes", OneTensor(f32, 9), kInvalid, "data bytes [8, 9) after the last tensor");
}

void AddConfigCases(std::vector<SafetensorsCorpusCase>& cases) {
  const auto config = [&cases](std::string name, std::string bytes, Code code, std::string phrase) {
    cases.push_back({absl::StrCat("config_", name), std::move(bytes), SafetensorsCaseStage::kConfig,
                     code, std::move(phrase)});
  };
  config("valid_llama", Config([](Json&) {}), kOk, "");
  config("valid_mistral_defaults", Config([](Json& c) {
           c["architectures"] = {"MistralForCausalLM"};
           c["model_type"] = "mistral";
           c["hidden_size"] = 32;
           c.erase("head_dim");
           c.erase("num_key_value_heads");
           c.erase("rope_theta");
           c["sliding_window"] = 64;
         }),
         kOk, "");
  config("valid_llama3_scaling", Config([](Json& c) { c["rope_scaling"] = Llama3Scaling(); }), kOk,
         "");
  config("invalid_json", "{\"model_type\": \"llama\",", kInvalid, "not valid JSON");
  config("not_object", "[1, 2]", kInvalid, "is a JSON array, not an object");
  config("duplicate_key", R"({"model_type": "llama", "model_type": "mistral"})", kInvalid,
         "key 'model_type' occurs twice");
  config("missing_model_type", Config([](Json& c) { c.erase("model_type"); }), kInvalid,
         "required key 'model_type' is missing");
  config("unsupported_model_type", Config([](Json& c) { c["model_type"] = "qwen2"; }),
         kUnimplemented, "'qwen2' is not supported");
  config("unsupported_architecture",
         Config([](Json& c) { c["architectures"] = {"LlamaForSequenceClassification"}; }),
         kUnimplemented, "LlamaForSequenceClassification] is not supported");
  config("missing_hidden_size", Config([](Json& c) { c.erase("hidden_size"); }), kInvalid,
         "required key 'hidden_size' is missing");
  config("null_vocab_size", Config([](Json& c) { c["vocab_size"] = nullptr; }), kInvalid,
         "required key 'vocab_size' is missing");
  config("missing_rms_norm_eps", Config([](Json& c) { c.erase("rms_norm_eps"); }), kInvalid,
         "required key 'rms_norm_eps' is missing");
  config("hidden_size_string", Config([](Json& c) { c["hidden_size"] = "40"; }), kInvalid,
         "key 'hidden_size' must be an integer, is a JSON string");
  config("layers_float", Config([](Json& c) { c["num_hidden_layers"] = 2.0; }), kInvalid,
         "key 'num_hidden_layers' must be an integer, is a JSON number");
  config("zero_layers", Config([](Json& c) { c["num_hidden_layers"] = 0; }), kInvalid,
         "key 'num_hidden_layers': 0 is out of range");
  config("negative_heads", Config([](Json& c) { c["num_attention_heads"] = -4; }), kInvalid,
         "key 'num_attention_heads': -4 is out of range");
  config("kv_heads_not_divisor", Config([](Json& c) { c["num_key_value_heads"] = 3; }), kInvalid,
         "num_kv_heads=3 must divide");
  config("head_dim_not_derivable", Config([](Json& c) {
           c.erase("head_dim");
           c["hidden_size"] = 42;
         }),
         kInvalid, "no key 'head_dim'");
  config("odd_head_dim", Config([](Json& c) { c["head_dim"] = 7; }), kInvalid,
         "head_dim=7 must be even");
  config("bad_norm_eps", Config([](Json& c) { c["rms_norm_eps"] = 2; }), kInvalid,
         "norm_eps=2 must be in (0, 1)");
  config("tie_not_bool", Config([](Json& c) { c["tie_word_embeddings"] = "yes"; }), kInvalid,
         "key 'tie_word_embeddings' must be a boolean");
  config("gelu", Config([](Json& c) { c["hidden_act"] = "gelu"; }), kUnimplemented,
         "key 'hidden_act': 'gelu' is not supported");
  config("attention_bias", Config([](Json& c) { c["attention_bias"] = true; }), kUnimplemented,
         "key 'attention_bias': biases are not supported");
  config("rope_scaling_not_object", Config([](Json& c) { c["rope_scaling"] = 2.0; }), kInvalid,
         "key 'rope_scaling' must be an object or null");
  config("rope_scaling_dynamic", Config([](Json& c) {
           c["rope_scaling"] = {{"type", "dynamic"}, {"factor", 2.0}};
         }),
         kUnimplemented, "'dynamic' is not supported");
  config("rope_scaling_no_type", Config([](Json& c) {
           c["rope_scaling"] = {{"factor", 2.0}};
         }),
         kInvalid, "'rope_scaling.rope_type' (or 'rope_scaling.type') is missing");
  config("rope_scaling_types_disagree", Config([](Json& c) {
           c["rope_scaling"] = {{"type", "linear"}, {"rope_type", "yarn"}, {"factor", 2.0}};
         }),
         kInvalid, "disagree");
  config("rope_scaling_factor_below_one", Config([](Json& c) {
           c["rope_scaling"] = {{"type", "linear"}, {"factor", 0.5}};
         }),
         kInvalid, "rope scaling factor=0.5 must be >= 1");
  config("llama3_missing_low_freq", Config([](Json& c) {
           c["rope_scaling"] = Llama3Scaling();
           c["rope_scaling"].erase("low_freq_factor");
         }),
         kInvalid, "required key 'rope_scaling.low_freq_factor' is missing");
  config("llama3_low_above_high", Config([](Json& c) {
           c["rope_scaling"] = Llama3Scaling();
           c["rope_scaling"]["low_freq_factor"] = 8.0;
         }),
         kInvalid, "must satisfy 0 < low < high");
}

void AddIndexCases(std::vector<SafetensorsCorpusCase>& cases) {
  const auto index = [&cases](std::string name, std::string bytes, Code code, std::string phrase) {
    cases.push_back({absl::StrCat("index_", name), std::move(bytes), SafetensorsCaseStage::kIndex,
                     code, std::move(phrase)});
  };
  index(
      "valid",
      R"({"metadata": {"total_size": 16}, "weight_map": {"a": "model-00001-of-00002.safetensors",)"
      R"( "b": "model-00002-of-00002.safetensors"}})",
      kOk, "");
  index("invalid_json", R"({"weight_map": {"a": }})", kInvalid, "not valid JSON");
  index("missing_weight_map", R"({"metadata": {}})", kInvalid, "required key 'weight_map'");
  index("empty_weight_map", R"({"weight_map": {}})", kInvalid, "with no entries");
  index("value_not_string", R"({"weight_map": {"a": 1}})", kInvalid,
        "value of tensor 'a' is a JSON integer");
  index("path_traversal", R"({"weight_map": {"a": "../../etc/x.safetensors"}})", kInvalid,
        "is not a plain file name");
  index("absolute_path", R"({"weight_map": {"a": "/tmp/x.safetensors"}})", kInvalid,
        "is not a plain file name");
  index("not_safetensors", R"({"weight_map": {"a": "pytorch_model.bin"}})", kInvalid,
        "is not a plain file name");
  index("duplicate_tensor", R"({"weight_map": {"a": "m1.safetensors", "a": "m2.safetensors"}})",
        kInvalid, "key 'a' occurs twice in 'weight_map'");
}

}  // namespace

std::vector<SafetensorsCorpusCase> SafetensorsCorpusCases() {
  std::vector<SafetensorsCorpusCase> cases;
  AddFileCases(cases);
  AddConfigCases(cases);
  AddIndexCases(cases);
  return cases;
}

}  // namespace gqa
