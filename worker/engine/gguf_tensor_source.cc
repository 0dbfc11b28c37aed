#include "worker/engine/gguf_tensor_source.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/gguf/gguf_model_config.h"
#include "core/hash.h"
#include "core/status.h"
#include "worker/backend/ggml_weight_format.h"

namespace gqa {
namespace {


class GgufTensorSource : public TensorSource {
 public:
  GgufTensorSource(std::unique_ptr<MappedFile> mapping, std::unique_ptr<GgufFile> file,
                   ModelConfig config)
      : mapping_(std::move(mapping)), file_(std::move(file)), config_(std::move(config)) {
    fingerprint_ = GgufFingerprint(*file_, mapping_->bytes());
  }

  const ModelConfig& config() const override { return config_; }
  RopeLayout rope_layout() const override { return RopeLayout::kInterleavedPairs; }
  const std::string& fingerprint() const override { return fingerprint_; }

  absl::StatusOr<RawTensor> Find(absl::string_view name) const override {
    ASSIGN_OR_RETURN(const GgufTensorInfo* info, file_->GetTensor(name));
    const std::optional<WeightFormat> format = WeightFormatFromGgml(info->type);
    if (!format) {
      return absl::UnimplementedError(absl::StrCat(
          file_->display_name(), ": tensor '", name, "' has type ", GgmlTypeName(info->type),
          "; the engine computes with F32, F16, BF16, Q8_0, Q4_0 and Q4_1"));
    }
    RawTensor tensor;
    tensor.name = info->name;
    tensor.format = *format;
    tensor.shape.assign(info->shape.rbegin(), info->shape.rend());  // outermost first
    tensor.bytes = info->data;
    return tensor;
  }

 private:
  std::unique_ptr<MappedFile> mapping_;
  std::unique_ptr<GgufFile> file_;  // views mapping_
  ModelConfig config_;
  std::string fingerprint_;
};

}  // namespace

std::string GgufFingerprint(const GgufFile& file, absl::Span<const uint8_t> bytes) {
  constexpr uint64_t kSample = 1 << 20;
  Sha256Hasher hasher;
  const uint64_t header = std::min<uint64_t>(file.data_offset(), bytes.size());
  hasher.Update(bytes.subspan(0, header));
  const absl::Span<const uint8_t> data = bytes.subspan(header);
  hasher.UpdateU64(data.size());
  hasher.Update(data.subspan(0, std::min<uint64_t>(kSample, data.size())));
  if (data.size() > kSample) hasher.Update(data.subspan(data.size() - kSample));
  return DigestToHex(hasher.Finish());
}

absl::StatusOr<std::unique_ptr<TensorSource>> OpenGgufTensorSource(Env* env,
                                                                   const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> mapping, env->MapFile(path));
  ASSIGN_OR_RETURN(GgufFile parsed, ParseGguf(mapping->bytes(), path));
  auto file = std::make_unique<GgufFile>(std::move(parsed));
  ASSIGN_OR_RETURN(ModelConfig config, ModelConfigFromGguf(*file));
  return std::unique_ptr<TensorSource>(
      new GgufTensorSource(std::move(mapping), std::move(file), std::move(config)));
}

}  // namespace gqa
