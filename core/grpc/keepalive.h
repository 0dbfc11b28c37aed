// The HTTP/2 keepalive settings every gqaserve gRPC hop uses, so that the
// router's client channels and the workers' and kvstore's servers agree: a
// client pings no more often than a server allows (otherwise the server
// answers GOAWAY "too_many_pings"), and a dead peer is noticed within
// kKeepaliveTime + kKeepaliveTimeout even on an idle stream.
#ifndef GQA_CORE_GRPC_KEEPALIVE_H_
#define GQA_CORE_GRPC_KEEPALIVE_H_

#include <grpcpp/server_builder.h>
#include <grpcpp/support/channel_arguments.h>

namespace gqa {

inline constexpr int kKeepaliveTimeMs = 20000;     // ping after 20 s without traffic
inline constexpr int kKeepaliveTimeoutMs = 10000;  // peer dead after 10 s without an ack
// A server accepts pings this close together (half the client's interval).
inline constexpr int kMinPingIntervalMs = kKeepaliveTimeMs / 2;

// Server side: accept the clients' keepalive pings, also on idle streams,
// and ping the clients in turn.
void ApplyServerKeepalive(grpc::ServerBuilder& builder);

// Client side: the arguments for a channel to a gqaserve server.
grpc::ChannelArguments ClientKeepaliveArguments();

}  // namespace gqa

#endif  // GQA_CORE_GRPC_KEEPALIVE_H_
