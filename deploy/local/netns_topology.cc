#include "deploy/local/netns_topology.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/log.h"
#include "core/status.h"

namespace gqa {
namespace {

constexpr char kPrefix[] = "gqant";  // namespaces: gqant<pid>-<host>
constexpr char kBridgePrefix[] = "gqb";

// Runs a shell command; the exit code (-1 when it could not run).
int Shell(const std::string& command) {
  const int status = std::system(command.c_str());
  if (status == -1 || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

// The command's stdout ("" when it fails).
std::string Output(const std::string& command) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[512];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

absl::Status Ip(const std::string& args) {
  const std::string command = absl::StrCat("ip ", args, " 2>&1");
  std::string out = Output(absl::StrCat(command, "; echo \"rc=$?\""));
  if (absl::EndsWith(absl::StripTrailingAsciiWhitespace(out), "rc=0")) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("'ip ", args, "' failed: ", out));
}

}  // namespace

absl::Status NetnsTopology::CheckAvailable() {
  if (geteuid() != 0) {
    return absl::FailedPreconditionError("network namespaces need root (this test runs as uid " +
                                         std::to_string(geteuid()) + ")");
  }
  if (Shell("command -v ip >/dev/null 2>&1") != 0) {
    return absl::FailedPreconditionError("no ip command (install iproute2)");
  }
  const std::string probe = absl::StrCat(kPrefix, getpid(), "-probe");
  absl::Status added = Ip(absl::StrCat("netns add ", probe));
  if (!added.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a network namespace here: ", added.message()));
  }
  Ip(absl::StrCat("netns del ", probe)).IgnoreError();
  return absl::OkStatus();
}

void NetnsTopology::RemoveStale() {
  for (absl::string_view line : absl::StrSplit(Output("ip netns list"), '\n')) {
    std::string name(line.substr(0, line.find(' ')));
    absl::string_view rest = name;
    if (!absl::ConsumePrefix(&rest, kPrefix)) continue;
    int pid = 0;
    if (!absl::SimpleAtoi(rest.substr(0, rest.find('-')), &pid)) continue;
    if (kill(pid, 0) == 0 || errno != ESRCH) continue;  // its run is still going
    LOG(WARNING) << "removing stale network namespace " << name;
    Ip(absl::StrCat("netns del ", name)).IgnoreError();
    Ip(absl::StrCat("link del ", kBridgePrefix, pid)).IgnoreError();
  }
}

absl::StatusOr<std::unique_ptr<NetnsTopology>> NetnsTopology::Create(
    const std::vector<std::string>& host_names) {
  const int pid = getpid();
  // 10.213.0.0/16 holds one /24 per run, chosen by pid (two runs at once on
  // one machine pick different ones unless their pids are 250 apart).
  const std::string subnet = absl::StrCat("10.213.", pid % 250 + 1, ".");
  std::unique_ptr<NetnsTopology> topology(
      new NetnsTopology(absl::StrCat(kPrefix, pid), absl::StrCat(kBridgePrefix, pid)));
  const std::string& bridge = topology->bridge_;
  topology->client_address_ = subnet + "1";
  RETURN_IF_ERROR(Ip(absl::StrCat("link add ", bridge, " type bridge")));
  RETURN_IF_ERROR(Ip(absl::StrCat("addr add ", subnet, "1/24 dev ", bridge)));
  RETURN_IF_ERROR(Ip(absl::StrCat("link set ", bridge, " up")));
  for (size_t i = 0; i < host_names.size(); ++i) {
    Host host{host_names[i], absl::StrCat(topology->prefix_, "-", host_names[i]),
              absl::StrCat(subnet, 10 + i), absl::StrCat("gqv", pid, "h", i)};
    const std::string peer = absl::StrCat("gqv", pid, "n", i);
    RETURN_IF_ERROR(Ip(absl::StrCat("netns add ", host.netns)));
    topology->hosts_.push_back(host);  // from here on the destructor removes it
    RETURN_IF_ERROR(Ip(absl::StrCat("link add ", host.bridge_port, " type veth peer name ", peer)));
    RETURN_IF_ERROR(Ip(absl::StrCat("link set ", peer, " netns ", host.netns)));
    RETURN_IF_ERROR(Ip(absl::StrCat("-n ", host.netns, " link set ", peer, " name eth0")));
    RETURN_IF_ERROR(
        Ip(absl::StrCat("-n ", host.netns, " addr add ", host.address, "/24 dev eth0")));
    RETURN_IF_ERROR(Ip(absl::StrCat("-n ", host.netns, " link set eth0 up")));
    RETURN_IF_ERROR(Ip(absl::StrCat("-n ", host.netns, " link set lo up")));
    RETURN_IF_ERROR(Ip(absl::StrCat("link set ", host.bridge_port, " master ", bridge)));
    RETURN_IF_ERROR(Ip(absl::StrCat("link set ", host.bridge_port, " up")));
  }
  return topology;
}

NetnsTopology::~NetnsTopology() {
  // Deleting a namespace deletes its eth0 and with it the veth's other end.
  for (const Host& host : hosts_) Ip(absl::StrCat("netns del ", host.netns)).IgnoreError();
  for (const Host& host : hosts_) {
    if (Shell(absl::StrCat("ip link show ", host.bridge_port, " >/dev/null 2>&1")) == 0) {
      Ip(absl::StrCat("link del ", host.bridge_port)).IgnoreError();
    }
  }
  Ip(absl::StrCat("link del ", bridge_)).IgnoreError();
}

const NetnsTopology::Host& NetnsTopology::host(const std::string& name) const {
  for (const Host& host : hosts_) {
    if (host.name == name) return host;
  }
  LOG(FATAL) << "no host named " << name;
  return hosts_.front();
}

std::vector<std::string> NetnsTopology::InHost(const std::string& name,
                                               std::vector<std::string> argv) const {
  std::vector<std::string> wrapped = {"/usr/sbin/ip", "netns", "exec", host(name).netns};
  if (access(wrapped[0].c_str(), X_OK) != 0) wrapped[0] = "/sbin/ip";
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

absl::Status NetnsTopology::SetLink(const std::string& name, bool up) {
  return Ip(absl::StrCat("-n ", host(name).netns, " link set eth0 ", up ? "up" : "down"));
}

int NetnsTopology::RunInHost(const std::string& name, const std::string& command) const {
  return Shell(absl::StrCat("ip netns exec ", host(name).netns, " /bin/bash -c '", command, "'"));
}

}  // namespace gqa
