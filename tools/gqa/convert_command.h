// `gqa convert`: rewrites a GGUF model with every tensor dequantized to f32,
// f16 or bf16, optionally mean-pooling its K/V heads to fewer KV heads
// (worker/engine/convert/). Entry follows main.cc's main()-style convention
// (argv[0] is the command name).
#ifndef GQA_TOOLS_GQA_CONVERT_COMMAND_H_
#define GQA_TOOLS_GQA_CONVERT_COMMAND_H_

namespace gqa {

int RunConvertCommand(int argc, char** argv);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_CONVERT_COMMAND_H_
