// Progress of long work: a live bar (count, rate, time left) on a terminal,
// a log line (core/log.h, info) every few seconds otherwise, nothing when quiet.
// Thread-safety: one thread calls a Progress's methods.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

namespace homelens {

enum class ProgressMode { kAuto, kBar, kLines, kQuiet };

// Seconds between progress lines in a log (default 5; the bar redraws every 0.2 s regardless).
// Set once at start-up (--progress-every), before any Progress runs.
void set_progress_log_interval(double seconds);

class Progress {
 public:
  // kAuto picks a bar when out is a terminal, else lines. The bar goes to out, lines to the log.
  Progress(std::string label, std::size_t total, ProgressMode mode = ProgressMode::kAuto,
           std::FILE* out = stderr);
  // Reports that `done` of total are finished; rate-limited, cheap to call often.
  void update(std::size_t done);
  // Prints the final state and a newline (the bar is kept on screen).
  void finish();

 private:
  void print(bool final);
  std::string label_;
  std::size_t total_, done_ = 0;
  ProgressMode mode_;
  std::FILE* out_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool printed_ = false;
};

}  // namespace homelens
