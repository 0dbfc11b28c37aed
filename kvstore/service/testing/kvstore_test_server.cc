#include "kvstore/service/testing/kvstore_test_server.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/server_builder.h>

#include "absl/strings/str_cat.h"
#include "core/grpc/keepalive.h"
#include "core/status.h"
#include "kvstore/service/kvstore_client.h"

namespace gqa::kvstore {

absl::StatusOr<std::unique_ptr<KvStoreTestServer>> KvStoreTestServer::Start(
    KvStoreTestServerOptions options) {
  std::unique_ptr<KvStoreTestServer> server(new KvStoreTestServer());
  server->store_ = std::make_unique<MemoryBlockStore>(options.store);
  server->registry_ = std::make_shared<prometheus::Registry>();
  server->metrics_ = std::make_unique<KvStoreMetrics>(*server->registry_);
  ASSIGN_OR_RETURN(Authenticator auth, Authenticator::Create(options.tokens, options.identities));
  ASSIGN_OR_RETURN(server->service_,
                   KvStoreService::Create(server->store_.get(), std::move(auth),
                                          server->metrics_.get(), options.service));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(
      "127.0.0.1:0",
      options.credentials != nullptr ? options.credentials : grpc::InsecureServerCredentials(),
      &server->port_);
  builder.RegisterService(server->service_.get());
  ApplyServerKeepalive(builder);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError("cannot start a gRPC server on 127.0.0.1");
  }
  return server;
}

KvStoreTestServer::~KvStoreTestServer() {
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
}

std::string KvStoreTestServer::address() const { return absl::StrCat("127.0.0.1:", port_); }

std::shared_ptr<grpc::Channel> KvStoreTestServer::Channel() const {
  return NewKvStoreChannel(address(), grpc::InsecureChannelCredentials());
}

std::unique_ptr<v1::KvStore::Stub> KvStoreTestServer::NewStub() const {
  return v1::KvStore::NewStub(Channel());
}

}  // namespace gqa::kvstore
