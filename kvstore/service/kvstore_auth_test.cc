// Authentication through the API on loopback: service tokens (none:
// UNAUTHENTICATED, wrong: PERMISSION_DENIED, good: OK, on every rpc) and
// mTLS with certificates made at test time by the `openssl` command: a client
// certificate from the CA with an allowed identity is accepted, one with
// another identity is PERMISSION_DENIED, none is UNAUTHENTICATED, and one from
// an unknown CA never gets past the handshake.
#include <cstdlib>
#include <memory>
#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/strings/str_cat.h"
#include "core/env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kvstore/service/grpc_auth.h"
#include "kvstore/service/kvstore_client.h"
#include "kvstore/service/testing/kvstore_test_server.h"
#include "kvstore/service/testing/put_stream_driver.h"
#include "kvstore/service/testing/test_blocks.h"

namespace gqa::kvstore {
namespace {

using ::testing::HasSubstr;

Block SmallBlock(uint64_t seed) {
  return TestBlock(TestPrefixKey("acme", seed), BlockLayout{1, 16, 8}, seed);
}

// Every rpc's status code for one client.
struct Codes {
  absl::StatusCode put, get, lookup, del, stats;
};

Codes CallEverything(KvStoreClient& client) {
  Codes codes;
  std::vector<PutOutcome> outcomes;
  codes.put = client.PutBlocks({SmallBlock(1)}, 0, &outcomes).code();
  std::vector<Block> got;
  codes.get = client.GetBlocks({SmallBlock(1).key}, &got).code();
  codes.lookup = client.Lookup("acme", KvShard{}, DType::kF16, {TestLogicalId(1)}).status().code();
  codes.del = client.Delete({SmallBlock(9).key}).status().code();
  codes.stats = client.Stats().status().code();
  return codes;
}

void ExpectAll(const Codes& codes, absl::StatusCode want) {
  EXPECT_EQ(codes.put, want);
  EXPECT_EQ(codes.get, want);
  EXPECT_EQ(codes.lookup, want);
  EXPECT_EQ(codes.del, want);
  EXPECT_EQ(codes.stats, want);
}

std::unique_ptr<KvStoreClient> ClientWithToken(const KvStoreTestServer& server,
                                               const std::string& token) {
  KvStoreClientOptions options;
  options.bearer_token = token;
  return std::make_unique<KvStoreClient>(server.Channel(), options);
}

TEST(KvStoreAuthTest, ServiceTokens) {
  KvStoreTestServerOptions options;
  options.tokens = {"tok-1", "tok-2"};
  absl::StatusOr<std::unique_ptr<KvStoreTestServer>> server = KvStoreTestServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  ExpectAll(CallEverything(*ClientWithToken(**server, "")), absl::StatusCode::kUnauthenticated);
  ExpectAll(CallEverything(*ClientWithToken(**server, "tok-3")),
            absl::StatusCode::kPermissionDenied);
  ExpectAll(CallEverything(*ClientWithToken(**server, "tok-2")), absl::StatusCode::kOk);
  // Nothing of a refused Put reaches the store.
  auto stub = (*server)->NewStub();
  const RawPutResult refused = RawPut(*stub, BlockMessages(SmallBlock(5), 0), "tok-x");
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(refused.status.error_message(), HasSubstr("not accepted"));
  const RawPutResult none = RawPut(*stub, BlockMessages(SmallBlock(5), 0));
  EXPECT_EQ(none.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ((*server)->store().Stats().tiers[0].num_prefix_blocks, 1);  // tok-2's block only
}

// A CA, a server certificate for localhost/127.0.0.1, client certificates
// "worker-1" and "intruder" from the CA, and "worker-1" from a rogue CA.
class CertificateDir {
 public:
  static absl::StatusOr<CertificateDir> Make() {
    CertificateDir dir;
    dir.path_ = absl::StrCat(::testing::TempDir(), "/kvstore-certs-", getpid());
    const std::string script = absl::StrCat(
        "set -e\ncd '", dir.path_, "'\n",
        "ec='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n",
        "openssl req -x509 $ec -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca\n",
        "openssl req -x509 $ec -keyout rogue.key -out rogue.pem -days 2 -subj /CN=rogue-ca\n",
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > server.ext\n",
        "sign() { openssl req $ec -keyout $1.key -out $1.csr -subj /CN=$2\n",
        "  openssl x509 -req -in $1.csr -CA $3.pem -CAkey $3.key -CAcreateserial -days 2 ",
        "-out $1.pem $4; }\n",
        "sign server localhost ca '-extfile server.ext'\n",
        "sign worker worker-1 ca ''\n",
        "sign intruder intruder ca ''\n",
        "sign impostor worker-1 rogue ''\n");
    Env* env = Env::Default();
    if (absl::Status made = env->CreateDirs(dir.path_); !made.ok()) return made;
    if (absl::Status written = env->WriteFileAtomically(dir.path_ + "/make.sh", script);
        !written.ok()) {
      return written;
    }
    const std::string command = absl::StrCat("sh '", dir.path_, "/make.sh' > '", dir.path_,
                                             "/openssl.log' 2>&1");
    if (std::system(command.c_str()) != 0) {
      return absl::InternalError(absl::StrCat("openssl failed; see ", dir.path_, "/openssl.log"));
    }
    return dir;
  }

  std::string File(const std::string& name) const { return absl::StrCat(path_, "/", name); }
  std::string Read(const std::string& name) const {
    return *Env::Default()->ReadFile(File(name));
  }

  // A TLS channel trusting the CA, presenting `client` ("worker", ...) or no
  // certificate when empty.
  std::shared_ptr<grpc::Channel> Channel(int port, const std::string& client) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = Read("ca.pem");
    if (!client.empty()) {
      ssl.pem_cert_chain = Read(client + ".pem");
      ssl.pem_private_key = Read(client + ".key");
    }
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride("localhost");
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(ssl),
                                     args);
  }

 private:
  std::string path_;
};

TEST(KvStoreAuthTest, MutualTls) {
  absl::StatusOr<CertificateDir> certs = CertificateDir::Make();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ServerTlsFiles files;
  files.cert_path = certs->File("server.pem");
  files.key_path = certs->File("server.key");
  files.client_ca_path = certs->File("ca.pem");
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      MakeServerCredentials(files, Env::Default());
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  KvStoreTestServerOptions options;
  options.credentials = *credentials;
  options.identities = {"worker-1"};
  absl::StatusOr<std::unique_ptr<KvStoreTestServer>> server = KvStoreTestServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  const int port = (*server)->port();

  KvStoreClient worker(certs->Channel(port, "worker"));
  ExpectAll(CallEverything(worker), absl::StatusCode::kOk);

  KvStoreClient intruder(certs->Channel(port, "intruder"));
  ExpectAll(CallEverything(intruder), absl::StatusCode::kPermissionDenied);
  const absl::Status denied = intruder.Stats().status();
  EXPECT_THAT(denied.message(), HasSubstr("intruder"));

  KvStoreClient anonymous(certs->Channel(port, ""));
  ExpectAll(CallEverything(anonymous), absl::StatusCode::kUnauthenticated);

  // Signed by a CA the server does not trust: the handshake fails, so the
  // call never reaches the service.
  KvStoreClientOptions quick;
  quick.timeout = absl::Seconds(5);
  KvStoreClient impostor(certs->Channel(port, "impostor"), quick);
  const absl::Status refused = impostor.Stats().status();
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.code(), absl::StatusCode::kPermissionDenied);

  // Every outcome above left exactly the worker's block.
  EXPECT_EQ((*server)->store().Stats().tiers[0].num_prefix_blocks, 1);
}

TEST(KvStoreAuthTest, TokensAlsoWorkOverTlsWithoutAClientCertificate) {
  absl::StatusOr<CertificateDir> certs = CertificateDir::Make();
  ASSERT_TRUE(certs.ok()) << certs.status();
  ServerTlsFiles files;
  files.cert_path = certs->File("server.pem");
  files.key_path = certs->File("server.key");
  files.client_ca_path = certs->File("ca.pem");
  KvStoreTestServerOptions options;
  options.credentials = *MakeServerCredentials(files, Env::Default());
  options.identities = {"worker-1"};
  options.tokens = {"tok"};
  absl::StatusOr<std::unique_ptr<KvStoreTestServer>> server = KvStoreTestServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  KvStoreClientOptions with_token;
  with_token.bearer_token = "tok";
  KvStoreClient client(certs->Channel((*server)->port(), ""), with_token);
  EXPECT_TRUE(client.Stats().ok());
  KvStoreClient without(certs->Channel((*server)->port(), ""));
  const absl::Status status = without.Stats().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("Bearer <token>"));
}

TEST(KvStoreAuthTest, ServerCredentialsNeedTheirFiles) {
  ServerTlsFiles files;
  files.key_path = "/k";
  EXPECT_EQ(MakeServerCredentials(files, Env::Default()).status().code(),
            absl::StatusCode::kInvalidArgument);
  files.cert_path = "/nonexistent/cert.pem";
  const absl::Status missing = MakeServerCredentials(files, Env::Default()).status();
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.message(), HasSubstr("/nonexistent/cert.pem"));
  files.key_path = "";
  EXPECT_THAT(MakeServerCredentials(files, Env::Default()).status().message(),
              HasSubstr("--tls-key"));
}

}  // namespace
}  // namespace gqa::kvstore
