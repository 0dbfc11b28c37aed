#include "kvstore/redis/testing/redis_cluster_fixture.h"

#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "kvstore/redis/redis_connection.h"
#include "kvstore/redis/slot_map.h"
#include "kvstore/redis/testing/child_process.h"
// NOTE: reused from worker/ (header-only, test-only), as the brief allows.
#include "worker/service/testing/free_port.h"

namespace gqa::kvstore {
namespace {

constexpr absl::Duration kCommandTimeout = absl::Seconds(10);
constexpr absl::Duration kStopGrace = absl::Seconds(3);
constexpr int kMaxPortAttempts = 5;

std::string LogPath(const std::string& dir) { return dir + "/redis.log"; }

// Two distinct ports, neither in `taken`, which then holds them too.
std::pair<int, int> PickPorts(std::set<int>* taken) {
  int ports[2];
  for (int& port : ports) {
    do {
      port = FreeLoopbackPortForTesting();
    } while (port <= 0 || taken->count(port) > 0);
    taken->insert(port);
  }
  return {ports[0], ports[1]};
}

}  // namespace

absl::Status RedisClusterFixture::CheckRedisInstalled() {
  for (const char* program : {"redis-server", "redis-cli"}) {
    absl::StatusOr<pid_t> pid = SpawnChild({program, "--version"}, "/dev/null");
    if (!pid.ok()) return pid.status();
    std::optional<int> code = WaitChild(*pid, absl::Now() + absl::Seconds(10));
    if (!code) KillChild(*pid);
    if (code != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(program,
                       " --version did not run (is it on PATH?); install Debian's redis-server "
                       "and redis-tools packages to run the Redis Cluster tests"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RedisClusterFixture>> RedisClusterFixture::Start(Options options) {
  if (options.num_masters < 3) {
    return absl::InvalidArgumentError("a Redis Cluster needs at least 3 masters");
  }
  std::string pattern =
      (std::filesystem::temp_directory_path() / "gqa_redis_cluster_XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::UnavailableError(absl::StrCat("mkdtemp ", pattern, " failed"));
  }
  // From here on the destructor cleans up whatever was started.
  std::unique_ptr<RedisClusterFixture> fixture(new RedisClusterFixture(pattern));
  fixture->nodes_.resize(options.num_masters);
  const absl::Time deadline = absl::Now() + options.startup_timeout;
  for (int i = 0; i < options.num_masters; ++i) RETURN_IF_ERROR(fixture->StartNode(i, deadline));
  RETURN_IF_ERROR(fixture->CreateCluster(deadline));
  RETURN_IF_ERROR(fixture->WaitForClusterOk(deadline));
  for (int i = 0; i < options.num_masters; ++i) {
    ASSIGN_OR_RETURN(RespValue id, fixture->CheckedCommand(i, {"CLUSTER", "MYID"}));
    fixture->nodes_[i].id = id.str;
  }
  return fixture;
}

RedisClusterFixture::~RedisClusterFixture() {
  StopAll();
  std::error_code ignored;
  std::filesystem::remove_all(root_dir_, ignored);
}

void RedisClusterFixture::StopAll() {
  for (const Node& node : nodes_) {
    if (node.pid > 0) kill(node.pid, SIGTERM);
  }
  const absl::Time deadline = absl::Now() + kStopGrace;
  for (Node& node : nodes_) {
    if (node.pid <= 0) continue;
    if (!WaitChild(node.pid, deadline)) KillChild(node.pid);
    node.pid = -1;
  }
}

absl::Status RedisClusterFixture::StartNode(int node_idx, absl::Time deadline) {
  Node& node = nodes_[node_idx];
  node.dir = absl::StrCat(root_dir_, "/node", node_idx);
  std::error_code error;
  std::filesystem::create_directories(node.dir, error);
  if (error) return absl::UnavailableError(absl::StrCat("mkdir ", node.dir, ": ", error.message()));
  std::set<int> taken;
  for (const Node& other : nodes_) {
    taken.insert(other.address.port);
    taken.insert(other.bus_port);
  }
  // NOTE: a port that was free a moment ago may be taken by the time
  // redis-server binds it (other tests run beside us); then try new ones.
  for (int attempt = 0; attempt < kMaxPortAttempts; ++attempt) {
    const auto [port, bus_port] = PickPorts(&taken);
    node.address = RedisAddress{"127.0.0.1", port};
    node.bus_port = bus_port;
    ASSIGN_OR_RETURN(node.pid,
                     SpawnChild({"redis-server", "--port", absl::StrCat(port), "--cluster-port",
                                 absl::StrCat(bus_port), "--bind", "127.0.0.1", "--cluster-enabled",
                                 "yes", "--cluster-config-file", "nodes.conf", "--dir", node.dir,
                                 "--appendonly", "no", "--save", "", "--daemonize", "no",
                                 // The other masters keep serving their slots when one dies.
                                 "--cluster-require-full-coverage", "no",
                                 // Nodes ping each other at least every node-timeout/2;
                                 // the 15 s default lets the cluster take up to ~8 s to
                                 // agree on its membership (redis-cli waits for that).
                                 "--cluster-node-timeout", "2000"},
                                LogPath(node.dir)));
    while (true) {
      if (std::optional<int> code = WaitChild(node.pid, absl::Now())) {
        node.pid = -1;
        const std::string log = LogTail(LogPath(node.dir));
        if (absl::StrContains(log, "Address already in use")) break;  // next ports
        return absl::UnavailableError(absl::StrCat("redis-server for node ", node_idx,
                                                   " exited with code ", *code, ": ", log));
      }
      absl::StatusOr<std::unique_ptr<RedisConnection>> connection =
          RedisConnection::Connect(node.address, absl::Now() + absl::Milliseconds(200));
      if (connection.ok()) {
        absl::StatusOr<RespValue> pong =
            (*connection)->Call({"PING"}, absl::Now() + absl::Seconds(1));
        if (pong.ok() && pong->str == "PONG") return absl::OkStatus();
      }
      if (absl::Now() >= deadline) {
        return absl::UnavailableError(
            absl::StrCat("redis-server for node ", node_idx, " at ", node.address.ToString(),
                         " did not answer PING in time: ", LogTail(LogPath(node.dir))));
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  return absl::UnavailableError(
      absl::StrCat("no free ports for node ", node_idx, " after ", kMaxPortAttempts, " attempts"));
}

absl::Status RedisClusterFixture::CreateCluster(absl::Time deadline) {
  std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
  for (const Node& node : nodes_) argv.push_back(node.address.ToString());
  argv.insert(argv.end(), {"--cluster-replicas", "0", "--cluster-yes"});
  const std::string log_path = root_dir_ + "/cluster-create.log";
  ASSIGN_OR_RETURN(const pid_t pid, SpawnChild(argv, log_path));
  // NOTE: redis-cli MEETs every node with the first one only, then polls
  // once a second until all nodes agree; the others find each other through
  // gossip, which takes 1-8 s. Once its MEETs are out (the first node knows
  // another one), MEET every pair directly so that they agree sooner.
  std::optional<int> code;
  bool met = false;
  while (!(code = WaitChild(pid, std::min(deadline, absl::Now() + absl::Milliseconds(20))))) {
    if (absl::Now() >= deadline) break;
    if (!met) met = MeetAllPairsOnceJoining();
  }
  if (!code) {
    KillChild(pid);
    return absl::UnavailableError(
        absl::StrCat("redis-cli --cluster create timed out: ", LogTail(log_path)));
  }
  if (*code != 0) {
    return absl::UnavailableError(absl::StrCat("redis-cli --cluster create exited with code ",
                                               *code, ": ", LogTail(log_path)));
  }
  return absl::OkStatus();
}

bool RedisClusterFixture::MeetAllPairsOnceJoining() {
  absl::StatusOr<RespValue> info = Command(0, {"CLUSTER", "INFO"});
  if (!info.ok() || absl::StrContains(info->str, "cluster_known_nodes:1\r\n")) return false;
  for (int i = 0; i < num_nodes(); ++i) {
    for (int j = 0; j < num_nodes(); ++j) {
      if (i == j) continue;
      const Node& other = nodes_[j];
      Command(i, {"CLUSTER", "MEET", other.address.host, absl::StrCat(other.address.port),
                  absl::StrCat(other.bus_port)})
          .IgnoreError();
    }
  }
  return true;
}

absl::Status RedisClusterFixture::WaitForClusterOk(absl::Time deadline) {
  const std::string known = absl::StrCat("cluster_known_nodes:", nodes_.size(), "\r\n");
  for (int i = 0; i < num_nodes(); ++i) {
    while (true) {
      absl::StatusOr<RespValue> info = Command(i, {"CLUSTER", "INFO"});
      if (info.ok() && absl::StrContains(info->str, "cluster_state:ok\r\n") &&
          absl::StrContains(info->str, known)) {
        break;
      }
      if (absl::Now() >= deadline) {
        return absl::UnavailableError(
            absl::StrCat("node ", i, " did not reach cluster_state:ok in time; CLUSTER INFO: ",
                         info.ok() ? info->DebugString() : info.status().ToString()));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  return absl::OkStatus();
}

std::vector<std::string> RedisClusterFixture::SeedAddresses() const {
  std::vector<std::string> seeds;
  for (const Node& node : nodes_) {
    if (node.pid > 0) seeds.push_back(node.address.ToString());
  }
  return seeds;
}

absl::StatusOr<RespValue> RedisClusterFixture::Command(int node_idx,
                                                       const std::vector<std::string>& args) const {
  if (node_idx < 0 || node_idx >= num_nodes()) {
    return absl::InvalidArgumentError(absl::StrCat("no node ", node_idx));
  }
  const absl::Time deadline = absl::Now() + kCommandTimeout;
  ASSIGN_OR_RETURN(std::unique_ptr<RedisConnection> connection,
                   RedisConnection::Connect(nodes_[node_idx].address, deadline));
  std::vector<absl::string_view> views(args.begin(), args.end());
  return connection->Call(views, deadline);
}

absl::StatusOr<RespValue> RedisClusterFixture::CheckedCommand(
    int node_idx, const std::vector<std::string>& args) const {
  ASSIGN_OR_RETURN(RespValue reply, Command(node_idx, args));
  if (reply.is_error()) {
    return absl::UnknownError(absl::StrCat("node ", node_idx, " answered ", args[0], " ",
                                           args.size() > 1 ? args[1] : "", " with ", reply.str));
  }
  return reply;
}

absl::StatusOr<int> RedisClusterFixture::OwnerOf(uint16_t slot) const {
  absl::Status last = absl::UnavailableError("no node is running");
  for (int i = 0; i < num_nodes(); ++i) {
    if (nodes_[i].pid <= 0) continue;
    absl::StatusOr<RespValue> reply = CheckedCommand(i, {"CLUSTER", "SLOTS"});
    if (!reply.ok()) {
      last = reply.status();
      continue;
    }
    ASSIGN_OR_RETURN(SlotMap map, SlotMap::FromClusterSlots(*reply, nodes_[i].address.host));
    const std::optional<RedisAddress> owner = map.MasterOf(slot);
    for (int j = 0; owner && j < num_nodes(); ++j) {
      if (nodes_[j].address.port == owner->port) return j;
    }
    return absl::NotFoundError(absl::StrCat("node ", i, " names no known owner of slot ", slot));
  }
  return last;
}

absl::Status RedisClusterFixture::MoveSlot(uint16_t slot, int to_node_idx, int batch_keys) {
  ASSIGN_OR_RETURN(const int owner, OwnerOf(slot));
  if (owner == to_node_idx) return absl::OkStatus();
  RETURN_IF_ERROR(BeginSlotMigration(slot, to_node_idx, /*max_keys=*/0, batch_keys));
  return FinishSlotMigration(slot, batch_keys);
}

absl::Status RedisClusterFixture::BeginSlotMigration(uint16_t slot, int to_node_idx, int max_keys,
                                                     int batch_keys) {
  if (to_node_idx < 0 || to_node_idx >= num_nodes()) {
    return absl::InvalidArgumentError(absl::StrCat("no node ", to_node_idx));
  }
  if (migrations_.count(slot) > 0) {
    return absl::FailedPreconditionError(absl::StrCat("slot ", slot, " is already migrating"));
  }
  ASSIGN_OR_RETURN(const int owner, OwnerOf(slot));
  if (owner == to_node_idx) {
    return absl::FailedPreconditionError(
        absl::StrCat("slot ", slot, " is already on node ", to_node_idx));
  }
  const Migration m{owner, to_node_idx};
  const std::string slot_text = absl::StrCat(slot);
  // The target first, so that ASK from the source always finds it importing.
  RETURN_IF_ERROR(CheckedCommand(m.to_idx, {"CLUSTER", "SETSLOT", slot_text, "IMPORTING",
                                            nodes_[m.from_idx].id})
                      .status());
  RETURN_IF_ERROR(CheckedCommand(m.from_idx, {"CLUSTER", "SETSLOT", slot_text, "MIGRATING",
                                              nodes_[m.to_idx].id})
                      .status());
  migrations_[slot] = m;
  return MigrateKeys(slot, m, max_keys, batch_keys).status();
}

absl::Status RedisClusterFixture::FinishSlotMigration(uint16_t slot, int batch_keys) {
  const auto it = migrations_.find(slot);
  if (it == migrations_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("slot ", slot, " has no migration begun by BeginSlotMigration()"));
  }
  const Migration m = it->second;
  // Keys only leave the source while it is MIGRATING (new ones go to the
  // target by ASK), so once a scan finds none the slot is empty there.
  RETURN_IF_ERROR(MigrateKeys(slot, m, /*max_keys=*/1 << 30, batch_keys).status());
  const std::string slot_text = absl::StrCat(slot);
  const std::string& to_id = nodes_[m.to_idx].id;
  // Target, then source, then the rest, as the cluster spec orders it.
  std::vector<int> order = {m.to_idx, m.from_idx};
  for (int i = 0; i < num_nodes(); ++i) {
    if (i != m.to_idx && i != m.from_idx && nodes_[i].pid > 0) order.push_back(i);
  }
  for (int i : order) {
    RETURN_IF_ERROR(CheckedCommand(i, {"CLUSTER", "SETSLOT", slot_text, "NODE", to_id}).status());
  }
  migrations_.erase(slot);
  return absl::OkStatus();
}

absl::StatusOr<int> RedisClusterFixture::MigrateKeys(uint16_t slot, const Migration& m,
                                                     int max_keys, int batch_keys) {
  int num_moved = 0;
  const RedisAddress& to = nodes_[m.to_idx].address;
  while (num_moved < max_keys) {
    const int batch = std::min(batch_keys, max_keys - num_moved);
    ASSIGN_OR_RETURN(RespValue keys,
                     CheckedCommand(m.from_idx, {"CLUSTER", "GETKEYSINSLOT", absl::StrCat(slot),
                                                 absl::StrCat(batch)}));
    if (keys.elements.empty()) break;
    std::vector<std::string> migrate = {"MIGRATE", to.host, absl::StrCat(to.port), "", "0",
                                        "5000",    "KEYS"};
    for (RespValue& key : keys.elements) migrate.push_back(std::move(key.str));
    // +NOKEY when every key expired or was deleted meanwhile: fine.
    RETURN_IF_ERROR(CheckedCommand(m.from_idx, migrate).status());
    num_moved += static_cast<int>(keys.elements.size());
  }
  return num_moved;
}

absl::Status RedisClusterFixture::KillNode(int node_idx) {
  if (node_idx < 0 || node_idx >= num_nodes() || nodes_[node_idx].pid <= 0) {
    return absl::FailedPreconditionError(absl::StrCat("node ", node_idx, " is not running"));
  }
  KillChild(nodes_[node_idx].pid);
  nodes_[node_idx].pid = -1;
  return absl::OkStatus();
}

}  // namespace gqa::kvstore
