// SafetensorsCheckpoint: the weights of a Hugging Face model directory, from
// a single model.safetensors or from the shards that
// model.safetensors.index.json lists, validated as one set of uniquely named
// tensors. Used by the Hugging Face TensorSource (worker/engine/). Immutable
// after opening; thread-compatible. Format: docs/formats/safetensors.md.
#ifndef GQA_CORE_SAFETENSORS_SAFETENSORS_CHECKPOINT_H_
#define GQA_CORE_SAFETENSORS_SAFETENSORS_CHECKPOINT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/env.h"
#include "core/safetensors/safetensors_file.h"

namespace gqa {

inline constexpr char kSafetensorsSingleFileName[] = "model.safetensors";
inline constexpr char kSafetensorsIndexFileName[] = "model.safetensors.index.json";

struct SafetensorsIndex {
  std::map<std::string, std::string> weight_map;  // tensor name -> shard file name
  std::vector<std::string> shard_names;           // the distinct shard names, sorted
};

// Parses the text of a model.safetensors.index.json. INVALID_ARGUMENT naming
// `display` for invalid JSON, duplicate keys, a missing or empty "weight_map",
// a value that is not a string, or a shard name that is not a plain file name
// ending in ".safetensors" (no '/', so an index cannot reach outside its
// directory). "metadata" (total_size) is not checked.
absl::StatusOr<SafetensorsIndex> ParseSafetensorsIndex(absl::string_view text,
                                                       absl::string_view display);

class SafetensorsCheckpoint {
 public:
  // The files, in shard-name order (one for a single-file checkpoint).
  const std::vector<std::unique_ptr<SafetensorsModelFile>>& files() const { return files_; }
  // nullptr when absent. `*file` (when non-null) receives the file holding it.
  const SafetensorsTensor* FindTensor(absl::string_view name,
                                      const SafetensorsModelFile** file = nullptr) const;
  // Every tensor name, sorted.
  std::vector<std::string> TensorNames() const;

 private:
  friend absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> OpenSafetensorsCheckpoint(
      Env* env, const std::string& dir);
  SafetensorsCheckpoint() = default;

  struct Location {
    const SafetensorsModelFile* file;
    const SafetensorsTensor* tensor;
  };
  std::vector<std::unique_ptr<SafetensorsModelFile>> files_;
  absl::flat_hash_map<std::string, Location> index_;
};

// Opens `dir`/model.safetensors when it exists, otherwise the shards named by
// `dir`/model.safetensors.index.json. NOT_FOUND naming `dir` when neither
// exists; the errors of ParseSafetensors and ParseSafetensorsIndex; and
// INVALID_ARGUMENT naming the file and tensor when a shard holds a tensor the
// index does not map to it, or the index lists a tensor its shard lacks.
absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> OpenSafetensorsCheckpoint(
    Env* env, const std::string& dir);

}  // namespace gqa

#endif  // GQA_CORE_SAFETENSORS_SAFETENSORS_CHECKPOINT_H_
