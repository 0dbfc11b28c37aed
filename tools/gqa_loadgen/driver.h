// Driver: runs one load phase of gqa-loadgen. Open loop: request i leaves at
// its ArrivalSchedule time whatever happened to earlier ones (the driver's
// thread sleeps to an absolute monotonic deadline and never waits for a
// response). Closed loop: `concurrency` requests in flight, the next leaving
// when one completes. Stops after the warm-up plus `num_requests`, or when
// `duration_s` has passed since the first measured request, then waits for
// every request in flight. Run() is called once, from one thread; Live() is
// thread-safe (the progress line reads it).
#ifndef GQA_TOOLS_GQA_LOADGEN_DRIVER_H_
#define GQA_TOOLS_GQA_LOADGEN_DRIVER_H_

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "tools/gqa_loadgen/arrival_schedule.h"
#include "tools/gqa_loadgen/options.h"
#include "tools/gqa_loadgen/request_record.h"
#include "tools/gqa_loadgen/request_sender.h"
#include "tools/gqa_loadgen/workload.h"

namespace gqa::loadgen {

struct DriverOptions {
  LoopMode mode = LoopMode::kOpen;
  ArrivalOptions arrival;    // open loop
  int64_t concurrency = 1;   // closed loop, >= 1
  // Exactly one of the two: measured requests, or seconds of sending.
  std::optional<int64_t> num_requests;
  std::optional<double> duration_s;
  int64_t warmup_requests = 0;  // indices [0, warmup) are marked warm-up
  // Request i of this phase is the workload's request first_index + i, so
  // that phases of one run (sweep points) send different prompts and do not
  // hit each other's prefix cache; records keep the phase's own i.
  int64_t first_index = 0;
};

// What the progress line shows, at one moment.
struct LiveStats {
  double elapsed_s = 0;
  int64_t num_sent = 0;
  int64_t num_done = 0;
  int64_t num_errors = 0;
  int64_t num_in_flight = 0;
  int64_t num_planned = -1;  // -1: a duration run
  double planned_s = 0;      // a duration run's length
  double recent_rps = 0;     // completions over the last 5 s
  double recent_ttft_p50_ms = 0;  // over the last 1000 completions
  double recent_tpot_p50_ms = 0;
  bool warming_up = false;
};

class Driver {
 public:
  // REQUIRES: exactly one of num_requests and duration_s.
  Driver(DriverOptions options, const Workload& workload, RequestSender& sender);
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // Runs the phase; the records in index order, times relative to its start.
  // INVALID_ARGUMENT for bad arrival options.
  absl::StatusOr<std::vector<RequestRecord>> Run();

  LiveStats Live() const;

 private:
  struct Recent {
    int64_t end_ns = 0;
    double ttft_ms = 0;
    double tpot_ms = -1;  // < 0: none
  };

  absl::Status RunOpen();
  void RunClosed();
  // `scheduled`: the open loop's due time (absolute); nullopt: now.
  void SendOne(int64_t index, RequestSpec spec, std::optional<int64_t> scheduled);
  void OnDone(RequestRecord record);
  bool Planned(int64_t index, int64_t offset_ns) ABSL_LOCKS_EXCLUDED(mu_);

  const DriverOptions options_;
  const Workload& workload_;
  RequestSender& sender_;
  int64_t start_abs_ns_ = 0;

  mutable absl::Mutex mu_;
  std::vector<RequestRecord> records_ ABSL_GUARDED_BY(mu_);
  std::deque<Recent> recent_ ABSL_GUARDED_BY(mu_);
  int64_t num_sent_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t num_errors_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // Offset of the first measured send; -1 until it happens.
  int64_t measure_start_ns_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_DRIVER_H_
