// `homelens eval` on real photos: a triplet set whose answer is known by construction, and the
// messages a user gets for a broken triplet file.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support/testing.h"

namespace homelens {
namespace {

using testing::run_command;
using testing::shell_quote;

std::string bin() { return shell_quote(testing::homelens_bin().string()); }

TEST(EvalTriplets, KnownByConstructionTripletsScorePerfectlyForCnnMethods) {
  // Positive: the query re-encoded at JPEG quality 60 and resized to 70%; negative: another
  // house's front. Every CNN method must prefer the edited copy of the very same photo.
  testing::TempDir tmp;
  const auto images = testing::houses_dir() / "images";
  std::ofstream csv(tmp / "t.csv");
  csv << "query,positive,negative\n";
  for (int h = 10; h < 22; ++h) {
    const std::string q = (images / (std::to_string(h) + "_frontal.jpg")).string();
    cv::Mat m = cv::imread(q), small;
    ASSERT_FALSE(m.empty()) << q;
    cv::resize(m, small, cv::Size(), 0.7, 0.7, cv::INTER_AREA);
    const std::string pos = (tmp / ("copy" + std::to_string(h) + ".jpg")).string();
    ASSERT_TRUE(cv::imwrite(pos, small, {cv::IMWRITE_JPEG_QUALITY, 60}));
    csv << q << "," << pos << "," << (images / (std::to_string(h + 100) + "_frontal.jpg")).string()
        << "\n";
  }
  csv.close();
  auto r = run_command(bin() + " eval triplets --quiet --json --triplets " +
                       shell_quote((tmp / "t.csv").string()) + " --method cnn --method cnn-binary");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["n"], 12);
  for (const char* m : {"cnn", "cnn-binary"}) {
    EXPECT_DOUBLE_EQ(j["methods"][m]["accuracy"].get<double>(), 1.0) << m << ": " << r.out;
    EXPECT_TRUE(j["methods"][m]["wrong"].empty()) << m;
    EXPECT_GT(j["methods"][m]["ci95"][0].get<double>(), 0.7) << m;
    EXPECT_DOUBLE_EQ(j["methods"][m]["ci95"][1].get<double>(), 1.0) << m;
  }
}

TEST(EvalTriplets, ReportIsOneSelfContainedPageWithChartAndWrongTriplets) {
  testing::TempDir tmp;
  const auto images = testing::houses_dir() / "images";
  std::ofstream(tmp / "t.csv") << "query,positive,negative\n"
                               << (images / "1_frontal.jpg").string() << ","
                               << (images / "1_kitchen.jpg").string() << ","
                               << (images / "2_frontal.jpg").string() << "\n";
  auto r = run_command(bin() + " eval triplets --quiet --method hsv --method phash --triplets " +
                       shell_quote((tmp / "t.csv").string()) + " --report " +
                       shell_quote((tmp / "rep").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(tmp / "rep" / "index.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http"), html.find("http://www.w3.org/2000/svg")) << "no external resource";
  EXPECT_NE(html.find("hsv"), std::string::npos);
}

TEST(EvalTriplets, MissingPhotoFailsNamingTheRow) {
  testing::TempDir tmp;
  const auto images = testing::houses_dir() / "images";
  std::ofstream(tmp / "t.csv") << "query,positive,negative\n"
                               << (images / "1_frontal.jpg").string() << ","
                               << (images / "2_frontal.jpg").string() << ",gone.jpg\n";
  auto r = run_command(bin() + " eval triplets --quiet --method hsv --triplets " +
                       shell_quote((tmp / "t.csv").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("line 2"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("gone.jpg"), std::string::npos) << r.err;
}

TEST(EvalRetrieval, MissingLabelColumnFailsNamingIt) {
  auto r = run_command(bin() + " eval retrieval --quiet --method hsv --manifest " +
                       shell_quote((testing::houses_dir() / "manifest.csv").string()) +
                       " --label-column style");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("'style'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace homelens
