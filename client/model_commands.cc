#include "client/model_commands.h"

#include <cstdio>

#include "client/call_metadata.h"
#include "client/report_failure.h"
#include "nlohmann/json.hpp"
#include "ssm/v1/inference.grpc.pb.h"

namespace ssm::client {
namespace {

void PrintJson(const nlohmann::json& line) {
  // Replaces bytes that are not UTF-8 (detokenized pieces of a character) instead of throwing.
  std::printf("%s\n", line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
}

}  // namespace

int Tokenize(const std::shared_ptr<grpc::Channel>& channel, const std::string& text) {
  auto stub = v1::Inference::NewStub(channel);
  grpc::ClientContext context;
  AddCallMetadata(context, BearerToken());
  v1::TokenizeRequest request;
  request.set_text(text);
  v1::TokenizeResponse response;
  const grpc::Status status = stub->Tokenize(&context, request, &response);
  if (!status.ok()) return ReportFailure("tokenize", status);
  PrintJson({{"ids", response.ids()}, {"count", response.ids_size()}});
  return 0;
}

int Detokenize(const std::shared_ptr<grpc::Channel>& channel, const std::vector<int32_t>& ids) {
  auto stub = v1::Inference::NewStub(channel);
  grpc::ClientContext context;
  AddCallMetadata(context, BearerToken());
  v1::DetokenizeRequest request;
  request.mutable_ids()->Assign(ids.begin(), ids.end());
  v1::DetokenizeResponse response;
  const grpc::Status status = stub->Detokenize(&context, request, &response);
  if (!status.ok()) return ReportFailure("detokenize", status);
  PrintJson({{"text", response.text()}});
  return 0;
}

int Info(const std::shared_ptr<grpc::Channel>& channel) {
  auto stub = v1::Inference::NewStub(channel);
  grpc::ClientContext context;
  AddCallMetadata(context, BearerToken());
  v1::ModelInfo info;
  const grpc::Status status = stub->GetModelInfo(&context, {}, &info);
  if (!status.ok()) return ReportFailure("info", status);
  PrintJson({{"architecture", info.architecture()},
             {"vocab_size", info.vocab_size()},
             {"d_model", info.d_model()},
             {"n_layer", info.n_layer()},
             {"parameters", info.parameters()},
             {"state_bytes_per_session", info.state_bytes_per_session()},
             {"has_tokenizer", info.has_tokenizer()}});
  return 0;
}

}  // namespace ssm::client
