#include "client/bench/timed_stream.h"

#include "client/call_metadata.h"

namespace ssm::bench {
namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

TimedStream::TimedStream(v1::GenerateRequest request, int turn, Done done)
    : request_(std::move(request)), done_(std::move(done)) {
  record_.turn = turn;
}

void TimedStream::Start(v1::Inference::Stub& stub, v1::GenerateRequest request,
                        const std::string& bearer_token, int turn, Done done) {
  auto* stream = new TimedStream(std::move(request), turn, std::move(done));
  client::AddCallMetadata(stream->context_, bearer_token, stream->request_.session_id());
  stub.async()->Generate(&stream->context_, &stream->request_, stream);
  stream->StartRead(&stream->response_);
  stream->sent_ = stream->last_ = Clock::now();
  stream->StartCall();
}

void TimedStream::OnReadDone(bool ok) {
  if (!ok) return;  // the stream has ended; OnDone follows
  const Clock::time_point now = Clock::now();
  if (response_.token_ids_size() > 0) {
    if (record_.output_tokens == 0) {
      record_.ttft = Seconds(now - sent_);
    } else {
      record_.itl.push_back(Seconds(now - last_));
    }
    record_.output_tokens += response_.token_ids_size();
    last_ = now;
  }
  if (response_.has_usage()) record_.prompt_tokens = response_.usage().prompt_tokens();
  StartRead(&response_);
}

void TimedStream::OnDone(const grpc::Status& status) {
  record_.e2e = Seconds(Clock::now() - sent_);
  record_.code = status.error_code();
  record_.error = status.error_message();
  RequestRecord record = std::move(record_);
  Done done = std::move(done_);
  // Gone before `done` runs: once the last request is done the load generator may return and
  // its caller tear the channels down, and this call's context must not outlive them.
  delete this;
  done(std::move(record));
}

}  // namespace ssm::bench
