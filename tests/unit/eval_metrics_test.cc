// The evaluator's arithmetic and its refusals of bad input: figures a team will quote
// (accuracy intervals, MAP) and the messages that tell a user which CSV row is wrong.
#include <gtest/gtest.h>

#include <fstream>

#include "homelens/eval/evaluate.h"
#include "homelens/eval/dupes.h"
#include "homelens/eval/method.h"
#include "support/testing.h"

namespace homelens::eval {
namespace {

TEST(EvalMetrics, MapOfATinyHandComputedExampleMatches) {
  // Five photos, labels a a a b b. Similarities are chosen so each query's ranking is known:
  // s(i, j) = 1 / (1 + |i - j|) except that 0 and 3 are made the closest pair.
  const std::vector<std::string> labels{"a", "a", "a", "b", "b"};
  auto sim = [](std::size_t i, std::size_t j) {
    if ((i == 0 && j == 3) || (i == 3 && j == 0)) return 2.0;
    return 1.0 / (1.0 + (i > j ? i - j : j - i));
  };
  // Rankings (ties go to the lower index):
  //  q0: 3(b) 1(a) 2(a) 4(b)   AP = (1/2 + 2/3) / 2 = 7/12
  //  q1: 0(a) 2(a) 3(b) 4(b)   AP = (1 + 1) / 2 = 1
  //  q2: 1(a) 3(b) 0(a) 4(b)   AP = (1 + 2/3) / 2 = 5/6
  //  q3: 0(a) 2(a) 4(b) 1(a)   AP = (1/3) / 1 = 1/3
  //  q4: 3(b) 2(a) 1(a) 0(a)   AP = 1
  const double expected = (7.0 / 12 + 1 + 5.0 / 6 + 1.0 / 3 + 1) / 5;
  RetrievalResult r = leave_one_out(labels, sim);
  EXPECT_EQ(r.n, 5u);
  EXPECT_NEAR(r.map, expected, 1e-12);
  // Fewer than 10 others: P@10 counts the relevant share of the 4 others.
  EXPECT_NEAR(r.p10, (2.0 / 4 * 3 + 1.0 / 4 * 2) / 5, 1e-12);
}

TEST(EvalMetrics, AnAsymmetricScoreRanksEachQueryByItsOwnRow) {
  // Labels a a b: query 0 sees 2 above 1, while 1 and 2 see 0 first (as an expanded query sees
  // the collection differently from how the collection sees it).
  const std::vector<std::string> labels{"a", "a", "b"};
  auto sim = [](std::size_t i, std::size_t j) {
    return i == 0 ? (j == 2 ? 0.9 : 0.1) : (j == 0 ? 0.8 : 0.2);
  };
  //  q0: 2(b) 1(a)  AP 1/2;  q1: 0(a) 2(b)  AP 1;  q2: 0(a) 1(a)  no relevant, AP 0
  RetrievalResult r = leave_one_out(labels, sim, /*symmetric=*/false);
  EXPECT_NEAR(r.map, (0.5 + 1 + 0) / 3, 1e-12);
  // Taken as symmetric, q0's row would be filled from the others' view (s(0,2) = s(2,0) = 0.8).
  EXPECT_NE(leave_one_out(labels, sim).map, r.map);
}

TEST(EvalMetrics, AveragePrecisionOfKnownLists) {
  EXPECT_DOUBLE_EQ(average_precision({true, false, true}, 2), (1.0 + 2.0 / 3) / 2);
  EXPECT_DOUBLE_EQ(average_precision({false, false}, 0), 0.0);
}

TEST(EvalMetrics, WilsonIntervalMatchesPublishedValuesAndStaysInsideZeroOne) {
  // 28 of 30: the textbook Wilson interval is [0.787, 0.982].
  Interval i = wilson_interval(28, 30);
  EXPECT_NEAR(i.lo, 0.7868, 1e-3);
  EXPECT_NEAR(i.hi, 0.9815, 1e-3);
  Interval all = wilson_interval(30, 30);
  EXPECT_NEAR(all.hi, 1.0, 1e-12);
  EXPECT_NEAR(all.lo, 0.8865, 1e-3);
}

class TripletCsv : public ::testing::Test {
 protected:
  void write(const std::string& text) {
    std::ofstream(dir_ / "t.csv") << text;
  }
  std::string csv() const { return (dir_ / "t.csv").string(); }
  testing::TempDir dir_;
  const std::string photo = (testing::houses_dir() / "images" / "1_frontal.jpg").string();
};

TEST_F(TripletCsv, MissingPhotoFailsNamingTheRowAndThePhoto) {
  write("query,positive,negative\n" + photo + "," + photo + "," + photo + "\n" + photo + "," +
        photo + ",images/nope.jpg\n");
  auto t = load_triplets(csv(), "");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("line 3"), std::string::npos) << t.message();
  EXPECT_NE(t.message().find("nope.jpg"), std::string::npos) << t.message();
  EXPECT_NE(t.message().find("negative"), std::string::npos) << t.message();
}

TEST_F(TripletCsv, MissingColumnFailsNamingTheHeaderRowAndColumn) {
  write("query,positive,reason\n" + photo + "," + photo + ",x\n");
  auto t = load_triplets(csv(), "");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.message().find("line 1"), std::string::npos) << t.message();
  EXPECT_NE(t.message().find("'negative'"), std::string::npos) << t.message();
}

TEST_F(TripletCsv, PathsAreRelativeToTheCsvFolderUnlessARootIsGiven) {
  write("query,positive,negative,reason\nimages/1_frontal.jpg,images/2_frontal.jpg,images/3_frontal.jpg,x\n");
  EXPECT_FALSE(load_triplets(csv(), "").ok());
  auto t = load_triplets(csv(), testing::houses_dir().string());
  ASSERT_TRUE(t.ok()) << t.message();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].line, 2u);
}

TEST(EvalMethods, UnknownMethodListsTheKnownOnes) {
  auto m = make_method("surf", MethodContext{});
  ASSERT_FALSE(m.ok());
  for (const char* name : {"hsv", "phash", "sift", "cnn", "cnn-binary", "final"})
    EXPECT_NE(m.message().find(name), std::string::npos) << m.message();
}

TEST(EvalMethods, NewMethodsPlugInByName) {
  // A method registered from outside the evaluator is found and scored like a built-in.
  struct Constant : Method {
    Result<std::vector<Descriptor>> describe(const std::vector<std::string>& p) override {
      return std::vector<Descriptor>(p.size());
    }
    double similarity(const Descriptor&, const Descriptor&) const override { return 1; }
  };
  register_method({"constant-test", "always 1", false,
                   [](const MethodContext&) -> Result<std::unique_ptr<Method>> {
                     return std::unique_ptr<Method>(new Constant);
                   }});
  auto m = make_method("constant-test", MethodContext{});
  ASSERT_TRUE(m.ok()) << m.message();
  const std::string photo = (testing::houses_dir() / "images" / "1_frontal.jpg").string();
  Triplet t{2, photo, photo, photo, "", "", ""};
  auto r = evaluate_triplets(**m, {t});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->accuracy, 0.0) << "a tie is not a win";
}

TEST(EvalDupes, MeasurementPicksTheMiddleOfTheBandWithFullRecallAndNoFalsePair) {
  // Originals 0x00, 0x0F, 0xF0 (at least 4 bits apart); copies 1 bit off their own.
  std::vector<std::vector<std::uint8_t>> orig{{0x00, 0}, {0x0F, 0}, {0xF0, 0}};
  std::vector<std::vector<std::vector<std::uint8_t>>> copies{{{0x01, 0}, {0x0E, 0}, {0xF1, 0}}};
  DupeMeasurement m = measure_duplicates("x", orig, copies, {"edit"});
  EXPECT_EQ(m.bits, 16);
  // Every copy is 1 bit from its original; the nearest other original is 3 bits away, so the
  // clean band with full recall is 1..2 bits and its middle (rounded down) is 1.
  EXPECT_EQ(m.threshold, 1);
  EXPECT_EQ(m.curve[2].second, 0u);
  EXPECT_GT(m.curve[3].second, 0u);
  ASSERT_EQ(m.scores.size(), 1u);
  EXPECT_DOUBLE_EQ(m.scores[0].recall, 1.0);
  EXPECT_DOUBLE_EQ(m.scores[0].precision, 1.0);
}

}  // namespace
}  // namespace homelens::eval
