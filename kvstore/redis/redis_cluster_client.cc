#include "kvstore/redis/redis_cluster_client.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/status.h"
#include "kvstore/redis/cluster_errors.h"
#include "kvstore/redis/node_pool.h"
#include "kvstore/redis/redis_address.h"
#include "kvstore/redis/slot_map.h"

namespace gqa::kvstore {
namespace {

// The interface speaks std::string_view; Debian's Abseil has its own
// absl::string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0), used inside.
absl::string_view ToAbsl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

// Idle connections kept per node; busy ones are not limited.
constexpr int kMaxIdleConnectionsPerNode = 8;
// Backoff between retries of TRYAGAIN/CLUSTERDOWN/LOADING replies.
constexpr absl::Duration kFirstBackoff = absl::Milliseconds(2);
constexpr absl::Duration kMaxBackoff = absl::Milliseconds(100);
// A node failure reuses a slot map this fresh instead of asking again, so a
// dead master does not turn every command into a CLUSTER SLOTS.
constexpr absl::Duration kMinRefreshInterval = absl::Milliseconds(50);

class RedisClusterClientImpl final : public RedisClusterClient {
 public:
  RedisClusterClientImpl(RedisClusterOptions options, std::vector<RedisAddress> seeds)
      : options_(std::move(options)), seeds_(std::move(seeds)) {}

  // Loads the slot map from the first seed that gives one covering every slot.
  absl::Status Init();

  absl::Status Set(std::string_view key, std::string_view value, int64_t ttl_ms) override;
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) override;
  absl::StatusOr<bool> Delete(std::string_view key) override;
  absl::StatusOr<bool> Exists(std::string_view key) override;

 private:
  // Runs `args` on the master of `key`'s slot, following redirections and
  // retrying transient cluster errors until the command deadline. Returns
  // the reply (never an error reply) or a status.
  absl::StatusOr<RespValue> Execute(absl::string_view key, absl::Span<const absl::string_view> args)
      ABSL_LOCKS_EXCLUDED(map_mu_);
  // One attempt on `node` (preceded by ASKING when `asking`). A status only
  // for transport failures; error replies come back as replies.
  absl::StatusOr<RespValue> CallNode(const RedisAddress& node, bool asking,
                                     absl::Span<const absl::string_view> args, absl::Time deadline);
  NodePool& PoolFor(const RedisAddress& node);

  // Fetches CLUSTER SLOTS from `node`.
  absl::StatusOr<SlotMap> LoadSlotMap(const RedisAddress& node, absl::Time deadline);
  // Replaces the map with one from `first` if given, else from any known
  // node but `avoid`. Skipped when another thread refreshed since
  // `seen_version`, or (unless `force`) the map is younger than
  // kMinRefreshInterval. A thread that finds a refresh running waits for it.
  absl::Status RefreshSlotMap(uint64_t seen_version, const std::optional<RedisAddress>& first,
                              const std::optional<RedisAddress>& avoid, bool force,
                              absl::Time deadline) ABSL_LOCKS_EXCLUDED(map_mu_);
  void InstallSlotMap(SlotMap map) ABSL_LOCKS_EXCLUDED(map_mu_);

  const RedisClusterOptions options_;
  const std::vector<RedisAddress> seeds_;

  absl::Mutex map_mu_;
  SlotMap slot_map_ ABSL_GUARDED_BY(map_mu_);
  uint64_t map_version_ ABSL_GUARDED_BY(map_mu_) = 0;  // bumped by every full reload
  absl::Time map_loaded_at_ ABSL_GUARDED_BY(map_mu_) = absl::InfinitePast();
  bool refreshing_ ABSL_GUARDED_BY(map_mu_) = false;  // a thread is loading a new map

  absl::Mutex pools_mu_;
  // Pools are never erased, so references stay valid while the client lives.
  absl::flat_hash_map<std::string, std::unique_ptr<NodePool>> pools_ ABSL_GUARDED_BY(pools_mu_);
};

absl::Status RedisClusterClientImpl::Init() {
  std::vector<std::string> failures;
  for (const RedisAddress& seed : seeds_) {
    const absl::Time deadline = absl::Now() + options_.connect_timeout + options_.command_timeout;
    absl::StatusOr<SlotMap> map = LoadSlotMap(seed, deadline);
    if (!map.ok()) {
      failures.push_back(std::string(map.status().message()));
      continue;
    }
    if (map->num_covered_slots() != kNumHashSlots) {
      failures.push_back(absl::StrCat("redis node ", seed.ToString(), " reports only ",
                                      map->num_covered_slots(), " of ", kNumHashSlots,
                                      " slots served"));
      continue;
    }
    InstallSlotMap(*std::move(map));
    return absl::OkStatus();
  }
  return absl::UnavailableError(absl::StrCat(
      "no seed gave a Redis Cluster slot map serving every slot (", absl::StrJoin(failures, "; "),
      "); check that the cluster is up and its state is ok"));
}

NodePool& RedisClusterClientImpl::PoolFor(const RedisAddress& node) {
  const std::string key = node.ToString();
  absl::MutexLock lock(&pools_mu_);
  std::unique_ptr<NodePool>& pool = pools_[key];
  if (pool == nullptr) {
    pool = std::make_unique<NodePool>(node, options_.connect_timeout, kMaxIdleConnectionsPerNode);
  }
  return *pool;
}

absl::StatusOr<RespValue> RedisClusterClientImpl::CallNode(const RedisAddress& node, bool asking,
                                                           absl::Span<const absl::string_view> args,
                                                           absl::Time deadline) {
  NodePool& pool = PoolFor(node);
  std::string request;
  if (asking) AppendCommand({"ASKING"}, &request);
  AppendCommand(args, &request);
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(NodePool::Lease lease, pool.Acquire(deadline));
    RedisConnection& connection = *lease.connection;
    absl::StatusOr<RespValue> reply = [&]() -> absl::StatusOr<RespValue> {
      RETURN_IF_ERROR(connection.Send(request, deadline));
      if (asking) {
        ASSIGN_OR_RETURN(RespValue asking_reply, connection.ReadReply(deadline));
        ASSIGN_OR_RETURN(RespValue command_reply, connection.ReadReply(deadline));
        if (asking_reply.is_error()) return asking_reply;
        return command_reply;
      }
      return connection.ReadReply(deadline);
    }();
    if (reply.ok()) {
      pool.Release(std::move(lease.connection));
      return reply;
    }
    // NOTE: an idle connection may have been closed by the node (restart,
    // idle timeout) while it sat in the pool; that says nothing about the
    // node now, so drop the idle ones and try once more on a fresh one. The
    // commands sent here are idempotent, so a retry after a lost reply is safe.
    if (!lease.reused || attempt > 0 || absl::Now() >= deadline) return reply.status();
    pool.Clear();
  }
}

absl::StatusOr<SlotMap> RedisClusterClientImpl::LoadSlotMap(const RedisAddress& node,
                                                            absl::Time deadline) {
  ASSIGN_OR_RETURN(RespValue reply, CallNode(node, false, {"CLUSTER", "SLOTS"}, deadline));
  if (reply.is_error()) {
    return absl::UnavailableError(absl::StrCat("redis node ", node.ToString(),
                                               " cannot give CLUSTER SLOTS: ", reply.str,
                                               "; is it running with cluster-enabled yes?"));
  }
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(reply, node.host);
  if (!map.ok()) return Annotate(map.status(), absl::StrCat("redis node ", node.ToString()));
  if (map->num_covered_slots() == 0) {
    return absl::UnavailableError(
        absl::StrCat("redis node ", node.ToString(), " knows no slot owners yet"));
  }
  return map;
}

void RedisClusterClientImpl::InstallSlotMap(SlotMap map) {
  absl::MutexLock lock(&map_mu_);
  slot_map_ = std::move(map);
  ++map_version_;
  map_loaded_at_ = absl::Now();
}

absl::Status RedisClusterClientImpl::RefreshSlotMap(uint64_t seen_version,
                                                    const std::optional<RedisAddress>& first,
                                                    const std::optional<RedisAddress>& avoid,
                                                    bool force, absl::Time deadline) {
  std::vector<RedisAddress> candidates;
  {
    absl::MutexLock lock(&map_mu_);
    map_mu_.AwaitWithDeadline(absl::Condition(
                                  +[](bool* refreshing) { return !*refreshing; }, &refreshing_),
                              deadline);
    if (refreshing_) return absl::UnavailableError("timed out waiting for a slot map refresh");
    if (map_version_ != seen_version) return absl::OkStatus();
    if (!force && absl::Now() - map_loaded_at_ < kMinRefreshInterval) return absl::OkStatus();
    refreshing_ = true;
    if (first) candidates.push_back(*first);
    for (const RedisAddress& master : slot_map_.Masters()) candidates.push_back(master);
  }
  for (const RedisAddress& seed : seeds_) candidates.push_back(seed);
  std::vector<std::string> failures;
  std::optional<SlotMap> loaded;
  for (const RedisAddress& node : candidates) {
    if (avoid && node == *avoid) continue;
    absl::StatusOr<SlotMap> map = LoadSlotMap(node, deadline);
    if (map.ok()) {
      loaded = *std::move(map);
      break;
    }
    failures.push_back(std::string(map.status().message()));
    if (absl::Now() >= deadline) break;
  }
  absl::MutexLock lock(&map_mu_);
  refreshing_ = false;
  if (!loaded) {
    return absl::UnavailableError(
        absl::StrCat("no node gave a slot map: ", absl::StrJoin(failures, "; ")));
  }
  slot_map_ = *std::move(loaded);
  ++map_version_;
  map_loaded_at_ = absl::Now();
  return absl::OkStatus();
}

absl::StatusOr<RespValue> RedisClusterClientImpl::Execute(
    absl::string_view key, absl::Span<const absl::string_view> args) {
  const absl::Time deadline = absl::Now() + options_.command_timeout;
  const uint16_t slot = HashSlot(std::string_view(key.data(), key.size()));
  const auto unavailable = [&](absl::string_view why) {
    return absl::UnavailableError(absl::StrCat(args[0], " on hash slot ", slot, " failed: ", why));
  };
  int num_redirections = 0;
  bool refreshed_for_unserved = false;
  absl::Duration backoff = kFirstBackoff;
  std::optional<RedisAddress> ask_target;
  while (true) {
    std::optional<RedisAddress> owner;
    uint64_t version = 0;  // of the map this attempt routes by
    {
      absl::ReaderMutexLock lock(&map_mu_);
      owner = slot_map_.MasterOf(slot);
      version = map_version_;
    }
    RedisAddress node;
    const bool asking = ask_target.has_value();
    if (asking) {
      node = *std::move(ask_target);
      ask_target.reset();
    } else {
      if (!owner) {
        if (refreshed_for_unserved) return unavailable("no node serves it; is the cluster down?");
        refreshed_for_unserved = true;
        RefreshSlotMap(version, std::nullopt, std::nullopt, /*force=*/true, deadline).IgnoreError();
        continue;
      }
      node = *std::move(owner);
    }

    absl::StatusOr<RespValue> reply = CallNode(node, asking, args, deadline);
    if (!reply.ok()) {
      // The node is unreachable: ask the others who serves the slot now.
      if (absl::Now() >= deadline) return unavailable(reply.status().message());
      RefreshSlotMap(version, std::nullopt, node, /*force=*/false, deadline).IgnoreError();
      {
        absl::ReaderMutexLock lock(&map_mu_);
        owner = slot_map_.MasterOf(slot);
      }
      if (!asking && (!owner || *owner == node)) {
        return unavailable(absl::StrCat(reply.status().message(),
                                        " (its master is unreachable and no other node "
                                        "names a new one)"));
      }
      if (++num_redirections > options_.max_redirections) {
        return unavailable(reply.status().message());
      }
      continue;
    }
    if (!reply->is_error()) return reply;

    if (std::optional<Redirect> redirect = ParseRedirect(reply->str, node.host)) {
      if (++num_redirections > options_.max_redirections) {
        return unavailable(absl::StrCat("more than ", options_.max_redirections,
                                        " redirections, the last: ", reply->str));
      }
      if (redirect->kind == Redirect::Kind::kAsk) {
        ask_target = std::move(redirect->address);  // once, without touching the map
        continue;
      }
      // MOVED: the slot (and likely others) changed hands. Reload the map
      // from the new owner unless another thread is already at it, then
      // make sure this slot points where the node said.
      bool refresh_running = false;
      {
        absl::ReaderMutexLock lock(&map_mu_);
        refresh_running = refreshing_;
      }
      if (!refresh_running) {
        RefreshSlotMap(version, redirect->address, std::nullopt, /*force=*/true, deadline)
            .IgnoreError();
      }
      absl::MutexLock lock(&map_mu_);
      slot_map_.Assign(static_cast<uint16_t>(redirect->slot), redirect->address);
      continue;
    }
    if (IsTransientClusterError(reply->str)) {
      if (absl::Now() + backoff >= deadline) {
        return unavailable(absl::StrCat("still failing at the command deadline: ", reply->str));
      }
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    return StatusFromErrorReply(reply->str, node);
  }
}

absl::Status UnexpectedReply(absl::string_view command, const RespValue& reply) {
  return absl::UnknownError(
      absl::StrCat("unexpected reply to ", command, ": ", reply.DebugString()));
}

absl::Status RedisClusterClientImpl::Set(std::string_view key_view, std::string_view value_view,
                                         int64_t ttl_ms) {
  const absl::string_view key = ToAbsl(key_view);
  const absl::string_view value = ToAbsl(value_view);
  absl::StatusOr<RespValue> reply;
  if (ttl_ms > 0) {
    const std::string ttl = absl::StrCat(ttl_ms);
    reply = Execute(key, {"SET", key, value, "PX", ttl});
  } else {
    reply = Execute(key, {"SET", key, value});
  }
  if (!reply.ok()) return reply.status();
  if (reply->type != RespValue::Type::kSimpleString || reply->str != "OK") {
    return UnexpectedReply("SET", *reply);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> RedisClusterClientImpl::Get(std::string_view key_view) {
  const absl::string_view key = ToAbsl(key_view);
  ASSIGN_OR_RETURN(RespValue reply, Execute(key, {"GET", key}));
  if (reply.type == RespValue::Type::kNullBulk) return std::nullopt;
  if (reply.type != RespValue::Type::kBulkString) return UnexpectedReply("GET", reply);
  return std::move(reply.str);
}

absl::StatusOr<bool> RedisClusterClientImpl::Delete(std::string_view key_view) {
  const absl::string_view key = ToAbsl(key_view);
  ASSIGN_OR_RETURN(RespValue reply, Execute(key, {"DEL", key}));
  if (reply.type != RespValue::Type::kInteger) return UnexpectedReply("DEL", reply);
  return reply.integer > 0;
}

absl::StatusOr<bool> RedisClusterClientImpl::Exists(std::string_view key_view) {
  const absl::string_view key = ToAbsl(key_view);
  ASSIGN_OR_RETURN(RespValue reply, Execute(key, {"EXISTS", key}));
  if (reply.type != RespValue::Type::kInteger) return UnexpectedReply("EXISTS", reply);
  return reply.integer > 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisClusterClient>> RedisClusterClient::Connect(
    RedisClusterOptions options) {
  if (options.seed_addresses.empty()) {
    return absl::InvalidArgumentError(
        "RedisClusterOptions.seed_addresses is empty; give host:port");
  }
  if (options.max_redirections < 0 || options.command_timeout <= absl::ZeroDuration() ||
      options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "RedisClusterOptions needs max_redirections >= 0 and positive timeouts");
  }
  std::vector<RedisAddress> seeds;
  for (const std::string& text : options.seed_addresses) {
    ASSIGN_OR_RETURN(RedisAddress seed, ParseRedisAddress(text));
    seeds.push_back(std::move(seed));
  }
  auto client = std::make_unique<RedisClusterClientImpl>(std::move(options), std::move(seeds));
  RETURN_IF_ERROR(client->Init());
  return client;
}

}  // namespace gqa::kvstore
