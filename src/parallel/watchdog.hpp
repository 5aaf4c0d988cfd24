// Lost ranks. Data parallelism blocks every rank in each step's collectives,
// and when a node dies MPI may leave the survivors waiting in them for good
// (Open MPI over TCP does: the job burns its allocation until Slurm notices
// the node, minutes later, or the time limit ends it). PeerWatchdog is a
// thread on every rank that
//   - writes this rank's heartbeat (host, pid, a beat count, its step) to a
//     file of its own on the shared file system every few seconds, and
//   - when the training loop has not moved for `timeout` seconds, reads the
//     other ranks' heartbeats twice, names the ranks whose heartbeat stopped
//     (their process or node is gone) and ends this process with
//     exit_rank_lost, so that the batch job resumes from the last checkpoint
//     on the nodes that are left (jobs/train.sbatch does).
// It uses no MPI, so that it works while MPI hangs. Beat counts, not clocks,
// are compared: nodes' clocks need not agree.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sk {

constexpr int exit_rank_lost = 76;  // a rank stopped responding: resume without its node

// One rank's heartbeat file: "beat host pid step".
struct Heartbeat {
  long beat = -1;  // -1: no readable file
  std::string host;
  long pid = 0;
  long step = 0;
};

// Heartbeats of ranks [0, ranks) in `folder` (rank-<r>); a missing or
// unreadable file reads as beat -1.
std::vector<Heartbeat> read_heartbeats(const std::string& folder, int ranks);

// The ranks other than `self` whose beat did not change between two readings
// (or whose file was never readable).
std::vector<int> stopped_ranks(const std::vector<Heartbeat>& before, const std::vector<Heartbeat>& after, int self);

// What this rank prints when it gives up on its peers: what it waited for and
// which ranks stopped, on which hosts (or that none did).
std::string lost_rank_report(int self, long step, double waited_s, const std::vector<int>& stopped,
                             const std::vector<Heartbeat>& after);

class PeerWatchdog {
 public:
  // run_dir: the run's output folder, on a file system every rank sees (the
  // heartbeats go to its .heartbeats/, the lost ranks' hosts to its
  // lost_nodes); timeout: seconds without progress before the peers are examined.
  PeerWatchdog(const std::string& run_dir, int rank, int ranks, double timeout);
  ~PeerWatchdog();  // stops the thread and removes this rank's heartbeat file (and the last, the folder)
  PeerWatchdog(const PeerWatchdog&) = delete;
  PeerWatchdog& operator=(const PeerWatchdog&) = delete;

  // The loop has moved (after each step, evaluation and checkpoint); `step`:
  // steps done.
  void progress(long step);

 private:
  void watch();
  void beat();
  void give_up(double waited_s);
  double seconds_since_progress() const;

  const std::string run_dir_, folder_, file_;
  const int rank_, ranks_;
  const double timeout_, interval_;  // seconds
  std::atomic<long> step_{0};
  std::atomic<std::int64_t> progress_ns_;  // steady clock at the last progress()
  long beats_ = 0;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sk
