// --log-format json: every line the CLI logs on stderr is one JSON object with time, level,
// message (and the event's fields), so log collectors can parse it; --log-level filters.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "support/testing.h"

namespace homelens {
namespace {

using testing::run_command;
using testing::shell_quote;

std::string bin() { return shell_quote(testing::homelens_bin().string()); }

std::vector<nlohmann::json> json_lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (j.is_discarded()) continue;
    EXPECT_TRUE(j.contains("time") && j["time"].is_string()) << line;
    EXPECT_TRUE(j.contains("level") && j["level"].is_string()) << line;
    EXPECT_TRUE(j.contains("message") && j["message"].is_string()) << line;
    out.push_back(std::move(j));
  }
  return out;
}

TEST(CliLog, ErrorsAreJsonLinesNamingTheInput) {
  for (const char* sub : {"index --manifest /nonexistent/m.csv", "similar --image /nonexistent/q.jpg",
                          "tag --image /nonexistent/q.jpg --heads /nonexistent/heads"}) {
    auto r = run_command(bin() + " " + sub + " --log-format json --db /tmp/homelens-log-test.db");
    EXPECT_NE(r.exit_code, 0) << sub;
    auto lines = json_lines(r.err);
    ASSERT_FALSE(lines.empty()) << sub << ": " << r.err;
    EXPECT_EQ(lines.back()["level"], "error") << sub;
    EXPECT_NE(lines.back()["message"].get<std::string>().find("/nonexistent/"), std::string::npos)
        << lines.back().dump();
  }
  auto bad = run_command(bin() + " index --log-format xml --manifest m.csv");
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("xml"), std::string::npos) << bad.err;
}

TEST(CliLog, ProgressInALogIsJsonLinesWithCountsAndLevelsFilterIt) {
  testing::TempDir dir;
  // A line every 0.2 s over 400 photos (2 s or more on any backend): at least one progress line
  // before the final one, however fast the model runs.
  const std::string args =
      " index --no-heads --limit 400 --progress-every 0.2 " + testing::houses_index_args();
  auto r = run_command(bin() + args + " --log-format json --db " + shell_quote((dir / "a.db").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto lines = json_lines(r.err);
  std::vector<nlohmann::json> progress;
  for (const auto& j : lines)
    if (j.value("task", "") == "indexing") progress.push_back(j);
  ASSERT_GE(progress.size(), 2u) << r.err;
  for (const auto& p : progress) {
    EXPECT_EQ(p["level"], "info");
    EXPECT_EQ(p["total"], 400);
    EXPECT_LE(p["done"].get<int>(), 400);
    EXPECT_GT(p["rate_per_s"].get<double>(), 0);
  }
  EXPECT_EQ(progress.back()["done"], 400);
  EXPECT_TRUE(progress.back().contains("seconds"));

  // warning and above: the progress (info) is not logged; --quiet still means none at all.
  auto quiet = run_command(bin() + args + " --log-format json --log-level warning --db " +
                           shell_quote((dir / "b.db").string()));
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  for (const auto& j : json_lines(quiet.err)) EXPECT_NE(j["level"], "info") << j.dump();
  auto none = run_command(bin() + " index --quiet --no-heads --limit 8 " + testing::houses_index_args() +
                          " --log-format json --db " + shell_quote((dir / "c.db").string()));
  ASSERT_EQ(none.exit_code, 0);
  EXPECT_EQ(none.err, "");
}

}  // namespace
}  // namespace homelens
