// Test-only: a real Redis Cluster of masters without replicas, each a
// redis-server process (Debian's redis-server package) on free loopback
// ports in a fresh temp dir, formed with `redis-cli --cluster create`
// (redis-tools). It can migrate a slot live, whole or stopped halfway (for
// MOVED and ASK tests), and kill a node. The destructor stops every process
// (SIGTERM, then SIGKILL) and removes the dir; the processes also die with
// the thread that started them (PR_SET_PDEATHSIG), so create it on the test's
// main thread. Thread-compatible, except Command(), which is thread-safe.
#ifndef GQA_KVSTORE_REDIS_TESTING_REDIS_CLUSTER_FIXTURE_H_
#define GQA_KVSTORE_REDIS_TESTING_REDIS_CLUSTER_FIXTURE_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "kvstore/redis/redis_address.h"
#include "kvstore/redis/resp.h"

namespace gqa::kvstore {

class RedisClusterFixture {
 public:
  struct Options {
    // Masters in the cluster; redis-cli needs at least 3.
    int num_masters = 3;
    // For the processes to start and the cluster to reach cluster_state:ok.
    absl::Duration startup_timeout = absl::Seconds(30);
  };

  // OK when redis-server and redis-cli run from PATH; FAILED_PRECONDITION
  // saying what to install otherwise (tests then GTEST_SKIP).
  static absl::Status CheckRedisInstalled();

  // Starts the nodes and forms the cluster. UNAVAILABLE (with the tail of
  // the failing process's log) when a node or redis-cli fails.
  static absl::StatusOr<std::unique_ptr<RedisClusterFixture>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<RedisClusterFixture>> Start() { return Start(Options()); }

  RedisClusterFixture(const RedisClusterFixture&) = delete;
  RedisClusterFixture& operator=(const RedisClusterFixture&) = delete;
  ~RedisClusterFixture();

  int num_nodes() const { return static_cast<int>(nodes_.size()); }
  // The temp dir holding every node's dir and log; removed by the destructor.
  const std::string& root_dir() const { return root_dir_; }
  // "127.0.0.1:port" of every node still running.
  std::vector<std::string> SeedAddresses() const;
  const RedisAddress& address(int node_idx) const { return nodes_[node_idx].address; }
  const std::string& node_id(int node_idx) const { return nodes_[node_idx].id; }
  // The redis-server's pid, or -1 once it was killed or stopped.
  pid_t PidForTesting(int node_idx) const { return nodes_[node_idx].pid; }

  // Runs one command on a node over a fresh connection (10 s deadline).
  absl::StatusOr<RespValue> Command(int node_idx, const std::vector<std::string>& args) const;
  // The node serving `slot`, as a running node's CLUSTER SLOTS tells.
  absl::StatusOr<int> OwnerOf(uint16_t slot) const;

  // Live migration of `slot` to `to_node_idx`: SETSLOT IMPORTING on the
  // target, MIGRATING on the owner, CLUSTER GETKEYSINSLOT + MIGRATE in
  // batches of `batch_keys`, then SETSLOT NODE on every node. A slot the
  // target already owns is left alone.
  absl::Status MoveSlot(uint16_t slot, int to_node_idx, int batch_keys = 10);
  // The first half of MoveSlot(): marks the slot IMPORTING/MIGRATING and
  // moves at most `max_keys` of its keys, so clients see ASK for the rest.
  absl::Status BeginSlotMigration(uint16_t slot, int to_node_idx, int max_keys,
                                  int batch_keys = 10);
  // The second half: moves the remaining keys and assigns the slot.
  // FAILED_PRECONDITION without a BeginSlotMigration() of `slot`.
  absl::Status FinishSlotMigration(uint16_t slot, int batch_keys = 10);

  // SIGKILLs node `node_idx` and reaps it; its slots stay assigned to it.
  absl::Status KillNode(int node_idx);

 private:
  struct Node {
    RedisAddress address;
    int bus_port = 0;
    std::string id;  // CLUSTER MYID
    std::string dir;
    pid_t pid = -1;
  };
  struct Migration {
    int from_idx = 0;
    int to_idx = 0;
  };

  explicit RedisClusterFixture(std::string root_dir) : root_dir_(std::move(root_dir)) {}
  absl::Status StartNode(int node_idx, absl::Time deadline);
  absl::Status CreateCluster(absl::Time deadline);
  // While redis-cli forms the cluster: false until its MEETs went out, then
  // MEETs every pair of nodes directly and returns true.
  bool MeetAllPairsOnceJoining();
  absl::Status WaitForClusterOk(absl::Time deadline);
  // Moves up to `max_keys` keys of `slot` with MIGRATE; returns how many.
  absl::StatusOr<int> MigrateKeys(uint16_t slot, const Migration& m, int max_keys, int batch_keys);
  absl::StatusOr<RespValue> CheckedCommand(int node_idx,
                                           const std::vector<std::string>& args) const;
  void StopAll();

  const std::string root_dir_;
  std::vector<Node> nodes_;
  std::map<uint16_t, Migration> migrations_;  // slots between Begin and Finish
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_REDIS_TESTING_REDIS_CLUSTER_FIXTURE_H_
