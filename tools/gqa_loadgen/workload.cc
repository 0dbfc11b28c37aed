#include "tools/gqa_loadgen/workload.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/gqa_loadgen/random.h"

namespace gqa::loadgen {
namespace {

// Common English words, each one token in the usual BPE vocabularies when
// preceded by a space, so a prompt of N words is close to N tokens.
constexpr absl::string_view kWords[] = {
    "the",   "of",    "and",   "to",    "in",    "is",    "that",  "for",   "it",    "as",
    "was",   "with",  "be",    "by",    "on",    "not",   "he",    "this",  "are",   "or",
    "his",   "from",  "at",    "which", "but",   "have",  "an",    "had",   "they",  "you",
    "were",  "their", "one",   "all",   "we",    "can",   "her",   "has",   "there", "been",
    "if",    "more",  "when",  "will",  "would", "who",   "so",    "no",    "time",  "people",
    "water", "world", "work",  "state", "house", "city",  "light", "field", "model", "cache"};
constexpr uint64_t kPrefixStream = 0x707265666978;
constexpr uint64_t kOrderStream = 0x6f72646572;

int64_t Draw(const LengthSpec& spec, Rng& rng) {
  return spec.min_tokens == spec.max_tokens ? spec.min_tokens
                                            : rng.UniformInt(spec.min_tokens, spec.max_tokens);
}

std::string Words(int64_t count, Rng& rng) {
  std::string text;
  for (int64_t i = 0; i < count; ++i) {
    if (i > 0) text += ' ';
    const auto& word = kWords[rng.UniformInt(0, std::size(kWords) - 1)];
    text.append(word.data(), word.size());
  }
  return text;
}

absl::StatusOr<int64_t> PositiveInt(absl::string_view flag, absl::string_view text,
                                    absl::string_view what) {
  int64_t value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " '", text, "': ", what, " must be a positive integer"));
  }
  return value;
}

}  // namespace

absl::StatusOr<LengthSpec> LengthSpec::Parse(absl::string_view flag, absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ':');
  LengthSpec spec;
  if (parts.size() == 1) {
    absl::StatusOr<int64_t> n = PositiveInt(flag, text, "the length");
    if (!n.ok()) return n.status();
    spec.min_tokens = spec.max_tokens = *n;
    return spec;
  }
  const absl::Status form = absl::InvalidArgumentError(absl::StrCat(
      flag, " '", text, "': expected N (fixed) or LO:HI (uniform, 1 <= LO <= HI), e.g. 64:256"));
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &spec.min_tokens) ||
      !absl::SimpleAtoi(parts[1], &spec.max_tokens) || spec.min_tokens < 1 ||
      spec.max_tokens < spec.min_tokens) {
    return form;
  }
  return spec;
}

std::string LengthSpec::ToString() const {
  return min_tokens == max_tokens ? absl::StrCat(min_tokens)
                                  : absl::StrCat(min_tokens, ":", max_tokens);
}

absl::StatusOr<SharedPrefixSpec> SharedPrefixSpec::Parse(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, ',');
  SharedPrefixSpec spec;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &spec.num_prefixes) ||
      !absl::SimpleAtoi(parts[1], &spec.prefix_tokens) ||
      !absl::SimpleAtod(parts[2], &spec.fraction) || spec.num_prefixes < 1 ||
      spec.prefix_tokens < 1 || !(spec.fraction >= 0.0 && spec.fraction <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--shared-prefix '", text,
        "': expected COUNT,LENGTH,FRACTION (COUNT system prompts of LENGTH tokens, shared by "
        "FRACTION in [0,1] of the requests), e.g. 4,512,0.8"));
  }
  return spec;
}

std::string SharedPrefixSpec::ToString() const {
  return absl::StrCat(num_prefixes, ",", prefix_tokens, ",", fraction);
}

absl::StatusOr<Workload> Workload::Create(WorkloadOptions options) {
  if (options.first_token_id == 0 && options.vocab_size > 1024) options.first_token_id = 256;
  if (options.vocab_size <= options.first_token_id) {
    return absl::InvalidArgumentError(absl::StrCat("the target's vocabulary (", options.vocab_size,
                                                   " tokens) is too small to draw prompts from"));
  }
  for (const DatasetEntry& entry : options.dataset) {
    for (int32_t id : entry.prompt_token_ids) {
      if (id >= options.vocab_size) {
        return absl::InvalidArgumentError(
            absl::StrCat("--dataset line ", entry.line, ": token id ", id,
                         " is outside the target's vocabulary [0, ", options.vocab_size, ")"));
      }
    }
  }
  Workload workload(std::move(options));
  const WorkloadOptions& o = workload.options_;
  if (o.shared_prefix.has_value()) {
    Rng rng(o.seed, kPrefixStream);
    for (int64_t p = 0; p < o.shared_prefix->num_prefixes; ++p) {
      if (o.format == PromptFormat::kText) {
        workload.prefix_texts_.push_back(Words(o.shared_prefix->prefix_tokens, rng));
      } else {
        std::vector<int32_t> ids(o.shared_prefix->prefix_tokens);
        for (int32_t& id : ids) {
          id = static_cast<int32_t>(rng.UniformInt(o.first_token_id, o.vocab_size - 1));
        }
        workload.prefix_ids_.push_back(std::move(ids));
      }
    }
  }
  if (!o.dataset.empty()) {
    workload.dataset_order_.resize(o.dataset.size());
    std::iota(workload.dataset_order_.begin(), workload.dataset_order_.end(), 0);
    Rng rng(o.seed, kOrderStream);
    for (size_t i = workload.dataset_order_.size(); i > 1; --i) {  // Fisher-Yates
      std::swap(workload.dataset_order_[i - 1],
                workload.dataset_order_[rng.UniformInt(0, static_cast<int64_t>(i) - 1)]);
    }
  }
  return workload;
}

RequestSpec Workload::Make(int64_t index) const {
  const WorkloadOptions& o = options_;
  Rng rng(o.seed, static_cast<uint64_t>(index) * 2 + 1);
  RequestSpec spec;
  spec.index = index;
  if (!o.dataset.empty()) {
    const DatasetEntry& entry =
        o.dataset[dataset_order_[index % static_cast<int64_t>(dataset_order_.size())]];
    spec.prompt_text = entry.prompt_text;
    spec.prompt_token_ids = entry.prompt_token_ids;
    spec.max_tokens = entry.output_tokens.has_value() ? *entry.output_tokens : Draw(o.output, rng);
    return spec;
  }
  // Draw in a fixed order so each field depends only on (seed, index).
  const int64_t input_tokens = Draw(o.input, rng);
  spec.max_tokens = Draw(o.output, rng);
  const double prefix_draw = rng.Uniform();
  const int64_t prefix_pick = o.shared_prefix.has_value()
                                  ? rng.UniformInt(0, o.shared_prefix->num_prefixes - 1)
                                  : 0;
  if (o.shared_prefix.has_value() && prefix_draw < o.shared_prefix->fraction) {
    spec.prefix_group = static_cast<int32_t>(prefix_pick);
  }
  if (o.format == PromptFormat::kText) {
    if (spec.prefix_group >= 0) spec.prompt_text = prefix_texts_[spec.prefix_group] + " ";
    spec.prompt_text += Words(input_tokens, rng);
  } else {
    if (spec.prefix_group >= 0) spec.prompt_token_ids = prefix_ids_[spec.prefix_group];
    for (int64_t i = 0; i < input_tokens; ++i) {
      spec.prompt_token_ids.push_back(
          static_cast<int32_t>(rng.UniformInt(o.first_token_id, o.vocab_size - 1)));
    }
  }
  return spec;
}

}  // namespace gqa::loadgen
