#include "tools/gqa/convert_command.h"

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/gguf/gguf_model_config.h"
#include "core/status.h"
#include "tools/gqa/command_line.h"
#include "worker/engine/convert/gguf_convert.h"
#include "worker/engine/convert/kv_head_pooling.h"

namespace gqa {
namespace {

constexpr FlagSpec kConvertFlags[] = {{"kv-heads"}, {"dtype"}};

constexpr char kUsage[] = R"(usage: gqa convert [--kv-heads G] [--dtype f32|f16|bf16] IN OUT

Writes the GGUF model IN as OUT with every tensor dequantized and stored as
--dtype, and all metadata copied (tokenizer and chat template included;
general.file_type updated).
  --dtype D      f32, f16 or bf16 for every matrix; default f16. Norm weights
                 and other one-dimensional tensors stay f32, as in llama.cpp.
  --kv-heads G   mean-pool the K and V projection heads to G KV heads: new head
                 j is the mean of old heads j*r .. (j+1)*r-1, r = old/G. G must
                 divide the model's KV heads; 1 gives MQA. This is the GQA
                 paper's conversion before uptraining; without uptraining the
                 model gets worse (bench/results/mqa-conversion.md).
Exit status: 0 written, 1 the conversion failed, 2 bad arguments.
NOTE: holds the output in memory 2-3 times over while writing (small models).
)";

int Fail(const absl::Status& status, int code) {
  std::cerr << "gqa convert: " << status.message() << "\n";
  return code;
}

// The options from the flags; INVALID_ARGUMENT naming the flag.
absl::StatusOr<ConvertOptions> OptionsFromFlags(const CommandLine& flags) {
  ConvertOptions options;
  if (auto v = flags.Value("dtype")) {
    ASSIGN_OR_RETURN(options.dtype, ParseConvertDType(*v));
  }
  if (auto v = flags.Value("kv-heads")) {
    absl::StatusOr<int64_t> heads = ParsePositiveInt("--kv-heads", *v);
    if (!heads.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(heads.status().message(), " (at least 1)"));
    }
    options.kv_heads = *heads;
  }
  return options;
}

}  // namespace

int RunConvertCommand(int argc, char** argv) {
  absl::StatusOr<CommandLine> flags =
      CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), kConvertFlags);
  if (!flags.ok()) return Fail(flags.status(), 2);
  if (flags->Has("help")) {
    std::cout << kUsage;
    return 0;
  }
  if (flags->positional().size() != 2) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
                    "expected the input and output files, got ", flags->positional().size(),
                    " arguments (see gqa convert --help)")),
                2);
  }
  const std::string& in_path = flags->positional()[0];
  const std::string& out_path = flags->positional()[1];
  absl::StatusOr<ConvertOptions> options = OptionsFromFlags(*flags);
  if (!options.ok()) return Fail(options.status(), 2);

  Env* env = Env::Default();
  if (options->kv_heads) {  // a --kv-heads the model cannot take is a bad flag: exit 2
    absl::StatusOr<ModelConfig> config = ReadGgufModelConfig(env, in_path);
    if (!config.ok()) return Fail(config.status(), 1);
    absl::Status heads = CheckKvHeads(config->num_kv_heads, *options->kv_heads);
    if (!heads.ok()) return Fail(Annotate(heads, in_path), 2);
  }
  const int64_t start_ns = env->NowNanos();
  absl::StatusOr<ConvertSummary> summary = ConvertGgufFile(env, in_path, out_path, *options);
  if (!summary.ok()) return Fail(summary.status(), 1);
  const double seconds = (env->NowNanos() - start_ns) * 1e-9;
  std::string heads;
  if (options->kv_heads) {
    heads = absl::StrCat(", KV heads ", summary->old_kv_heads, " -> ", summary->new_kv_heads,
                         " (", summary->num_pooled_tensors, " K/V tensors pooled)");
  }
  std::cout << absl::StrFormat("wrote %s: %d tensors as %s (1-D tensors f32)%s, %s in %.1f s\n",
                               out_path, summary->num_tensors,
                               absl::AsciiStrToLower(GgmlTypeName(options->dtype)), heads,
                               FormatBytes(summary->output_bytes), seconds);
  return 0;
}

}  // namespace gqa
