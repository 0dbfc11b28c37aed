#include "core/safetensors/safetensors_writer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/half.h"
#include "core/log.h"
#include "nlohmann/json.hpp"

namespace gqa {

absl::Status SafetensorsWriter::AddTensor(const std::string& name, SafetensorsDtype dtype,
                                          const std::vector<int64_t>& shape,
                                          absl::string_view data) {
  if (name.empty() || name == "__metadata__") {
    return absl::InvalidArgumentError(absl::StrCat("safetensors writer: bad name '", name, "'"));
  }
  for (const Entry& e : entries_) {
    if (e.name == name) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors writer: tensor '", name, "' added twice"));
    }
  }
  int64_t elements = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("safetensors writer: tensor '", name, "' has a negative dimension"));
    }
    elements *= d;
  }
  if (static_cast<int64_t>(data.size()) != elements * SafetensorsDtypeBytes(dtype)) {
    return absl::InvalidArgumentError(absl::StrCat("safetensors writer: tensor '", name,
                                                   "': ", data.size(), " bytes for ", elements, " ",
                                                   SafetensorsDtypeName(dtype), " elements"));
  }
  entries_.push_back({name, dtype, shape, data_.size(), data_.size() + data.size()});
  data_.append(data.data(), data.size());
  return absl::OkStatus();
}

void SafetensorsWriter::AddMetadata(const std::string& key, const std::string& value) {
  metadata_.emplace_back(key, value);
}

std::string SafetensorsWriter::Finish() const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) {
    nlohmann::ordered_json metadata = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata_) metadata[key] = value;
    header["__metadata__"] = std::move(metadata);
  }
  for (const Entry& e : entries_) {
    header[e.name] = {{"dtype", std::string(SafetensorsDtypeName(e.dtype))},
                      {"shape", e.shape},
                      {"data_offsets", {e.begin_bytes, e.end_bytes}}};
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  return SafetensorsBytes(text, data_);
}

std::string SafetensorsBytes(absl::string_view header, absl::string_view data) {
  std::string out(8, '\0');
  uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xFF);
  absl::StrAppend(&out, header, data);
  return out;
}

std::string EncodeFloats(absl::Span<const float> values, SafetensorsDtype dtype) {
  std::string out;
  switch (dtype) {
    case SafetensorsDtype::kF32:
      out.resize(values.size() * 4);
      if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
      return out;
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16:
      out.resize(values.size() * 2);
      for (size_t i = 0; i < values.size(); ++i) {
        const uint16_t bits =
            dtype == SafetensorsDtype::kF16 ? FloatToHalf(values[i]) : FloatToBf16(values[i]);
        out[2 * i] = static_cast<char>(bits & 0xFF);
        out[2 * i + 1] = static_cast<char>(bits >> 8);
      }
      return out;
    default:
      CHECK(false) << "EncodeFloats: dtype " << SafetensorsDtypeName(dtype) << " is not a float";
  }
  return out;
}

}  // namespace gqa
