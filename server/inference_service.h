#ifndef SSM_SERVER_INFERENCE_SERVICE_H_
#define SSM_SERVER_INFERENCE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include "engine/model.h"
#include "engine/scheduler.h"
#include "engine/tokenizer/tokenizer.h"
#include "ssm/v1/inference.grpc.pb.h"

namespace ssm::server {

// ssm.v1.Inference over the engine: validates requests, turns them into engine requests and
// hands Generate streams to GenerateReactor.
class InferenceService final : public v1::Inference::CallbackService {
 public:
  // tokenizer may be null (a model folder without tokenizer.json): then only token ids work.
  // observer (may be null) counts the requests refused here, before they reach the engine.
  // A non-empty bearer_token is required of every call (see Authorize). A Generate stream whose
  // reader falls max_buffered_tokens behind is ended (see GenerateReactor).
  InferenceService(const Model& model, const Tokenizer* tokenizer, Scheduler& scheduler,
                   int64_t state_bytes_per_session, EngineObserver* observer,
                   std::string bearer_token, int max_buffered_tokens);

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const v1::GenerateRequest* request) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;
  grpc::ServerUnaryReactor* Detokenize(grpc::CallbackServerContext* context,
                                       const v1::DetokenizeRequest* request,
                                       v1::DetokenizeResponse* response) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::ModelInfoRequest* request,
                                         v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* CreateSession(grpc::CallbackServerContext* context,
                                          const v1::CreateSessionRequest* request,
                                          v1::Session* response) override;
  grpc::ServerUnaryReactor* GetSession(grpc::CallbackServerContext* context,
                                       const v1::GetSessionRequest* request,
                                       v1::Session* response) override;
  grpc::ServerUnaryReactor* ListSessions(grpc::CallbackServerContext* context,
                                         const v1::ListSessionsRequest* request,
                                         v1::ListSessionsResponse* response) override;
  grpc::ServerUnaryReactor* DeleteSession(grpc::CallbackServerContext* context,
                                          const v1::DeleteSessionRequest* request,
                                          v1::DeleteSessionResponse* response) override;
  grpc::ServerUnaryReactor* ForkSession(grpc::CallbackServerContext* context,
                                        const v1::ForkSessionRequest* request,
                                        v1::Session* response) override;
  grpc::ServerWriteReactor<v1::SessionData>* ExportSession(
      grpc::CallbackServerContext* context, const v1::ExportSessionRequest* request) override;
  grpc::ServerReadReactor<v1::SessionData>* ImportSession(grpc::CallbackServerContext* context,
                                                          v1::Session* response) override;
  grpc::ServerReadReactor<v1::AppendRequest>* AppendToSession(grpc::CallbackServerContext* context,
                                                              v1::Session* response) override;

 private:
  absl::StatusOr<GenerationRequest> ToEngineRequest(const v1::GenerateRequest& request) const;
  absl::Status Authorize(const grpc::CallbackServerContext& context) const;

  const Model& model_;
  const Tokenizer* tokenizer_;
  Scheduler& scheduler_;
  int64_t state_bytes_per_session_;
  EngineObserver* observer_;
  std::string bearer_token_;
  int max_buffered_tokens_;
};

}  // namespace ssm::server

#endif  // SSM_SERVER_INFERENCE_SERVICE_H_
