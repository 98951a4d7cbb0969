#include "engine/scheduler.h"

#include <algorithm>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/session_codec.h"
#include "engine/stop_strings.h"

namespace ssm {

struct Scheduler::Active {
  uint64_t id = 0;
  GenerationRequest request;
  std::shared_ptr<RequestSink> sink;
  std::unique_ptr<Sampler> sampler;
  std::unique_ptr<IncrementalDecoder> decoder;
  std::unique_ptr<StopStrings> stop_strings;  // when the request has any
  int32_t slot = -1;               // assigned at submission for sessions, at admission otherwise
  int32_t user_prompt_tokens = 0;  // the prompt as sent (a session's turn may prepend one token)
  size_t fed = 0;                  // prompt tokens fed so far
  std::vector<int32_t> generated;  // the last one is fed in the next step
  Clock::time_point submitted, started, first_token, last_token;
  std::vector<double> inter_token_seconds;
  bool released = false;  // its slot or session went back (Release) before its sink heard
};

namespace {

double Seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

Scheduler::Scheduler(Backend& backend, const Tokenizer* tokenizer, std::vector<int32_t> eos_ids,
                     SchedulerOptions options, EngineObserver* observer)
    : backend_(backend),
      tokenizer_(tokenizer),
      eos_ids_(std::move(eos_ids)),
      options_(options),
      observer_(observer),
      sessions_(backend, options.host_sessions) {
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

absl::StatusOr<uint64_t> Scheduler::Submit(GenerationRequest request,
                                           std::shared_ptr<RequestSink> sink) {
  absl::StatusOr<uint64_t> id = Enqueue(std::move(request), std::move(sink));
  if (!id.ok() && observer_ != nullptr) {
    observer_->OnRequestRefused(
        absl::AsciiStrToLower(absl::StatusCodeToString(id.status().code())));
  }
  return id;
}

absl::StatusOr<uint64_t> Scheduler::Enqueue(GenerationRequest request,
                                            std::shared_ptr<RequestSink> sink) {
  if (request.prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (static_cast<int64_t>(request.prompt.size()) > options_.max_prompt_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("the prompt has ", request.prompt.size(), " tokens, over the limit of ",
                     options_.max_prompt_tokens, " (AppendToSession takes longer documents)"));
  }
  if (request.prefill_only && request.session_id.empty()) {
    return absl::InvalidArgumentError("only a session can be fed without generating");
  }
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= backend_.vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("prompt token ", i, " (id ", request.prompt[i],
                                                     ") is outside the vocabulary [0, ",
                                                     backend_.vocab_size(), ")"));
    }
  }
  if (absl::Status s = Validate(request.sampling); !s.ok()) return s;
  if (request.stop_token_ids.size() > 64) {
    return absl::InvalidArgumentError("at most 64 stop token ids");
  }
  for (int32_t id : request.stop_token_ids) {
    if (id < 0 || id >= backend_.vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "stop token id ", id, " is outside the vocabulary [0, ", backend_.vocab_size(), ")"));
    }
  }
  if (request.max_tokens < 0 || request.max_tokens > options_.max_tokens_limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_tokens must be in [0, ", options_.max_tokens_limit, "], got ", request.max_tokens));
  }
  if (request.max_tokens == 0) request.max_tokens = options_.default_max_tokens;
  if (request.min_tokens < 0 || request.min_tokens > request.max_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_tokens must be in [0, max_tokens = ", request.max_tokens, "], got ",
                     request.min_tokens));
  }
  if (!request.stop_strings.empty() && tokenizer_ == nullptr) {
    return absl::FailedPreconditionError("stop strings need a tokenizer, and the model has none");
  }
  if (request.stop_strings.size() > 64) {
    return absl::InvalidArgumentError("at most 64 stop strings");
  }
  for (const std::string& stop : request.stop_strings) {
    if (stop.empty()) return absl::InvalidArgumentError("a stop string is empty");
  }
  if (request.top_logprobs < 0 || request.top_logprobs > kMaxTopLogprobs) {
    return absl::InvalidArgumentError(absl::StrCat("top_logprobs must be in [0, ", kMaxTopLogprobs,
                                                   "], got ", request.top_logprobs));
  }
  if (request.top_logprobs > 0) request.logprobs = true;
  if (request.sampling.seed == 0) request.sampling.seed = std::random_device()() | 1;

  auto active = std::make_unique<Active>();
  active->request = std::move(request);
  active->sink = std::move(sink);
  active->sampler = std::make_unique<Sampler>(active->request.sampling, active->request.prompt);
  if (tokenizer_ != nullptr) active->decoder = std::make_unique<IncrementalDecoder>(*tokenizer_);
  if (!active->request.stop_strings.empty()) {
    active->stop_strings = std::make_unique<StopStrings>(active->request.stop_strings);
  }
  active->submitted = Clock::now();
  active->user_prompt_tokens = static_cast<int32_t>(active->request.prompt.size());
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) return absl::UnavailableError("the engine is shutting down");
  if (static_cast<int32_t>(queue_.size()) >= options_.max_queue) {
    return absl::ResourceExhaustedError(
        absl::StrCat("the request queue is full (", options_.max_queue, " waiting)"));
  }
  if (!active->request.session_id.empty()) {
    absl::StatusOr<SessionTable::Session*> session = sessions_.Find(active->request.session_id);
    if (!session.ok()) return session.status();
    if ((*session)->busy) {
      return absl::FailedPreconditionError(
          absl::StrCat("session ", active->request.session_id, " is busy with another request"));
    }
    if ((*session)->slot < 0) {
      if (absl::Status s = sessions_.BringToDevice(**session); !s.ok()) return s;
    }
    (*session)->busy = true;
    active->slot = (*session)->slot;
    if ((*session)->unfed) {
      active->request.prompt.insert(active->request.prompt.begin(), *(*session)->unfed);
    }
  }
  active->id = next_id_++;
  const uint64_t id = active->id;
  queue_.push_back(std::move(active));
  waiting_count_ = static_cast<int32_t>(queue_.size());
  wake_.notify_one();
  return id;
}

void Scheduler::Cancel(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_.push_back(id);
  }
  wake_.notify_one();
}

void Scheduler::Loop() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      // Idle, the loop still wakes now and then to expire sessions.
      wake_.wait_for(lock, std::chrono::seconds(1), [&] {
        return stopping_ || !queue_.empty() || !running_.empty() || !cancelled_.empty();
      });
      if (stopping_) break;
      ExpireIdleSessions();
    }
    if (running_.empty()) last_backend_end_.reset();  // what follows is waiting, not host work
    Admit();
    if (!running_.empty()) RunStep();
  }
  const absl::Status stopped = absl::UnavailableError("the engine stopped");
  for (auto& a : running_) Fail(*a, stopped);
  for (auto& a : queue_) Fail(*a, stopped);
}

// Applies cancellations, then moves queued requests into free slots, oldest first.
void Scheduler::Admit() {
  std::vector<uint64_t> cancelled;
  std::vector<std::unique_ptr<Active>> admitted, dropped;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled.swap(cancelled_);
    for (uint64_t id : cancelled) {
      auto it = std::find_if(queue_.begin(), queue_.end(), [&](auto& a) { return a->id == id; });
      if (it != queue_.end()) {
        dropped.push_back(std::move(*it));
        queue_.erase(it);
      }
    }
    // Oldest first. A session's turn brings its own slot; others take a free one.
    for (auto it = queue_.begin(); it != queue_.end();) {
      if ((*it)->slot < 0) {
        absl::StatusOr<int32_t> slot = sessions_.TakeSlot();
        if (!slot.ok()) {
          ++it;
          continue;
        }
        (*it)->slot = *slot;
        backend_.ClearSlot((*it)->slot);
      }
      admitted.push_back(std::move(*it));
      it = queue_.erase(it);
    }
    waiting_count_ = static_cast<int32_t>(queue_.size());
  }
  const absl::Status cancelled_status = absl::CancelledError("the request was cancelled");
  for (auto& a : dropped) {
    if (!a->request.session_id.empty()) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (auto session = sessions_.Find(a->request.session_id); session.ok()) {
        (*session)->busy = false;
      }
    }
    Fail(*a, cancelled_status);
  }
  for (uint64_t id : cancelled) {
    for (size_t i = 0; i < running_.size(); ++i) {
      if (running_[i]->id == id) {
        Release(*running_[i]);
        Fail(*running_[i], cancelled_status);
        Retire(i);
        break;
      }
    }
  }
  for (auto& a : admitted) {
    a->started = Clock::now();
    running_.push_back(std::move(a));
  }
  running_count_ = static_cast<int32_t>(running_.size());
}

void Scheduler::RunStep() {
  // Decodes first (one token each), so streams keep flowing; prefill chunks share what is left
  // of the budget, oldest request first.
  std::vector<SequenceInput> batch;
  std::vector<size_t> owner;  // index into running_ of each batch entry
  int64_t budget = options_.token_budget;
  for (size_t i = 0; i < running_.size(); ++i) {
    Active& a = *running_[i];
    if (a.fed < a.request.prompt.size()) continue;
    batch.push_back({a.slot, {&a.generated.back(), 1}});
    owner.push_back(i);
    --budget;
  }
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    Active& a = *running_[i];
    const size_t remaining = a.request.prompt.size() - a.fed;
    if (remaining == 0) continue;
    const size_t chunk = std::min<size_t>(remaining, budget);
    batch.push_back({a.slot, std::span<const int32_t>(a.request.prompt).subspan(a.fed, chunk)});
    owner.push_back(i);
    budget -= chunk;
  }
  // Whether batch entry b reaches the end of its prompt this step and so picks a token.
  auto picks = [&](size_t b) {
    const Active& a = *running_[owner[b]];
    return !a.request.prefill_only && a.fed + batch[b].tokens.size() >= a.request.prompt.size();
  };
  // Unless a sequence that picks wants logprobs, only ids leave the backend (on a GPU:
  // batch-size ints instead of batch x vocab floats): the greedy ones, or ones drawn with each
  // request's next uniform, penalties and banned ids.
  enum class Output { kGreedyIds, kDrawnIds, kLogits } output = Output::kGreedyIds;
  for (size_t b = 0; b < batch.size() && output != Output::kLogits; ++b) {
    const Active& a = *running_[owner[b]];
    if (!picks(b)) continue;
    if (a.request.logprobs) {
      output = Output::kLogits;
    } else if (!a.sampler->IsPlainGreedy() || Early(a)) {
      output = Output::kDrawnIds;
    }
  }
  const Clock::time_point step_start = Clock::now();
  const double host_seconds = last_backend_end_ ? Seconds(step_start - *last_backend_end_) : 0.0;
  absl::Status forward;
  switch (output) {
    case Output::kGreedyIds:
      next_.resize(batch.size());
      forward = backend_.ForwardGreedy(batch, next_);
      break;
    case Output::kDrawnIds:
      draws_.assign(batch.size(), TokenDraw{});
      banned_.resize(batch.size());
      for (size_t b = 0; b < batch.size(); ++b) {
        if (!picks(b)) continue;
        Active& a = *running_[owner[b]];
        draws_[b] = a.sampler->NextDraw();
        banned_[b] = Banned(a);
        draws_[b].banned = banned_[b];
      }
      next_.resize(batch.size());
      forward = backend_.ForwardSampled(batch, draws_, next_);
      break;
    case Output::kLogits:
      logits_.resize(batch.size() * backend_.vocab_size());
      forward = backend_.Forward(batch, logits_);
      break;
  }
  last_backend_end_ = Clock::now();
  const double step_seconds = Seconds(*last_backend_end_ - step_start);
  if (!forward.ok()) {
    for (size_t i = running_.size(); i-- > 0;) {
      Release(*running_[i]);
      Fail(*running_[i], forward);
      Retire(i);
    }
    ReportStep(step_seconds, host_seconds, batch.size(), options_.token_budget - budget);
    return;
  }
  // Sampling sorts a vocabulary's worth of candidates per sequence, milliseconds each; every
  // sequence has its own sampler and seeded generator, so the picks run in parallel and come
  // out the same whatever the threads.
  std::vector<int32_t> picked(batch.size());
  std::vector<std::vector<TokenLogprobs>> picked_logprobs(batch.size());
  if (output == Output::kLogits) {
    const int64_t vocab = backend_.vocab_size();
#pragma omp parallel for schedule(dynamic)
    for (size_t b = 0; b < batch.size(); ++b) {
      if (!picks(b)) continue;
      Active& a = *running_[owner[b]];
      const std::span<const float> row(&logits_[b * vocab], vocab);
      picked[b] = Pick(a, row);
      if (a.request.logprobs) {
        picked_logprobs[b].push_back(ComputeLogprobs(row, picked[b], a.request.top_logprobs));
      }
    }
  }
  std::vector<size_t> finished;
  for (size_t b = 0; b < batch.size(); ++b) {
    Active& a = *running_[owner[b]];
    const bool prefill = a.fed < a.request.prompt.size();
    if (prefill) a.fed += batch[b].tokens.size();
    if (a.fed < a.request.prompt.size()) continue;  // more prompt to feed before sampling
    if (a.request.prefill_only) {
      Finish(a, FinishReason::kLength);
    } else {
      // A token the backend picked counts towards the request's later penalties, as one the
      // sampler picked from the logits already does.
      const int32_t token = output == Output::kLogits ? picked[b] : next_[b];
      if (output != Output::kLogits) a.sampler->Record(token);
      Emit(a, token, picked_logprobs[b]);
    }
    if (a.sink == nullptr) finished.push_back(owner[b]);
  }
  std::sort(finished.rbegin(), finished.rend());
  for (size_t i : finished) Retire(i);
  ReportStep(step_seconds, host_seconds, batch.size(), options_.token_budget - budget);
}

// After the step's retirements, so the gauges show what is left running.
void Scheduler::ReportStep(double seconds, double host_seconds, size_t sequences, int64_t tokens) {
  if (observer_ == nullptr) return;
  StepStats stats{.seconds = seconds,
                  .host_seconds = host_seconds,
                  .sequences = static_cast<int32_t>(sequences),
                  .tokens = tokens,
                  .running = static_cast<int32_t>(running_.size())};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats.waiting = static_cast<int32_t>(queue_.size());
    stats.sessions = sessions_.size();
    stats.sessions_on_host = sessions_.on_host();
    stats.slots_used = sessions_.slots_in_use();
  }
  observer_->OnStep(stats);
}

// Samples one token for a request, reports it, and finishes the request when it stops.
// Before min_tokens, the stop ids (and eos) may not be picked.
bool Scheduler::Early(const Active& a) const {
  return static_cast<int32_t>(a.generated.size()) < a.request.min_tokens;
}

std::vector<int32_t> Scheduler::Banned(const Active& a) const {
  if (!Early(a)) return {};
  std::vector<int32_t> banned = a.request.stop_token_ids;
  if (!a.request.ignore_eos) banned.insert(banned.end(), eos_ids_.begin(), eos_ids_.end());
  return banned;
}

int32_t Scheduler::Pick(Active& a, std::span<const float> logits) {
  return a.sampler->Sample(logits, Banned(a));
}

void Scheduler::Emit(Active& a, int32_t token, std::span<const TokenLogprobs> logprobs) {
  const auto& request = a.request;
  const bool early = Early(a);
  const Clock::time_point now = Clock::now();
  if (a.generated.empty()) {
    a.first_token = now;
  } else {
    a.inter_token_seconds.push_back(Seconds(now - a.last_token));
  }
  a.last_token = now;
  a.generated.push_back(token);

  const auto& stops = request.stop_token_ids;
  const bool eos =
      !request.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), token) != eos_ids_.end();
  bool stop = eos || std::find(stops.begin(), stops.end(), token) != stops.end();
  const bool length = static_cast<int32_t>(a.generated.size()) >= request.max_tokens;
  std::string text;
  if (a.decoder != nullptr) {
    text = *a.decoder->Add(token);  // ids come from the vocab
    if (stop || length) text += a.decoder->Finish();
  }
  if (a.stop_strings != nullptr && !early) {
    StopStrings::Release release = a.stop_strings->Add(text);
    text = std::move(release.text);
    if (release.stopped) {
      stop = true;
    } else if (stop || length) {
      text += a.stop_strings->Flush();
    }
  }
  delivery_.Post([sink = a.sink, token, text = std::move(text),
                  logprobs = std::vector<TokenLogprobs>(logprobs.begin(), logprobs.end())] {
    sink->OnTokens({&token, 1}, text, logprobs);
  });
  if (stop || length) Finish(a, stop ? FinishReason::kStop : FinishReason::kLength);
}

void Scheduler::Finish(Active& a, FinishReason reason) {
  const Clock::time_point now = Clock::now();
  // The session is free again before the client hears that the turn ended, so that a next
  // turn sent right away finds it idle.
  Release(a);
  int64_t session_tokens = 0;
  if (!a.request.session_id.empty()) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto session = sessions_.Find(a.request.session_id); session.ok()) {
      session_tokens = SessionTable::Describe(a.request.session_id, **session).tokens;
    }
  }
  const bool any_token = !a.generated.empty();
  const GenerationSummary summary{
      .reason = reason,
      .prompt_tokens = a.user_prompt_tokens,
      .generated_tokens = static_cast<int32_t>(a.generated.size()),
      .session_tokens = session_tokens,
      .queue_seconds = Seconds(a.started - a.submitted),
      .time_to_first_token_seconds = any_token ? Seconds(a.first_token - a.submitted) : 0.0,
      .total_seconds = Seconds(now - a.submitted)};
  delivery_.Post([sink = a.sink, summary] { sink->OnFinished(summary); });
  Report(a, a.request.prefill_only          ? "prefilled"
            : reason == FinishReason::kStop ? "stop"
                                            : "length");
  a.sink = nullptr;  // marks it finished for RunStep
}

void Scheduler::Retire(size_t index) {
  Release(*running_[index]);
  running_.erase(running_.begin() + index);
  running_count_ = static_cast<int32_t>(running_.size());
}

void Scheduler::Release(Active& a) {
  if (a.released) return;
  a.released = true;
  std::lock_guard<std::mutex> lock(mutex_);
  if (a.request.session_id.empty()) {
    sessions_.ReturnSlot(a.slot);
  } else if (auto found = sessions_.Find(a.request.session_id); found.ok()) {
    SessionTable::Session& session = **found;
    const size_t fed_generated = a.generated.empty() ? 0 : a.generated.size() - 1;
    session.fed_tokens += static_cast<int64_t>(a.fed + fed_generated);
    if (!a.generated.empty()) {
      session.unfed = a.generated.back();
    } else if (a.fed > 0) {
      session.unfed.reset();  // it was the first token of this turn's prompt
    }
    session.busy = false;
    session.last_used = Clock::now();
  }
}

void Scheduler::Fail(Active& a, const absl::Status& status) {
  delivery_.Post([sink = a.sink, status] { sink->OnFailed(status); });
  Report(a, absl::AsciiStrToLower(absl::StatusCodeToString(status.code())));
}

void Scheduler::Report(const Active& a, const std::string& outcome) {
  if (observer_ == nullptr) return;
  const bool started = a.started != Clock::time_point();
  observer_->OnRequestDone(
      {.outcome = outcome,
       .prompt_tokens = a.user_prompt_tokens,
       .generated_tokens = static_cast<int32_t>(a.generated.size()),
       .queue_seconds = Seconds((started ? a.started : Clock::now()) - a.submitted),
       .time_to_first_token_seconds =
           a.generated.empty() ? -1.0 : Seconds(a.first_token - a.submitted),
       .e2e_seconds = Seconds(Clock::now() - a.submitted),
       .inter_token_seconds = a.inter_token_seconds});
}

void Scheduler::ExpireIdleSessions() {
  if (options_.session_ttl.count() == 0) return;
  sessions_.ExpireIdle(Clock::now() - options_.session_ttl);
}

// Slots of idle sessions and free slots are touched by no running step, so they may be cleared
// or copied here, off the engine thread.
absl::StatusOr<SessionInfo> Scheduler::CreateSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<std::string> new_id = sessions_.NewId(id);
  if (!new_id.ok()) return new_id.status();
  absl::StatusOr<SessionTable::Session*> added = sessions_.Add(*new_id);
  if (!added.ok()) return added.status();
  backend_.ClearSlot((*added)->slot);
  return SessionTable::Describe(*new_id, **added);
}

absl::StatusOr<SessionInfo> Scheduler::ForkSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<SessionTable::Session*> source = sessions_.Find(id);
  if (!source.ok()) return source.status();
  if ((*source)->busy) {
    return absl::FailedPreconditionError(
        absl::StrCat("session ", id, " is busy; fork it when idle"));
  }
  const SessionTable::Session copy = **source;  // Add may move the table's entries
  const std::string fork_id = sessions_.ForkId(id);
  // Busy meanwhile, so that making room for the fork does not move the source to the host.
  (*source)->busy = true;
  absl::StatusOr<SessionTable::Session*> added = sessions_.Add(fork_id);
  (*sessions_.Find(id))->busy = false;
  if (!added.ok()) return added.status();
  if (copy.slot >= 0) {
    backend_.CopySlot(copy.slot, (*added)->slot);
  } else if (absl::Status s = backend_.WriteSlot((*added)->slot, copy.host_state); !s.ok()) {
    return s;
  }
  (*added)->fed_tokens = copy.fed_tokens;
  (*added)->unfed = copy.unfed;
  return SessionTable::Describe(fork_id, **added);
}

absl::StatusOr<SessionInfo> Scheduler::GetSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<SessionTable::Session*> session = sessions_.Find(id);
  if (!session.ok()) return session.status();
  return SessionTable::Describe(id, **session);
}

std::vector<SessionInfo> Scheduler::ListSessions() {
  std::lock_guard<std::mutex> lock(mutex_);
  return sessions_.List();
}

absl::Status Scheduler::DeleteSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<SessionTable::Session*> session = sessions_.FindIdle(id, "delete");
  if (!session.ok()) return session.status();
  sessions_.Erase(id);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Scheduler::ExportSession(const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<SessionTable::Session*> session = sessions_.FindIdle(id, "export");
  if (!session.ok()) return session.status();
  return EncodeSession({.model_fingerprint = options_.model_fingerprint,
                        .fed_tokens = (*session)->fed_tokens,
                        .unfed = (*session)->unfed,
                        .state = sessions_.State(**session)});
}

absl::StatusOr<SessionInfo> Scheduler::ImportSession(std::string_view bytes,
                                                     const std::string& id) {
  absl::StatusOr<SessionSnapshot> snapshot =
      DecodeSession(bytes, options_.model_fingerprint, backend_.slot_size());
  if (!snapshot.ok()) return snapshot.status();
  std::lock_guard<std::mutex> lock(mutex_);
  absl::StatusOr<std::string> new_id = sessions_.NewId(id);
  if (!new_id.ok()) return new_id.status();
  absl::StatusOr<SessionTable::Session*> added = sessions_.Add(*new_id);
  if (!added.ok()) return added.status();
  if (absl::Status s = backend_.WriteSlot((*added)->slot, snapshot->state); !s.ok()) {
    sessions_.Erase(*new_id);
    return s;
  }
  (*added)->fed_tokens = snapshot->fed_tokens;
  (*added)->unfed = snapshot->unfed;
  return SessionTable::Describe(*new_id, **added);
}

}  // namespace ssm
