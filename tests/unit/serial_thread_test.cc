// SerialThread: every closure runs on its one thread, whoever asks, each caller gets back
// after its own closure, and what a closure throws reaches its caller.
#include "homelens/core/serial_thread.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace homelens {
namespace {

TEST(SerialThread, RunsEveryCallersWorkOnItsOneThreadOneAtATime) {
  SerialThread worker;
  std::set<std::thread::id> ran_on;
  std::atomic<int> inside{0}, most_inside{0};
  std::vector<int> results(8, 0);
  std::vector<std::thread> callers;
  for (int c = 0; c < 8; ++c)
    callers.emplace_back([&, c] {
      for (int i = 0; i < 50; ++i)
        worker.run([&] {
          const int now = ++inside;
          most_inside = std::max(most_inside.load(), now);
          ran_on.insert(std::this_thread::get_id());  // safe: one closure at a time
          results[c] += 1;
          --inside;
        });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(ran_on.size(), 1u);
  EXPECT_NE(*ran_on.begin(), std::this_thread::get_id());
  EXPECT_EQ(most_inside.load(), 1);
  for (int r : results) EXPECT_EQ(r, 50) << "each caller returns after its own closure ran";
}

TEST(SerialThread, WhatTheWorkThrowsReachesItsCallerAndTheThreadGoesOn) {
  SerialThread worker;
  EXPECT_THROW(worker.run([] { throw std::runtime_error("bad photo"); }), std::runtime_error);
  int ran = 0;
  worker.run([&] { ++ran; });
  EXPECT_EQ(ran, 1);
}

}  // namespace
}  // namespace homelens
