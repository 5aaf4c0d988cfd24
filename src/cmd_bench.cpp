// sophia-kokkos bench: forward+backward time against the gemm rate measured in
// the same run on the same matrix shapes (the practical peak of the machine).
#include <KokkosBlas3_gemm.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "batch.hpp"
#include "commands.hpp"
#include "flops.hpp"
#include "gpt2.hpp"

namespace sk {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Times the three gemms of every linear layer (forward NT, input gradient NN,
// weight gradient TN), as often as one forward+backward runs them.
double time_step_gemms(const std::vector<LinearShape>& shapes) {
  double total = 0;
  for (const auto& s : shapes) {
    View2<float> x("x", s.rows, s.in), w("w", s.out, s.in), y("y", s.rows, s.out);
    View2<float> dx("dx", s.rows, s.in), dw("dw", s.out, s.in);
    Kokkos::deep_copy(x, 0.01f);
    Kokkos::deep_copy(w, 0.01f);
    Kokkos::deep_copy(y, 0.01f);
    KokkosBlas::gemm("N", "T", 1.0f, x, w, 0.0f, y);  // first touch outside the timing
    Kokkos::fence();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < s.count; ++i) {
      KokkosBlas::gemm("N", "T", 1.0f, x, w, 0.0f, y);
      KokkosBlas::gemm("N", "N", 1.0f, y, w, 0.0f, dx);
      KokkosBlas::gemm("T", "N", 1.0f, y, x, 1.0f, dw);
    }
    Kokkos::fence();
    total += seconds_since(t0);
  }
  return total;
}

std::string blas_threads() {
  for (const char* var : {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"})
    if (const char* v = std::getenv(var)) return std::string(var) + "=" + v;
  return "library default";
}

}  // namespace

int cmd_bench(int argc, char** argv, const MpiEnv& mpi) {
  Options opts("bench",
               "Times GPT-2 forward+backward on random tokens and compares its FLOP rate with the rate of\n"
               "the same gemm calls (same shapes and transposes) measured in the same run.");
  add_model_options(opts, "gpt2");
  opts.add("--batch", "B", "batch size", "4");
  opts.add("--seq", "T", "sequence length", "64");
  opts.add("--warmup", "N", "untimed iterations first", "2");
  opts.add("--iters", "N", "timed iterations (the median is reported)", "5");
  if (!opts.parse(argc, argv, 2)) {
    if (mpi.rank() == 0) std::fputs(opts.help().c_str(), stdout);
    return 0;
  }
  const GPT2Config config = model_config(opts);
  const int B = int(opts.integer("--batch", 1, 1 << 16));
  const int T = int(opts.integer("--seq", 1, config.block_size));
  const int warmup = int(opts.integer("--warmup", 0, 1000));
  const int iters = int(opts.integer("--iters", 1, 1000));

  GPT2<float> model(config);
  model.init_random(1337);
  std::mt19937 rng(42);
  std::vector<std::uint16_t> tokens(std::size_t(B) * T + 1);
  for (auto& t : tokens) t = std::uint16_t(rng() % config.vocab_size);
  const Batch batch = make_batch(tokens, 0, B, T);

  std::vector<double> step_times, gemm_times;
  const auto shapes = linear_layers(config, B, T);
  for (int i = 0; i < warmup + iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    model.zero_grad();
    model.forward(batch.inputs, batch.targets);
    model.backward();
    Kokkos::fence();
    const double step = seconds_since(t0);
    const double gemm = time_step_gemms(shapes);
    if (i >= warmup) {
      step_times.push_back(step);
      gemm_times.push_back(gemm);
    }
  }
  const double step = median(step_times), gemm = median(gemm_times);
  const double lin = linear_flops(config, B, T), att = attention_flops(config, B, T);
  if (mpi.rank() == 0) {
    std::printf("bench: %s-shaped model, %.2fM parameters, B=%d T=%d, float32\n", opts.str("--model").c_str(),
                model.layout().stored_count() / 1e6, B, T);
    std::printf("parallelism: Kokkos %s (concurrency %d), BLAS threads %s, %d MPI rank(s) each running this\n",
                ExecSpace::name(), int(ExecSpace().concurrency()), blas_threads().c_str(), mpi.size());
    std::printf("forward+backward: median %.1f ms over %d iterations (min %.1f, max %.1f), %.0f tokens/s\n",
                step * 1e3, iters, *std::min_element(step_times.begin(), step_times.end()) * 1e3,
                *std::max_element(step_times.begin(), step_times.end()) * 1e3, B * T / step);
    std::printf("work per step: %.2f GFLOP (linear layers %.2f, attention %.3f)\n", (lin + att) / 1e9, lin / 1e9,
                att / 1e9);
    std::printf("achieved: %.1f GFLOP/s\n", (lin + att) / step / 1e9);
    std::printf("gemm on the same shapes: %.1f GFLOP/s (median %.1f ms per step's worth)\n", lin / gemm / 1e9,
                gemm * 1e3);
    std::printf("fraction of gemm rate: %.3f\n", (lin + att) / step / (lin / gemm));
  }
  return 0;
}

}  // namespace sk
