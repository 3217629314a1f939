// The decode budget: its estimate is never below what a decode really holds (measured in a
// child process), and leases never oversubscribe it, from one thread or many.
#include "homelens/image/decode_budget.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <thread>

namespace homelens::image {
namespace {

constexpr std::uint64_t kMB = 1u << 20;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

long status_kb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::char_traits<char>::length(key));
  return -1;
}

// Resident-memory growth of decoding bytes, measured in a child so this process's history
// does not blur it. -1 when it could not be measured.
long long measured_peak_bytes(const std::string& bytes, const DecodeOptions& opt) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::ofstream("/proc/self/clear_refs") << "5";
    const long before = status_kb("VmRSS:");
    long long peak = -1;
    if (auto img = decode(bytes, "big", opt); img.ok()) peak = (status_kb("VmHWM:") - before) * 1024LL;
    [[maybe_unused]] auto n = write(fds[1], &peak, sizeof peak);
    _exit(0);
  }
  close(fds[1]);
  long long peak = -1;
  if (read(fds[0], &peak, sizeof peak) != sizeof peak) peak = -1;
  close(fds[0]);
  waitpid(pid, nullptr, 0);
  return peak;
}

// A photo-like test card: gradients plus noise, so codecs work as hard as on photos.
cv::Mat card(int w, int h, int type) {
  cv::Mat m(h, w, type);
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(type == CV_16UC4 ? 65535 : 255));
  return m;
}

TEST(DecodeBudget, EstimateIsNeverBelowTheMeasuredPeak) {
  if (kSanitized) GTEST_SKIP() << "resident memory under ASan is not the release build's";
  struct Case {
    const char* what;
    std::string bytes;
    int min_side;
  };
  std::vector<uchar> buf;
  std::vector<Case> cases;
  cv::imencode(".png", card(4000, 3000, CV_8UC3), buf, {cv::IMWRITE_PNG_COMPRESSION, 1});
  cases.push_back({"12 MP 8-bit PNG", std::string(buf.begin(), buf.end()), 224});
  cv::imencode(".png", card(4000, 3000, CV_16UC4), buf, {cv::IMWRITE_PNG_COMPRESSION, 1});
  cases.push_back({"12 MP 16-bit RGBA PNG", std::string(buf.begin(), buf.end()), 224});
  cv::imencode(".jpg", card(6000, 4000, CV_8UC3), buf, {cv::IMWRITE_JPEG_QUALITY, 90});
  cases.push_back({"24 MP baseline JPEG, reduced", std::string(buf.begin(), buf.end()), 224});
  cases.push_back({"24 MP baseline JPEG, full size", std::string(buf.begin(), buf.end()), 0});
  cv::imencode(".jpg", card(6000, 4000, CV_8UC3), buf, {cv::IMWRITE_JPEG_QUALITY, 90, cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  cases.push_back({"24 MP progressive JPEG, reduced", std::string(buf.begin(), buf.end()), 224});
  for (const auto& c : cases) {
    DecodeOptions opt;
    opt.max_bytes = 1u << 30;  // noise does not compress
    opt.min_shorter_side = c.min_side;
    auto header = read_header(c.bytes, c.what);
    ASSERT_TRUE(header.ok()) << header.message();
    const long long peak = measured_peak_bytes(c.bytes, opt);
    ASSERT_GT(peak, 0) << c.what << ": not measured";
    const auto estimate = estimate_decode_bytes(*header, opt, c.bytes);
    EXPECT_GE(estimate, static_cast<std::uint64_t>(peak)) << c.what;
    EXPECT_LT(estimate, static_cast<std::uint64_t>(peak) * 8) << c.what << ": so loose it wastes the budget";
  }
}

TEST(DecodeBudget, ReducedJpegDecodesCostLessThanFullOnes) {
  const ImageHeader jpeg{"jpeg", 6000, 4000};
  DecodeOptions reduced;
  reduced.min_shorter_side = 224;
  EXPECT_LT(estimate_decode_bytes(jpeg, reduced), estimate_decode_bytes(jpeg, {}));
  std::vector<uchar> baseline, progressive;
  cv::imencode(".jpg", card(64, 64, CV_8UC3), baseline);
  cv::imencode(".jpg", card(64, 64, CV_8UC3), progressive, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  auto as_view = [](const std::vector<uchar>& v) { return std::string_view(reinterpret_cast<const char*>(v.data()), v.size()); };
  EXPECT_LT(estimate_decode_bytes(jpeg, reduced, as_view(baseline)),
            estimate_decode_bytes(jpeg, reduced, as_view(progressive)))
      << "a progressive JPEG holds its whole coefficient image";
  EXPECT_GE(estimate_decode_bytes(jpeg, reduced), estimate_decode_bytes(jpeg, reduced, as_view(progressive)))
      << "without its bytes a JPEG is the costliest kind";
  EXPECT_LT(estimate_decode_bytes(ImageHeader{"png", 640, 480}, {}),
            estimate_decode_bytes(ImageHeader{"png", 6400, 4800}, {}));
}

TEST(DecodeBudget, RefusesAtOnceWhatDoesNotFitAndFreesOnRelease) {
  DecodeBudget budget(100 * kMB);
  auto a = budget.try_acquire(60 * kMB, "a.jpg");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(budget.in_flight(), 60 * kMB);
  auto b = budget.try_acquire(50 * kMB, "b.png");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(b.message(), "b.png: decode budget exhausted: 60 MB in flight of 100 MB");
  auto c = budget.try_acquire(40 * kMB, "c.jpg");
  ASSERT_TRUE(c.ok()) << "exactly full is allowed";
  {
    DecodeBudget::Lease moved = std::move(*a);
    EXPECT_EQ(moved.bytes(), 60 * kMB);
    EXPECT_EQ(budget.in_flight(), 100 * kMB);
  }
  EXPECT_EQ(budget.in_flight(), 40 * kMB);
  EXPECT_TRUE(budget.try_acquire(50 * kMB, "b.png").ok());  // released again at once
  auto huge = budget.try_acquire(101 * kMB, "huge.tif");
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.code(), ErrorCode::kInvalidArgument) << "can never fit: retrying is pointless";
  EXPECT_NE(huge.message().find("huge.tif"), std::string::npos);
  c->release();
  EXPECT_EQ(budget.in_flight(), 0u);
}

TEST(DecodeBudget, ManyThreadsNeverHoldMoreThanTheBudget) {
  DecodeBudget budget(16 * kMB);
  std::atomic<std::uint64_t> held{0}, max_held{0};
  std::atomic<int> granted{0}, refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::uniform_int_distribution<std::uint64_t> size(1, 10 * kMB);
      for (int i = 0; i < 20000; ++i) {
        const std::uint64_t n = size(rng);
        auto lease = budget.try_acquire(n, "p");
        if (!lease.ok()) {
          EXPECT_EQ(lease.code(), ErrorCode::kUnavailable);
          ++refused;
          continue;
        }
        ++granted;
        const std::uint64_t now = held += n;
        std::uint64_t m = max_held.load();
        while (now > m && !max_held.compare_exchange_weak(m, now)) {}
        std::this_thread::yield();  // hold it while others run
        held -= n;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_LE(max_held.load(), 16 * kMB);
  EXPECT_GT(granted.load(), 0);
  EXPECT_GT(refused.load(), 0) << "8 threads x up to 10 MB must sometimes exceed 16 MB";
  EXPECT_EQ(budget.in_flight(), 0u);
}

}  // namespace
}  // namespace homelens::image
