#include "watchdog.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "error.hpp"

namespace sk {

namespace {

using Steady = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Steady::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "an unknown host";
  return name;
}

std::string rank_file(const std::string& folder, int rank) { return folder + "/rank-" + std::to_string(rank); }

// Writes `text` to `path` through a temporary and a rename, so that a reader
// never sees half a line.
void replace_file(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) return;  // a full or read-only file system: the next beat tries again
  }
  std::rename(temporary.c_str(), path.c_str());
}

// The hosts of `ranks`, without repeats: what the batch job leaves out when
// it resumes (jobs/train.sbatch reads lost_nodes).
std::string hosts_of(const std::vector<int>& ranks, const std::vector<Heartbeat>& beats) {
  std::vector<std::string> hosts;
  for (int r : ranks)
    if (!beats[r].host.empty() && std::find(hosts.begin(), hosts.end(), beats[r].host) == hosts.end())
      hosts.push_back(beats[r].host);
  std::string out;
  for (const auto& h : hosts) out += h + "\n";
  return out;
}

}  // namespace

std::vector<Heartbeat> read_heartbeats(const std::string& folder, int ranks) {
  std::vector<Heartbeat> beats(ranks);
  for (int r = 0; r < ranks; ++r) {
    std::ifstream in(rank_file(folder, r));
    Heartbeat b;
    if (in >> b.beat >> b.host >> b.pid >> b.step) beats[r] = b;
  }
  return beats;
}

std::vector<int> stopped_ranks(const std::vector<Heartbeat>& before, const std::vector<Heartbeat>& after, int self) {
  std::vector<int> stopped;
  for (int r = 0; r < int(after.size()); ++r)
    if (r != self && (after[r].beat < 0 || after[r].beat == before[r].beat)) stopped.push_back(r);
  return stopped;
}

std::string lost_rank_report(int self, long step, double waited_s, const std::vector<int>& stopped,
                             const std::vector<Heartbeat>& after) {
  std::ostringstream out;
  out.precision(3);
  out << "train: rank " << self << " has waited " << waited_s << " s for the other ranks after step " << step
      << " (parallel.peer_timeout)\n";
  for (int r : stopped) {
    if (after[r].beat < 0)
      out << "train: rank " << r << " has no heartbeat file: its process has ended (see its own message) or never started\n";
    else
      out << "train: rank " << r << " on " << after[r].host << " (pid " << after[r].pid << ", last at step "
          << after[r].step << ") has stopped: its heartbeat no longer changes, so its process or node is gone\n";
  }
  if (stopped.empty()) {
    out << "train: every other rank's heartbeat goes on (steps:";
    for (int r = 0; r < int(after.size()); ++r)
      if (r != self) out << " rank " << r << " at " << after[r].step;
    out << "): the ranks cannot reach each other (a network fault), or a step, evaluation or checkpoint takes "
           "longer than parallel.peer_timeout; raise it if so\n";
  }
  out << "train: stopping with exit code " << exit_rank_lost
      << ": resume from the last checkpoint on the nodes that are left (jobs/train.sbatch does so by itself)\n";
  return out.str();
}

PeerWatchdog::PeerWatchdog(const std::string& run_dir, int rank, int ranks, double timeout)
    : run_dir_(run_dir), folder_(run_dir + "/.heartbeats"), file_(rank_file(folder_, rank)), rank_(rank), ranks_(ranks), timeout_(timeout),
      interval_(std::clamp(timeout / 8, 0.2, 10.0)), progress_ns_(now_ns()) {
  std::error_code ec;
  std::filesystem::create_directories(folder_, ec);  // every rank: another may be creating it too
  if (!std::filesystem::is_directory(folder_))
    throw Error("cannot create the heartbeat folder " + folder_ + (ec ? ": " + ec.message() : ""));
  beat();
  thread_ = std::thread([this] { watch(); });
}

PeerWatchdog::~PeerWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  std::remove(file_.c_str());
  std::error_code ec;
  std::filesystem::remove(folder_, ec);  // the last rank out removes the (then empty) folder
}

void PeerWatchdog::progress(long step) {
  step_ = step;
  progress_ns_ = now_ns();
}

double PeerWatchdog::seconds_since_progress() const { return 1e-9 * double(now_ns() - progress_ns_.load()); }

void PeerWatchdog::beat() {
  static const std::string host = host_name();
  replace_file(file_, std::to_string(++beats_) + " " + host + " " + std::to_string(getpid()) + " " +
                          std::to_string(step_.load()) + "\n");
}

// Beats every interval; examines the peers once the loop has waited too long.
void PeerWatchdog::watch() {
  const auto interval = std::chrono::duration<double>(interval_);
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    beat();
    if (seconds_since_progress() > timeout_) give_up(seconds_since_progress());
  }
}

// Reads the peers' heartbeats, keeps beating for a few intervals (other
// survivors are reading this rank's meanwhile), reads them again, reports
// and ends the process: the main thread is stuck in MPI and cannot be asked.
void PeerWatchdog::give_up(double waited_s) {
  const std::vector<Heartbeat> before = read_heartbeats(folder_, ranks_);
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::duration<double>(interval_));
    beat();
  }
  const std::vector<Heartbeat> after = read_heartbeats(folder_, ranks_);
  const std::vector<int> stopped = stopped_ranks(before, after, rank_);
  if (!stopped.empty()) replace_file(run_dir_ + "/lost_nodes", hosts_of(stopped, after));
  std::fflush(stdout);
  const std::string report = lost_rank_report(rank_, step_.load(), waited_s, stopped, after);
  std::fwrite(report.data(), 1, report.size(), stderr);
  std::fflush(stderr);
  std::_Exit(exit_rank_lost);
}

}  // namespace sk
