// kvstore_bench: Put and Get throughput of a running gqa-kvstore over gRPC,
// with N concurrent clients (one connection each), through KvStoreClient as a
// worker would use it (client-side CRC-32C and chunking included). Each
// client cycles over its own 16 swap keys, so every Put really replaces a
// stored block and every Get reads one; run it against the memory tier.
//   kvstore_bench --target 127.0.0.1:P [--clients 8] [--block-bytes 65536]
//                 [--blocks-per-call 1] [--seconds 5] [--token T] [--server-pid P]
//                 [--markdown]
// Prints one line per operation: blocks/s, GB/s (10^9 bytes), latency
// percentiles per call, and the CPU time spent per GB moved by this process
// plus, with --server-pid, by the server (read from /proc); with --markdown,
// as rows of the table in bench/results/kvstore-throughput.md.
#include <sys/resource.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/crc32c.h"
#include "core/grpc/keepalive.h"
#include "core/status.h"
#include "kvstore/service/kvstore_client.h"
#include "tools/gqa/command_line.h"

namespace gqa::kvstore {
namespace {

constexpr int kKeysPerClient = 16;
constexpr int64_t kSwapTtlMs = 600000;

constexpr FlagSpec kFlags[] = {{"target"},     {"clients"}, {"block-bytes"},
                               {"blocks-per-call"}, {"seconds"}, {"token"},
                               {"server-pid"}, {"markdown", false}};

struct Options {
  std::string target;
  int clients = 8;
  int64_t block_bytes = 65536;
  int blocks_per_call = 1;
  absl::Duration duration = absl::Seconds(5);
  std::string token;
  int64_t server_pid = 0;  // 0: server CPU not measured
  bool markdown = false;
};

struct Result {
  int64_t calls = 0;
  int64_t bytes = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
  double client_cpu_s = 0;  // this process
  double server_cpu_s = 0;  // the server (0 without --server-pid)
};

// CPU seconds (user + system) this process has used.
double OwnCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

// CPU seconds (user + system) process `pid` has used, from /proc; 0 if unknown.
double ProcessCpuSeconds(int64_t pid) {
  if (pid <= 0) return 0;
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t end_of_name = text.rfind(')');
  if (end_of_name == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(text.substr(end_of_name + 2), ' ');
  // Fields 14 and 15 of stat(5) (utime, stime) are 11 and 12 after the name.
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// An f16 swap block of one KV head, one layer and one token whose payload is
// exactly `bytes` (head_dim = bytes / 4).
Block MakeBlock(int client, int index, int64_t bytes) {
  Block block;
  block.key.tenant = "bench";
  block.key.kind = BlockKind::kSwap;
  block.key.seq_id = absl::StrCat("bench-client-", client);
  block.key.block_idx = index;
  block.key.dtype = DType::kF16;
  block.layout.num_layers = 1;
  block.layout.block_tokens = 1;
  block.layout.head_dim = static_cast<int32_t>(bytes / 4);
  block.payload.resize(static_cast<size_t>(bytes));
  uint64_t state = static_cast<uint64_t>(client) * 1000003 + index;
  for (char& c : block.payload) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    c = static_cast<char>(state >> 56);
  }
  block.payload_crc32c = crc32c::Value(block.payload);
  return block;
}

std::shared_ptr<grpc::Channel> OwnConnection(const std::string& target) {
  grpc::ChannelArguments args = ClientKeepaliveArguments();
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // one TCP connection per client
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
}

// Runs `op` (one call moving `bytes_per_call` payload bytes) on every client
// for the duration; fails the run on the first error.
template <typename Op>
absl::StatusOr<Result> Measure(const Options& options,
                               std::vector<std::unique_ptr<KvStoreClient>>& clients,
                               int64_t bytes_per_call, Op op) {
  std::vector<std::vector<double>> latencies(clients.size());
  std::vector<absl::Status> errors(clients.size());
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const double client_cpu_before = OwnCpuSeconds();
  const double server_cpu_before = ProcessCpuSeconds(options.server_pid);
  const absl::Time start = absl::Now();
  for (size_t c = 0; c < clients.size(); ++c) {
    threads.emplace_back([&, c] {
      for (int64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const absl::Time call_start = absl::Now();
        if (absl::Status status = op(*clients[c], static_cast<int>(c), i); !status.ok()) {
          errors[c] = status;
          stop = true;
          return;
        }
        latencies[c].push_back(absl::ToDoubleMilliseconds(absl::Now() - call_start));
      }
    });
  }
  absl::SleepFor(options.duration);
  stop = true;
  for (std::thread& thread : threads) thread.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double client_cpu_s = OwnCpuSeconds() - client_cpu_before;
  const double server_cpu_s = ProcessCpuSeconds(options.server_pid) - server_cpu_before;
  for (const absl::Status& error : errors) {
    if (!error.ok()) return error;
  }
  std::vector<double> all;
  for (const std::vector<double>& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result result;
  result.calls = static_cast<int64_t>(all.size());
  result.bytes = result.calls * bytes_per_call;
  result.seconds = seconds;
  result.client_cpu_s = client_cpu_s;
  result.server_cpu_s = server_cpu_s;
  if (!all.empty()) {
    result.p50_ms = all[all.size() / 2];
    result.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  return result;
}

void Print(const Options& options, const std::string& op, const Result& result) {
  const double blocks_per_s =
      static_cast<double>(result.calls * options.blocks_per_call) / result.seconds;
  const double gb_per_s = static_cast<double>(result.bytes) / result.seconds / 1e9;
  const std::string size = options.block_bytes % (1 << 20) == 0
                               ? absl::StrCat(options.block_bytes >> 20, " MiB")
                               : absl::StrCat(options.block_bytes >> 10, " KiB");
  const double gb = static_cast<double>(result.bytes) / 1e9;
  const double cpu_per_gb = (result.client_cpu_s + result.server_cpu_s) / gb;
  if (options.markdown) {
    std::cout << absl::StrFormat(
        "| gqa-kvstore %s%s | %s | %d | %.0f | %.2f | %.2f | %.2f | %.2f |\n", op,
        options.blocks_per_call > 1 ? absl::StrCat(" (", options.blocks_per_call, " blocks/call)")
                                    : "",
        size, options.clients, blocks_per_s, gb_per_s, result.p50_ms, result.p99_ms, cpu_per_gb);
  } else {
    std::cout << absl::StrFormat(
        "%s block_bytes=%d clients=%d blocks_per_call=%d calls=%d seconds=%.2f blocks_per_s=%.0f "
        "gb_per_s=%.3f p50_ms=%.3f p99_ms=%.3f client_cpu_s=%.2f server_cpu_s=%.2f "
        "cpu_s_per_gb=%.2f\n",
        op, options.block_bytes, options.clients, options.blocks_per_call, result.calls,
        result.seconds, blocks_per_s, gb_per_s, result.p50_ms, result.p99_ms, result.client_cpu_s,
        result.server_cpu_s, cpu_per_gb);
  }
}

absl::StatusOr<Options> ParseOptions(int argc, char** argv) {
  ASSIGN_OR_RETURN(CommandLine flags,
                   CommandLine::Parse(absl::MakeConstSpan(argv + 1, argv + argc), kFlags));
  Options options;
  if (!flags.Value("target")) return absl::InvalidArgumentError("--target host:port is required");
  options.target = *flags.Value("target");
  if (auto v = flags.Value("clients")) {
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt("--clients", *v));
    options.clients = static_cast<int>(std::min<int64_t>(n, 1024));
  }
  if (auto v = flags.Value("block-bytes")) {
    ASSIGN_OR_RETURN(options.block_bytes, ParseByteSize("--block-bytes", *v));
    if (options.block_bytes % 4 != 0) {
      return absl::InvalidArgumentError("--block-bytes must be a multiple of 4");
    }
  }
  if (auto v = flags.Value("blocks-per-call")) {
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt("--blocks-per-call", *v));
    options.blocks_per_call = static_cast<int>(std::min<int64_t>(n, kKeysPerClient));
  }
  if (auto v = flags.Value("seconds")) {
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt("--seconds", *v));
    options.duration = absl::Seconds(n);
  }
  options.token = flags.Value("token").value_or("");
  if (auto v = flags.Value("server-pid")) {
    ASSIGN_OR_RETURN(options.server_pid, ParsePositiveInt("--server-pid", *v));
  }
  options.markdown = flags.Has("markdown");
  return options;
}

int Run(int argc, char** argv) {
  absl::StatusOr<Options> options = ParseOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << "kvstore_bench: " << options.status().message() << "\n";
    return 2;
  }
  std::vector<std::unique_ptr<KvStoreClient>> clients;
  std::vector<std::vector<Block>> blocks(options->clients);
  KvStoreClientOptions client_options;
  client_options.bearer_token = options->token;
  for (int c = 0; c < options->clients; ++c) {
    clients.push_back(std::make_unique<KvStoreClient>(OwnConnection(options->target),
                                                      client_options));
    for (int i = 0; i < kKeysPerClient; ++i) {
      blocks[c].push_back(MakeBlock(c, i, options->block_bytes));
    }
    std::vector<PutOutcome> outcomes;  // the keys Get reads, and a warm-up
    if (absl::Status put = clients[c]->PutBlocks(blocks[c], kSwapTtlMs, &outcomes); !put.ok()) {
      std::cerr << "kvstore_bench: warm-up Put failed: " << put << "\n";
      return 1;
    }
  }
  const int per_call = options->blocks_per_call;
  const int64_t bytes_per_call = options->block_bytes * per_call;
  // Call i of a client moves the per_call blocks from (i * per_call) mod 16
  // (from 0 when that would run past the 16th).
  auto first_of = [per_call](int64_t i) {
    const int first = static_cast<int>((i * per_call) % kKeysPerClient);
    return first + per_call <= kKeysPerClient ? first : 0;
  };
  absl::StatusOr<Result> put = Measure(
      *options, clients, bytes_per_call, [&](KvStoreClient& client, int c, int64_t i) {
        std::vector<PutOutcome> outcomes;
        return client.PutBlocks(absl::MakeConstSpan(blocks[c]).subspan(first_of(i), per_call),
                                kSwapTtlMs, &outcomes);
      });
  if (!put.ok()) {
    std::cerr << "kvstore_bench: Put failed: " << put.status() << "\n";
    return 1;
  }
  Print(*options, "Put", *put);
  std::vector<std::vector<BlockKey>> keys(options->clients);
  for (int c = 0; c < options->clients; ++c) {
    for (const Block& block : blocks[c]) keys[c].push_back(block.key);
  }
  absl::StatusOr<Result> get = Measure(
      *options, clients, bytes_per_call, [&](KvStoreClient& client, int c, int64_t i) {
        std::vector<Block> got;
        return client.GetBlocks(absl::MakeConstSpan(keys[c]).subspan(first_of(i), per_call), &got);
      });
  if (!get.ok()) {
    std::cerr << "kvstore_bench: Get failed: " << get.status() << "\n";
    return 1;
  }
  Print(*options, "Get", *get);
  return 0;
}

}  // namespace
}  // namespace gqa::kvstore

int main(int argc, char** argv) {
  // NOTE: blocks are 64 KiB to 64 MiB buffers allocated and freed at a high
  // rate. glibc hands large frees back to the kernel (mmap threshold, heap
  // trimming), so each new buffer was faulted in and zeroed again: a fifth
  // of the server's CPU. Keep them in the heap instead.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed threshold
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // NOTE: Debian's Abseil is built with Mutex deadlock detection on, which
  // records every lock acquisition in a process-wide graph: 2-5% of this
  // process's CPU in a profile of 64 KiB Puts and Gets. The unit tests keep
  // it; the binary turns it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return gqa::kvstore::Run(argc, argv);
}
