// The per-request CSV of gqa-loadgen (--csv): one row per request, warm-up
// included and marked, with its scheduled and actual send times (the send
// log that shows the open loop kept its schedule), latencies, token counts,
// usage and status. Times are milliseconds on the client's monotonic clock
// since the run's start. Pure function; thread-safe.
#ifndef GQA_TOOLS_GQA_LOADGEN_REQUEST_CSV_H_
#define GQA_TOOLS_GQA_LOADGEN_REQUEST_CSV_H_

#include <string>

#include "absl/types/span.h"
#include "tools/gqa_loadgen/request_record.h"
#include "tools/gqa_loadgen/slo.h"

namespace gqa::loadgen {

// The header line's columns, in order.
inline constexpr char kCsvHeader[] =
    "index,warmup,scheduled_ms,sent_ms,first_token_ms,end_ms,ttft_ms,tpot_ms,e2e_ms,"
    "prompt_tokens,cached_tokens,output_tokens,peak_kv_bytes,prefix_group,status,finish_reason,"
    "slo_met";

// Header plus one line per record; empty fields for what a request lacks
// (no first token, no TPOT).
std::string RecordsToCsv(absl::Span<const RequestRecord> records, const Slo& slo);

}  // namespace gqa::loadgen

#endif  // GQA_TOOLS_GQA_LOADGEN_REQUEST_CSV_H_
