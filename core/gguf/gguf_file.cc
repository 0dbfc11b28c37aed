#include "core/gguf/gguf_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa {

const GgufValue* GgufFile::FindValue(absl::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].value;
}

absl::StatusOr<const GgufValue*> GgufFile::Lookup(absl::string_view key) const {
  const GgufValue* value = FindValue(key);
  if (value == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(display_name_, ": metadata key '", key, "' is missing"));
  }
  return value;
}

absl::Status GgufFile::KeyError(absl::string_view key, const absl::Status& status) const {
  return absl::Status(status.code(),
                      absl::StrCat(display_name_, ": key '", key, "': ", status.message()));
}

// Looks `key` up and applies `convert` (a GgufValue member), annotating
// errors with the file and key.
#define GQA_GGUF_GETTER_(Type, Name, Convert)                        \
  absl::StatusOr<Type> GgufFile::Name(absl::string_view key) const { \
    ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));           \
    absl::StatusOr<Type> result = value->Convert();                  \
    if (!result.ok()) return KeyError(key, result.status());         \
    return result;                                                   \
  }

GQA_GGUF_GETTER_(absl::string_view, GetString, AsString)
GQA_GGUF_GETTER_(uint64_t, GetUint, AsUint)
GQA_GGUF_GETTER_(int64_t, GetInt, AsInt)
GQA_GGUF_GETTER_(double, GetFloat, AsFloat)
GQA_GGUF_GETTER_(bool, GetBool, AsBool)
GQA_GGUF_GETTER_(std::vector<absl::string_view>, GetStringArray, AsStringArray)
GQA_GGUF_GETTER_(std::vector<int64_t>, GetIntArray, AsIntArray)
GQA_GGUF_GETTER_(std::vector<float>, GetFloatArray, AsFloatArray)
#undef GQA_GGUF_GETTER_

absl::StatusOr<uint64_t> GgufFile::GetArrayLength(absl::string_view key) const {
  ASSIGN_OR_RETURN(const GgufValue* value, Lookup(key));
  if (value->type() != GgufValueType::kArray) {
    return KeyError(key, absl::InvalidArgumentError(absl::StrCat(
                             "expected an ARRAY, found ", GgufValueTypeName(value->type()))));
  }
  return value->array_size();
}

const GgufTensorInfo* GgufFile::FindTensor(absl::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

absl::StatusOr<const GgufTensorInfo*> GgufFile::GetTensor(absl::string_view name) const {
  const GgufTensorInfo* info = FindTensor(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(display_name_, ": tensor '", name, "' is missing"));
  }
  return info;
}

absl::StatusOr<std::unique_ptr<GgufModelFile>> OpenGguf(Env* env, const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, env->MapFile(path));
  ASSIGN_OR_RETURN(GgufFile file, ParseGguf(mapping->bytes(), path));
  return std::make_unique<GgufModelFile>(std::move(mapping), std::move(file));
}

}  // namespace gqa
