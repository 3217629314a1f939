#include "homelens/dist/mpi_job.h"

#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <thread>
#include <unordered_map>

#include "homelens/core/log.h"

namespace homelens::dist {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kReportTag = 71;

// One rank's report to rank 0, sent as bytes (every rank runs the same binary).
struct Report {
  std::uint64_t kind = 0;  // 0: progress, 1: finished, 2: failed
  std::uint64_t processed = 0, share = 0, phase = 0;
  std::uint64_t indexed = 0, reused = 0, present = 0, failed = 0, untagged = 0, interrupted = 0;
  double seconds = 0;
  ingest::StageSeconds stages;  // plain doubles: sent as bytes like the rest
  char error[512] = {};
};

Report report_of(std::uint64_t kind, const RankActivity& a, std::size_t share) {
  Report r;
  r.kind = kind;
  r.processed = a.processed.load();
  r.share = share;
  r.phase = static_cast<std::uint64_t>(a.phase.load());
  return r;
}

std::string phase_name(std::uint64_t phase) {
  const auto& names = MpiJob::phase_names();
  return phase < names.size() ? names[phase] : "working";
}

std::string describe(int rank, const Report& r) {
  std::string s = "rank ";
  s += std::to_string(rank);
  s += " (";
  s += phase_name(r.phase);
  s += ", ";
  s += std::to_string(r.processed);
  s += " of its ";
  s += std::to_string(r.share);
  s += " photos stored)";
  return s;
}

void add_to(ingest::IndexSummary& sum, const Report& r) {
  sum.indexed += r.indexed;
  sum.reused += r.reused;
  sum.already_present += r.present;
  sum.failed += r.failed;
  sum.untagged += r.untagged;
  sum.interrupted = sum.interrupted || r.interrupted;
  sum.seconds = std::max(sum.seconds, r.seconds);
  sum.stages += r.stages;
}

}  // namespace

const std::vector<std::string>& MpiJob::phase_names() {
  static const std::vector<std::string> names{"starting", "indexing its photos (decode, embed, store)",
                                              "finished"};
  return names;
}

Result<MpiJob> MpiJob::init() {
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    return make_error("MPI", "cannot initialise (run under mpirun or srun)", ErrorCode::kUnavailable);
  // Errors come back as codes: a lost peer is reported by rank 0, not by an abort mid-call.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  return MpiJob(rank, size);
}

MpiJob::~MpiJob() {
  if (owner_) MPI_Finalize();
}

void MpiJob::abort(int status) const {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, status);
  std::_Exit(status);
}

std::vector<ingest::Item> MpiJob::share(const std::vector<ingest::Item>& items) const {
  std::unordered_map<std::string, std::size_t> listing_no;
  std::vector<ingest::Item> mine;
  for (const ingest::Item& item : items) {
    auto [it, inserted] = listing_no.emplace(item.listing.id, listing_no.size());
    if (it->second % static_cast<std::size_t>(size_) == static_cast<std::size_t>(rank_)) mine.push_back(item);
  }
  return mine;
}

Result<JobSummary> MpiJob::run(const std::function<Result<ingest::IndexSummary>(RankActivity&)>& work,
                               std::size_t share_items, std::size_t total_items, ProgressMode progress,
                               const std::atomic<bool>* stop, double report_seconds, double silent_seconds) {
  // Shared with the worker thread, which rank 0 leaves behind when the job is lost.
  struct State {
    RankActivity activity;
    std::optional<Result<ingest::IndexSummary>> result;
    std::atomic<bool> done{false};
  };
  auto state = std::make_shared<State>();
  RankActivity& activity = state->activity;
  std::optional<Result<ingest::IndexSummary>>& result = state->result;
  std::atomic<bool>& done = state->done;
  std::thread worker([state, work] {
    state->result.emplace(work(state->activity));
    state->done = true;
  });
  const auto tick = std::chrono::duration<double>(std::min(report_seconds, 0.1));
  const auto period = std::chrono::duration<double>(report_seconds);

  if (rank_ != 0) {
    Report out;
    MPI_Request pending = MPI_REQUEST_NULL;
    auto last = Clock::now() - std::chrono::hours(1);
    while (!done) {
      std::this_thread::sleep_for(tick);
      int idle = 1;
      if (pending != MPI_REQUEST_NULL) MPI_Test(&pending, &idle, MPI_STATUS_IGNORE);
      if (idle && Clock::now() - last >= period) {
        out = report_of(0, activity, share_items);
        MPI_Isend(&out, sizeof out, MPI_BYTE, 0, kReportTag, MPI_COMM_WORLD, &pending);
        last = Clock::now();
      }
    }
    worker.join();
    if (pending != MPI_REQUEST_NULL) MPI_Wait(&pending, MPI_STATUS_IGNORE);
    Report fin = report_of(*result ? 1 : 2, activity, share_items);
    if (*result) {
      const ingest::IndexSummary& s = **result;
      fin.indexed = s.indexed;
      fin.reused = s.reused;
      fin.present = s.already_present;
      fin.failed = s.failed;
      fin.untagged = s.untagged;
      fin.interrupted = s.interrupted;
      fin.seconds = s.seconds;
      fin.stages = s.stages;
    } else {
      std::snprintf(fin.error, sizeof fin.error, "%s", result->message().c_str());
    }
    MPI_Send(&fin, sizeof fin, MPI_BYTE, 0, kReportTag, MPI_COMM_WORLD);
    if (!*result) return result->error();
    JobSummary mine;
    mine.total = **result;
    mine.ranks = size_;
    return mine;
  }

  // Rank 0: a receive always posted for every rank still working, tested without blocking.
  const std::size_t peers = static_cast<std::size_t>(size_);
  std::vector<Report> inbox(peers), last(peers);
  std::vector<MPI_Request> req(peers, MPI_REQUEST_NULL);
  std::vector<Clock::time_point> heard(peers, Clock::now());
  std::vector<bool> finished(peers, false);
  for (int r = 1; r < size_; ++r)
    MPI_Irecv(&inbox[r], sizeof(Report), MPI_BYTE, r, kReportTag, MPI_COMM_WORLD, &req[r]);
  Progress bar("indexing on " + std::to_string(size_) + " ranks", total_items, progress);
  std::optional<Error> failure;
  auto all_finished = [&] {
    for (int r = 1; r < size_; ++r)
      if (!finished[r]) return false;
    return true;
  };
  while (!(done && all_finished())) {
    std::this_thread::sleep_for(tick);
    for (int r = 1; r < size_; ++r) {
      if (finished[r]) continue;
      int got = 0;
      if (MPI_Test(&req[r], &got, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
        failure = make_error(describe(r, last[r]), "lost (MPI reported an error talking to it)",
                             ErrorCode::kUnavailable);
        break;
      }
      if (!got) continue;
      last[r] = inbox[r];
      heard[r] = Clock::now();
      if (last[r].kind == 0) {
        MPI_Irecv(&inbox[r], sizeof(Report), MPI_BYTE, r, kReportTag, MPI_COMM_WORLD, &req[r]);
        continue;
      }
      finished[r] = true;
      if (last[r].kind == 2 && !failure)
        failure = make_error(describe(r, last[r]), std::string("failed: ") + last[r].error, ErrorCode::kInternal);
    }
    if (failure) break;
    const auto now = Clock::now();
    for (int r = 1; r < size_ && !failure; ++r)
      if (!finished[r] && std::chrono::duration<double>(now - heard[r]).count() > silent_seconds)
        failure = make_error(describe(r, last[r]),
                             "stopped reporting for " + std::to_string(static_cast<int>(silent_seconds)) +
                                 " s (crashed, killed or its node is gone)",
                             ErrorCode::kUnavailable);
    if (failure) break;
    if (stop && stop->load()) {
      // mpirun ends every rank with a signal when one dies: say what each was doing.
      std::string state;
      for (int r = 1; r < size_; ++r) {
        state += "; ";
        state += describe(r, last[r]);
        state += finished[r] ? " finished" : " last heard " +
            std::to_string(std::chrono::duration<double>(now - heard[r]).count()).substr(0, 4) + " s ago";
      }
      failure = make_error("MPI job", "stopped by a signal (mpirun stops every rank when one fails)" + state,
                           ErrorCode::kUnavailable);
      break;
    }
    std::size_t sum = activity.processed.load();
    for (int r = 1; r < size_; ++r) sum += last[r].processed;
    bar.update(sum);
  }
  if (failure) {
    // The worker may be blocked on a lost rank's table rows: the caller aborts the job.
    worker.detach();
    return *failure;
  }
  bar.finish();
  worker.join();
  if (!*result) return make_error(describe(0, report_of(2, activity, share_items)), "failed: " + result->message(),
                                  result->error().code);
  JobSummary job;
  job.ranks = size_;
  job.total = **result;
  for (int r = 1; r < size_; ++r) add_to(job.total, last[r]);
  job.total.total = total_items;
  return job;
}

}  // namespace homelens::dist
