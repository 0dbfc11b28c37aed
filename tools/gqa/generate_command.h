// `gqa generate` and `gqa chat`: offline generation on a local model, streaming
// text to stdout and throughput to stderr. Entries follow main.cc's
// main()-style convention (argv[0] is the command name).
#ifndef GQA_TOOLS_GQA_GENERATE_COMMAND_H_
#define GQA_TOOLS_GQA_GENERATE_COMMAND_H_

namespace gqa {

int RunGenerateCommand(int argc, char** argv);
int RunChatCommand(int argc, char** argv);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_GENERATE_COMMAND_H_
