#ifndef SSM_CLIENT_MODEL_COMMANDS_H_
#define SSM_CLIENT_MODEL_COMMANDS_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ssm::client {

// What the server's model and tokenizer say, printed as one JSON line each; 0 on success, else
// the failure is reported (report_failure.h).

// The token ids of `text` ({"ids": [...], "count": n}).
int Tokenize(const std::shared_ptr<grpc::Channel>& channel, const std::string& text);

// The text of `ids` ({"text": "..."}).
int Detokenize(const std::shared_ptr<grpc::Channel>& channel, const std::vector<int32_t>& ids);

// The model: architecture, sizes, state bytes per session, whether it has a tokenizer.
int Info(const std::shared_ptr<grpc::Channel>& channel);

}  // namespace ssm::client

#endif  // SSM_CLIENT_MODEL_COMMANDS_H_
