// A thread of its own that runs the closures it is given one at a time, each caller waiting
// for its own. For work that must run on the same OS thread every time, whichever thread
// asks: an OpenMP team belongs to the thread that starts it, so work handed to one
// thread keeps finding the same team (awake, if it ran moments ago) instead of starting
// another beside it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace homelens {

class SerialThread {
 public:
  SerialThread() : thread_([this] { loop(); }) {}
  ~SerialThread() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    thread_.join();
  }
  SerialThread(const SerialThread&) = delete;
  SerialThread& operator=(const SerialThread&) = delete;

  // Runs f on the thread and returns when it has returned, rethrowing what it threw.
  // Concurrent callers wait their turn.
  void run(const std::function<void()>& f) {
    std::unique_lock lock(mu_);
    free_cv_.wait(lock, [&] { return job_ == nullptr; });
    job_ = &f;
    const std::uint64_t ticket = ++posted_;
    work_cv_.notify_one();
    done_cv_.wait(lock, [&] { return done_ >= ticket; });
    std::exception_ptr error = std::exchange(error_, nullptr);
    job_ = nullptr;  // only now may the next caller post
    free_cv_.notify_one();
    if (error) std::rethrow_exception(error);
  }

 private:
  void loop() {
    std::unique_lock lock(mu_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stop_ || (job_ != nullptr && done_ < posted_); });
      if (done_ == posted_) return;  // stopping, nothing left to run
      const std::function<void()>* f = job_;
      lock.unlock();
      std::exception_ptr error;
      try {
        (*f)();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      error_ = error;
      ++done_;
      done_cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_, free_cv_;
  const std::function<void()>* job_ = nullptr;  // posted, until its caller has seen it done
  std::uint64_t posted_ = 0, done_ = 0;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace homelens
