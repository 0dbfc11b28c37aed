#include "router/worker_pool.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/log.h"

namespace gqa {
namespace {

absl::Status SplitHostPort(absl::string_view target, std::string* host, int* port) {
  const size_t colon = target.rfind(':');
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(target.substr(colon + 1), port) || *port < 1 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker target '", target, "': expected host:port or dns:host:port"));
  }
  *host = std::string(target.substr(0, colon));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveAddresses(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &result);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::set<std::string> addresses;
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (ai->ai_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(ai->ai_addr)->sin_addr, text, sizeof(text));
      addresses.insert(absl::StrCat(text, ":", port));
    } else if (ai->ai_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(ai->ai_addr)->sin6_addr, text,
                sizeof(text));
      addresses.insert(absl::StrCat("[", text, "]:", port));
    }
  }
  freeaddrinfo(result);
  return std::vector<std::string>(addresses.begin(), addresses.end());
}

absl::StatusOr<std::unique_ptr<WorkerPool>> WorkerPool::Create(WorkerPoolOptions options) {
  if (options.targets.empty()) return absl::InvalidArgumentError("no workers given");
  auto pool = std::unique_ptr<WorkerPool>(new WorkerPool(options));
  for (const std::string& target : options.targets) {
    absl::string_view rest = target;
    std::string host;
    int port = 0;
    const bool dns = absl::ConsumePrefix(&rest, "dns:");
    if (absl::Status split = SplitHostPort(rest, &host, &port); !split.ok()) return split;
    if (dns) {
      pool->dns_targets_.push_back({host, port});
    } else {
      pool->static_addresses_.push_back(std::string(rest));
    }
  }
  {
    absl::MutexLock lock(&pool->mu_);
    for (const std::string& address : pool->static_addresses_) {
      auto endpoint = std::make_shared<WorkerEndpoint>(address, options.endpoint);
      endpoint->Start();
      pool->endpoints_[address] = std::move(endpoint);
    }
  }
  if (!pool->dns_targets_.empty()) {
    pool->Resolve();
    pool->resolver_ = std::thread([p = pool.get()] { p->ResolveLoop(); });
  }
  return pool;
}

WorkerPool::~WorkerPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (resolver_.joinable()) resolver_.join();
}

std::vector<std::shared_ptr<WorkerEndpoint>> WorkerPool::Endpoints() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<WorkerEndpoint>> endpoints;
  for (const auto& [address, endpoint] : endpoints_) endpoints.push_back(endpoint);
  return endpoints;
}

void WorkerPool::Resolve() {
  std::set<std::string> wanted(static_addresses_.begin(), static_addresses_.end());
  for (const DnsTarget& target : dns_targets_) {
    absl::StatusOr<std::vector<std::string>> addresses = ResolveAddresses(target.host, target.port);
    if (!addresses.ok()) {
      LOG(WARNING) << addresses.status().message() << "; keeping its previous addresses";
      absl::MutexLock lock(&mu_);
      for (const auto& [address, endpoint] : endpoints_) wanted.insert(address);
      continue;
    }
    wanted.insert(addresses->begin(), addresses->end());
  }
  std::vector<std::shared_ptr<WorkerEndpoint>> dropped;  // destroyed after the lock is released
  absl::MutexLock lock(&mu_);
  for (auto it = endpoints_.begin(); it != endpoints_.end();) {
    if (!wanted.contains(it->first)) {
      LOG(INFO) << "worker " << it->first << " left the pool";
      dropped.push_back(std::move(it->second));
      it = endpoints_.erase(it);
    } else {
      ++it;
    }
  }
  for (const std::string& address : wanted) {
    if (endpoints_.contains(address)) continue;
    LOG(INFO) << "worker " << address << " joined the pool";
    auto endpoint = std::make_shared<WorkerEndpoint>(address, options_.endpoint);
    endpoint->Start();
    endpoints_[address] = std::move(endpoint);
  }
}

void WorkerPool::ResolveLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.resolve_interval);
      if (stopping_) return;
    }
    Resolve();
  }
}

}  // namespace gqa
