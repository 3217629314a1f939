#include "homelens/core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "homelens/core/log.h"

namespace homelens {

namespace {
std::chrono::milliseconds log_interval{5000};
}

void set_progress_log_interval(double seconds) {
  log_interval = std::chrono::milliseconds(std::lround(std::max(seconds, 0.0) * 1000));
}

Progress::Progress(std::string label, std::size_t total, ProgressMode mode, std::FILE* out)
    : label_(std::move(label)), total_(total), mode_(mode), out_(out) {
  if (mode_ == ProgressMode::kAuto) mode_ = isatty(fileno(out_)) ? ProgressMode::kBar : ProgressMode::kLines;
  start_ = last_print_ = std::chrono::steady_clock::now();
}

void Progress::update(std::size_t done) {
  done_ = done;
  if (mode_ == ProgressMode::kQuiet) return;
  auto now = std::chrono::steady_clock::now();
  const auto every = mode_ == ProgressMode::kBar ? std::chrono::milliseconds(200) : log_interval;
  if (now - last_print_ < every) return;
  last_print_ = now;
  print(false);
}

void Progress::finish() {
  if (mode_ == ProgressMode::kQuiet) return;
  if (mode_ == ProgressMode::kLines && !printed_) return;  // short jobs leave logs clean
  print(true);
}

static std::string clock_text(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  long s = std::lround(seconds);
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

void Progress::print(bool final) {
  printed_ = true;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0;
  const double left = rate > 0 ? (total_ - std::min(done_, total_)) / rate : NAN;
  const double frac = total_ ? static_cast<double>(done_) / total_ : 1.0;
  if (mode_ == ProgressMode::kBar) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(frac * kWidth);
    std::string bar(filled, '=');
    if (filled < kWidth) bar += '>' + std::string(kWidth - filled - 1, ' ');
    std::fprintf(out_, "\r%s [%s] %zu/%zu %5.1f%% %7.1f/s  %s %s\x1b[K", label_.c_str(), bar.c_str(),
                 done_, total_, 100 * frac, rate, final ? "took" : "ETA",
                 clock_text(final ? elapsed : left).c_str());
    if (final) std::fputc('\n', out_);
    std::fflush(out_);
  } else {
    char text[160];
    std::snprintf(text, sizeof text, "%s: %zu/%zu (%.1f%%), %.1f/s, %s %s", label_.c_str(), done_,
                  total_, 100 * frac, rate, final ? "took" : "time left",
                  clock_text(final ? elapsed : left).c_str());
    nlohmann::json fields = {{"task", label_}, {"done", done_}, {"total", total_},
                             {"rate_per_s", std::round(rate * 10) / 10}};
    if (final) fields["seconds"] = std::round(elapsed * 10) / 10;
    else if (std::isfinite(left)) fields["seconds_left"] = std::round(left);
    log::info(text, fields);
  }
}

}  // namespace homelens
