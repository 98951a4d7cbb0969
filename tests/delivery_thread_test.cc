// The scheduler's delivery thread: tasks run in the order posted, off the posting thread, and
// everything posted runs before the thread is destroyed.
#include "engine/delivery_thread.h"

#include <future>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ssm {
namespace {

TEST(DeliveryThreadTest, RunsTasksInOrderOffThePostingThreadAndDrainsOnDestruction) {
  std::vector<int> order;
  std::vector<std::thread::id> ran_on;
  {
    DeliveryThread delivery;
    for (int i = 0; i < 1000; ++i) {
      delivery.Post([&, i] {
        order.push_back(i);
        ran_on.push_back(std::this_thread::get_id());
      });
    }
  }  // destruction waits for all 1000
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  for (const std::thread::id& id : ran_on) EXPECT_NE(id, std::this_thread::get_id());
}

TEST(DeliveryThreadTest, ATaskMayPostMoreWhichRunAfterWhatWasQueued) {
  std::vector<int> order;
  std::promise<void> second_posted;
  {
    DeliveryThread delivery;
    delivery.Post([&] {
      second_posted.get_future().wait();
      order.push_back(1);
      delivery.Post([&] { order.push_back(3); });
    });
    delivery.Post([&] { order.push_back(2); });
    second_posted.set_value();
  }
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace ssm
