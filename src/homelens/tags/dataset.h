// Labeled photos for the tag heads, read from the shared CSVs: which photo, which class,
// how much to trust it, and which listing it belongs to (cross-validation folds never split
// a listing). Every bad row is an error naming the file, line and reason.
#pragma once

#include <string>
#include <vector>

#include "homelens/core/result.h"

namespace homelens::tags {

enum class Task { kFront, kRoom, kStyle, kStories };

inline constexpr Task kAllTasks[] = {Task::kFront, Task::kRoom, Task::kStyle, Task::kStories};

// "front", "room", "style", "stories".
const char* task_name(Task t);
// Inverse of task_name; errors list the known tasks.
Result<Task> parse_task(const std::string& name);
// The class names of a task, in head order ("front" task: {"not_front", "front"}).
const std::vector<std::string>& task_classes(Task t);

struct Example {
  std::string path;      // file to read
  std::string group;     // listing id: photos of one group never straddle folds
  int label = 0;         // index into the task's classes
  double weight = 1;     // training weight (low-confidence labels weigh less)
  bool subset = false;   // in the task's headline subset (front task: the front photos)
  bool evaluate = true;  // false: training only (e.g. out-of-domain extra photos)
};

struct LabeledSet {
  Task task = Task::kRoom;
  std::vector<std::string> classes;
  std::vector<Example> examples;
  std::string subset_name;  // what `subset` means, empty when the task has none
};

struct DatasetOptions {
  // Houses manifest: columns path, house_id, room_type (frontal/bedroom/bathroom/kitchen).
  // Relative paths resolve against the manifest's folder.
  std::string manifest;
  // Hand labels: house_id, and the task's column (style, stories or is_front), optionally
  // style_conf / stories_conf (high/low). Each house_id must have a frontal photo in the manifest.
  // For room (optional there) and for the front task's interiors, only the houses it lists
  // contribute photos unless all_houses: the manifest's other houses are the held-out test
  // houses, and a head must not have seen the photos it will be judged on.
  std::string labels;
  bool all_houses = false;
  // Weight of a label marked *_conf=low.
  double low_conf_weight = 0.5;
  // Front task: weight of the frontal photos labeled is_front=0 (hard negatives) relative
  // to an interior photo. Balanced accuracy on the front photos in CV, with all houses'
  // interiors: 0.514 at 1, 0.553 at 10, 0.541 at 30; with the labeled houses' only: 0.578
  // at 5, 0.567 at 10, 0.558 at 20 (one or two of the 29 negatives apart).
  double hard_negative_weight = 10.0;
  // Style task, optional: a manifest with columns path and style (architectural_styles_5),
  // mapped with extra_style_map ("source=target" pairs; unmapped sources are left out) and
  // used for training only, at extra_weight each.
  std::string extra_styles;
  std::vector<std::string> extra_style_map;
  double extra_weight = 0.3;
};

// The photo paths of a manifest's `path` column, resolved against its folder. Errors name the
// CSV (and the line of a malformed row).
Result<std::vector<std::string>> manifest_paths(const std::string& manifest);

// Reads the examples of one task. Errors name the CSV and the line: a missing column, an
// unknown class, a house without a frontal photo in the manifest.
Result<LabeledSet> load_task(Task task, const DatasetOptions& options);

}  // namespace homelens::tags
