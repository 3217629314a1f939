// `homelens dupes` lists near-duplicate photos across listings from the stored binary codes;
// `homelens eval dupes` measures how well the codes (and pHash) find edited copies, which is
// where the default threshold comes from.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "homelens/cli/commands.h"
#include "homelens/cli/eval_common.h"
#include "homelens/core/csv.h"
#include "homelens/core/log.h"
#include "homelens/eval/dupes.h"
#include "homelens/eval/evaluate.h"
#include "homelens/image/decode.h"
#include "homelens/store/store.h"

namespace homelens::cli {

namespace fs = std::filesystem;

namespace {

struct DupesArgs {
  CommonOptions common;
  int threshold = eval::kDefaultDupeThreshold;
  bool json = false;
};

int run_dupes(const DupesArgs& a) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  auto store = store::open_store(a.common.db);
  if (!store) {
    log::error(store.message());
    return 1;
  }
  auto groups = eval::find_duplicates(**store, spec->id, a.threshold);
  if (!groups) {
    log::error(groups.message());
    return 1;
  }
  if (a.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& g : *groups) {
      nlohmann::json members = nlohmann::json::array();
      for (const auto& m : g.members)
        members.push_back({{"image_id", m.image_id}, {"listing_id", m.listing_id},
                           {"source", m.source}, {"distance", m.distance}});
      out.push_back({{"members", members}});
    }
    std::cout << nlohmann::json{{"threshold", a.threshold}, {"groups", out}}.dump() << "\n";
    return 0;
  }
  std::printf("%zu groups of near-duplicate photos across listings (threshold %d bits)\n",
              groups->size(), a.threshold);
  for (const auto& g : *groups) {
    std::printf("\n");
    for (const auto& m : g.members)
      std::printf("  image %lld  listing %-10s  %3d bits  %s\n", static_cast<long long>(m.image_id),
                  m.listing_id.c_str(), m.distance, m.source.c_str());
  }
  return 0;
}

struct EvalDupesArgs {
  EvalOptions eval;
  std::string manifest;
  std::size_t limit = 300;
  std::string keep;  // folder to keep the copies in
  int threshold = -1;  // score at this threshold instead of the chosen one
  bool json = false;
};

// Up to `limit` photos of the manifest spread evenly over it, each distinct bytes.
Result<std::vector<std::string>> pick_originals(const std::string& manifest, std::size_t limit) {
  auto table = read_csv(manifest);
  if (!table) return table.error();
  auto it = std::find(table->header.begin(), table->header.end(), "path");
  if (it == table->header.end())
    return make_error(manifest + " line 1 (header)", "no column 'path'", ErrorCode::kInvalidArgument);
  const std::size_t col = static_cast<std::size_t>(it - table->header.begin());
  const fs::path base = fs::absolute(manifest).parent_path();
  const std::size_t n = table->rows.size();
  const std::size_t step = std::max<std::size_t>(1, n / std::max<std::size_t>(1, limit));
  std::set<std::string> seen;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n && out.size() < limit; i += step) {
    const fs::path p = base / table->rows[i].fields[col];
    auto bytes = image::read_file(p.string(), 64u << 20);
    if (!bytes)
      return make_error(manifest + " line " + std::to_string(table->rows[i].line), bytes.message(),
                        ErrorCode::kNotFound);
    if (seen.insert(image::sha256_hex(*bytes)).second) out.push_back(p.string());
  }
  return out;
}

// Removes the copies' folder when the run made it (not when --keep named it).
struct ScratchDir {
  fs::path path;
  bool owned = false;
  ~ScratchDir() {
    std::error_code ec;
    if (owned) fs::remove_all(path, ec);
  }
};

int run_eval_dupes(const EvalDupesArgs& a) {
  auto originals = pick_originals(a.manifest, a.limit);
  if (!originals) {
    log::error(originals.message());
    return 1;
  }
  ScratchDir dir;
  if (a.keep.empty()) {
    std::string name = "homelens-dupes-";
    name += std::to_string(std::random_device{}());
    dir.path = fs::temp_directory_path() / name;
    dir.owned = true;
  } else {
    dir.path = a.keep;
  }
  const auto transforms = eval::duplicate_transforms();
  std::vector<std::string> names;
  std::vector<std::vector<std::string>> copy_paths(transforms.size());
  std::error_code ec;
  for (const auto& t : transforms) {
    names.push_back(t.name);
    fs::create_directories(dir.path / t.name, ec);
    if (ec) {
      log::error(dir.path.string() + ": " + ec.message());
      return 1;
    }
  }
  for (std::size_t i = 0; i < originals->size(); ++i) {
    auto d = image::decode_file((*originals)[i]);
    if (!d) {
      log::error(d.message());
      return 1;
    }
    for (std::size_t t = 0; t < transforms.size(); ++t) {
      cv::Mat bgr;
      cv::cvtColor(transforms[t].apply(d->rgb), bgr, cv::COLOR_RGB2BGR);
      std::string file = std::to_string(i);
      file += ".jpg";
      const fs::path out = dir.path / transforms[t].name / file;
      if (!cv::imwrite(out.string(), bgr, {cv::IMWRITE_JPEG_QUALITY, transforms[t].jpeg_quality})) {
        log::error(out.string() + ": cannot write the copy");
        return 1;
      }
      copy_paths[t].push_back(out.string());
    }
  }
  auto made = make_methods(a.eval, {"phash", "cnn-binary"});
  if (!made) return 1;
  std::vector<eval::DupeMeasurement> results;
  for (auto& [name, method] : *made) {
    std::vector<std::string> all = *originals;
    for (const auto& c : copy_paths) all.insert(all.end(), c.begin(), c.end());
    auto desc = method->describe(all);
    if (!desc) {
      log::error(name + ": " + desc.message());
      return 1;
    }
    if ((*desc)[0].bits.empty()) {
      log::error("method " + name + " has no binary descriptor to threshold (use phash or cnn-binary)");
      return 1;
    }
    const std::size_t n = originals->size();
    std::vector<std::vector<std::uint8_t>> orig;
    std::vector<std::vector<std::vector<std::uint8_t>>> copies(transforms.size());
    for (std::size_t i = 0; i < n; ++i) orig.push_back((*desc)[i].bits);
    for (std::size_t t = 0; t < transforms.size(); ++t)
      for (std::size_t i = 0; i < n; ++i) copies[t].push_back((*desc)[n * (t + 1) + i].bits);
    results.push_back(eval::measure_duplicates(
        name, orig, copies, names,
        a.threshold >= 0 ? std::optional<int>(a.threshold) : std::nullopt));
  }
  if (a.json) {
    nlohmann::json methods = nlohmann::json::object();
    for (const auto& m : results) {
      nlohmann::json tr = nlohmann::json::object();
      for (const auto& s : m.scores)
        tr[s.transform] = {{"precision", s.precision}, {"recall", s.recall},
                           {"true_pairs", s.true_pairs}, {"false_pairs", s.false_pairs}};
      nlohmann::json curve = nlohmann::json::array();
      for (std::size_t t = 0; t < m.curve.size(); ++t)
        curve.push_back({{"threshold", t}, {"recall", m.curve[t].first},
                         {"false_pairs", m.curve[t].second}});
      methods[m.method] = {{"bits", m.bits}, {"threshold", m.threshold}, {"transforms", tr},
                           {"curve", curve}};
    }
    std::cout << nlohmann::json{{"n", originals->size()}, {"methods", methods}}.dump() << "\n";
    return 0;
  }
  std::printf("%zu distinct photos from %s, %zu edited copies each\n", originals->size(),
              a.manifest.c_str(), transforms.size());
  for (const auto& m : results) {
    std::printf("\n%s (%d bits): %s threshold %d bits\n", m.method.c_str(), m.bits,
                a.threshold >= 0 ? "given" : "chosen (middle of the best band with no false pair)",
                m.threshold);
    std::printf("  %-10s %9s %7s\n", "transform", "precision", "recall");
    for (const auto& s : m.scores)
      std::printf("  %-10s %9.3f %7.3f\n", s.transform.c_str(), s.precision, s.recall);
    std::printf("  threshold: recall over all copies / false pairs\n");
    const std::size_t step = std::max<std::size_t>(1, m.curve.size() / 16);
    for (std::size_t t = 0; t < m.curve.size(); t += step)
      std::printf("  %4zu: %.3f / %zu\n", t, m.curve[t].first, m.curve[t].second);
  }
  return 0;
}

}  // namespace

void add_dupes_command(CLI::App& app) {
  auto a = std::make_shared<DupesArgs>();
  CLI::App* cmd = app.add_subcommand(
      "dupes", "List groups of near-duplicate photos across listings (from the stored binary codes)");
  add_common_options(*cmd, a->common);
  cmd->add_option("--threshold", a->threshold,
                  "Most differing code bits for two photos to count as the same picture")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_flag("--json", a->json, "Print {threshold, groups: [{members: [...]}]}");
  cmd->callback([a] { exit_code() = run_dupes(*a); });
}

void add_eval_dupes_command(CLI::App& eval) {
  auto a = std::make_shared<EvalDupesArgs>();
  CLI::App* cmd = eval.add_subcommand(
      "dupes", "Precision and recall of finding edited copies (re-encoded, resized, cropped, "
               "brightened, watermarked) of a manifest's photos, per transform and method");
  add_eval_options(*cmd, a->eval);
  cmd->add_option("--manifest", a->manifest, "CSV with a path column (relative to the CSV's folder)")
      ->required();
  cmd->add_option("--limit", a->limit, "Photos taken, spread evenly over the manifest")
      ->capture_default_str()
      ->check(CLI::Range(2, 100000));
  cmd->add_option("--threshold", a->threshold,
                  "Give precision and recall at this many bits instead of at the chosen threshold");
  cmd->add_option("--keep", a->keep, "Write the copies into this folder and keep them");
  cmd->add_flag("--json", a->json, "Print {n, methods: {name: {bits, threshold, transforms, curve}}}");
  cmd->callback([a] { exit_code() = run_eval_dupes(*a); });
}

}  // namespace homelens::cli
