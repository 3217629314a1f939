#include <sys/resource.h>

#include <csignal>
#include <optional>
#include <iostream>

#include <nlohmann/json.hpp>

#include "homelens/cli/commands.h"
#include "homelens/engine/engine.h"
#include "homelens/core/log.h"
#include "homelens/ingest/pipeline.h"
#include "homelens/ingest/source.h"
#include "homelens/tags/tagger.h"
#ifdef HOMELENS_HAVE_MPI
#include "homelens/dist/mpi_job.h"
#endif

namespace homelens::cli {

namespace {

std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop = true; }

struct IndexArgs {
  CommonOptions common;
  std::string folder, manifest, base_dir;
  std::vector<std::string> columns;
  bool listing_per_folder = false;
  int workers = 0, threads = 1, batch = 16;
  std::size_t commit_every = 64, limit = 0;
  std::size_t max_bytes = 64u << 20;
  std::uint64_t max_pixels = 100'000'000;
  bool json = false, quiet = false, strict = false;
  std::string heads_dir;  // empty: the default heads, when they exist for the model
  bool no_heads = false;
  bool mpi = false;          // one rank of an MPI job (dist/mpi_job.h)
  double mpi_timeout = 60;   // seconds a rank may go unheard before rank 0 ends the job
};

int run_index(const IndexArgs& a) {
  auto spec = resolve_spec(a.common);
  if (!spec) return 1;
  Result<ingest::SourceItems> src = Error{};
  if (!a.manifest.empty()) {
    ingest::ManifestColumns cols;
    if (auto st = ingest::apply_column_mapping(a.columns, cols); !st) {
      log::error(st.message());
      return 1;
    }
    src = ingest::read_manifest(a.manifest, cols, a.base_dir);
  } else {
    src = ingest::scan_folder(a.folder, a.listing_per_folder);
  }
  if (!src) {
    log::error(src.message());
    return 1;
  }
  if (a.limit && src->items.size() > a.limit) src->items.resize(a.limit);
#ifdef HOMELENS_HAVE_MPI
  std::optional<dist::MpiJob> job;
  if (a.mpi) {
    auto j = dist::MpiJob::init();
    if (!j) {
      log::error(j.message());
      return 1;
    }
    job.emplace(std::move(*j));
  }
  // Only rank 0 talks: one progress line and one summary for the whole job.
  const bool root = !job || job->rank() == 0;
#else
  if (a.mpi) {
    log::error("--mpi: this homelens was built without MPI (OpenMPI was not found when it was built)");
    return 1;
  }
  const bool root = true;
#endif
  auto eng = open_engine(a.common, *spec);
  if (!eng) return 1;
  // Tag heads: explicit ones must exist; the default ones are used when present.
  std::shared_ptr<const tags::HeadSet> heads;
  std::size_t retagged = 0;
  if (!a.no_heads) {
    auto loaded = tags::load_heads_option(a.heads_dir, *spec);
    if (!loaded) {
      log::error(loaded.message());
      return 1;
    }
    if (!(*loaded)->empty()) {
      heads = *loaded;
      if (!a.json && !a.quiet && root)
        log::info("tagging with heads (" + heads->tasks() + ") from " + heads->folder());
      // Photos embedded before these heads existed (or under other heads) get tagged from their
      // stored embeddings; no decoding needed.
      auto n = root ? tags::retag_stored(eng->store(), *heads) : Result<std::size_t>(std::size_t{0});
      if (!n) {
        log::error(n.message());
        return 1;
      }
      retagged = *n;
    } else if (!a.json && !a.quiet && root) {
      log::info("no tag heads for " + spec->id + " in " + tags::default_heads_dir() +
                ": photos are not tagged (see homelens train)");
    }
  }
  ingest::PipelineOptions opt;
  if (heads) opt.tagger = tags::make_tagger(heads);
  opt.workers = a.workers;
  opt.threads_per_worker = a.threads;
  opt.batch_size = a.batch;
  opt.commit_every = a.commit_every;
  opt.decode.max_bytes = a.max_bytes;
  opt.decode.max_pixels = a.max_pixels;
  opt.progress = a.quiet ? ProgressMode::kQuiet : ProgressMode::kAuto;
  opt.stop = &g_stop;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  Result<ingest::IndexSummary> summary = Error{};
#ifdef HOMELENS_HAVE_MPI
  std::size_t ranks = 1;
  if (job) {
    const std::vector<ingest::Item> mine = job->share(src->items);
    const ProgressMode bar = a.quiet || a.json ? ProgressMode::kQuiet : opt.progress;
    opt.progress = ProgressMode::kQuiet;
    auto done = job->run(
        [&](dist::RankActivity& act) {
          opt.processed = &act.processed;
          act.phase = 1;
          auto r = eng->add_batch(mine, opt);
          act.phase = 2;
          return r;
        },
        mine.size(), src->items.size(), bar, &g_stop, 0.5, a.mpi_timeout);
    if (!done) {
      log::error(done.message());
      if (job->rank() == 0) job->abort(1);  // a lost rank cannot take part in a clean exit
      return 1;
    }
    if (!root) return done->total.interrupted ? 130 : 0;
    summary = done->total;
    ranks = static_cast<std::size_t>(done->ranks);
  } else {
    summary = eng->add_batch(src->items, opt);
  }
#else
  const std::size_t ranks = 1;
  summary = eng->add_batch(src->items, opt);
#endif
  if (!summary) {
    log::error(summary.message());
    return 1;
  }
  const auto& s = *summary;
  if (a.json) {
    nlohmann::json j = {{"total", s.total}, {"indexed", s.indexed}, {"reused", s.reused},
                        {"already_present", s.already_present}, {"failed", s.failed},
                        {"seconds", s.seconds}, {"interrupted", s.interrupted},
                        {"model", spec->id}, {"db", a.common.db},
                        {"heads", heads ? nlohmann::json(heads->id()) : nlohmann::json(nullptr)},
                        {"retagged", retagged}, {"ranks", ranks}};
    j["failures"] = nlohmann::json::array();
    for (const auto& f : s.failures) j["failures"].push_back({{"source", f.source}, {"reason", f.reason}});
    j["untagged"] = s.untagged;
    j["tag_failures"] = nlohmann::json::array();
    for (const auto& f : s.tag_failures) j["tag_failures"].push_back({{"source", f.source}, {"reason", f.reason}});
    const ingest::StageSeconds& t = s.stages;
    j["stage_seconds"] = {{"read", t.read}, {"hash", t.hash}, {"decode", t.decode},
                          {"preprocess", t.preprocess}, {"forward", t.forward}, {"tags", t.tags},
                          {"store", t.store}};
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    j["peak_rss_mb"] = static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
    j["skipped_rows"] = nlohmann::json::array();
    for (const auto& p : src->problems) j["skipped_rows"].push_back({{"where", p.where}, {"reason", p.reason}});
    std::cout << j.dump() << "\n";
  } else {
    for (const auto& p : src->problems) log::warn("skipped " + p.where + ": " + p.reason);
    for (const auto& f : s.failures) log::warn("failed " + f.reason, {{"source", f.source}});
    for (const auto& f : s.tag_failures) log::warn("stored untagged " + f.reason, {{"source", f.source}});
    const double rate = s.seconds > 0 ? s.indexed / s.seconds : 0;
    std::cout << (s.interrupted ? "interrupted: " : "") << s.total << " photos: " << s.indexed
              << " indexed, " << s.reused << " reused (same bytes already embedded), "
              << s.already_present << " already present, " << s.failed << " failed";
    if (!src->problems.empty()) std::cout << "; " << src->problems.size() << " manifest rows skipped";
    if (s.untagged) std::cout << "; " << s.untagged << " indexed but not tagged";
    if (retagged) std::cout << "; " << retagged << " stored photos tagged";
    if (ranks > 1) std::cout << "; " << ranks << " MPI ranks";
    std::printf(" (%.1f s, %.1f photos/s)\n", s.seconds, rate);
  }
  if (s.interrupted) return 130;
  if (a.strict && (s.failed || s.untagged || !src->problems.empty())) return 2;
  return 0;
}

}  // namespace

void add_index_command(CLI::App& app) {
  auto a = std::make_shared<IndexArgs>();
  CLI::App* cmd = app.add_subcommand("index", "Embed photos from a folder or a CSV manifest into the table");
  add_common_options(*cmd, a->common);
  auto* src = cmd->add_option_group("source", "What to index");
  src->add_option("--folder", a->folder, "Folder of photos (jpg, png, webp, bmp, tiff), searched recursively");
  src->add_option("--manifest", a->manifest, "CSV manifest with a path column (see docs/manifest.md)");
  src->require_option(1);
  cmd->add_option("--col", a->columns,
                  "Manifest column mapping NAME=COLUMN; NAME is path, listing, order, title, price, "
                  "beds, baths, area, zip or extra (repeatable)");
  cmd->add_option("--base-dir", a->base_dir, "Folder relative manifest paths start from (default: the manifest's)");
  cmd->add_flag("--listing-per-folder", a->listing_per_folder,
                "With --folder: the photos of one folder form one listing (default: one listing per photo)");
  cmd->add_option("--workers", a->workers, "Parallel decode+inference workers (default: one per core)");
  cmd->add_option("--threads", a->threads, "Threads inside one inference (default 1: workers parallelize)")
      ->capture_default_str();
  cmd->add_option("--batch", a->batch, "Photos per pipeline chunk and OpenCV DNN batch (oneDNN runs one photo a forward, faster)")->capture_default_str();
  cmd->add_option("--commit-every", a->commit_every, "Photos per transaction")->capture_default_str();
  cmd->add_option("--limit", a->limit, "Index only the first N photos of the source");
  cmd->add_option("--max-bytes", a->max_bytes, "Refuse photo files larger than this")->capture_default_str();
  cmd->add_option("--max-pixels", a->max_pixels, "Refuse photos with more pixels than this")->capture_default_str();
  cmd->add_option("--heads", a->heads_dir,
                  "Tag photos with the heads in DIR (DIR/MODEL_ID/TASK.json or head files); "
                  "default: $HOMELENS_HEADS or the repository's heads/, when they exist");
  cmd->add_flag("--no-heads", a->no_heads, "Do not tag photos, even with the default heads");
  cmd->add_flag("--mpi", a->mpi,
                 "Run as one rank of an MPI job (mpirun -np N homelens index --mpi ...): each rank indexes "
                 "its share of the listings into the shared table; rank 0 reports for the job");
  cmd->add_option("--mpi-timeout", a->mpi_timeout,
                  "Seconds a rank may go unheard before rank 0 ends the job naming it")
      ->capture_default_str()->check(CLI::Range(1.0, 86400.0));
  cmd->add_flag("--json", a->json, "Print the summary as one JSON object on stdout");
  cmd->add_flag("-q,--quiet", a->quiet, "No progress output");
  cmd->add_flag("--strict", a->strict,
                "Exit with status 2 when any photo or manifest row failed or a photo was left untagged");
  cmd->callback([a] { exit_code() = run_index(*a); });
}

}  // namespace homelens::cli
