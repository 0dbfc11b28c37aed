// `gqa kv-size`: the KV memory planner. Plans a preset, a GGUF file or a
// custom shape under any KV heads, context, dtype, policy and tensor
// parallelism, and prints a table (or JSON) per docs/kv-size.md.
// Registered in tools/gqa/main.cc; thread-compatible (writes to the streams).
#ifndef GQA_TOOLS_GQA_KV_SIZE_COMMAND_H_
#define GQA_TOOLS_GQA_KV_SIZE_COMMAND_H_

#include <ostream>

#include "absl/types/span.h"

namespace gqa {

// The usage text printed by --help.
const char* KvSizeUsage();

// Runs `gqa kv-size` with `args` = the words after "kv-size". Writes the
// report to `out`. A bad argument (INVALID_ARGUMENT, or a MODEL file that
// does not exist) writes one line naming the flag to `err` and returns 2;
// other failures (an unreadable GGUF file) write one line and return 1.
int RunKvSizeCommand(absl::Span<const char* const> args, std::ostream& out, std::ostream& err);

// main()-style entry for the dispatcher: argv[0] is "kv-size".
int RunKvSizeCommand(int argc, char** argv);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_KV_SIZE_COMMAND_H_
