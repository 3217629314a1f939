// `homelens train --task projection` on the hand-labeled houses, then `eval` with the learned
// projection: the file a user gets and the methods that read it.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "support/testing.h"

namespace homelens {
namespace {

using testing::run_command;
using testing::shell_quote;

std::string bin() { return shell_quote(testing::homelens_bin().string()); }

TEST(Projection, TrainWritesProjectionAndEvalMeasuresCnnProj) {
  testing::TempDir tmp;
  const auto houses = testing::houses_dir();
  // The first 120 labeled houses keep the test short; every style x stories class with more
  // than a handful of houses is among them.
  std::ifstream in(houses / "labels_train.csv");
  std::ofstream labels(tmp / "labels.csv");
  std::string line;
  for (int i = 0; i <= 120 && std::getline(in, line); ++i) labels << line << "\n";
  labels.close();
  // With the style and stories heads, which final-proj reads next to the projection.
  auto t = run_command(bin() + " train --quiet --json --folds 0 --task projection --task style "
                       "--task stories --manifest " +
                       shell_quote((houses / "manifest.csv").string()) + " --labels " +
                       shell_quote((tmp / "labels.csv").string()) + " --heads " +
                       shell_quote(tmp.path().string()));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  auto tj = nlohmann::json::parse(t.out);
  const std::string file = tj["projection"]["projection"].get<std::string>();
  EXPECT_TRUE(std::filesystem::exists(file)) << file;
  EXPECT_EQ(std::filesystem::path(file).filename(), "projection.json");
  EXPECT_EQ(tj["projection"]["examples"], 120);
  EXPECT_GE(tj["projection"]["dimensions"].get<int>(), 4);
  EXPECT_EQ(tj["tasks"].size(), 2u);

  auto e = run_command(bin() + " eval triplets --quiet --json --heads " +
                       shell_quote(tmp.path().string()) + " --triplets " +
                       shell_quote((houses / "triplets_dev.csv").string()) +
                       " --method cnn-proj --method cnn-proj-mix --method final-proj"
                       " --final-weights 0,0,1");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  auto ej = nlohmann::json::parse(e.out);
  EXPECT_EQ(ej["n"], 30);
  for (const char* m : {"cnn-proj", "cnn-proj-mix"}) {
    const double a = ej["methods"][m]["accuracy"].get<double>();
    EXPECT_GE(a, 0.0) << m;
    EXPECT_LE(a, 1.0) << m;
    EXPECT_LE(ej["methods"][m]["ci95"][0].get<double>(), a) << m;
  }
  // With only the visual weight, final-proj ranks by the projected cosine: cnn-proj's answers.
  EXPECT_EQ(ej["methods"]["final-proj"]["accuracy"], ej["methods"]["cnn-proj"]["accuracy"]);
  EXPECT_EQ(ej["methods"]["final-proj"]["wrong"].size(), ej["methods"]["cnn-proj"]["wrong"].size());
}

TEST(Projection, EvalWithoutAProjectionSaysHowToLearnOne) {
  testing::TempDir tmp;
  auto e = run_command(bin() + " eval triplets --quiet --heads " + shell_quote(tmp.path().string()) +
                       " --triplets " +
                       shell_quote((testing::houses_dir() / "triplets_dev.csv").string()) +
                       " --method cnn-proj");
  EXPECT_NE(e.exit_code, 0);
  EXPECT_NE(e.err.find("projection.json"), std::string::npos) << e.err;
  EXPECT_NE(e.err.find("train --task projection"), std::string::npos) << e.err;
}

}  // namespace
}  // namespace homelens
