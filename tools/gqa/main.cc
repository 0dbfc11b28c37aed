// gqa: the gqaserve command-line tool, a dispatcher over subcommands:
//   gqa <command> [args]      gqa help [command]
// Each command lives in its own file with a main()-style entry
// `int Run<Name>Command(int argc, char** argv)` (argv[0] is the command name)
// and is registered by one line in kCommands below.
#include <cstring>
#include <iostream>

#include "absl/strings/string_view.h"
#include "tools/gqa/convert_command.h"
#include "tools/gqa/generate_command.h"
#include "tools/gqa/kv_size_command.h"
#include "tools/gqa/perplexity_command.h"
#include "tools/gqa/serve_command.h"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int argc, char** argv);
};

// One line per command.
constexpr Command kCommands[] = {
    {"kv-size", "plan KV cache memory per token, sequence and rank, and what fits",
     gqa::RunKvSizeCommand},
    {"generate", "generate a completion with a local model (streams to stdout)",
     gqa::RunGenerateCommand},
    {"chat", "a conversation with a local model through its chat template", gqa::RunChatCommand},
    {"convert", "rewrite a GGUF model as f32/f16/bf16, optionally pooling KV heads (MQA/GQA)",
     gqa::RunConvertCommand},
    {"perplexity", "perplexity of a local model on a text file, in windows of --ctx tokens",
     gqa::RunPerplexityCommand},
    {"serve", "start a local cluster (kvstore, workers, router) on loopback", gqa::RunServeCommand},
};

void PrintUsage(std::ostream& out) {
  out << "usage: gqa <command> [args]\n\ncommands:\n";
  for (const Command& command : kCommands) {
    out << "  " << command.name << std::string(12 - std::strlen(command.name), ' ')
        << command.summary << "\n";
  }
  out << "\n'gqa help <command>' or 'gqa <command> --help' describes a command.\n";
}

const Command* FindCommand(absl::string_view name) {
  for (const Command& command : kCommands) {
    if (name == command.name) return &command;
  }
  return nullptr;
}

int UnknownCommand(absl::string_view name) {
  std::cerr << "gqa: unknown command '" << name << "'; commands:";
  for (const Command& command : kCommands) std::cerr << " " << command.name;
  std::cerr << " (see gqa help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    PrintUsage(std::cerr);
    return 2;
  }
  const absl::string_view name = argv[1];
  if (name == "help" || name == "--help" || name == "-h") {
    if (argc < 3) {
      PrintUsage(std::cout);
      return 0;
    }
    const Command* command = FindCommand(argv[2]);
    if (command == nullptr) return UnknownCommand(argv[2]);
    char help_flag[] = "--help";
    char* help_argv[] = {argv[2], help_flag, nullptr};
    return command->run(2, help_argv);
  }
  const Command* command = FindCommand(name);
  if (command == nullptr) return UnknownCommand(name);
  return command->run(argc - 1, argv + 1);
}
