// `homelens index` on hostile input and through crashes: nothing good is lost,
// nothing bad stops the run, and a rerun finishes the job.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "homelens/image/decode.h"
#include "homelens/model/model_spec.h"
#include "homelens/store/store.h"
#include "support/bad_corpus.h"
#include "support/testing.h"

extern char** environ;

namespace homelens {
namespace {

namespace fs = std::filesystem;
using testing::run_command;
using testing::shell_quote;
using testing::TempDir;

std::string bin() { return shell_quote(testing::homelens_bin().string()); }

TEST(IndexCommand, EveryBadFileIsReportedAndEveryGoodFileIndexed) {
  TempDir dir;
  fs::create_directories(dir / "photos");
  const auto corpus = testing::make_photo_corpus(dir / "photos");
  std::size_t bad = 0, good = 0;
  for (const auto& f : corpus) (f.good ? good : bad)++;
  ASSERT_GE(bad, 15u);

  auto r = run_command(bin() + " index --json --quiet --folder " + shell_quote((dir / "photos").string()) +
                       " --db " + shell_quote((dir / "t.db").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, std::string> failures;
  for (const auto& f : j["failures"]) failures[f["source"]] = f["reason"];
  EXPECT_EQ(j["failed"], bad);
  EXPECT_EQ(j["indexed"].get<std::size_t>() + j["reused"].get<std::size_t>(), good);

  auto store = store::open_store((dir / "t.db").string());
  ASSERT_TRUE(store.ok());
  for (const auto& f : corpus) {
    const std::string listing = fs::path(f.filename).replace_extension().string();
    auto img = (*store)->find_image(listing, f.filename, model::kDefaultModelId);
    ASSERT_TRUE(img.ok());
    if (f.good) {
      EXPECT_TRUE(img->has_value()) << f.filename << " was not indexed";
      EXPECT_FALSE(failures.count(f.filename)) << failures[f.filename];
      if (img->has_value()) {
        auto photo = (*store)->get_photo((*img)->sha256, model::kDefaultModelId);
        ASSERT_TRUE(photo.ok() && photo->has_value());
        EXPECT_EQ((*photo)->width, f.width) << f.filename;
        EXPECT_EQ((*photo)->height, f.height) << f.filename;
      }
    } else {
      EXPECT_FALSE(img->has_value()) << f.filename;
      ASSERT_TRUE(failures.count(f.filename)) << f.filename << " not reported";
      EXPECT_NE(failures[f.filename].find(f.filename), std::string::npos)
          << "reason does not name the file: " << failures[f.filename];
      EXPECT_NE(failures[f.filename].find(f.expected_reason), std::string::npos)
          << f.filename << ": " << failures[f.filename];
    }
  }
}

TEST(IndexCommand, BrokenManifestRowsAreReportedByLineAndTheRestIndexed) {
  TempDir dir;
  const fs::path images = testing::houses_dir() / "images";
  std::ofstream(dir / "m.csv") << "path,house,price\n"
                               << images / "1_frontal.jpg" << ",1,100\n"
                               << images / "2_frontal.jpg" << ",2,not-a-price\n"
                               << ",3,300\n"
                               << images / "4_frontal.jpg" << ",4\n"
                               << dir / "missing.jpg" << ",5,500\n"
                               << images / "6_frontal.jpg" << ",6,\"1,200\"\n";
  auto r = run_command(bin() + " index --json --quiet --manifest " + shell_quote((dir / "m.csv").string()) +
                       " --col listing=house --col price=price --db " + shell_quote((dir / "t.db").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["indexed"], 2);
  EXPECT_EQ(j["failed"], 1);  // the missing file
  // Where the time went, for tuning: every stage reported, and the network did run.
  for (const char* stage : {"read", "hash", "decode", "preprocess", "forward", "tags", "store"}) {
    ASSERT_TRUE(j["stage_seconds"].contains(stage)) << stage;
    EXPECT_GE(j["stage_seconds"][stage].get<double>(), 0.0) << stage;
  }
  EXPECT_GT(j["stage_seconds"]["forward"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 0.0);
  EXPECT_NE(j["failures"][0]["reason"].get<std::string>().find("missing.jpg"), std::string::npos);
  std::set<std::string> where;
  for (const auto& p : j["skipped_rows"]) where.insert(p["where"]);
  EXPECT_EQ(where, (std::set<std::string>{"m.csv line 3", "m.csv line 4", "m.csv line 5"}));
  auto store = store::open_store((dir / "t.db").string());
  auto l6 = (*store)->get_listing("6");
  ASSERT_TRUE(l6.ok() && l6->has_value());
  EXPECT_EQ((*l6)->price, 1200);
  // --strict turns skipped rows and failures into a non-zero exit for scripts.
  auto strict = run_command(bin() + " index --quiet --strict --manifest " + shell_quote((dir / "m.csv").string()) +
                            " --col listing=house --col price=price --db " + shell_quote((dir / "t.db").string()));
  EXPECT_EQ(strict.exit_code, 2);
}

// Rows that must be equal between a clean run and a killed-then-resumed one.
std::string table_dump(const fs::path& db) {
  auto store = store::open_store(db.string());
  EXPECT_TRUE(store.ok());
  std::string dump;
  auto st = (*store)->scan(model::kDefaultModelId, [&](const store::ImageWithPhoto& r) {
    dump += std::to_string(r.image.id) + "|" + r.image.listing_id + "|" + r.image.source + "|" +
            r.image.sha256 + "|" + std::to_string(r.image.photo_order) + "|" +
            std::to_string(r.image.is_title) + "|" +
            image::sha256_hex(std::string_view(reinterpret_cast<const char*>(r.photo.embedding.data()),
                                               r.photo.embedding.size() * sizeof(float))) +
            "|" + image::sha256_hex(std::string(r.photo.code.begin(), r.photo.code.end())) + "\n";
  });
  EXPECT_TRUE(st.ok());
  auto stats = (*store)->stats();
  dump += std::to_string(stats->listings) + " listings\n";
  return dump;
}

TEST(IndexCommand, KillNineMidRunThenRerunGivesTheSameTableAsOneCleanRun) {
  TempDir dir;
  const std::string args = " index --quiet --limit 240 " + testing::houses_index_args();
  auto clean = run_command(bin() + args + " --db " + shell_quote((dir / "clean.db").string()));
  ASSERT_EQ(clean.exit_code, 0) << clean.err;

  const std::string killed_db = (dir / "killed.db").string();
  const std::string cmd = "exec " + bin() + args + " --commit-every 16 --db " + shell_quote(killed_db);
  pid_t pid = 0;
  const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  // Wait until some batches are committed but the run is far from done.
  std::int64_t committed = 0;
  for (int i = 0; i < 600 && committed < 32; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!fs::exists(killed_db)) continue;
    auto s = store::open_store(killed_db);
    if (!s.ok()) continue;
    if (auto st = (*s)->stats(); st.ok()) committed = st->images;
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run finished before it could be killed";
  ASSERT_GE(committed, 32);
  auto partial = store::open_store(killed_db);
  auto partial_images = (*partial)->stats()->images;
  EXPECT_LT(partial_images, 240) << "kill came too late to test resuming";
  partial->reset();

  auto rerun = run_command(bin() + args + " --json --db " + shell_quote(killed_db));
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  auto j = nlohmann::json::parse(rerun.out);
  EXPECT_GE(j["already_present"].get<std::int64_t>(), committed);
  EXPECT_EQ(table_dump(dir / "clean.db"), table_dump(killed_db));
}

// mpirun pins a rank to one core when it starts two or fewer; a process confined like that
// runs one worker per core it may use and says why its workers cannot spread.
TEST(IndexCommand, AProcessBoundToOneCoreSaysSoAndStillIndexes) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs a machine of 2 cores or more";
  TempDir dir;
  auto r = run_command("taskset -c 0 " + bin() + " index --quiet --json --no-heads --limit 8 " +
                       testing::houses_index_args() + " --db " + shell_quote((dir / "t.db").string()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("may run on 1 of the machine's"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--bind-to none"), std::string::npos) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["indexed"].get<int>() + nlohmann::json::parse(r.out)["reused"].get<int>(), 8);
}

TEST(IndexCommand, ACommandLineMistakeIsExplainedAndEveryCommandHasHelp) {
  for (const char* sub : {"index", "similar"}) {
    auto h = run_command(bin() + " " + sub + " --help");
    EXPECT_EQ(h.exit_code, 0);
    EXPECT_NE(h.out.find("--db"), std::string::npos) << sub;
  }
  auto missing = run_command(bin() + " index --quiet --manifest /nonexistent/m.csv --db /tmp/x.db");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("/nonexistent/m.csv"), std::string::npos) << missing.err;
  auto badcol = run_command(bin() + " index --quiet --manifest " +
                            shell_quote((testing::houses_dir() / "manifest.csv").string()) +
                            " --col listing=no_such_column --db /tmp/x.db");
  EXPECT_EQ(badcol.exit_code, 1);
  EXPECT_NE(badcol.err.find("no_such_column"), std::string::npos) << badcol.err;
}

}  // namespace
}  // namespace homelens
