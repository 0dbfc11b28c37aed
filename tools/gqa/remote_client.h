// The gqa command's client side of a gqaserve router: `gqa generate --server
// ADDR` and `gqa chat --server ADDR` send their prompt over gqa.v1.Inference
// (with --api-key as the Bearer key) and stream the reply text to stdout;
// usage goes to stderr. Plaintext channels (a local cluster).
#ifndef GQA_TOOLS_GQA_REMOTE_CLIENT_H_
#define GQA_TOOLS_GQA_REMOTE_CLIENT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "tools/gqa/command_line.h"

namespace gqa {

struct RemoteTurn {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// Sends one Generate call built from the sampling flags (--max-tokens,
// --temperature, --top-k, --top-p, --min-p, --repetition-penalty, --seed,
// --stop); `raw` sends the turns' text without the chat template. Streams the
// text to stdout and returns it. Errors carry the server's status.
absl::StatusOr<std::string> RemoteGenerate(const CommandLine& flags, const std::string& server,
                                           const std::vector<RemoteTurn>& turns, bool raw);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_REMOTE_CLIENT_H_
