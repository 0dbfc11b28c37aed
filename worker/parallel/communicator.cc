#include "worker/parallel/communicator.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status.h"

namespace gqa {

absl::Status BroadcastBytes(Communicator& comm, std::string& bytes, int root, int64_t max_bytes) {
  uint64_t size = comm.rank() == root ? bytes.size() : 0;
  uint8_t header[sizeof(size)];
  std::memcpy(header, &size, sizeof(size));
  RETURN_IF_ERROR(comm.Broadcast(absl::MakeSpan(header), root));
  std::memcpy(&size, header, sizeof(size));
  if (size > static_cast<uint64_t>(max_bytes)) {
    return absl::InvalidArgumentError(absl::StrCat("broadcast of ", size, " bytes from rank ", root,
                                                   " exceeds the limit of ", max_bytes));
  }
  if (comm.rank() != root) bytes.resize(size);
  if (size == 0) return absl::OkStatus();
  return comm.Broadcast(absl::MakeSpan(reinterpret_cast<uint8_t*>(bytes.data()), size), root);
}

}  // namespace gqa
