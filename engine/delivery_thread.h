#ifndef SSM_ENGINE_DELIVERY_THREAD_H_
#define SSM_ENGINE_DELIVERY_THREAD_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace ssm {

// Runs tasks one after another, in the order they were posted, on a thread of its own. The
// scheduler posts what it tells request sinks here: in the server a sink writes to a socket,
// and on the engine thread those writes were a third of a step's time (perf, CPU server, 64
// streams), time the device sat idle. Destruction runs what is queued, then joins.
class DeliveryThread {
 public:
  DeliveryThread();
  ~DeliveryThread();
  DeliveryThread(const DeliveryThread&) = delete;
  DeliveryThread& operator=(const DeliveryThread&) = delete;

  void Post(std::function<void()> task);

 private:
  void Run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace ssm

#endif  // SSM_ENGINE_DELIVERY_THREAD_H_
