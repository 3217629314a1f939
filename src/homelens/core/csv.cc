#include "homelens/core/csv.h"

#include <fstream>
#include <sstream>

namespace homelens {

Result<CsvTable> parse_csv(const std::string& text, const std::string& name) {
  CsvTable table;
  std::size_t i = 0, line = 1;
  const std::size_t n = text.size();
  if (n >= 3 && text.compare(0, 3, "\xEF\xBB\xBF") == 0) i = 3;  // UTF-8 BOM
  bool have_header = false;
  while (i < n) {
    CsvRow row;
    row.line = line;
    std::string field;
    bool in_quotes = false, field_was_quoted = false, bad = false;
    std::string bad_reason;
    for (;;) {
      if (i >= n) {
        if (in_quotes) {
          bad = true;
          bad_reason = "unterminated quoted field";
        }
        row.fields.push_back(std::move(field));
        break;
      }
      char c = text[i];
      if (in_quotes) {
        if (c == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
          } else {
            in_quotes = false;
            ++i;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
          ++i;
        }
        continue;
      }
      if (c == '"' && field.empty() && !field_was_quoted) {
        in_quotes = field_was_quoted = true;
        ++i;
      } else if (c == ',') {
        row.fields.push_back(std::move(field));
        field.clear();
        field_was_quoted = false;
        ++i;
      } else if (c == '\r' || c == '\n') {
        row.fields.push_back(std::move(field));
        if (c == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
        ++i;
        ++line;
        break;
      } else {
        if (field_was_quoted && !bad) {
          bad = true;
          bad_reason = "text after a closing quote";
        }
        field += c;
        ++i;
      }
    }
    if (row.fields.size() == 1 && row.fields[0].empty() && !field_was_quoted) continue;  // blank line
    if (!have_header) {
      if (bad) return make_error(name, "line " + std::to_string(row.line) + ": " + bad_reason);
      table.header = std::move(row.fields);
      have_header = true;
      continue;
    }
    if (bad) {
      table.problems.push_back({row.line, bad_reason});
    } else if (row.fields.size() != table.header.size()) {
      table.problems.push_back({row.line, "has " + std::to_string(row.fields.size()) +
                                              " fields, the header has " +
                                              std::to_string(table.header.size())});
    } else {
      table.rows.push_back(std::move(row));
    }
  }
  if (!have_header) return make_error(name, "empty CSV: no header row");
  return table;
}

Result<CsvTable> read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(path, "cannot open CSV file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_csv(ss.str(), path);
}

}  // namespace homelens
