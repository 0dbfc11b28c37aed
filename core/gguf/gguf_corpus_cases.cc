#include "core/gguf/gguf_corpus_cases.h"

#include <cstdint>
#include <utility>

#include "core/gguf/gguf_test_util.h"
#include "core/gguf/gguf_value.h"
#include "core/gguf/gguf_writer.h"
#include "core/log.h"

namespace gqa {
namespace {

using Code = absl::StatusCode;
constexpr GgufCaseStage kParse = GgufCaseStage::kParse;
constexpr GgufCaseStage kConfig = GgufCaseStage::kModelConfig;

std::string Written(const GgufWriter& writer) {
  absl::StatusOr<std::string> bytes = writer.Write();
  CHECK(bytes.ok()) << bytes.status();
  return *std::move(bytes);
}

// Every value type once, a nested array, every common tensor type; version 2
// with 64-byte alignment.
std::string MetadataTypesFile() {
  GgufWriter w(GgufWriterOptions{.version = 2, .alignment = 64});
  w.AddUint8("t.u8", 200);
  w.AddInt8("t.i8", -100);
  w.AddUint16("t.u16", 60000);
  w.AddInt16("t.i16", -30000);
  w.AddUint32("t.u32", 4000000000u);
  w.AddInt32("t.i32", -2000000000);
  w.AddFloat32("t.f32", 0.5f);
  w.AddBool("t.bool", true);
  w.AddString("t.str", "h\xC3\xA9llo");
  w.AddUint64("t.u64", 18000000000000000000ull);
  w.AddInt64("t.i64", -9000000000000000000ll);
  w.AddFloat64("t.f64", -2.25);
  w.AddStringArray("t.strs", {"x", "", "yz"});
  w.AddInt32Array("t.i32s", {1, -2, 3});
  w.AddFloat32Array("t.f32s", {1.5f, -0.25f});
  const uint8_t packed[2] = {7, 9};
  w.AddValue("t.nested",
             GgufValue::ArrayArray({GgufValue::StringArray({"a", "b"}),
                                    GgufValue::ScalarArray(GgufValueType::kUint8, 2, packed)}));
  const std::pair<GgmlType, std::vector<int64_t>> tensors[] = {
      {GgmlType::kF32, {8}},      {GgmlType::kF16, {4, 2}}, {GgmlType::kBF16, {4, 1, 1, 2}},
      {GgmlType::kQ4_0, {32, 2}}, {GgmlType::kQ4_1, {32}},  {GgmlType::kQ8_0, {64}},
      {GgmlType::kQ4_K, {256}},
  };
  uint32_t seed = 100;
  for (const auto& [type, shape] : tensors) {
    w.AddTensor(std::string("w.") + std::string(GgmlTypeName(type)), type, shape,
                PatternBytes(GgmlBytes(type, shape), ++seed));
  }
  return Written(w);
}

// Two tensors ("tensor_a" F32 [8], "tensor_b" Q4_0 [32, 2]) for patching.
std::string TwoTensorFile() {
  GgufWriter w;
  w.AddString("general.name", "two tensors");
  w.AddTensor("tensor_a", GgmlType::kF32, {8}, PatternBytes(32, 1));
  w.AddTensor("tensor_b", GgmlType::kQ4_0, {32, 2}, PatternBytes(36, 2));
  return Written(w);
}

// Field offsets inside a tensor info, relative to TensorInfoOffset().
size_t DimOffset(int d) { return 4 + 8 * d; }
size_t TypeOffset(int n_dims) { return 4 + 8 * n_dims; }
size_t DataOffsetField(int n_dims) { return 4 + 8 * n_dims + 4; }

std::string PatchTensor(size_t field, int bits, uint64_t value, absl::string_view name) {
  std::string file = TwoTensorFile();
  const size_t at = TensorInfoOffset(file, name) + field;
  bits == 32 ? PatchU32(&file, at, static_cast<uint32_t>(value)) : PatchU64(&file, at, value);
  return file;
}

std::string OneKv(const GgufBytes& kv) { return GgufBytes().Header(0, 1).Raw(kv.bytes()).bytes(); }

std::string Edit(GgufEdit edit) { return EditGguf(TinyLlamaGguf(), edit); }

void AddParseCases(std::vector<GgufCorpusCase>* cases) {
  const std::string tiny = TinyLlamaGguf();
  std::string bad_magic = tiny;
  bad_magic.replace(0, 4, "GGML");
  std::string dup_tensor = TwoTensorFile();
  dup_tensor[StringOffset(dup_tensor, "tensor_b") + 8 + 7] = 'a';
  std::string bad_name = TwoTensorFile();
  bad_name[StringOffset(bad_name, "tensor_b") + 8 + 7] = '\xff';
  std::vector<GgufCorpusCase> list = {
      {"truncated_header", tiny.substr(0, 10), kParse, Code::kInvalidArgument, "truncated header"},
      {"bad_magic", bad_magic, kParse, Code::kInvalidArgument, "bad magic"},
      {"version_1", GgufBytes().Header(0, 0, 1).bytes(), kParse, Code::kUnimplemented,
       "version 1 is not supported"},
      {"version_99", GgufBytes().Header(0, 0, 99).bytes(), kParse, Code::kUnimplemented,
       "version 99 is not supported"},
      {"version_big_endian", GgufBytes().Header(0, 0, 0x03000000).bytes(), kParse,
       Code::kUnimplemented, "big-endian"},
      {"kv_count_huge", GgufBytes().Header(0, uint64_t{1} << 60).U64(0).bytes(), kParse,
       Code::kInvalidArgument, "metadata_kv_count 1152921504606846976 cannot fit"},
      {"tensor_count_huge", GgufBytes().Header(uint64_t{1} << 58, 0).U64(0).bytes(), kParse,
       Code::kInvalidArgument, "cannot fit"},
      {"truncated_metadata", OneKv(GgufBytes().Str("key").U32(4).Raw("\x01\x02")), kParse,
       Code::kInvalidArgument,
       "truncated: key 'key': UINT32 value at byte 39 needs 4 bytes but only 2 remain"},
      {"truncated_tensor_info", tiny.substr(0, TensorInfoOffset(tiny, "output_norm.weight") + 3),
       kParse, Code::kInvalidArgument, "truncated: tensor 'output_norm.weight': n_dims"},
      {"truncated_data", tiny.substr(0, tiny.size() - 20), kParse, Code::kInvalidArgument,
       "tensor 'output_norm.weight': data [offset"},
      {"key_too_long", OneKv(GgufBytes().U64(70000).Raw("xxxxxxxx")), kParse,
       Code::kInvalidArgument, "exceeds the limit of 65535 bytes"},
      {"key_past_eof", OneKv(GgufBytes().U64(1000).Raw("abcdefgh")), kParse, Code::kInvalidArgument,
       "truncated: metadata key #0"},
      {"empty_key", OneKv(GgufBytes().Str("").U32(0).U8(1)), kParse, Code::kInvalidArgument,
       "metadata key #0 at byte 24 is empty"},
      {"key_not_utf8", OneKv(GgufBytes().Str("k\xff").U32(0).U8(1)), kParse, Code::kInvalidArgument,
       "is not valid UTF-8"},
      {"string_too_long", OneKv(GgufBytes().Str("k").U32(8).U64(uint64_t{1} << 40)), kParse,
       Code::kInvalidArgument, "key 'k' at byte 37: length 1099511627776 exceeds the limit"},
      {"string_past_eof", OneKv(GgufBytes().Str("k").U32(8).U64(100).Raw("short")), kParse,
       Code::kInvalidArgument, "truncated: key 'k'"},
      {"invalid_value_type", OneKv(GgufBytes().Str("k").U32(13).U8(0)), kParse,
       Code::kInvalidArgument, "key 'k': invalid value type 13"},
      {"invalid_array_type", OneKv(GgufBytes().Str("k").U32(9).U32(77).U64(0)), kParse,
       Code::kInvalidArgument, "invalid array element type 77"},
      {"array_count_huge", OneKv(GgufBytes().Str("k").U32(9).U32(4).U64(uint64_t{1} << 62)), kParse,
       Code::kInvalidArgument, "array of 4611686018427387904 UINT32"},
      {"array_nested_too_deep",
       OneKv(GgufBytes().Str("k").U32(9).U32(9).U64(1).U32(9).U64(1).U32(0).U64(0)), kParse,
       Code::kInvalidArgument, "arrays nested more than 2 deep"},
      {"bool_not_0_or_1", OneKv(GgufBytes().Str("k").U32(7).U8(2)), kParse, Code::kInvalidArgument,
       "BOOL value 2"},
      {"duplicate_key",
       GgufBytes().Header(0, 2).Str("k").U32(0).U8(1).Str("k").U32(0).U8(2).bytes(), kParse,
       Code::kInvalidArgument, "duplicate metadata key 'k'"},
      {"alignment_not_power_of_two", OneKv(GgufBytes().Str("general.alignment").U32(4).U32(48)),
       kParse, Code::kInvalidArgument, "48 is not a power of two"},
      {"alignment_zero", OneKv(GgufBytes().Str("general.alignment").U32(4).U32(0)), kParse,
       Code::kInvalidArgument, "0 is not a power of two"},
      {"alignment_wrong_type", OneKv(GgufBytes().Str("general.alignment").U32(8).Str("32")), kParse,
       Code::kInvalidArgument, "expected an unsigned integer, found STRING"},
      {"tensor_n_dims_zero", PatchTensor(0, 32, 0, "tensor_a"), kParse, Code::kInvalidArgument,
       "tensor 'tensor_a': n_dims 0"},
      {"tensor_n_dims_five", PatchTensor(0, 32, 5, "tensor_a"), kParse, Code::kInvalidArgument,
       "n_dims 5 at byte"},
      {"tensor_zero_dim", PatchTensor(DimOffset(0), 64, 0, "tensor_a"), kParse,
       Code::kInvalidArgument, "dimension 0 is 0"},
      {"tensor_absurd_dim", PatchTensor(DimOffset(0), 64, uint64_t{1} << 63, "tensor_a"), kParse,
       Code::kInvalidArgument, "absurd"},
      {"tensor_element_overflow",
       [] {
         std::string f = PatchTensor(DimOffset(0), 64, uint64_t{1} << 32, "tensor_b");
         PatchU64(&f, TensorInfoOffset(f, "tensor_b") + DimOffset(1), uint64_t{1} << 32);
         return f;
       }(),
       kParse, Code::kInvalidArgument, "element count overflows"},
      {"tensor_size_overflow", PatchTensor(DimOffset(0), 64, uint64_t{1} << 62, "tensor_a"), kParse,
       Code::kInvalidArgument, "byte size overflows"},
      {"tensor_unknown_type", PatchTensor(TypeOffset(1), 32, 99, "tensor_a"), kParse,
       Code::kUnimplemented, "tensor 'tensor_a': ggml type id 99"},
      {"tensor_removed_type", PatchTensor(TypeOffset(1), 32, 4, "tensor_a"), kParse,
       Code::kUnimplemented, "ggml type id 4"},
      {"tensor_row_not_block_multiple",
       [] {
         std::string f = PatchTensor(DimOffset(0), 64, 16, "tensor_b");
         PatchU64(&f, TensorInfoOffset(f, "tensor_b") + DimOffset(1), 4);
         return f;
       }(),
       kParse, Code::kInvalidArgument, "ne0=16 is not a multiple of the Q4_0 block size 32"},
      {"tensor_offset_misaligned", PatchTensor(DataOffsetField(2), 64, 36, "tensor_b"), kParse,
       Code::kInvalidArgument, "data offset 36 is not a multiple of general.alignment 32"},
      {"tensor_past_eof", PatchTensor(DimOffset(1), 64, 1000, "tensor_b"), kParse,
       Code::kInvalidArgument, "tensor 'tensor_b': data [offset 32, 18000 bytes] extends past"},
      {"tensor_offset_overflow", PatchTensor(DataOffsetField(2), 64, ~uint64_t{31}, "tensor_b"),
       kParse, Code::kInvalidArgument, "extends past end of file"},
      {"tensor_overlap", PatchTensor(DataOffsetField(2), 64, 0, "tensor_b"), kParse,
       Code::kInvalidArgument, "overlap"},
      {"tensor_duplicate_name", dup_tensor, kParse, Code::kInvalidArgument,
       "duplicate tensor name 'tensor_a'"},
      {"tensor_name_not_utf8", bad_name, kParse, Code::kInvalidArgument, "not valid UTF-8"},
      {"tensor_name_too_long", GgufBytes().Header(1, 0).U64(300).Raw(std::string(300, 'n')).bytes(),
       kParse, Code::kInvalidArgument, "tensor #0 name at byte 24: length 300 exceeds"},
  };
  for (auto& c : list) cases->push_back(std::move(c));
}

void AddConfigCases(std::vector<GgufCorpusCase>* cases) {
  auto replace_uint = [](std::string key, uint32_t value) {
    return Edit({.drop_keys = {key}, .add = [=](GgufWriter* w) { w->AddUint32(key, value); }});
  };
  std::vector<GgufCorpusCase> list = {
      {"config_missing_architecture", Edit({.drop_keys = {"general.architecture"}}), kConfig,
       Code::kInvalidArgument, "'general.architecture' is missing"},
      {"config_unsupported_architecture",
       Edit({.drop_keys = {"general.architecture"},
             .add = [](GgufWriter* w) { w->AddString("general.architecture", "qwen2"); }}),
       kConfig, Code::kUnimplemented, "architecture 'qwen2' is not supported"},
      {"config_missing_block_count", Edit({.drop_keys = {"llama.block_count"}}), kConfig,
       Code::kInvalidArgument, "required metadata key 'llama.block_count' is missing"},
      {"config_wrong_key_type",
       Edit({.drop_keys = {"llama.block_count"},
             .add = [](GgufWriter* w) { w->AddString("llama.block_count", "one"); }}),
       kConfig, Code::kInvalidArgument,
       "key 'llama.block_count': expected an unsigned integer, found STRING"},
      {"config_zero_layers", replace_uint("llama.block_count", 0), kConfig, Code::kInvalidArgument,
       "key 'llama.block_count': 0 is out of range"},
      {"config_kv_heads_not_divisor", replace_uint("llama.attention.head_count_kv", 3), kConfig,
       Code::kInvalidArgument, "num_kv_heads=3 must divide num_query_heads=2"},
      {"config_bad_norm_eps",
       Edit({.drop_keys = {"llama.attention.layer_norm_rms_epsilon"},
             .add =
                 [](GgufWriter* w) {
                   w->AddFloat32("llama.attention.layer_norm_rms_epsilon", 2.0f);
                 }}),
       kConfig, Code::kInvalidArgument, "norm_eps=2"},
      {"config_embedding_shape_mismatch",
       Edit({.drop_tensors = {"token_embd.weight"},
             .add =
                 [](GgufWriter* w) {
                   w->AddTensor("token_embd.weight", GgmlType::kF32, {8, 9}, PatternBytes(288, 3));
                 }}),
       kConfig, Code::kInvalidArgument,
       "tensor 'token_embd.weight' has shape [8, 9] but the metadata (hidden 8, vocab 8) implies "
       "[8, 8]: self-contradicting file"},
      {"config_attn_k_shape_mismatch", replace_uint("llama.attention.head_count_kv", 2), kConfig,
       Code::kInvalidArgument, "tensor 'blk.0.attn_k.weight' has shape [8, 4]"},
      {"config_vocab_mismatch",
       Edit({.add = [](GgufWriter* w) { w->AddUint32("llama.vocab_size", 9); }}), kConfig,
       Code::kInvalidArgument, "'tokenizer.ggml.tokens' has 8 entries but llama.vocab_size is 9"},
      {"config_missing_tensor", Edit({.drop_tensors = {"blk.0.ffn_up.weight"}}), kConfig,
       Code::kInvalidArgument, "tensor 'blk.0.ffn_up.weight' is missing"},
      {"config_extra_layer",
       Edit({.add =
                 [](GgufWriter* w) {
                   w->AddTensor("blk.1.attn_norm.weight", GgmlType::kF32, {8}, PatternBytes(32, 4));
                 }}),
       kConfig, Code::kInvalidArgument, "tensor 'blk.1.attn_norm.weight' is outside"},
      {"config_mixture_of_experts",
       Edit({.add = [](GgufWriter* w) { w->AddUint32("llama.expert_count", 8); }}), kConfig,
       Code::kUnimplemented, "mixture-of-experts"},
      {"config_rope_freqs",
       Edit({.add =
                 [](GgufWriter* w) {
                   w->AddTensor("rope_freqs.weight", GgmlType::kF32, {2}, PatternBytes(8, 5));
                 }}),
       kConfig, Code::kUnimplemented, "rope_freqs.weight"},
      {"config_partial_rotary",
       Edit({.drop_keys = {"llama.rope.dimension_count"},
             .add =
                 [](GgufWriter* w) {
                   w->AddUint32("llama.attention.key_length", 4);
                   w->AddUint32("llama.rope.dimension_count", 2);
                 }}),
       kConfig, Code::kUnimplemented, "partial rotary"},
      {"config_unknown_rope_scaling",
       Edit({.add = [](GgufWriter* w) { w->AddString("llama.rope.scaling.type", "longrope"); }}),
       kConfig, Code::kUnimplemented, "'longrope' is not supported"},
  };
  for (auto& c : list) cases->push_back(std::move(c));
}

}  // namespace

std::vector<GgufCorpusCase> GgufCorpusCases() {
  TinyLlamaOptions untied;
  untied.num_layers = 2;
  untied.tied_embeddings = false;
  untied.matrix_type = GgmlType::kF16;
  untied.write_tokens = false;
  std::vector<GgufCorpusCase> cases = {
      {"valid_tiny_llama", TinyLlamaGguf(), kConfig, Code::kOk, ""},
      {"valid_tiny_llama_untied_f16", TinyLlamaGguf(untied), kConfig, Code::kOk, ""},
      {"valid_metadata_types", MetadataTypesFile(), kParse, Code::kOk, ""},
      {"valid_metadata_only", GgufBytes().Header(0, 1).Str("general.name").U32(8).Str("x").bytes(),
       kParse, Code::kOk, ""},
  };
  AddParseCases(&cases);
  AddConfigCases(&cases);
  return cases;
}

}  // namespace gqa
