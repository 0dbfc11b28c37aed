// Rng: the one source of randomness in gqa-loadgen (arrival gaps, lengths,
// prompt tokens, prefix choice). Built on std::mt19937_64, whose output the
// C++ standard fixes bit for bit, with the distributions written here (the
// standard library's are implementation-defined), so a seed gives the same
// workload with any compiler. Thread-compatible.
#ifndef GQA_TOOLS_GQA_LOADGEN_RANDOM_H_
#define GQA_TOOLS_GQA_LOADGEN_RANDOM_H_

#include <cstdint>
#include <random>

namespace gqa::loadgen {

class Rng {
 public:
  // `stream` separates independent uses of one seed (arrivals, request i, ...).
  Rng(uint64_t seed, uint64_t stream) : engine_(Mix(seed, stream)) {}

  uint64_t Next() { return engine_(); }
  // Uniform in [0, 1), 53 random bits.
  double Uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  // Uniform integer in [lo, hi]. REQUIRES: lo <= hi.
  int64_t UniformInt(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
    if (span == 0) return static_cast<int64_t>(engine_());  // the whole int64 range
    return lo + static_cast<int64_t>(engine_() % span);
  }
  // Exponential with mean 1.
  double Exponential();
  // Standard normal (Box-Muller).
  double Normal();
  // Gamma with the given shape (> 0) and scale 1 (Marsaglia-Tsang).
  double Gamma(double shape);

  // SplitMix64 finalizer of (seed, stream): well-spread engine seeds.
  static uint64_t Mix(uint64_t seed, uint64_t stream);

 private:
  std::mt19937_64 engine_;
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_RANDOM_H_
