// NetnsTopology: a multi-host network on one machine for tests. Each host is
// a Linux network namespace with one interface (eth0), joined by a veth pair
// to a bridge in the caller's namespace, as machines on one switch are; the
// caller is a host too (the bridge's address). Names are unique per process
// and everything is removed by the destructor (and, for a crashed earlier
// run, by RemoveStale). Needs root and iproute2. Thread-compatible.
#ifndef GQA_DEPLOY_LOCAL_NETNS_TOPOLOGY_H_
#define GQA_DEPLOY_LOCAL_NETNS_TOPOLOGY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gqa {

class NetnsTopology {
 public:
  struct Host {
    std::string name;         // as given to Create, e.g. "router"
    std::string netns;        // the namespace, e.g. "gqant1234-router"
    std::string address;      // IPv4 of its eth0
    std::string bridge_port;  // the veth end on the bridge (caller's namespace)
  };

  // FAILED_PRECONDITION, saying why, when this process cannot make network
  // namespaces (not root, no iproute2, no CAP_NET_ADMIN).
  static absl::Status CheckAvailable();

  // Deletes namespaces and bridges left by earlier runs whose process is gone.
  static void RemoveStale();

  // One namespace per name. INTERNAL naming the failed `ip` command.
  static absl::StatusOr<std::unique_ptr<NetnsTopology>> Create(
      const std::vector<std::string>& host_names);
  ~NetnsTopology();
  NetnsTopology(const NetnsTopology&) = delete;
  NetnsTopology& operator=(const NetnsTopology&) = delete;

  // REQUIRES: `name` was given to Create.
  const Host& host(const std::string& name) const;
  // The caller's own address on the bridge.
  const std::string& client_address() const { return client_address_; }

  // argv that runs `argv` inside the host's namespace (`ip netns exec`, which
  // execs it: the pid stays the program's).
  std::vector<std::string> InHost(const std::string& name, std::vector<std::string> argv) const;

  // Brings the host's own interface (eth0, inside its namespace) down or up:
  // pulling and plugging its cable.
  absl::Status SetLink(const std::string& name, bool up);

  // Runs `command` through bash inside the host's namespace; its exit code.
  int RunInHost(const std::string& name, const std::string& command) const;

 private:
  NetnsTopology(std::string prefix, std::string bridge)
      : prefix_(std::move(prefix)), bridge_(std::move(bridge)) {}

  std::string prefix_;
  std::string bridge_;
  std::string client_address_;
  std::vector<Host> hosts_;
};

}  // namespace gqa

#endif  // GQA_DEPLOY_LOCAL_NETNS_TOPOLOGY_H_
