// Minimal logging and invariant checks for gqaserve (Debian 12's Abseil has no
// absl/log): LOG(INFO|WARNING|ERROR|FATAL), VLOG(n), CHECK(cond) and
// CHECK_EQ/NE/LT/LE/GT/GE, DCHECK variants. One line per event to stderr,
// key=value style. A failing CHECK is a bug: it logs and aborts.
// Thread-safe: each message is written with a single write(2).
#ifndef GQA_CORE_LOG_H_
#define GQA_CORE_LOG_H_

#include <sstream>

namespace gqa {

enum class LogSeverity { kInfo = 0, kWarning = 1, kError = 2, kFatal = 3 };

// Verbosity threshold for VLOG. Set once from main.cc (the --v flag); this is
// the process's only logging knob, read with a relaxed atomic load.
void SetVlogLevel(int level);
int VlogLevel();

namespace log_internal {

// Collects one message and emits it in the destructor (aborting for kFatal).
class LogMessage {
 public:
  LogMessage(const char* file, int line, LogSeverity severity);
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  ~LogMessage();
  std::ostream& stream() { return stream_; }

 private:
  LogSeverity severity_;
  std::ostringstream stream_;
};

// Swallows a stream expression when a VLOG or DCHECK is disabled.
struct Voidify {
  void operator&(std::ostream&) {}
};

}  // namespace log_internal
}  // namespace gqa

#define GQA_LOG_SEVERITY_INFO ::gqa::LogSeverity::kInfo
#define GQA_LOG_SEVERITY_WARNING ::gqa::LogSeverity::kWarning
#define GQA_LOG_SEVERITY_ERROR ::gqa::LogSeverity::kError
#define GQA_LOG_SEVERITY_FATAL ::gqa::LogSeverity::kFatal

#define LOG(severity) \
  ::gqa::log_internal::LogMessage(__FILE__, __LINE__, GQA_LOG_SEVERITY_##severity).stream()

#define VLOG(level)                  \
  !(::gqa::VlogLevel() >= (level))   \
      ? (void)0                      \
      : ::gqa::log_internal::Voidify() & LOG(INFO)

#define CHECK(condition) \
  (condition) ? (void)0  \
              : ::gqa::log_internal::Voidify() & LOG(FATAL) << "Check failed: " #condition " "

#define GQA_CHECK_OP_(a, b, op)                                                        \
  ((a)op(b)) ? (void)0                                                                 \
             : ::gqa::log_internal::Voidify() & LOG(FATAL) << "Check failed: " #a " " #op \
                                                              " " #b " (" << (a) << " vs " \
                                                           << (b) << ") "
#define CHECK_EQ(a, b) GQA_CHECK_OP_(a, b, ==)
#define CHECK_NE(a, b) GQA_CHECK_OP_(a, b, !=)
#define CHECK_LT(a, b) GQA_CHECK_OP_(a, b, <)
#define CHECK_LE(a, b) GQA_CHECK_OP_(a, b, <=)
#define CHECK_GT(a, b) GQA_CHECK_OP_(a, b, >)
#define CHECK_GE(a, b) GQA_CHECK_OP_(a, b, >=)

#ifdef NDEBUG
#define GQA_DCHECK_DISABLED_ true ? (void)0 : ::gqa::log_internal::Voidify() & LOG(FATAL)
#define DCHECK(condition) GQA_DCHECK_DISABLED_
#define DCHECK_EQ(a, b) GQA_DCHECK_DISABLED_
#define DCHECK_LT(a, b) GQA_DCHECK_DISABLED_
#define DCHECK_LE(a, b) GQA_DCHECK_DISABLED_
#else
#define DCHECK(condition) CHECK(condition)
#define DCHECK_EQ(a, b) CHECK_EQ(a, b)
#define DCHECK_LT(a, b) CHECK_LT(a, b)
#define DCHECK_LE(a, b) CHECK_LE(a, b)
#endif

#endif  // GQA_CORE_LOG_H_
