// KvStoreTestServer: a KvStoreService over a MemoryBlockStore, served by a
// real gRPC server on a 127.0.0.1 port the kernel picks (real sockets, not an
// in-process channel), for the service, client and benchmark tests. The
// server shuts down in the destructor. Thread-safe after Start.
#ifndef GQA_KVSTORE_SERVICE_TESTING_KVSTORE_TEST_SERVER_H_
#define GQA_KVSTORE_SERVICE_TESTING_KVSTORE_TEST_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>

#include "absl/status/statusor.h"
#include "gqa/v1/kvstore.grpc.pb.h"
#include "kvstore/service/kvstore_metrics.h"
#include "kvstore/service/kvstore_service.h"
#include "kvstore/service/testing/memory_block_store.h"
#include "prometheus/registry.h"

namespace gqa::kvstore {

struct KvStoreTestServerOptions {
  MemoryBlockStoreOptions store;
  KvStoreServiceOptions service;
  std::vector<std::string> tokens;      // accepted service tokens
  std::vector<std::string> identities;  // accepted certificate identities
  // nullptr: plaintext.
  std::shared_ptr<grpc::ServerCredentials> credentials;
};

class KvStoreTestServer {
 public:
  static absl::StatusOr<std::unique_ptr<KvStoreTestServer>> Start(
      KvStoreTestServerOptions options = KvStoreTestServerOptions());
  ~KvStoreTestServer();

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  MemoryBlockStore& store() { return *store_; }
  KvStoreService& service() { return *service_; }
  prometheus::Registry& registry() { return *registry_; }
  // A plaintext channel to the server, with gqaserve's keepalive settings.
  std::shared_ptr<grpc::Channel> Channel() const;
  std::unique_ptr<v1::KvStore::Stub> NewStub() const;

 private:
  KvStoreTestServer() = default;

  std::unique_ptr<MemoryBlockStore> store_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<KvStoreMetrics> metrics_;
  std::unique_ptr<KvStoreService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace gqa::kvstore

#endif  // GQA_KVSTORE_SERVICE_TESTING_KVSTORE_TEST_SERVER_H_
