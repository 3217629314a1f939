// RFC 4180 CSV reading (manifests, label files): quoted fields, embedded commas,
// quotes and newlines, CRLF. Malformed rows are reported, never fatal.
#pragma once

#include <string>
#include <vector>

#include "homelens/core/result.h"

namespace homelens {

struct CsvRow {
  std::size_t line = 0;  // 1-based line where the row starts
  std::vector<std::string> fields;
};

struct CsvProblem {
  std::size_t line = 0;
  std::string reason;
};

struct CsvTable {
  std::vector<std::string> header;
  std::vector<CsvRow> rows;           // rows with exactly header.size() fields
  std::vector<CsvProblem> problems;   // rows left out, and why
};

// Parses a whole CSV text whose first row is the header. `name` is used in errors.
// Fails only when there is no header; bad rows go to problems.
Result<CsvTable> parse_csv(const std::string& text, const std::string& name);

// Reads and parses a CSV file.
Result<CsvTable> read_csv(const std::string& path);

}  // namespace homelens
