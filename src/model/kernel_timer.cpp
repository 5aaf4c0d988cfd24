#include "kernel_timer.hpp"

#include <Kokkos_Core.hpp>
#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

namespace sk {
namespace {

using Clock = std::chrono::steady_clock;

struct State {
  std::map<std::string, double> seconds;
  std::vector<std::pair<std::string, Clock::time_point>> open;  // kernels by id, regions as a stack
  int region_depth = 0;
  bool active = false;
} state;

void begin_kernel(const char* name, std::uint32_t, std::uint64_t* id) {
  *id = state.open.size();
  state.open.emplace_back(state.region_depth > 0 ? std::string() : std::string(name), Clock::now());
}

void end_kernel(std::uint64_t id) {
  Kokkos::fence();
  auto& [name, t0] = state.open.at(id);
  if (!name.empty()) state.seconds[name] += std::chrono::duration<double>(Clock::now() - t0).count();
  if (id + 1 == state.open.size()) state.open.pop_back();
}

void push_region(const char* name) {
  if (state.region_depth++ == 0) state.open.emplace_back(std::string("region:") + name, Clock::now());
}

void pop_region() {
  if (--state.region_depth > 0) return;
  Kokkos::fence();
  auto& [name, t0] = state.open.back();
  state.seconds[name.substr(7)] += std::chrono::duration<double>(Clock::now() - t0).count();
  state.open.pop_back();
}

// Installs the callbacks, or removes them.
void install(bool on) {
  namespace tools = Kokkos::Tools::Experimental;
  tools::set_begin_parallel_for_callback(on ? begin_kernel : nullptr);
  tools::set_end_parallel_for_callback(on ? end_kernel : nullptr);
  tools::set_begin_parallel_reduce_callback(on ? begin_kernel : nullptr);
  tools::set_end_parallel_reduce_callback(on ? end_kernel : nullptr);
  tools::set_begin_parallel_scan_callback(on ? begin_kernel : nullptr);
  tools::set_end_parallel_scan_callback(on ? end_kernel : nullptr);
  tools::set_push_region_callback(on ? push_region : nullptr);
  tools::set_pop_region_callback(on ? pop_region : nullptr);
}

}  // namespace

KernelTimer::KernelTimer() {
  if (state.active) throw std::logic_error("only one KernelTimer at a time");
  state = State();
  state.active = true;
  install(true);
}

KernelTimer::~KernelTimer() {
  install(false);
  state.active = false;
}

std::vector<std::pair<std::string, double>> KernelTimer::totals() const {
  std::vector<std::pair<std::string, double>> out(state.seconds.begin(), state.seconds.end());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

}  // namespace sk
