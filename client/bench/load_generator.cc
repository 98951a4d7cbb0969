#include "client/bench/load_generator.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/call_metadata.h"
#include "client/session_id.h"

namespace ssm::bench {
namespace {

using Clock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

v1::GenerateRequest ToRequest(const RequestSpec& spec, const Options& options,
                              const std::string& session) {
  v1::GenerateRequest request;
  if (spec.prompt_text.empty()) {
    request.mutable_prompt_ids()->mutable_ids()->Assign(spec.prompt_ids.begin(),
                                                        spec.prompt_ids.end());
  } else {
    request.set_prompt(spec.prompt_text);
  }
  request.set_max_tokens(spec.max_tokens);
  request.set_ignore_eos(options.ignore_eos);
  request.mutable_sampling()->set_temperature(options.temperature);
  request.mutable_sampling()->set_top_k(options.top_k);
  request.mutable_sampling()->set_top_p(options.top_p);
  request.mutable_sampling()->set_min_p(options.min_p);
  request.mutable_sampling()->set_seed(spec.sampling_seed);
  request.set_session_id(session);
  return request;
}

}  // namespace

LoadGenerator::LoadGenerator(const std::vector<std::unique_ptr<v1::Inference::Stub>>& stubs,
                             const Options& options, Workload& workload, std::string bearer_token)
    : stubs_(stubs),
      options_(options),
      workload_(workload),
      bearer_token_(std::move(bearer_token)) {}

void LoadGenerator::Reset(int request_budget) {
  std::lock_guard<std::mutex> lock(mutex_);
  budget_ = request_budget;
  issued_ = finished_ = 0;
  records_.clear();
  next_user_ = 0;
  lane_user_.assign(options_.concurrency, User{});
  output_tokens_ = 0;
  failed_ = 0;
  started_ = Clock::now();
  deadline_ = started_ + std::chrono::duration_cast<Clock::duration>(
                             std::chrono::duration<double>(options_.duration_seconds));
}

bool LoadGenerator::Reserve() {
  std::lock_guard<std::mutex> lock(mutex_);
  const bool exhausted = budget_ >= 0 ? issued_ >= budget_ : Clock::now() >= deadline_;
  if (exhausted) return false;
  ++issued_;
  return true;
}

void LoadGenerator::Send(const RequestSpec& spec, const std::string& session, int turn, int lane) {
  v1::Inference::Stub& stub = *stubs_[sent_++ % stubs_.size()];
  TimedStream::Start(stub, ToRequest(spec, options_, session), bearer_token_, turn,
                     [this, lane](RequestRecord record) { OnDone(std::move(record), lane); });
}

void LoadGenerator::OnDone(RequestRecord record, int lane) {
  output_tokens_ += record.output_tokens;
  if (record.code != grpc::StatusCode::OK) ++failed_;
  // The lane's next request is sent before this one counts as finished, so that a waiter never
  // sees the run over while one is still to be sent.
  if (lane >= 0) NextOnLane(lane);
  std::lock_guard<std::mutex> lock(mutex_);
  if (!warmup_) records_.push_back(std::move(record));
  ++finished_;
  // Notified under the lock: once it is released the waiter may return and destroy this object,
  // so nothing here touches it afterwards.
  all_done_.notify_all();
}

// A lane's next request: a new single request, or the next turn of its user (a new user, with
// the next pre-created session, once the last one has had all its turns).
void LoadGenerator::NextOnLane(int lane) {
  std::string session;
  int turn = 0;
  if (options_.turns > 1 && !warmup_) {
    std::lock_guard<std::mutex> lock(mutex_);
    User& user = lane_user_[lane];
    if (user.session.empty() || user.turn == options_.turns) {
      if (next_user_ >= static_cast<int>(sessions_.size())) return;
      user = User{sessions_[next_user_++], 0};
    }
    session = user.session;
    turn = ++user.turn;
  }
  if (!Reserve()) return;
  Send(workload_.Next(), session, turn, lane);
}

void LoadGenerator::WaitForAll() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    const bool exhausted = budget_ >= 0 ? issued_ >= budget_ : Clock::now() >= deadline_;
    if (exhausted && finished_ == issued_) return;
    all_done_.wait_for(lock, std::chrono::milliseconds(50));
  }
}

absl::StatusOr<std::vector<std::string>> LoadGenerator::CreateSessions(int count) {
  std::vector<std::string> sessions;
  for (int i = 0; i < count; ++i) {
    grpc::ClientContext context;
    v1::CreateSessionRequest request;
    request.set_id(client::NewSessionId());
    client::AddCallMetadata(context, bearer_token_, request.id());
    v1::Session session;
    const grpc::Status status = stubs_[0]->CreateSession(&context, request, &session);
    if (!status.ok()) {
      DeleteSessions(sessions);
      return absl::Status(
          static_cast<absl::StatusCode>(status.error_code()),
          absl::StrCat("creating session ", i + 1, " of ", count, ": ", status.error_message()));
    }
    sessions.push_back(session.id());
  }
  return sessions;
}

void LoadGenerator::DeleteSessions(const std::vector<std::string>& sessions) {
  for (const std::string& id : sessions) {
    grpc::ClientContext context;
    client::AddCallMetadata(context, bearer_token_, id);
    v1::DeleteSessionRequest request;
    request.set_id(id);
    v1::DeleteSessionResponse response;
    stubs_[0]->DeleteSession(&context, request, &response);  // best effort: they also expire
  }
}

void LoadGenerator::ShowProgress(bool final) {
  int finished, issued, budget;
  double seconds;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    finished = finished_;
    issued = issued_;
    budget = budget_;
    seconds = std::chrono::duration<double>(Clock::now() - started_).count();
  }
  const int total = budget >= 0 ? budget : issued;
  constexpr int kWidth = 30;
  const int filled = total > 0 ? kWidth * finished / total : 0;
  std::fprintf(stderr, "\r[%-*s] %d/%d requests  %.0f tok/s  %d failed   %s", kWidth,
               std::string(filled, '=').c_str(), finished, total,
               seconds > 0 ? output_tokens_.load() / seconds : 0.0, failed_.load(),
               final ? "\n" : "");
}

absl::StatusOr<RunResult> LoadGenerator::Run(double rate) {
  if (options_.warmup_requests > 0) {
    warmup_ = true;
    Reset(options_.warmup_requests);
    for (int lane = 0; lane < options_.concurrency; ++lane) NextOnLane(lane);
    WaitForAll();
    warmup_ = false;
  }
  const bool timed = options_.duration_seconds > 0;
  if (options_.turns > 1) {
    const int users = (options_.num_requests + options_.turns - 1) / options_.turns;
    absl::StatusOr<std::vector<std::string>> sessions = CreateSessions(users);
    if (!sessions.ok()) return sessions.status();
    sessions_ = *std::move(sessions);
  }
  if (options_.turns > 1) {
    Reset(static_cast<int>(sessions_.size()) * options_.turns);
  } else {
    Reset(timed ? -1 : options_.num_requests);
  }

  const double cpu_before = CpuSeconds();
  std::atomic<bool> running{true};
  std::thread progress;
  if (options_.progress && isatty(STDERR_FILENO)) {
    progress = std::thread([&] {
      while (running) {
        ShowProgress(false);
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      ShowProgress(true);
    });
  }
  if (rate <= 0) {
    for (int lane = 0; lane < options_.concurrency; ++lane) NextOnLane(lane);
  } else {
    Clock::time_point next = Clock::now();
    while (Reserve()) {
      Send(workload_.Next(), "", 0, /*lane=*/-1);
      next += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(workload_.NextGap(rate)));
      std::this_thread::sleep_until(next);
    }
  }
  WaitForAll();
  running = false;
  if (progress.joinable()) progress.join();

  RunResult result;
  result.client_cpu_seconds = CpuSeconds() - cpu_before;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    result.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    result.records = std::move(records_);
  }
  if (!sessions_.empty()) {
    DeleteSessions(sessions_);
    sessions_.clear();
  }
  return result;
}

}  // namespace ssm::bench
