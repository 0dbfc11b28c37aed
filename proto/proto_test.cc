// Tests of the gqa.v1 contracts: request messages survive a serialize/parse
// round trip, the services have the methods and streaming shapes docs/api.md
// promises, and the style rules of STYLE.md hold for every file (enum zero
// values are *_UNSPECIFIED; every message, field, oneof, enum, enum value,
// service and rpc has a leading comment; every rpc names its errors).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/compiler/importer.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "gqa/v1/common.pb.h"
#include "gqa/v1/inference.grpc.pb.h"
#include "gqa/v1/kvstore.grpc.pb.h"
#include "gqa/v1/worker.grpc.pb.h"
#include "gtest/gtest.h"

namespace gqa {
namespace {

namespace pb = ::google::protobuf;

const char* const kProtoFiles[] = {"gqa/v1/common.proto", "gqa/v1/inference.proto",
                                   "gqa/v1/worker.proto", "gqa/v1/kvstore.proto"};

// Serializes `message`, parses the bytes into a fresh message of the same
// type and expects both equal field by field.
void ExpectRoundTrip(const pb::Message& message) {
  SCOPED_TRACE(message.GetTypeName());
  std::string bytes;
  ASSERT_TRUE(message.SerializeToString(&bytes));
  std::unique_ptr<pb::Message> parsed(message.New());
  ASSERT_TRUE(parsed->ParseFromString(bytes));
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(message, *parsed))
      << "sent:\n"
      << message.DebugString() << "parsed:\n"
      << parsed->DebugString();
}

std::string BlockIdBytes(char fill) { return std::string(32, fill); }

v1::SamplingParams SampledParams() {
  v1::SamplingParams sampling;
  sampling.set_temperature(0.7f);
  sampling.set_top_k(40);
  sampling.set_top_p(0.9f);
  sampling.set_min_p(0.05f);
  sampling.set_repetition_penalty(1.1f);
  sampling.set_frequency_penalty(0.5f);
  sampling.set_presence_penalty(-0.25f);
  sampling.set_seed(0xDEADBEEFCAFEF00Dull);
  return sampling;
}

TEST(ProtoRoundTripTest, GenerateRequestWithEveryPromptKind) {
  v1::GenerateRequest request;
  request.set_request_id("req-1");
  request.set_model("SmolLM2-135M-Instruct");
  *request.mutable_sampling() = SampledParams();
  request.add_stop_strings("\n\nUser:");
  request.add_stop_token_ids(2);
  request.set_ignore_eos(true);
  request.set_max_tokens(128);
  request.set_logprobs(true);
  request.set_top_logprobs(5);
  request.set_echo(true);
  request.mutable_kv_policy()->mutable_streaming()->set_sink_tokens(4);
  request.mutable_kv_policy()->mutable_streaming()->set_window_tokens(1020);
  request.set_kv_dtype(v1::KV_DTYPE_FP8_E4M3);
  request.set_priority(-3);

  request.set_text("Once upon a time");
  ExpectRoundTrip(request);
  request.mutable_token_ids()->add_token_ids(1);
  request.mutable_token_ids()->add_token_ids(42);
  EXPECT_EQ(request.prompt_case(), v1::GenerateRequest::kTokenIds);
  ExpectRoundTrip(request);
  v1::ChatMessage* message = request.mutable_chat()->add_messages();
  message->set_role(v1::ChatMessage::ROLE_USER);
  message->set_content("Hello");
  EXPECT_EQ(request.prompt_case(), v1::GenerateRequest::kChat);
  ExpectRoundTrip(request);
}

TEST(ProtoRoundTripTest, PresenceOfOptionalFieldsSurvives) {
  v1::SamplingParams greedy;
  greedy.set_temperature(0.0f);  // explicit 0: greedy, distinct from absent (1.0)
  std::string bytes;
  ASSERT_TRUE(greedy.SerializeToString(&bytes));
  v1::SamplingParams parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_TRUE(parsed.has_temperature());
  EXPECT_FALSE(parsed.has_top_p());
  EXPECT_FALSE(parsed.has_seed());

  v1::KvPolicy policy;
  policy.mutable_streaming()->set_window_tokens(252);  // streaming:252 = streaming:4+252
  ASSERT_TRUE(policy.SerializeToString(&bytes));
  v1::KvPolicy parsed_policy;
  ASSERT_TRUE(parsed_policy.ParseFromString(bytes));
  EXPECT_EQ(parsed_policy.policy_case(), v1::KvPolicy::kStreaming);
  EXPECT_FALSE(parsed_policy.streaming().has_sink_tokens());

  v1::KvPolicy unset;
  EXPECT_EQ(unset.policy_case(), v1::KvPolicy::POLICY_NOT_SET);  // the worker's default
}

TEST(ProtoRoundTripTest, InferenceResponsesAndTokenize) {
  v1::GenerateResponse response;
  response.set_request_id("req-1");
  response.set_text("Hello");
  response.add_token_ids(19556);
  v1::TokenLogprob* logprob = response.add_logprobs();
  logprob->set_logprob(-0.125f);
  v1::TopLogprob* top = logprob->add_top_logprobs();
  top->set_token_id(19556);
  top->set_logprob(-0.125f);
  top->set_piece("Hello");
  response.add_prompt_token_ids(1);
  response.set_finish_reason(v1::FINISH_REASON_STOP_STRING);
  response.set_matched_stop_string("\n\nUser:");
  v1::Usage* usage = response.mutable_usage();
  usage->set_num_prompt_tokens(812);
  usage->set_num_cached_tokens(800);
  usage->set_num_generated_tokens(64);
  usage->set_num_evicted_tokens(3);
  usage->set_peak_kv_bytes(8110080);
  response.set_seed(7);
  ExpectRoundTrip(response);

  v1::TokenizeRequest tokenize;
  tokenize.set_model("SmolLM2-135M-Instruct");
  tokenize.set_text("héllo");
  tokenize.set_include_pieces(true);
  ExpectRoundTrip(tokenize);
  v1::TokenizeResponse tokens;
  tokens.add_token_ids(71);
  tokens.add_pieces(std::string("\xC3", 1));  // a partial UTF-8 piece is legal bytes
  ExpectRoundTrip(tokens);

  v1::ListModelsResponse models;
  v1::ModelInfo* model = models.add_models();
  model->set_name("SmolLM2-135M-Instruct");
  v1::ModelShape* shape = model->mutable_shape();
  shape->set_num_layers(30);
  shape->set_num_query_heads(9);
  shape->set_num_kv_heads(3);
  shape->set_head_dim(64);
  shape->set_hidden_size(576);
  shape->set_vocab_size(49152);
  shape->set_trained_context_tokens(8192);
  v1::KvDtypeSize* size = model->add_kv_dtypes();
  size->set_dtype(v1::KV_DTYPE_F16);
  size->set_kv_bytes_per_token(30 * 3 * 2 * 64 * 2);
  model->add_kv_policy_kinds(v1::KV_POLICY_KIND_H2O);
  model->set_has_chat_template(true);
  ExpectRoundTrip(models);
}

TEST(ProtoRoundTripTest, WorkerMessages) {
  v1::SubmitRequest submit;
  submit.set_request_id("7f1c0d7e-0b0e-4c43-9e53-2f7a4d1b9a10");
  submit.set_tenant("acme");
  for (int id : {1, 2, 3}) submit.add_prompt_token_ids(id);
  for (int id : {4, 5}) submit.add_output_token_ids(id);  // a resume after failover
  *submit.mutable_sampling() = SampledParams();
  submit.add_stop_token_ids(2);
  submit.set_max_new_tokens(64);
  submit.set_logprobs(true);
  submit.set_top_logprobs(2);
  submit.mutable_kv_policy()->mutable_h2o()->set_heavy_tokens(128);
  submit.mutable_kv_policy()->mutable_h2o()->set_recent_tokens(128);
  submit.set_kv_dtype(v1::KV_DTYPE_BF16);
  submit.set_priority(10);
  submit.set_deadline_ms(30000);
  ExpectRoundTrip(submit);

  v1::SubmitResponse delta;
  for (int id : {6, 7, 8}) delta.add_token_ids(id);  // coalesced
  delta.set_queue_ns(1000);
  delta.set_forward_ns(2000000);
  delta.set_sample_ns(30000);
  ExpectRoundTrip(delta);

  v1::InfoResponse info;
  info.set_model_name("SmolLM2-135M-Instruct");
  info.set_model_fingerprint(std::string(64, 'a'));
  info.set_tokenizer_fingerprint(std::string(64, 'b'));
  info.mutable_shape()->set_num_kv_heads(3);
  info.set_kv_dtype(v1::KV_DTYPE_FP8_E5M2);
  info.add_kv_policy_kinds(v1::KV_POLICY_KIND_FULL);
  info.mutable_default_kv_policy()->mutable_full();
  info.set_block_size(16);
  info.set_num_kv_blocks(4096);
  info.set_kv_capacity_bytes(4096LL * 16 * 30 * 3 * 2 * (64 + 4));
  info.set_tp_size(3);
  info.set_backend(v1::BACKEND_CUDA);
  info.set_version("0.1.0");
  info.set_instance_id("worker-a");
  ExpectRoundTrip(info);

  v1::LoadResponse load;
  load.set_num_running_sequences(8);
  load.set_num_waiting_sequences(2);
  load.set_num_preempted_sequences(1);
  load.set_num_kv_blocks_used(1000);
  load.set_num_kv_blocks_free(3096);
  load.set_num_outstanding_tokens(5000);
  ExpectRoundTrip(load);

  v1::CacheEvent event;
  event.set_sequence_number(42);
  event.mutable_stored()->add_block_ids(BlockIdBytes('\x01'));
  ExpectRoundTrip(event);
  event.mutable_snapshot()->add_block_ids(BlockIdBytes('\x02'));
  event.mutable_snapshot()->set_more_parts(true);
  ExpectRoundTrip(event);

  v1::DrainRequest drain;
  drain.set_timeout_ms(0);  // present and 0: end at once, unlike absent
  ExpectRoundTrip(drain);
  v1::CancelRequest cancel;
  cancel.set_request_id("req-1");
  ExpectRoundTrip(cancel);
  v1::ClearCacheRequest clear;
  clear.set_tenant("acme");
  ExpectRoundTrip(clear);
}

TEST(ProtoRoundTripTest, KvStoreMessages) {
  v1::BlockKey prefix_key;
  prefix_key.set_tenant("acme");
  prefix_key.set_logical_id(BlockIdBytes('\x7f'));
  prefix_key.mutable_shard()->set_first_kv_head(1);
  prefix_key.mutable_shard()->set_num_kv_heads(1);
  prefix_key.set_dtype(v1::KV_DTYPE_FP8_E4M3);

  v1::PutRequest put;
  *put.mutable_header()->mutable_key() = prefix_key;
  v1::BlockLayout* layout = put.mutable_header()->mutable_layout();
  layout->set_num_layers(30);
  layout->set_block_tokens(16);
  layout->set_head_dim(64);
  layout->set_scale_dtype(v1::SCALE_DTYPE_F32);
  put.mutable_header()->set_payload_crc32c(0xE3069283u);
  put.set_chunk(std::string(1024, '\0'));
  ExpectRoundTrip(put);

  v1::PutRequest swap_put;
  v1::BlockKey* swap_key = swap_put.mutable_header()->mutable_key();
  swap_key->set_tenant("acme");
  swap_key->mutable_swap()->set_seq_id("worker-a/req-1");
  swap_key->mutable_swap()->set_block_idx(3);
  swap_put.set_swap_ttl_ms(600000);
  EXPECT_EQ(swap_key->id_case(), v1::BlockKey::kSwap);
  ExpectRoundTrip(swap_put);

  v1::GetRequest get;
  *get.add_keys() = prefix_key;
  ExpectRoundTrip(get);
  v1::LookupRequest lookup;
  lookup.set_tenant("acme");
  *lookup.mutable_shard() = prefix_key.shard();
  lookup.set_dtype(v1::KV_DTYPE_FP8_E4M3);
  lookup.add_logical_ids(BlockIdBytes('\x01'));
  lookup.add_logical_ids(BlockIdBytes('\x02'));
  ExpectRoundTrip(lookup);
  v1::DeleteRequest del;
  del.mutable_swap_sequence()->set_tenant("acme");
  del.mutable_swap_sequence()->set_seq_id("worker-a/req-1");
  ExpectRoundTrip(del);
  *del.mutable_keys()->add_keys() = prefix_key;
  EXPECT_EQ(del.target_case(), v1::DeleteRequest::kKeys);
  ExpectRoundTrip(del);

  v1::StatsResponse stats;
  v1::TierStats* tier = stats.add_tiers();
  tier->set_tier(v1::STORAGE_TIER_DISK);
  tier->set_capacity_bytes(1LL << 40);
  tier->set_num_corrupt_dropped(1);
  stats.set_num_misses(5);
  ExpectRoundTrip(stats);
}

// The methods of one service: name -> {client_streaming, server_streaming}.
struct MethodShape {
  std::string name;
  bool client_streaming;
  bool server_streaming;
};

void ExpectService(const std::string& full_name, const std::vector<MethodShape>& expected) {
  SCOPED_TRACE(full_name);
  const pb::ServiceDescriptor* service =
      pb::DescriptorPool::generated_pool()->FindServiceByName(full_name);
  ASSERT_NE(service, nullptr);
  ASSERT_EQ(service->method_count(), static_cast<int>(expected.size()));
  for (int i = 0; i < service->method_count(); ++i) {
    // Every request type has generated code and round-trips empty.
    const pb::Message* request =
        pb::MessageFactory::generated_factory()->GetPrototype(service->method(i)->input_type());
    ASSERT_NE(request, nullptr) << service->method(i)->name();
    ExpectRoundTrip(*request);
  }
  for (const MethodShape& shape : expected) {
    const pb::MethodDescriptor* method = service->FindMethodByName(shape.name);
    ASSERT_NE(method, nullptr) << shape.name;
    EXPECT_EQ(method->client_streaming(), shape.client_streaming) << shape.name;
    EXPECT_EQ(method->server_streaming(), shape.server_streaming) << shape.name;
  }
}

TEST(ProtoServiceTest, MethodsAndStreaming) {
  ExpectService("gqa.v1.Inference", {{"Generate", false, true},
                                     {"Complete", false, false},
                                     {"Tokenize", false, false},
                                     {"ListModels", false, false}});
  ExpectService("gqa.v1.Worker", {{"Submit", false, true},
                                  {"Cancel", false, false},
                                  {"Info", false, false},
                                  {"Load", false, false},
                                  {"WatchCacheEvents", false, true},
                                  {"Drain", false, false},
                                  {"ClearCache", false, false}});
  ExpectService("gqa.v1.KvStore", {{"Put", true, true},
                                   {"Get", false, true},
                                   {"Lookup", false, false},
                                   {"Delete", false, false},
                                   {"Stats", false, false}});
  // Generate and Complete take the same request.
  const pb::ServiceDescriptor* inference =
      pb::DescriptorPool::generated_pool()->FindServiceByName("gqa.v1.Inference");
  ASSERT_NE(inference, nullptr);
  EXPECT_EQ(inference->FindMethodByName("Generate")->input_type(),
            inference->FindMethodByName("Complete")->input_type());
}

// The grpc stubs exist under the names consumers use.
TEST(ProtoServiceTest, GeneratedStubsCompile) {
  EXPECT_STREQ(v1::Inference::service_full_name(), "gqa.v1.Inference");
  EXPECT_STREQ(v1::Worker::service_full_name(), "gqa.v1.Worker");
  EXPECT_STREQ(v1::KvStore::service_full_name(), "gqa.v1.KvStore");
}

// KvPolicyKind lists exactly the cases of KvPolicy's oneof, in order.
TEST(ProtoConsistencyTest, KvPolicyKindMatchesOneof) {
  const pb::OneofDescriptor* oneof = v1::KvPolicy::descriptor()->FindOneofByName("policy");
  ASSERT_NE(oneof, nullptr);
  const pb::EnumDescriptor* kinds = v1::KvPolicyKind_descriptor();
  ASSERT_EQ(kinds->value_count(), oneof->field_count() + 1);
  for (int i = 0; i < oneof->field_count(); ++i) {
    EXPECT_EQ(kinds->value(i + 1)->name(),
              "KV_POLICY_KIND_" + absl::AsciiStrToUpper(oneof->field(i)->name()));
    EXPECT_EQ(kinds->value(i + 1)->number(), oneof->field(i)->number());
  }
}

// Every KV dtype of the grammar (f32, f16, bf16, fp8-e4m3, fp8-e5m2) has a
// value, and nothing else does.
TEST(ProtoConsistencyTest, KvDtypeMatchesGrammar) {
  const pb::EnumDescriptor* dtypes = v1::KvDtype_descriptor();
  std::vector<std::string> names;
  for (int i = 1; i < dtypes->value_count(); ++i) {
    std::string name = absl::AsciiStrToLower(dtypes->value(i)->name().substr(9));
    for (char& c : name) {
      if (c == '_') c = '-';
    }
    names.push_back(name);
  }
  EXPECT_THAT(names, testing::ElementsAre("f32", "f16", "bf16", "fp8-e4m3", "fp8-e5m2"));
}

// "KvDtype" -> "KV_DTYPE", "Role" -> "ROLE".
std::string UpperSnake(const std::string& camel) {
  std::string out;
  for (size_t i = 0; i < camel.size(); ++i) {
    if (i > 0 && absl::ascii_isupper(camel[i])) out += '_';
    out += absl::ascii_toupper(camel[i]);
  }
  return out;
}

void CheckEnum(const pb::EnumDescriptor* e) {
  SCOPED_TRACE(e->full_name());
  ASSERT_GE(e->value_count(), 1);
  const std::string prefix = UpperSnake(e->name()) + "_";
  const pb::EnumValueDescriptor* zero = e->FindValueByNumber(0);
  ASSERT_NE(zero, nullptr);
  EXPECT_EQ(zero->name(), prefix + "UNSPECIFIED");
  EXPECT_EQ(e->value(0), zero) << "the zero value comes first";
  for (int i = 0; i < e->value_count(); ++i) {
    EXPECT_TRUE(absl::StartsWith(e->value(i)->name(), prefix))
        << e->value(i)->name() << " lacks the prefix " << prefix;
  }
}

void CheckEnumsOf(const pb::Descriptor* message) {
  for (int i = 0; i < message->enum_type_count(); ++i) CheckEnum(message->enum_type(i));
  for (int i = 0; i < message->nested_type_count(); ++i) CheckEnumsOf(message->nested_type(i));
}

TEST(ProtoStyleTest, EnumZeroValuesAreUnspecified) {
  for (const char* path : kProtoFiles) {
    const pb::FileDescriptor* file = pb::DescriptorPool::generated_pool()->FindFileByName(path);
    ASSERT_NE(file, nullptr) << path;
    EXPECT_EQ(file->package(), "gqa.v1") << path;
    EXPECT_EQ(file->syntax(), pb::FileDescriptor::SYNTAX_PROTO3) << path;
    EXPECT_TRUE(file->options().cc_enable_arenas()) << path;
    for (int i = 0; i < file->enum_type_count(); ++i) CheckEnum(file->enum_type(i));
    for (int i = 0; i < file->message_type_count(); ++i) CheckEnumsOf(file->message_type(i));
  }
}

// Collects parse errors of the .proto sources.
class ErrorCollector : public pb::compiler::MultiFileErrorCollector {
 public:
  void AddError(const std::string& filename, int line, int column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat(filename, ":", line + 1, ":", column + 1, ": ", message));
  }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  std::vector<std::string> errors_;
};

// Walks the descriptors built from source (which, unlike the generated pool,
// keep SourceCodeInfo) and records every element without a leading comment.
class CommentChecker {
 public:
  template <typename Descriptor>
  void Need(const Descriptor* d, const std::string& what) {
    pb::SourceLocation location;
    if (!d->GetSourceLocation(&location) || Trimmed(location.leading_comments).empty()) {
      missing_.push_back(absl::StrCat(what, " ", d->full_name()));
    }
  }

  void Enum(const pb::EnumDescriptor* e) {
    Need(e, "enum");
    for (int i = 0; i < e->value_count(); ++i) Need(e->value(i), "enum value");
  }

  void Message(const pb::Descriptor* m) {
    Need(m, "message");
    for (int i = 0; i < m->field_count(); ++i) Need(m->field(i), "field");
    for (int i = 0; i < m->oneof_decl_count(); ++i) {
      // A proto3 `optional` field's synthetic oneof is not written in the source.
      if (!m->oneof_decl(i)->is_synthetic()) Need(m->oneof_decl(i), "oneof");
    }
    for (int i = 0; i < m->enum_type_count(); ++i) Enum(m->enum_type(i));
    for (int i = 0; i < m->nested_type_count(); ++i) Message(m->nested_type(i));
  }

  void Service(const pb::ServiceDescriptor* s) {
    Need(s, "service");
    for (int i = 0; i < s->method_count(); ++i) {
      const pb::MethodDescriptor* method = s->method(i);
      Need(method, "rpc");
      pb::SourceLocation location;
      if (method->GetSourceLocation(&location) &&
          !absl::StrContains(location.leading_comments, "Errors")) {
        missing_.push_back(absl::StrCat("the errors of rpc ", method->full_name()));
      }
    }
  }

  const std::vector<std::string>& missing() const { return missing_; }

 private:
  static std::string Trimmed(const std::string& s) {
    return std::string(absl::StripAsciiWhitespace(s));
  }
  std::vector<std::string> missing_;
};

TEST(ProtoStyleTest, EveryElementHasALeadingComment) {
  pb::compiler::DiskSourceTree tree;
  tree.MapPath("", GQA_PROTO_DIR);
  ErrorCollector errors;
  pb::compiler::Importer importer(&tree, &errors);
  CommentChecker checker;
  int num_files = 0;
  for (const char* path : kProtoFiles) {
    const pb::FileDescriptor* file = importer.Import(path);
    ASSERT_NE(file, nullptr) << path << ": " << testing::PrintToString(errors.errors());
    ++num_files;
    for (int i = 0; i < file->message_type_count(); ++i) checker.Message(file->message_type(i));
    for (int i = 0; i < file->enum_type_count(); ++i) checker.Enum(file->enum_type(i));
    for (int i = 0; i < file->service_count(); ++i) checker.Service(file->service(i));

    // The source parses to the very descriptor the generated code embeds.
    const pb::FileDescriptor* generated =
        pb::DescriptorPool::generated_pool()->FindFileByName(path);
    ASSERT_NE(generated, nullptr) << path;
    pb::FileDescriptorProto from_source, from_generated;
    file->CopyTo(&from_source);
    generated->CopyTo(&from_generated);
    EXPECT_TRUE(pb::util::MessageDifferencer::Equals(from_source, from_generated))
        << path << " differs from the generated code; rebuild";
  }
  EXPECT_EQ(num_files, 4);
  EXPECT_THAT(errors.errors(), testing::IsEmpty());
  EXPECT_THAT(checker.missing(), testing::IsEmpty());
}

// A source tree holding one in-memory file, t.proto.
class OneFileSourceTree : public pb::compiler::SourceTree {
 public:
  explicit OneFileSourceTree(std::string text) : text_(std::move(text)) {}
  pb::io::ZeroCopyInputStream* Open(const std::string& filename) override {
    if (filename != "t.proto") return nullptr;
    return new pb::io::ArrayInputStream(text_.data(), static_cast<int>(text_.size()));
  }

 private:
  std::string text_;
};

// The comment check catches an undocumented field and oneof, and ignores the
// synthetic oneof of a proto3 `optional` field.
TEST(ProtoStyleTest, CommentCheckFindsMissingComments) {
  OneFileSourceTree source(
      "syntax = \"proto3\";\n"
      "package t;\n"
      "// Documented.\n"
      "message M {\n"
      "  // Documented.\n"
      "  optional int32 a = 1;\n"
      "  int32 b = 2;\n"
      "  oneof c {\n"
      "    // Documented.\n"
      "    int32 d = 3;\n"
      "  }\n"
      "}\n");
  ErrorCollector errors;
  pb::compiler::Importer importer(&source, &errors);
  const pb::FileDescriptor* file = importer.Import("t.proto");
  ASSERT_NE(file, nullptr) << testing::PrintToString(errors.errors());
  CommentChecker checker;
  checker.Message(file->message_type(0));
  EXPECT_THAT(checker.missing(), testing::ElementsAre("field t.M.b", "oneof t.M.c"));
}

}  // namespace
}  // namespace gqa
