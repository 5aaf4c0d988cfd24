// The peer watchdog's heartbeats and its verdict on them. Giving up ends the
// process, so that part runs in tests/parallel/check_lost_rank.py.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "watchdog.hpp"

using namespace sk;

namespace {

std::string fresh_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("sophia_watchdog_test_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

Heartbeat beat(long count, const std::string& host, long step) { return {count, host, 100 + count, step}; }

}  // namespace

TEST_CASE("a rank's heartbeat advances while it runs and goes with it", "[watchdog]") {
  const std::string dir = fresh_dir("beats");
  const std::string file = dir + "/.heartbeats/rank-1";
  long first = 0;
  {
    PeerWatchdog watchdog(dir, 1, 3, 1.6);  // beats every 0.2 s
    watchdog.progress(7);
    first = read_heartbeats(dir + "/.heartbeats", 3)[1].beat;
    REQUIRE(first >= 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    const auto beats = read_heartbeats(dir + "/.heartbeats", 3);
    CHECK(beats[1].beat > first);
    CHECK(beats[1].step == 7);
    CHECK(!beats[1].host.empty());
    CHECK(beats[0].beat == -1);  // ranks 0 and 2 never wrote theirs
    CHECK(beats[2].beat == -1);
  }
  CHECK(!std::filesystem::exists(file));
}

TEST_CASE("stopped ranks are those whose beat did not change or whose file is gone", "[watchdog]") {
  const std::vector<Heartbeat> before = {beat(5, "n0", 3), beat(9, "n1", 3), beat(2, "n2", 3), beat(4, "n3", 3)};
  std::vector<Heartbeat> after = {beat(5, "n0", 3), beat(12, "n1", 3), beat(2, "n2", 3), Heartbeat{}};
  // Rank 0 is the one asking: its own beat is not judged.
  CHECK(stopped_ranks(before, after, 0) == std::vector<int>{2, 3});
  CHECK(stopped_ranks(before, after, 1) == std::vector<int>{0, 2, 3});
  after[2].beat = 3;
  after[3] = beat(5, "n3", 4);
  CHECK(stopped_ranks(before, after, 0).empty());
}

TEST_CASE("the lost-rank report names the rank, its host and the exit code", "[watchdog]") {
  const std::vector<Heartbeat> after = {beat(5, "node-a", 11), beat(7, "node-b", 10), Heartbeat{}};
  const std::string lost = lost_rank_report(0, 11, 30, {1, 2}, after);
  CHECK(lost.find("rank 1 on node-b") != std::string::npos);
  CHECK(lost.find("last at step 10") != std::string::npos);
  CHECK(lost.find("rank 2 has no heartbeat file") != std::string::npos);
  CHECK(lost.find("exit code 76") != std::string::npos);
  const std::string none = lost_rank_report(0, 11, 30, {}, after);
  CHECK(none.find("every other rank's heartbeat goes on") != std::string::npos);
  CHECK(none.find("parallel.peer_timeout") != std::string::npos);
}

TEST_CASE("heartbeat files that are not whole lines read as missing", "[watchdog]") {
  const std::string dir = fresh_dir("garbage");
  std::ofstream(dir + "/rank-0") << "12 host";
  std::ofstream(dir + "/rank-1") << "not a number";
  std::ofstream(dir + "/rank-2") << "3 host 42 9\n";
  const auto beats = read_heartbeats(dir, 3);
  CHECK(beats[0].beat == -1);
  CHECK(beats[1].beat == -1);
  CHECK(beats[2].beat == 3);
  CHECK(beats[2].pid == 42);
}
