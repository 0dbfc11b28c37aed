// Errors that only the device can see (a token id, slot or block table entry
// read from device memory out of range): kernels record the first one in a
// small device word instead of reading out of bounds, and the CUDA backend
// turns it into INVALID_ARGUMENT at the next Synchronize(). Used by cuda/*.cu
// and cuda_backend.cc; the word is written with atomics (safe from any thread).
#ifndef GQA_WORKER_BACKEND_CUDA_DEVICE_ERRORS_H_
#define GQA_WORKER_BACKEND_CUDA_DEVICE_ERRORS_H_

#include <cstdint>
#include <string>

namespace gqa::cuda {

enum class DeviceErrorCode : int64_t {
  kNone = 0,
  kTokenIdOutOfRange = 1,     // a = token, b = id, c = vocabulary size
  kSlotOutOfRange = 2,        // a = token, b = KV head, c = slot
  kSeqIdxOutOfRange = 3,      // a = token, b = sequence index, c = num_seqs
  kContextLenOutOfRange = 4,  // a = token, b = context length, c = max context
  kBlockOutOfRange = 5,       // a = token, b = block id, c = num_blocks
  kCopyBlockOutOfRange = 6,   // a = pair, b = block id, c = num_blocks
  kCopyBlockConflict = 7,     // a = pair, b = destination block (a source, or in two pairs)
  kNegativePolicyValue = 8,   // a = sequence, b = num_sinks, c = recent_window
  kGatherRowOutOfRange = 9,   // a = output row, b = source row, c = num_src_rows
};

// [code, a, b, c] in device memory, zero when nothing went wrong.
struct DeviceErrorWord {
  long long* word = nullptr;  // [4]
};

// The message for a recorded error, for INVALID_ARGUMENT.
std::string DescribeDeviceError(const long long word[4]);

#ifdef __CUDACC__
// Records (code, a, b, c) unless an earlier error is recorded already.
__device__ inline void RecordDeviceError(DeviceErrorWord errors, DeviceErrorCode code, long long a,
                                         long long b, long long c) {
  if (errors.word == nullptr) return;
  if (atomicCAS(reinterpret_cast<unsigned long long*>(errors.word), 0ull,
                static_cast<unsigned long long>(code)) == 0ull) {
    errors.word[1] = a;
    errors.word[2] = b;
    errors.word[3] = c;
  }
}
#endif

}  // namespace gqa::cuda

#endif  // GQA_WORKER_BACKEND_CUDA_DEVICE_ERRORS_H_
