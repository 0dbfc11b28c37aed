#include "core/tokenizer/gguf_tokenizer.h"

#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr absl::string_view kModelKey = "tokenizer.ggml.model";

// `*value` = the key's integer value when present; keeps the default otherwise.
absl::Status ReadOptionalId(const GgufFile& file, absl::string_view key, int32_t* value) {
  if (!file.HasKey(key)) return absl::OkStatus();
  ASSIGN_OR_RETURN(const int64_t id, file.GetInt(key));
  if (id < -1 || id > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(file.display_name(), ": ", key, "=", id, " is not a token id"));
  }
  *value = static_cast<int32_t>(id);
  return absl::OkStatus();
}

absl::Status ReadOptionalBool(const GgufFile& file, absl::string_view key, bool* value) {
  if (!file.HasKey(key)) return absl::OkStatus();
  ASSIGN_OR_RETURN(*value, file.GetBool(key));
  return absl::OkStatus();
}

absl::Status ReadStrings(const GgufFile& file, absl::string_view key,
                         std::vector<std::string>* out) {
  ASSIGN_OR_RETURN(const std::vector<absl::string_view> views, file.GetStringArray(key));
  out->clear();
  out->reserve(views.size());
  for (const absl::string_view v : views) out->emplace_back(v);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<TokenizerSpec> TokenizerSpecFromGguf(const GgufFile& file) {
  TokenizerSpec spec;
  ASSIGN_OR_RETURN(const absl::string_view model, file.GetString(kModelKey));
  const bool spm = model == "llama";
  if (model == "gpt2") {
    spec.kind = TokenizerSpec::Kind::kByteLevelBpe;
  } else if (spm) {
    spec.kind = TokenizerSpec::Kind::kSentencePieceBpe;
  } else {
    return absl::UnimplementedError(
        absl::StrCat(file.display_name(), ": ", kModelKey, "='", model,
                     "' is not supported (gpt2: byte-level BPE, llama: SentencePiece BPE)"));
  }
  RETURN_IF_ERROR(ReadStrings(file, "tokenizer.ggml.tokens", &spec.tokens));
  if (file.HasKey("tokenizer.ggml.scores")) {
    ASSIGN_OR_RETURN(spec.scores, file.GetFloatArray("tokenizer.ggml.scores"));
  }
  if (file.HasKey("tokenizer.ggml.token_type")) {
    ASSIGN_OR_RETURN(const std::vector<int64_t> types,
                     file.GetIntArray("tokenizer.ggml.token_type"));
    spec.token_types.reserve(types.size());
    for (const int64_t t : types) {
      spec.token_types.push_back(t >= 0 && t <= kTokenByte ? static_cast<int32_t>(t)
                                                           : kTokenUndefined);
    }
  }
  if (file.HasKey("tokenizer.ggml.merges")) {
    RETURN_IF_ERROR(ReadStrings(file, "tokenizer.ggml.merges", &spec.merges));
  }
  if (file.HasKey("tokenizer.ggml.pre")) {
    ASSIGN_OR_RETURN(const absl::string_view pre, file.GetString("tokenizer.ggml.pre"));
    spec.pre_tokenizer = std::string(pre);
  }
  if (file.HasKey("tokenizer.chat_template")) {
    ASSIGN_OR_RETURN(const absl::string_view chat, file.GetString("tokenizer.chat_template"));
    spec.chat_template = std::string(chat);
  }

  // llama.cpp's defaults (llama-vocab.cpp load()): SentencePiece vocabs use
  // <unk>=0 <s>=1 </s>=2, add BOS and a space prefix; BPE ones add BOS only
  // for the Llama 3 pre-tokenizer.
  if (spm) {
    spec.unk_id = 0;
    spec.bos_id = 1;
    spec.eos_id = 2;
    spec.add_bos = true;
    spec.add_space_prefix = true;
  } else {
    spec.add_bos = spec.pre_tokenizer == "llama-bpe" || spec.pre_tokenizer == "llama3" ||
                   spec.pre_tokenizer == "llama-v3";
  }
  RETURN_IF_ERROR(ReadOptionalId(file, "tokenizer.ggml.bos_token_id", &spec.bos_id));
  RETURN_IF_ERROR(ReadOptionalId(file, "tokenizer.ggml.eos_token_id", &spec.eos_id));
  RETURN_IF_ERROR(ReadOptionalId(file, "tokenizer.ggml.unknown_token_id", &spec.unk_id));
  RETURN_IF_ERROR(ReadOptionalId(file, "tokenizer.ggml.padding_token_id", &spec.pad_id));
  RETURN_IF_ERROR(ReadOptionalBool(file, "tokenizer.ggml.add_bos_token", &spec.add_bos));
  RETURN_IF_ERROR(ReadOptionalBool(file, "tokenizer.ggml.add_eos_token", &spec.add_eos));
  if (spm) {
    // NOTE: llama.cpp forces add_space_prefix off for BPE vocabs; so do we.
    RETURN_IF_ERROR(
        ReadOptionalBool(file, "tokenizer.ggml.add_space_prefix", &spec.add_space_prefix));
  }
  // An id past the vocab (some converters write defaults for absent tokens)
  // would only make Create() fail; treat it as absent when nothing needs it.
  const auto n = static_cast<int32_t>(spec.tokens.size());
  for (int32_t* id : {&spec.unk_id, &spec.pad_id}) {
    if (*id >= n) *id = -1;
  }
  return spec;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(const GgufFile& file) {
  ASSIGN_OR_RETURN(TokenizerSpec spec, TokenizerSpecFromGguf(file));
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Create(std::move(spec));
  if (!tokenizer.ok()) return Annotate(tokenizer.status(), file.display_name());
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> LoadGgufTokenizer(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(const std::unique_ptr<GgufModelFile> model, OpenGguf(env, path));
  return LoadGgufTokenizer(model->file());
}

}  // namespace gqa
