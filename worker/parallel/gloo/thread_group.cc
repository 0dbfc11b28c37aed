#include "worker/parallel/gloo/thread_group.h"

#include <memory>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "worker/parallel/gloo/gloo_communicator.h"
#include "worker/parallel/gloo/tcp_store.h"

namespace gqa {

absl::Status RunThreadGroup(int tp, std::chrono::milliseconds timeout,
                            const std::function<void(int rank, Communicator* comm)>& body) {
  absl::StatusOr<std::unique_ptr<TcpStoreServer>> server = TcpStoreServer::Start("127.0.0.1:0");
  if (!server.ok()) return server.status();
  absl::Mutex mu;
  absl::Status first_error;
  std::vector<std::thread> threads;
  for (int rank = 0; rank < tp; ++rank) {
    threads.emplace_back([&, rank] {
      GlooOptions options;
      options.rank = rank;
      options.size = tp;
      options.store_address = absl::StrCat("127.0.0.1:", (*server)->port());
      options.host_store = false;
      options.timeout = timeout;
      absl::StatusOr<std::unique_ptr<GlooCommunicator>> comm = GlooCommunicator::Create(options);
      if (!comm.ok()) {
        absl::MutexLock lock(&mu);
        if (first_error.ok()) first_error = comm.status();
        return;
      }
      body(rank, comm->get());
    });
  }
  for (std::thread& thread : threads) thread.join();
  return first_error;
}

}  // namespace gqa
