#include "core/safetensors/safetensors_checkpoint.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/json/strict_json.h"
#include "core/status.h"

namespace gqa {
namespace {

using Json = nlohmann::json;

bool IsPlainShardName(const std::string& name) {
  return name.size() > std::string_view(".safetensors").size() && name.size() <= 255 &&
         absl::EndsWith(name, ".safetensors") && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos && name.find('\0') == std::string::npos &&
         name.front() != '.';
}

// Maps the shards of `index` and checks that they hold exactly its tensors.
absl::Status OpenShards(Env* env, const std::string& dir, const std::string& index_path,
                        const SafetensorsIndex& index,
                        std::vector<std::unique_ptr<SafetensorsModelFile>>& files) {
  for (const std::string& shard : index.shard_names) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsModelFile> file,
                     OpenSafetensors(env, absl::StrCat(dir, "/", shard)));
    for (const SafetensorsTensor& tensor : file->file().tensors()) {
      auto it = index.weight_map.find(tensor.name);
      if (it == index.weight_map.end() || it->second != shard) {
        return absl::InvalidArgumentError(absl::StrCat(
            file->path(), ": tensor '", tensor.name, "' is not mapped to this file by ", index_path,
            it == index.weight_map.end() ? " (not listed)" : " (listed in '" + it->second + "')"));
      }
    }
    files.push_back(std::move(file));
  }
  for (const auto& [tensor, shard] : index.weight_map) {
    const auto& names = index.shard_names;
    const size_t i = std::lower_bound(names.begin(), names.end(), shard) - names.begin();
    if (files[i]->file().FindTensor(tensor) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(index_path, ": tensor '", tensor,
                                                     "' is listed in '", shard,
                                                     "' but that file has no such tensor"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SafetensorsIndex> ParseSafetensorsIndex(absl::string_view text,
                                                       absl::string_view display) {
  ASSIGN_OR_RETURN(const Json root, ParseStrictJson(text, display));
  auto invalid = [display](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(display, ": ", what));
  };
  if (!root.is_object())
    return invalid(absl::StrCat("is a JSON ", JsonTypeName(root), ", not an object"));
  if (!root.contains("weight_map")) return invalid("required key 'weight_map' is missing");
  const Json& map = root["weight_map"];
  if (!map.is_object() || map.empty()) {
    return invalid(absl::StrCat("key 'weight_map' must be a non-empty object, is a JSON ",
                                JsonTypeName(map), map.is_object() ? " with no entries" : ""));
  }
  SafetensorsIndex index;
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : map.items()) {
    if (!shard.is_string()) {
      return invalid(absl::StrCat("weight_map value of tensor '", tensor, "' is a JSON ",
                                  JsonTypeName(shard), ", not a file name"));
    }
    const std::string& name = shard.get_ref<const std::string&>();
    if (!IsPlainShardName(name)) {
      return invalid(absl::StrCat("weight_map value of tensor '", tensor, "': '", name,
                                  "' is not a plain file name ending in .safetensors"));
    }
    index.weight_map.emplace(tensor, name);
    shards.insert(name);
  }
  index.shard_names.assign(shards.begin(), shards.end());
  return index;
}

const SafetensorsTensor* SafetensorsCheckpoint::FindTensor(
    absl::string_view name, const SafetensorsModelFile** file) const {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  if (file != nullptr) *file = it->second.file;
  return it->second.tensor;
}

std::vector<std::string> SafetensorsCheckpoint::TensorNames() const {
  std::vector<std::string> names;
  names.reserve(index_.size());
  for (const auto& [name, unused] : index_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> OpenSafetensorsCheckpoint(
    Env* env, const std::string& dir) {
  auto checkpoint = std::unique_ptr<SafetensorsCheckpoint>(new SafetensorsCheckpoint());
  const std::string single = absl::StrCat(dir, "/", kSafetensorsSingleFileName);
  const std::string index_path = absl::StrCat(dir, "/", kSafetensorsIndexFileName);
  // NOTE: like transformers' from_pretrained, a single file wins over an index.
  if (env->FileExists(single)) {
    ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsModelFile> file, OpenSafetensors(env, single));
    checkpoint->files_.push_back(std::move(file));
  } else if (env->FileExists(index_path)) {
    ASSIGN_OR_RETURN(const std::string text, env->ReadFile(index_path));
    ASSIGN_OR_RETURN(const SafetensorsIndex index, ParseSafetensorsIndex(text, index_path));
    RETURN_IF_ERROR(OpenShards(env, dir, index_path, index, checkpoint->files_));
  } else {
    return absl::NotFoundError(absl::StrCat(dir, ": neither ", kSafetensorsSingleFileName, " nor ",
                                            kSafetensorsIndexFileName, " exists"));
  }
  for (const std::unique_ptr<SafetensorsModelFile>& file : checkpoint->files_) {
    for (const SafetensorsTensor& tensor : file->file().tensors()) {
      // Unique across shards: OpenShards accepts each tensor in one shard only.
      checkpoint->index_.emplace(tensor.name, SafetensorsCheckpoint::Location{file.get(), &tensor});
    }
  }
  return checkpoint;
}

}  // namespace gqa
