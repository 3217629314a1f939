// Manifest CSV parsing: RFC 4180 quoting, CRLF, BOM, and bad rows reported by line
// without losing the good ones.
#include "homelens/core/csv.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "support/testing.h"

namespace homelens {
namespace {

using Fields = std::vector<std::string>;

CsvTable parse_ok(const std::string& text) {
  auto t = parse_csv(text, "test.csv");
  EXPECT_TRUE(t.ok()) << (t.ok() ? "" : t.message());
  return t.ok() ? std::move(t).value() : CsvTable{};
}

TEST(CsvTest, QuotedFieldsKeepCommasDoubledQuotesAndNewlines) {
  const std::string text =
      "path,note\n"
      "\"a,b.jpg\",\"she said \"\"hi\"\"\"\n"
      "c.jpg,\"two\nlines\"\n"
      "d.jpg,\"\"\n";
  CsvTable t = parse_ok(text);
  EXPECT_EQ(t.header, (Fields{"path", "note"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0].fields, (Fields{"a,b.jpg", "she said \"hi\""}));
  EXPECT_EQ(t.rows[1].fields, (Fields{"c.jpg", "two\nlines"}));
  EXPECT_EQ(t.rows[2].fields, (Fields{"d.jpg", ""}));
  EXPECT_TRUE(t.problems.empty());
}

TEST(CsvTest, RowLineNumbersCountNewlinesInsideQuotes) {
  const std::string text =
      "a,b\n"            // line 1
      "1,\"x\ny\nz\"\n"  // lines 2-4
      "2,w\n";           // line 5
  CsvTable t = parse_ok(text);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].line, 2u);
  EXPECT_EQ(t.rows[1].line, 5u);
}

TEST(CsvTest, CrlfLineEndsParseLikeLf) {
  const std::string text = "a,b\r\n1,2\r\n\"x\r\ny\",3\r\n4,5";
  CsvTable t = parse_ok(text);
  EXPECT_EQ(t.header, (Fields{"a", "b"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0].fields, (Fields{"1", "2"}));
  EXPECT_EQ(t.rows[1].fields, (Fields{"x\r\ny", "3"}));
  EXPECT_EQ(t.rows[2].fields, (Fields{"4", "5"}));
  EXPECT_EQ(t.rows[2].line, 5u);
  EXPECT_TRUE(t.problems.empty());
}

TEST(CsvTest, Utf8BomIsNotPartOfFirstHeaderName) {
  CsvTable t = parse_ok("\xEF\xBB\xBFpath,price\nx.jpg,1\n");
  EXPECT_EQ(t.header, (Fields{"path", "price"}));
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0].line, 2u);
}

TEST(CsvTest, BlankLinesAreSkipped) {
  CsvTable t = parse_ok("a,b\n\n1,2\n\r\n3,4\n\n");
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].line, 3u);
  EXPECT_EQ(t.rows[1].line, 5u);
  EXPECT_TRUE(t.problems.empty());
}

TEST(CsvTest, WrongFieldCountRowsAreReportedByLineAndOthersSurvive) {
  const std::string text =
      "a,b,c\n"       // 1
      "1,2,3\n"       // 2
      "4,5\n"         // 3: too few
      "6,7,8\n"       // 4
      "9,10,11,12\n"  // 5: too many
      "13,14,15\n";   // 6
  CsvTable t = parse_ok(text);
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0].fields, (Fields{"1", "2", "3"}));
  EXPECT_EQ(t.rows[1].fields, (Fields{"6", "7", "8"}));
  EXPECT_EQ(t.rows[2].fields, (Fields{"13", "14", "15"}));
  EXPECT_EQ(t.rows[2].line, 6u);
  ASSERT_EQ(t.problems.size(), 2u);
  EXPECT_EQ(t.problems[0].line, 3u);
  EXPECT_NE(t.problems[0].reason.find("2 fields"), std::string::npos) << t.problems[0].reason;
  EXPECT_EQ(t.problems[1].line, 5u);
  EXPECT_NE(t.problems[1].reason.find("4 fields"), std::string::npos) << t.problems[1].reason;
}

TEST(CsvTest, UnterminatedQuoteIsReportedWithItsStartLineAndEarlierRowsSurvive) {
  // The open quote runs to the end of the text, so what follows it is part of that field.
  const std::string text =
      "a,b\n"
      "1,2\n"
      "3,4\n"
      "5,\"never closed\n"
      "more text\n";
  CsvTable t = parse_ok(text);
  ASSERT_EQ(t.rows.size(), 2u);
  EXPECT_EQ(t.rows[0].fields, (Fields{"1", "2"}));
  EXPECT_EQ(t.rows[1].fields, (Fields{"3", "4"}));
  ASSERT_EQ(t.problems.size(), 1u);
  EXPECT_EQ(t.problems[0].line, 4u);
  EXPECT_NE(t.problems[0].reason.find("unterminated"), std::string::npos) << t.problems[0].reason;
}

TEST(CsvTest, TextAfterClosingQuoteIsReportedAndOtherRowsSurvive) {
  CsvTable t = parse_ok("a,b\n\"x\"y,1\n2,3\n");
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_EQ(t.rows[0].fields, (Fields{"2", "3"}));
  ASSERT_EQ(t.problems.size(), 1u);
  EXPECT_EQ(t.problems[0].line, 2u);
}

TEST(CsvTest, EmptyFileIsAnErrorNamingTheFile) {
  for (const std::string text : {"", "\xEF\xBB\xBF", "\n\n\r\n"}) {
    auto t = parse_csv(text, "empty.csv");
    ASSERT_FALSE(t.ok());
    EXPECT_NE(t.message().find("empty.csv"), std::string::npos) << t.message();
  }
}

TEST(CsvTest, HeaderOnlyFileHasNoRowsAndNoProblems) {
  CsvTable t = parse_ok("path,price\n");
  EXPECT_EQ(t.header, (Fields{"path", "price"}));
  EXPECT_TRUE(t.rows.empty());
  EXPECT_TRUE(t.problems.empty());
}

TEST(CsvTest, ReadCsvReadsAFileAndFailsOnAMissingOneNamingIt) {
  homelens::testing::TempDir dir;
  const std::string path = (dir / "m.csv").string();
  {
    std::ofstream out(path, std::ios::binary);
    out << "path,price\r\n\"a b.jpg\",\"1,000\"\r\n";
  }
  auto t = read_csv(path);
  ASSERT_TRUE(t.ok()) << t.message();
  ASSERT_EQ(t->rows.size(), 1u);
  EXPECT_EQ(t->rows[0].fields, (Fields{"a b.jpg", "1,000"}));

  const std::string missing = (dir / "nope.csv").string();
  auto m = read_csv(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.message().find(missing), std::string::npos) << m.message();
}

}  // namespace
}  // namespace homelens
