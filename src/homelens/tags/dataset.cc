#include "homelens/tags/dataset.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "homelens/core/csv.h"

namespace homelens::tags {

namespace fs = std::filesystem;

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// A parsed CSV with its columns looked up by name.
struct Csv {
  std::string path, name;
  CsvTable table;
  std::map<std::string, int> cols;

  int col(const std::string& c) const {
    auto it = cols.find(c);
    return it == cols.end() ? -1 : it->second;
  }
  Result<int> need(const std::string& c) const {
    const int i = col(c);
    if (i < 0) return make_error(path, "missing column \"" + c + "\" in the header");
    return i;
  }
  std::string where(const CsvRow& r) const {
    return name + " line " + std::to_string(r.line);
  }
};

Result<Csv> open_csv(const std::string& path) {
  if (path.empty()) return make_error("", "no CSV file given");
  auto t = read_csv(path);
  if (!t) return t.error();
  Csv c;
  c.path = path;
  c.name = fs::path(path).filename().string();
  c.table = std::move(*t);
  if (!c.table.problems.empty())
    return make_error(c.name + " line " + std::to_string(c.table.problems[0].line),
                      c.table.problems[0].reason);
  for (std::size_t i = 0; i < c.table.header.size(); ++i)
    c.cols[trim(c.table.header[i])] = static_cast<int>(i);
  return c;
}

// The house ids of a labels file: the houses whose photos may train a head.
Result<std::set<std::string>> read_labeled_houses(const std::string& path) {
  auto csv = open_csv(path);
  if (!csv) return csv.error();
  auto ih = csv->need("house_id");
  if (!ih) return ih.error();
  std::set<std::string> ids;
  for (const auto& row : csv->table.rows) ids.insert(trim(row.fields[*ih]));
  return ids;
}

// One photo of the houses manifest.
struct HousePhoto {
  std::string path, house, room;
};

Result<std::vector<HousePhoto>> read_houses(const std::string& manifest) {
  auto csv = open_csv(manifest);
  if (!csv) return csv.error();
  auto ip = csv->need("path"), ih = csv->need("house_id"), ir = csv->need("room_type");
  for (auto* r : {&ip, &ih, &ir})
    if (!*r) return r->error();
  const fs::path base = fs::absolute(manifest).parent_path();
  std::vector<HousePhoto> out;
  for (const auto& row : csv->table.rows) {
    HousePhoto p;
    p.path = (base / trim(row.fields[*ip])).lexically_normal().string();
    p.house = trim(row.fields[*ih]);
    p.room = trim(row.fields[*ir]);
    const auto& rooms = task_classes(Task::kRoom);
    const std::string cls = p.room == "frontal" ? "front" : p.room;
    if (std::find(rooms.begin(), rooms.end(), cls) == rooms.end())
      return make_error(csv->where(row), "unknown room_type \"" + p.room +
                                             "\" (expected frontal, bedroom, bathroom, kitchen)");
    if (p.house.empty()) return make_error(csv->where(row), "empty house_id");
    out.push_back(std::move(p));
  }
  return out;
}

Result<int> class_index(Task t, const std::string& value, const std::string& column,
                        const std::string& where) {
  const auto& cls = task_classes(t);
  auto it = std::find(cls.begin(), cls.end(), value);
  if (it == cls.end())
    return make_error(
        where, "unknown " + column + " \"" + value + "\" (expected one of " + join(cls) + ")");
  return static_cast<int>(it - cls.begin());
}

Result<double> confidence_weight(const Csv& csv, const CsvRow& row,
                                 const std::string& column, double low) {
  const int i = csv.col(column);
  if (i < 0) return 1.0;
  const std::string v = trim(row.fields[i]);
  if (v.empty() || v == "high") return 1.0;
  if (v == "low") return low;
  return make_error(csv.where(row), "unknown " + column + " \"" + v + "\" (expected high or low)");
}

Status add_extra_styles(const DatasetOptions& o, LabeledSet& set) {
  auto csv = open_csv(o.extra_styles);
  if (!csv) return csv.error();
  auto ip = csv->need("path"), is = csv->need("style");
  if (!ip) return ip.error();
  if (!is) return is.error();
  std::map<std::string, int> mapping;
  for (const auto& m : o.extra_style_map) {
    const auto eq = m.find('=');
    if (eq == std::string::npos) return make_error(m, "expected SOURCE=TARGET");
    auto c = class_index(Task::kStyle, m.substr(eq + 1), "style", "--extra-style-map " + m);
    if (!c) return c.error();
    mapping[m.substr(0, eq)] = *c;
  }
  const int idup = csv->col("identical_original_bytes_as");
  const fs::path base = fs::absolute(o.extra_styles).parent_path();
  for (const auto& row : csv->table.rows) {
    auto it = mapping.find(trim(row.fields[*is]));
    if (it == mapping.end()) continue;
    // Byte-identical files may carry conflicting source labels; they are not worth the doubt.
    if (idup >= 0 && !trim(row.fields[idup]).empty()) continue;
    Example e;
    e.path = (base / trim(row.fields[*ip])).lexically_normal().string();
    e.group = "extra:" + trim(row.fields[*ip]);
    e.label = it->second;
    e.weight = o.extra_weight;
    e.evaluate = false;
    set.examples.push_back(std::move(e));
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> manifest_paths(const std::string& manifest) {
  auto csv = open_csv(manifest);
  if (!csv) return csv.error();
  auto ip = csv->need("path");
  if (!ip) return ip.error();
  const fs::path base = fs::absolute(manifest).parent_path();
  std::vector<std::string> out;
  for (const auto& row : csv->table.rows)
    out.push_back((base / trim(row.fields[*ip])).lexically_normal().string());
  return out;
}

const char* task_name(Task t) {
  switch (t) {
    case Task::kFront:
      return "front";
    case Task::kRoom:
      return "room";
    case Task::kStyle:
      return "style";
    case Task::kStories:
      return "stories";
  }
  return "?";
}

Result<Task> parse_task(const std::string& name) {
  for (Task t : kAllTasks)
    if (name == task_name(t)) return t;
  return make_error(name, "unknown task (expected front, room, style or stories)");
}

const std::vector<std::string>& task_classes(Task t) {
  static const std::vector<std::string> front{"not_front", "front"};
  static const std::vector<std::string> room{"front", "bedroom", "bathroom", "kitchen"};
  static const std::vector<std::string> style{"spanish", "ranch", "traditional", "contemporary",
                                              "other"};
  static const std::vector<std::string> stories{"1", "2", "3"};
  switch (t) {
    case Task::kFront:
      return front;
    case Task::kRoom:
      return room;
    case Task::kStyle:
      return style;
    case Task::kStories:
      return stories;
  }
  return room;
}

Result<LabeledSet> load_task(Task task, const DatasetOptions& o) {
  LabeledSet set;
  set.task = task;
  set.classes = task_classes(task);
  auto houses = read_houses(o.manifest);
  if (!houses) return houses.error();

  if (task == Task::kRoom) {
    std::set<std::string> labeled;
    const bool restrict = !o.labels.empty() && !o.all_houses;
    if (restrict) {
      auto ids = read_labeled_houses(o.labels);
      if (!ids) return ids.error();
      labeled = std::move(*ids);
    }
    for (const auto& p : *houses) {
      if (restrict && !labeled.count(p.house)) continue;
      Example e;
      e.path = p.path;
      e.group = p.house;
      e.label = *class_index(task, p.room == "frontal" ? "front" : p.room, "room_type", "");
      set.examples.push_back(std::move(e));
    }
    return set;
  }

  auto csv = open_csv(o.labels);
  if (!csv) return csv.error();
  const std::string column = task == Task::kFront ? "is_front" : task_name(task);
  auto ih = csv->need("house_id"), iv = csv->need(column);
  if (!ih) return ih.error();
  if (!iv) return iv.error();
  std::map<std::string, const HousePhoto*> frontal;
  for (const auto& p : *houses)
    if (p.room == "frontal") frontal[p.house] = &p;

  for (const auto& row : csv->table.rows) {
    const std::string where = csv->where(row);
    const std::string house = trim(row.fields[*ih]);
    auto f = frontal.find(house);
    if (f == frontal.end())
      return make_error(where, "house_id \"" + house + "\" has no frontal photo in " +
                                   fs::path(o.manifest).filename().string());
    const std::string v = trim(row.fields[*iv]);
    Example e;
    e.path = f->second->path;
    e.group = house;
    e.subset = task == Task::kFront;
    if (task == Task::kFront) {
      if (v != "0" && v != "1")
        return make_error(where, "unknown is_front \"" + v + "\" (expected 0 or 1)");
      e.label = v == "1" ? 1 : 0;
      if (e.label == 0) e.weight = o.hard_negative_weight;
    } else {
      auto c = class_index(task, v, column, where);
      if (!c) return c.error();
      e.label = *c;
      auto w = confidence_weight(*csv, row, column + "_conf", o.low_conf_weight);
      if (!w) return w.error();
      e.weight = *w;
    }
    set.examples.push_back(std::move(e));
  }

  if (task == Task::kFront) {
    // Interiors are negatives of every labeled house: their label comes from the manifest.
    set.subset_name = "front photos";
    std::set<std::string> labeled;
    for (const auto& e : set.examples) labeled.insert(e.group);
    for (const auto& p : *houses) {
      if (p.room == "frontal") continue;
      if (!o.all_houses && !labeled.count(p.house)) continue;
      Example e;
      e.path = p.path;
      e.group = p.house;
      e.label = 0;
      set.examples.push_back(std::move(e));
    }
  }
  if (task == Task::kStyle && !o.extra_styles.empty())
    if (auto st = add_extra_styles(o, set); !st) return st.error();
  return set;
}

}  // namespace homelens::tags
