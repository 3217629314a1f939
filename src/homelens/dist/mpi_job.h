// Batch indexing as one rank of an MPI job (`mpirun -np N homelens index --mpi ...`):
// every rank reads the same source, takes a deterministic share of it (whole
// listings, so titles are chosen as by one process), indexes it through its own
// engine into the shared table, and reports to rank 0, which prints one progress
// line for the whole job and one summary. Reports are non-blocking, so rank 0
// notices a rank that stops reporting (a crash, a node gone) and ends the job with
// an error naming that rank and what it was doing; what the ranks committed stays,
// and rerunning the same command stores only what is missing (the pipeline skips
// photos already present).
// Built only when OpenMPI is found (HOMELENS_HAVE_MPI); the rest of HomeLens does not use it.
// Thread safety: MpiJob's methods are called from the thread that made it (MPI is
// initialised FUNNELED: only that thread calls MPI).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "homelens/core/progress.h"
#include "homelens/core/result.h"
#include "homelens/ingest/pipeline.h"
#include "homelens/ingest/source.h"

namespace homelens::dist {

// What a rank's work says while it runs (read by the reporting thread).
struct RankActivity {
  std::atomic<std::size_t> processed{0};  // items of its share stored so far
  std::atomic<int> phase{0};              // index into MpiJob::phase_names()
};

// The whole job's outcome, on rank 0.
struct JobSummary {
  ingest::IndexSummary total;  // summed over ranks; seconds: the slowest rank's
  int ranks = 0;
};

class MpiJob {
 public:
  // Initialises MPI (once per process). Errors: kUnavailable when MPI cannot start.
  static Result<MpiJob> init();
  MpiJob(MpiJob&& other) noexcept : rank_(other.rank_), size_(other.size_), owner_(other.owner_) {
    other.owner_ = false;
  }
  MpiJob(const MpiJob&) = delete;
  ~MpiJob();  // finalises MPI

  int rank() const { return rank_; }
  int size() const { return size_; }

  // This rank's share: listings in order of first appearance, listing i to rank
  // i mod size(), with all its photos. The same items give every rank the same split.
  std::vector<ingest::Item> share(const std::vector<ingest::Item>& items) const;

  // What a phase number means, for messages ("indexing photos", ...).
  static const std::vector<std::string>& phase_names();

  // Runs work (this rank's share_items photos) on a thread while reporting to rank 0
  // every report_seconds. Rank 0 prints one progress line over total_items (all ranks)
  // and returns the job's summed summary; other ranks return theirs. Errors (on rank
  // 0), each naming the rank, its phase and count: a rank's own error; kUnavailable for
  // a rank silent for silent_seconds, or when stop is set (mpirun's signal after a
  // rank died). Rank 0 should then abort() the job. A failing rank returns its error.
  Result<JobSummary> run(const std::function<Result<ingest::IndexSummary>(RankActivity&)>& work,
                         std::size_t share_items, std::size_t total_items, ProgressMode progress,
                         const std::atomic<bool>* stop, double report_seconds = 0.5,
                         double silent_seconds = 60);

  // Ends every rank of the job now with the given exit status.
  [[noreturn]] void abort(int status) const;

 private:
  MpiJob(int rank, int size) : rank_(rank), size_(size) {}
  int rank_ = 0, size_ = 1;
  bool owner_ = true;
};

}  // namespace homelens::dist
