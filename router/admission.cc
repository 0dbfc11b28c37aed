#include "router/admission.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace gqa {

absl::Status Admission::Enter(const std::string& call_id, const std::string& key,
                              int64_t key_limit, std::function<void()> start) {
  {
    absl::MutexLock lock(&mu_);
    if (calls_.contains(call_id)) {
      return absl::AlreadyExistsError(absl::StrCat("call ", call_id, " is already admitted"));
    }
    int64_t& of_key = per_key_[key];
    if (key_limit > 0 && of_key >= key_limit) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this API key already has ", of_key, " calls running or queued, its limit; retry later"));
    }
    if (running_ >= options_.max_in_flight &&
        static_cast<int64_t>(queue_.size()) >= options_.max_queued) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "the router is at its limit (", options_.max_in_flight, " calls running, ",
          options_.max_queued, " queued); retry later"));
    }
    ++of_key;
    Call& call = calls_[call_id];
    call.key = key;
    if (running_ >= options_.max_in_flight) {
      queue_.emplace_back(call_id, std::move(start));
      return absl::OkStatus();
    }
    call.running = true;
    ++running_;
  }
  start();
  return absl::OkStatus();
}

bool Admission::Leave(const std::string& call_id) {
  std::function<void()> next;
  {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(call_id);
    if (it == calls_.end()) return false;
    auto key_it = per_key_.find(it->second.key);
    if (--key_it->second == 0) per_key_.erase(key_it);
    const bool was_running = it->second.running;
    calls_.erase(it);
    if (!was_running) {
      for (auto q = queue_.begin(); q != queue_.end(); ++q) {
        if (q->first == call_id) {
          queue_.erase(q);
          break;
        }
      }
      return true;
    }
    --running_;
    if (!queue_.empty()) {
      calls_[queue_.front().first].running = true;
      ++running_;
      next = std::move(queue_.front().second);
      queue_.pop_front();
    }
  }
  if (next) next();
  return true;
}

int64_t Admission::in_flight() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

int64_t Admission::queued() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(queue_.size());
}

}  // namespace gqa
