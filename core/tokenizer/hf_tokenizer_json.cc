#include "core/tokenizer/hf_tokenizer_json.h"

#include <algorithm>
#include <exception>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/json/strict_json.h"
#include "core/status.h"
#include "nlohmann/json.hpp"

namespace gqa {
namespace {

using Json = nlohmann::json;

constexpr int kMaxDepth = 128;
constexpr int64_t kMaxVocabSize = 1 << 22;
// Ids may leave holes, but only a few: a tiny file cannot demand a huge vocab.
constexpr int64_t kMaxVocabHoles = 4096;

constexpr absl::string_view kGpt2Regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr absl::string_view kLlama3Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr absl::string_view kQwen2Regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";


absl::StatusOr<Json> ParseJson(absl::string_view text, absl::string_view name) {
  if (!JsonNestingWithinLimit(text, kMaxDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": JSON nested deeper than ", kMaxDepth, " levels"));
  }
  Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": not valid JSON"));
  }
  return json;
}

// The list of components of a (possibly Sequence-typed) pipeline stage.
std::vector<Json> Flatten(const Json& stage, const char* list_key) {
  std::vector<Json> out;
  if (!stage.is_object()) return out;
  if (stage.value("type", "") == "Sequence" && stage.contains(list_key) &&
      stage[list_key].is_array()) {
    for (const Json& part : stage[list_key]) {
      for (Json& p : Flatten(part, list_key)) out.push_back(std::move(p));
    }
  } else {
    out.push_back(stage);
  }
  return out;
}

bool HasType(const std::vector<Json>& parts, absl::string_view type) {
  for (const Json& p : parts) {
    if (p.value("type", "") == type) return true;
  }
  return false;
}

// Maps the byte-level pre-tokenizer pipeline to a GGUF pre-tokenizer name.
absl::StatusOr<std::string> ByteLevelPreName(const Json& pre) {
  const std::vector<Json> parts = Flatten(pre, "pretokenizers");
  bool digits = false;
  std::string split_regex;
  bool byte_level_regex = false;
  for (const Json& p : parts) {
    const std::string type = p.value("type", "");
    if (type == "Digits" && p.value("individual_digits", false)) {
      digits = true;
    } else if (type == "ByteLevel") {
      byte_level_regex = p.value("use_regex", true);
      if (p.value("add_prefix_space", false)) {
        return absl::UnimplementedError(
            "tokenizer.json: ByteLevel add_prefix_space=true is not supported");
      }
    } else if (type == "Split" && p.contains("pattern") && p["pattern"].is_object()) {
      split_regex = p["pattern"].value("Regex", "");
    } else {
      return absl::UnimplementedError(
          absl::StrCat("tokenizer.json: pre-tokenizer step '", type, "' is not supported"));
    }
  }
  if (split_regex.empty() && byte_level_regex) return std::string(digits ? "smollm" : "gpt2");
  if (!digits && !byte_level_regex) {
    if (split_regex == kLlama3Regex) return std::string("llama-bpe");
    if (split_regex == kQwen2Regex) return std::string("qwen2");
    if (split_regex == kGpt2Regex) return std::string("gpt2");
  }
  return absl::UnimplementedError(
      absl::StrCat("tokenizer.json: pre-tokenizer not supported: ", pre.dump().substr(0, 200)));
}

// SentencePiece style: "▁" for spaces via the normalizer or Metaspace.
bool IsSentencePieceStyle(const Json& root, bool* add_space_prefix) {
  const std::vector<Json> norm = Flatten(root.value("normalizer", Json()), "normalizers");
  const std::vector<Json> pre = Flatten(root.value("pre_tokenizer", Json()), "pretokenizers");
  bool spm = false;
  *add_space_prefix = false;
  for (const Json& n : norm) {
    if (n.value("type", "") == "Prepend" && n.value("prepend", "") == "\xE2\x96\x81") {
      *add_space_prefix = true;
    }
    if (n.value("type", "") == "Replace" && n.value("content", "") == "\xE2\x96\x81") spm = true;
  }
  for (const Json& p : pre) {
    if (p.value("type", "") != "Metaspace") continue;
    spm = true;
    const std::string scheme = p.value("prepend_scheme", "");
    *add_space_prefix =
        p.value("add_prefix_space", false) || scheme == "always" || scheme == "first";
  }
  return spm;
}

bool BoolOr(const Json& object, const char* key, bool fallback) {
  if (!object.contains(key) || !object[key].is_boolean()) return fallback;
  return object[key].get<bool>();
}

// The text of a tokenizer_config.json token entry: "x" or {"content": "x"}.
std::string TokenString(const Json& config, const char* key) {
  if (!config.contains(key)) return "";
  const Json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return "";
}

// The post-processor's single-sequence template: which special tokens go
// before and after the text ("SpecialToken" entries around "Sequence").
void TemplateSpecials(const Json& root, std::string* before, std::string* after) {
  for (const Json& p : Flatten(root.value("post_processor", Json()), "processors")) {
    if (p.value("type", "") != "TemplateProcessing" || !p.contains("single")) continue;
    bool seen_text = false;
    for (const Json& piece : p["single"]) {
      if (piece.contains("Sequence")) seen_text = true;
      if (piece.contains("SpecialToken")) {
        (seen_text ? *after : *before) = piece["SpecialToken"].value("id", "");
      }
    }
  }
}

// A token id: a JSON integer in [0, kMaxVocabSize).
absl::StatusOr<int64_t> TokenId(const Json& value, absl::string_view what) {
  const int64_t id = value.is_number_integer() ? value.get<int64_t>() : -1;
  if (id < 0 || id >= kMaxVocabSize) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: id of '", what.substr(0, 40),
                                                   "' is ", value.dump().substr(0, 40),
                                                   ", not an integer in [0, ", kMaxVocabSize, ")"));
  }
  return id;
}

absl::Status FillVocab(const Json& root, const Json& model, TokenizerSpec* spec) {
  const Json& vocab = model.at("vocab");
  const Json added = root.value("added_tokens", Json::array());
  if (!vocab.is_object() || !added.is_array()) {
    return absl::InvalidArgumentError(
        "tokenizer.json: model.vocab must be an object, added_tokens an array");
  }
  int64_t max_id = -1;
  for (const auto& [text, id] : vocab.items()) {
    ASSIGN_OR_RETURN(const int64_t i, TokenId(id, text));
    max_id = std::max(max_id, i);
  }
  for (const Json& t : added) {
    ASSIGN_OR_RETURN(const int64_t i, TokenId(t.at("id"), "an added token"));
    max_id = std::max(max_id, i);
  }
  const auto num_entries = static_cast<int64_t>(vocab.size() + added.size());
  if (max_id < 0 || max_id >= num_entries + kMaxVocabHoles) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokenizer.json: max token id ", max_id, " for ", num_entries,
                     " entries; the vocab must be non-empty with few unused ids"));
  }
  spec->tokens.assign(max_id + 1, "");
  spec->token_types.assign(max_id + 1, kTokenUnused);  // holes stay unused and empty
  for (const auto& [text, id] : vocab.items()) {
    const int64_t i = id.get<int64_t>();
    spec->tokens[i] = text;
    const bool byte_token = spec->kind == TokenizerSpec::Kind::kSentencePieceBpe &&
                            text.size() == 6 && text.rfind("<0x", 0) == 0 && text[5] == '>';
    spec->token_types[i] = byte_token ? kTokenByte : kTokenNormal;
  }
  for (const Json& t : added) {
    const int64_t i = t.at("id").get<int64_t>();
    spec->tokens[i] = t.at("content").get<std::string>();
    spec->token_types[i] = t.value("special", false) ? kTokenControl : kTokenUserDefined;
  }
  const std::string unk =
      model.value("unk_token", Json()).is_string() ? model["unk_token"].get<std::string>() : "";
  for (size_t i = 0; i < spec->tokens.size() && !unk.empty(); ++i) {
    if (spec->tokens[i] == unk) {
      spec->unk_id = static_cast<int32_t>(i);
      spec->token_types[i] = kTokenUnknown;
      break;
    }
  }
  for (const Json& m : model.value("merges", Json::array())) {
    if (m.is_array() && m.size() == 2) {
      spec->merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    } else {
      spec->merges.push_back(m.get<std::string>());
    }
  }
  return absl::OkStatus();
}

int32_t IdOf(const TokenizerSpec& spec, const std::string& text) {
  if (text.empty()) return -1;
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (spec.tokens[i] == text) return static_cast<int32_t>(i);
  }
  return -1;
}

void ApplyConfig(const Json& root, const Json& config, TokenizerSpec* spec) {
  std::string before;
  std::string after;
  TemplateSpecials(root, &before, &after);
  std::string bos = TokenString(config, "bos_token");
  std::string eos = TokenString(config, "eos_token");
  spec->bos_id = IdOf(*spec, bos.empty() ? before : bos);
  spec->eos_id = IdOf(*spec, eos.empty() ? after : eos);
  spec->pad_id = IdOf(*spec, TokenString(config, "pad_token"));
  spec->add_bos = BoolOr(config, "add_bos_token", !before.empty()) && spec->bos_id >= 0;
  spec->add_eos = BoolOr(config, "add_eos_token", !after.empty()) && spec->eos_id >= 0;
  if (config.contains("chat_template")) {
    const Json& chat = config["chat_template"];
    if (chat.is_string()) {
      spec->chat_template = chat.get<std::string>();
    } else if (chat.is_array()) {  // [{"name": "default", "template": "..."}, ...]
      for (const Json& t : chat) {
        if (spec->chat_template.empty() || t.value("name", "") == "default") {
          spec->chat_template = t.value("template", "");
        }
      }
    }
  }
}

absl::StatusOr<TokenizerSpec> BuildSpec(const Json& root, const Json& config) {
  TokenizerSpec spec;
  const Json& model = root.at("model");
  const std::string type = model.value("type", "BPE");
  if (type != "BPE") {
    return absl::UnimplementedError(
        absl::StrCat("tokenizer.json: model type '", type, "' is not supported (BPE only)"));
  }
  bool add_space_prefix = false;
  const std::vector<Json> pre = Flatten(root.value("pre_tokenizer", Json()), "pretokenizers");
  const std::vector<Json> dec = Flatten(root.value("decoder", Json()), "decoders");
  if (HasType(pre, "ByteLevel") || HasType(dec, "ByteLevel")) {
    spec.kind = TokenizerSpec::Kind::kByteLevelBpe;
    ASSIGN_OR_RETURN(spec.pre_tokenizer, ByteLevelPreName(root.value("pre_tokenizer", Json())));
  } else if (IsSentencePieceStyle(root, &add_space_prefix) || model.value("byte_fallback", false)) {
    spec.kind = TokenizerSpec::Kind::kSentencePieceBpe;
    spec.add_space_prefix = add_space_prefix;
  } else {
    return absl::UnimplementedError(
        "tokenizer.json: BPE without a ByteLevel or SentencePiece-style (Metaspace/▁) pipeline");
  }
  RETURN_IF_ERROR(FillVocab(root, model, &spec));
  ApplyConfig(root, config, &spec);
  return spec;
}

}  // namespace

absl::StatusOr<TokenizerSpec> TokenizerSpecFromHfJson(absl::string_view tokenizer_json,
                                                      absl::string_view tokenizer_config_json) {
  ASSIGN_OR_RETURN(const Json root, ParseJson(tokenizer_json, "tokenizer.json"));
  Json config = Json::object();
  if (!tokenizer_config_json.empty()) {
    ASSIGN_OR_RETURN(config, ParseJson(tokenizer_config_json, "tokenizer_config.json"));
  }
  if (!root.is_object() || !config.is_object()) {
    return absl::InvalidArgumentError(
        "tokenizer.json and tokenizer_config.json must be JSON objects");
  }
  // nlohmann-json reports missing keys and wrong types by throwing.
  try {
    return BuildSpec(root, config);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", e.what()));
  }
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadHfTokenizer(Env* env, const std::string& dir) {
  const std::string json_path = absl::StrCat(dir, "/tokenizer.json");
  const std::string config_path = absl::StrCat(dir, "/tokenizer_config.json");
  ASSIGN_OR_RETURN(const std::string json, env->ReadFile(json_path));
  std::string config;
  if (env->FileExists(config_path)) {
    ASSIGN_OR_RETURN(config, env->ReadFile(config_path));
  }
  absl::StatusOr<TokenizerSpec> spec = TokenizerSpecFromHfJson(json, config);
  if (!spec.ok()) return Annotate(spec.status(), dir);
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Create(*std::move(spec));
  if (!tokenizer.ok()) return Annotate(tokenizer.status(), json_path);
  return tokenizer;
}

}  // namespace gqa
