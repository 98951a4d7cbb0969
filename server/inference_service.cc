#include "server/inference_service.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "server/append_reactor.h"
#include "server/generate_reactor.h"
#include "server/session_proto.h"
#include "server/session_transfer.h"
#include "server/status.h"

namespace ssm::server {
namespace {

// Pieces of exported sessions: half the smallest message size limit the server accepts.
constexpr size_t kSessionPieceBytes = 512 << 10;

grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context,
                                      const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpc(status));
  return reactor;
}

// Fills a response from a session lookup and finishes the call.
grpc::ServerUnaryReactor* FinishWithSession(grpc::CallbackServerContext* context,
                                            const absl::StatusOr<SessionInfo>& info,
                                            v1::Session* response) {
  if (info.ok()) ToProto(*info, response);
  return FinishUnary(context, info.status());
}

absl::Status NeedsTokenizer(const Tokenizer* tokenizer, const char* what) {
  if (tokenizer != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(what, " needs a tokenizer, and the model folder has no tokenizer.json"));
}

}  // namespace

InferenceService::InferenceService(const Model& model, const Tokenizer* tokenizer,
                                   Scheduler& scheduler, int64_t state_bytes_per_session,
                                   EngineObserver* observer, std::string bearer_token,
                                   int max_buffered_tokens)
    : model_(model),
      tokenizer_(tokenizer),
      scheduler_(scheduler),
      state_bytes_per_session_(state_bytes_per_session),
      observer_(observer),
      bearer_token_(std::move(bearer_token)),
      max_buffered_tokens_(max_buffered_tokens) {}

// With a token configured, every call must carry "authorization: Bearer <token>". Compared in
// constant time, so response timing does not reveal how much of a guess was right.
absl::Status InferenceService::Authorize(const grpc::CallbackServerContext& context) const {
  if (bearer_token_.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  const std::string expected = "Bearer " + bearer_token_;
  if (it != metadata.end() && it->second.size() == expected.size()) {
    unsigned char difference = 0;
    for (size_t i = 0; i < expected.size(); ++i) difference |= it->second.data()[i] ^ expected[i];
    if (difference == 0) return absl::OkStatus();
  }
  return absl::UnauthenticatedError("missing or wrong bearer token (authorization metadata)");
}

absl::StatusOr<GenerationRequest> InferenceService::ToEngineRequest(
    const v1::GenerateRequest& request) const {
  GenerationRequest out;
  switch (request.input_case()) {
    case v1::GenerateRequest::kPrompt: {
      if (absl::Status s = NeedsTokenizer(tokenizer_, "a text prompt"); !s.ok()) return s;
      absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(request.prompt());
      if (!ids.ok())
        return absl::InvalidArgumentError(absl::StrCat("prompt: ", ids.status().message()));
      out.prompt = *std::move(ids);
      break;
    }
    case v1::GenerateRequest::kPromptIds:
      out.prompt.assign(request.prompt_ids().ids().begin(), request.prompt_ids().ids().end());
      break;
    default:
      return absl::InvalidArgumentError("give prompt or prompt_ids");
  }
  out.sampling = {.temperature = request.sampling().temperature(),
                  .top_k = request.sampling().top_k(),
                  .top_p = request.sampling().has_top_p() ? request.sampling().top_p() : 1.0f,
                  .min_p = request.sampling().min_p(),
                  .repetition_penalty = request.sampling().has_repetition_penalty()
                                            ? request.sampling().repetition_penalty()
                                            : 1.0f,
                  .presence_penalty = request.sampling().presence_penalty(),
                  .frequency_penalty = request.sampling().frequency_penalty(),
                  .seed = request.sampling().seed()};
  if (request.has_max_tokens()) {
    if (request.max_tokens() < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("max_tokens must be at least 1 (leave it unset for the server's default), "
                       "got ",
                       request.max_tokens()));
    }
    out.max_tokens = request.max_tokens();
  }
  out.stop_token_ids.assign(request.stop_token_ids().begin(), request.stop_token_ids().end());
  out.ignore_eos = request.ignore_eos();
  out.session_id = request.session_id();
  out.stop_strings.assign(request.stop().begin(), request.stop().end());
  out.min_tokens = request.min_tokens();
  out.logprobs = request.logprobs();
  out.top_logprobs = request.top_logprobs();
  return out;
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceService::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  const absl::Status denied = Authorize(*context);
  absl::StatusOr<GenerationRequest> engine_request =
      denied.ok() ? ToEngineRequest(*request) : absl::StatusOr<GenerationRequest>(denied);
  if (!engine_request.ok()) {
    if (observer_ != nullptr) {
      observer_->OnRequestRefused(
          absl::AsciiStrToLower(absl::StatusCodeToString(engine_request.status().code())));
    }
    // A reactor that finishes at once with the error.
    class Refusal : public grpc::ServerWriteReactor<v1::GenerateResponse> {
     public:
      explicit Refusal(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    return new Refusal(ToGrpc(engine_request.status()));
  }
  return new GenerateReactor(scheduler_, *std::move(engine_request), max_buffered_tokens_);
}

grpc::ServerUnaryReactor* InferenceService::Tokenize(grpc::CallbackServerContext* context,
                                                     const v1::TokenizeRequest* request,
                                                     v1::TokenizeResponse* response) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  if (absl::Status s = NeedsTokenizer(tokenizer_, "Tokenize"); !s.ok())
    return FinishUnary(context, s);
  absl::StatusOr<std::vector<int32_t>> ids = tokenizer_->Encode(request->text());
  if (!ids.ok()) return FinishUnary(context, ids.status());
  response->mutable_ids()->Assign(ids->begin(), ids->end());
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::Detokenize(grpc::CallbackServerContext* context,
                                                       const v1::DetokenizeRequest* request,
                                                       v1::DetokenizeResponse* response) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  if (absl::Status s = NeedsTokenizer(tokenizer_, "Detokenize"); !s.ok()) {
    return FinishUnary(context, s);
  }
  const std::vector<int32_t> ids(request->ids().begin(), request->ids().end());
  absl::StatusOr<std::string> text = tokenizer_->Decode(ids);
  if (!text.ok()) return FinishUnary(context, text.status());
  response->set_text(*text);
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::GetModelInfo(grpc::CallbackServerContext* context,
                                                         const v1::ModelInfoRequest*,
                                                         v1::ModelInfo* response) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  const ModelConfig& c = model_.config();
  response->set_architecture(c.architecture == Architecture::kMamba1 ? "mamba" : "mamba2");
  response->set_vocab_size(c.vocab_size);
  response->set_d_model(c.d_model);
  response->set_n_layer(c.n_layer);
  response->set_parameters(c.NumParameters());
  response->set_state_bytes_per_session(state_bytes_per_session_);
  response->set_has_tokenizer(tokenizer_ != nullptr);
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::CreateSession(grpc::CallbackServerContext* context,
                                                          const v1::CreateSessionRequest* request,
                                                          v1::Session* response) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  return FinishWithSession(context, scheduler_.CreateSession(request->id()), response);
}

grpc::ServerUnaryReactor* InferenceService::GetSession(grpc::CallbackServerContext* context,
                                                       const v1::GetSessionRequest* request,
                                                       v1::Session* response) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  return FinishWithSession(context, scheduler_.GetSession(request->id()), response);
}

grpc::ServerUnaryReactor* InferenceService::ListSessions(grpc::CallbackServerContext* context,
                                                         const v1::ListSessionsRequest*,
                                                         v1::ListSessionsResponse* response) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  for (const SessionInfo& info : scheduler_.ListSessions()) ToProto(info, response->add_sessions());
  return FinishUnary(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* InferenceService::DeleteSession(grpc::CallbackServerContext* context,
                                                          const v1::DeleteSessionRequest* request,
                                                          v1::DeleteSessionResponse*) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  return FinishUnary(context, scheduler_.DeleteSession(request->id()));
}

grpc::ServerUnaryReactor* InferenceService::ForkSession(grpc::CallbackServerContext* context,
                                                        const v1::ForkSessionRequest* request,
                                                        v1::Session* response) {
  if (absl::Status denied = Authorize(*context); !denied.ok()) return FinishUnary(context, denied);
  return FinishWithSession(context, scheduler_.ForkSession(request->id()), response);
}

grpc::ServerWriteReactor<v1::SessionData>* InferenceService::ExportSession(
    grpc::CallbackServerContext* context, const v1::ExportSessionRequest* request) {
  return new ExportReactor(scheduler_, request->id(), kSessionPieceBytes, Authorize(*context));
}

grpc::ServerReadReactor<v1::SessionData>* InferenceService::ImportSession(
    grpc::CallbackServerContext* context, v1::Session* response) {
  // A state of this model, its header and checksum: anything longer is not one.
  const size_t max_bytes = state_bytes_per_session_ + (1 << 20);
  return new ImportReactor(scheduler_, max_bytes, response, Authorize(*context));
}

grpc::ServerReadReactor<v1::AppendRequest>* InferenceService::AppendToSession(
    grpc::CallbackServerContext* context, v1::Session* response) {
  return new AppendReactor(scheduler_, tokenizer_, response, Authorize(*context));
}

}  // namespace ssm::server
