// gqa serve: a whole gqaserve cluster on this machine with one command: a
// kvstore, N workers and a router on loopback, on the default model unless
// --model says otherwise. Prints where to connect, and stops everything on
// Ctrl-C or SIGTERM (router first, then workers, then the kvstore). The
// workers share prefix blocks through the kvstore (gqa-worker --kvstore).
#ifndef GQA_TOOLS_GQA_SERVE_COMMAND_H_
#define GQA_TOOLS_GQA_SERVE_COMMAND_H_

namespace gqa {

int RunServeCommand(int argc, char** argv);

}  // namespace gqa

#endif  // GQA_TOOLS_GQA_SERVE_COMMAND_H_
