// The batch pipeline on real house photos: rows are committed in source order, a stopped run
// resumes to the same table, and a tagger failure is reported while the photo is kept.
#include "homelens/ingest/pipeline.h"

#include <gtest/gtest.h>

#include "homelens/tags/head.h"
#include "support/testing.h"

namespace homelens::ingest {
namespace {

model::ModelSpec default_spec() {
  auto spec = model::find_model_spec(model::kDefaultModelId, (testing::shared_dir() / "models").string());
  EXPECT_TRUE(spec.ok()) << spec.message();
  return *spec;
}

std::vector<Item> house_items(std::size_t n) {
  ManifestColumns cols;
  cols.listing = "house_id";
  auto src = read_manifest((testing::houses_dir() / "manifest.csv").string(), cols);
  EXPECT_TRUE(src.ok()) << src.message();
  if (!src.ok()) return {};
  src->items.resize(std::min(n, src->items.size()));
  return src->items;
}

// id|listing|source|sha|embedding per image, in id order: what must not depend on how a run went.
std::string table_dump(store::Store& s) {
  std::string out;
  auto st = s.scan(model::kDefaultModelId, [&](const store::ImageWithPhoto& r) {
    out += std::to_string(r.image.id) + "|" + r.image.listing_id + "|" + r.image.source + "|" +
           r.image.sha256 + "|" +
           image::sha256_hex(std::string_view(reinterpret_cast<const char*>(r.photo.embedding.data()),
                                              r.photo.embedding.size() * sizeof(float))) +
           "\n";
  });
  EXPECT_TRUE(st.ok());
  return out;
}

PipelineOptions small_chunks() {
  PipelineOptions opt;
  opt.workers = 2;
  opt.batch_size = 4;
  opt.commit_every = 4;
  opt.progress = ProgressMode::kQuiet;
  return opt;
}

TEST(Pipeline, AStoppedRunKeepsASourceOrderPrefixAndResumesToTheCleanTable) {
  testing::TempDir dir;
  const auto spec = default_spec();
  const auto items = house_items(64);
  ASSERT_EQ(items.size(), 64u);

  auto clean = store::open_store((dir / "clean.db").string());
  ASSERT_TRUE(clean.ok());
  auto full = index_items(items, **clean, spec, small_chunks());
  ASSERT_TRUE(full.ok()) << full.message();
  EXPECT_EQ(full->indexed + full->reused, 64u);
  EXPECT_FALSE(full->interrupted);

  // Ctrl-C after about 12 photos: the tagger (which tags nothing) is where the run notices.
  auto stopped = store::open_store((dir / "stopped.db").string());
  ASSERT_TRUE(stopped.ok());
  std::atomic<bool> stop{false};
  std::atomic<int> seen{0};
  PipelineOptions opt = small_chunks();
  opt.stop = &stop;
  opt.tagger = [&](const model::Embedding&, store::Tags&) -> Status {
    if (++seen >= 12) stop = true;
    return {};
  };
  auto part = index_items(items, **stopped, spec, opt);
  ASSERT_TRUE(part.ok()) << part.message();
  EXPECT_TRUE(part->interrupted);
  const auto stats = (*stopped)->stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_GE(stats->images, 12);
  EXPECT_LT(stats->images, 64) << "the stop flag did not end the run early";
  // What was stored is the first images of the source, with the clean run's ids.
  const std::string clean_dump = table_dump(**clean);
  const std::string part_dump = table_dump(**stopped);
  EXPECT_EQ(clean_dump.substr(0, part_dump.size()), part_dump);

  auto rest = index_items(items, **stopped, spec, small_chunks());
  ASSERT_TRUE(rest.ok()) << rest.message();
  EXPECT_EQ(rest->already_present, static_cast<std::size_t>(stats->images));
  EXPECT_EQ(table_dump(**stopped), clean_dump);
}

TEST(Pipeline, PhotosTheTaggerFailsOnAreStoredUntaggedAndReportedByName) {
  testing::TempDir dir;
  const auto spec = default_spec();
  const auto items = house_items(6);
  // A real head file, but for 4-d embeddings: it cannot tag this model's 1280-d ones.
  tags::Head h;
  h.task = tags::Task::kStories;
  h.model_id = spec.id;
  h.classes = tags::task_classes(tags::Task::kStories);
  h.standardizer.mean = {0.1, 0.2, 0.3, 0.4};
  h.standardizer.scale = {1.0, 0.5, 0.25, 2.0};
  h.model.classes = 3;
  h.model.dim = 4;
  h.model.weights = {0.1, -0.7, 1.3, 0.01, 2.2, 0.3, -1.1, 0.9, -0.5, 0.12, 0.2, -0.3};
  h.model.bias = {0.05, -0.1, 0.2};
  ASSERT_TRUE(tags::save_head(h, tags::head_path(dir.path().string(), spec.id, tags::Task::kStories)));
  auto heads = tags::HeadSet::load(dir.path().string(), spec.id);
  ASSERT_TRUE(heads.ok()) << heads.message();

  auto s = store::open_store((dir / "t.db").string());
  ASSERT_TRUE(s.ok());
  PipelineOptions opt = small_chunks();
  opt.tagger = tags::make_tagger(std::make_shared<const tags::HeadSet>(*heads));
  auto summary = index_items(items, **s, spec, opt);
  ASSERT_TRUE(summary.ok()) << summary.message();
  EXPECT_EQ(summary->indexed + summary->reused, 6u);
  EXPECT_EQ(summary->failed, 0u);
  EXPECT_EQ(summary->untagged, summary->indexed);
  ASSERT_EQ(summary->tag_failures.size(), summary->indexed);
  for (const auto& f : summary->tag_failures)
    EXPECT_NE(f.reason.find(f.source.substr(f.source.rfind('/') + 1)), std::string::npos) << f.reason;
  std::size_t stored = 0;
  auto st = (*s)->scan(spec.id, [&](const store::ImageWithPhoto& r) {
    ++stored;
    EXPECT_TRUE(r.photo.tags.heads_id.empty());
    EXPECT_EQ(static_cast<int>(r.photo.embedding.size()), spec.embedding_dim);
  });
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(stored, 6u);
}

}  // namespace
}  // namespace homelens::ingest
