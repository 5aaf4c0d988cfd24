// sophia-kokkos bench: forward+backward (and optionally full training steps)
// against the gemm rate measured in the same run on the same matrix shapes
// (the practical peak of the machine).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>

#include <unistd.h>

#include "batch.hpp"
#include "batched_gemm.hpp"
#include "checkpoint_policy.hpp"
#include "comm.hpp"
#include "commands.hpp"
#include "deck.hpp"
#include "error.hpp"
#include "flops.hpp"
#include "gemm_rate.hpp"
#include "gpt2.hpp"
#include "probe.hpp"
#include "kernel_timer.hpp"
#include "memory.hpp"
#include "step.hpp"
#include "timer.hpp"

namespace sk {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

std::string blas_threads() {
  for (const char* var : {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"})
    if (const char* v = std::getenv(var)) return std::string(var) + "=" + v;
  return "library default";
}

// The environment settings that decide how our kernels' threads and the BLAS
// library's share the cores (jobs/README.md), as set for this run.
std::string thread_settings() {
  std::string s;
  for (const char* var : {"OMP_NUM_THREADS", "OMP_PROC_BIND", "OMP_PLACES", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS"})
    if (const char* v = std::getenv(var)) s += std::string(s.empty() ? "" : " ") + var + "=" + v;
  return s.empty() ? "none set" : s;
}

// The process's peak resident memory so far (VmHWM), in bytes.
double peak_resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  for (double kb; status >> key;)
    if (key == "VmHWM:" && status >> kb) return kb * 1024;
  return 0;
}

// Runs `step` (a training step, forward+backward or an HVP pass) `iters` more
// times under a KernelTimer and lists where the time went, per run.
template <class Step>
void print_breakdown(const char* what, Step step, int iters) {
  std::vector<std::pair<std::string, double>> totals;
  double wall = 0;
  {
    KernelTimer timer;
    const auto t0 = Clock::now();
    for (int i = 0; i < iters; ++i) step(1000 + i);
    wall = seconds_since(t0);
    totals = timer.totals();
  }
  std::printf("\nbreakdown per %s (%d fenced, %.1f ms each):\n", what, iters, wall / iters * 1e3);
  double listed = 0;
  for (const auto& [name, s] : totals) {
    std::printf("  %-44s %9.2f ms %5.1f%%\n", name.c_str(), s / iters * 1e3, 100 * s / wall);
    listed += s;
  }
  std::printf("  %-44s %9.2f ms %5.1f%%\n", "(outside kernels: host code, allocation)", (wall - listed) / iters * 1e3,
              100 * (wall - listed) / wall);
}

// Writes `bytes` bytes from `buffer` to `path` in one stream and syncs them,
// as a checkpoint does before its rename.
void plain_write(const std::string& path, const char* buffer, std::size_t bytes) {
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(buffer, 1, bytes, f);
    std::fflush(f);
    fsync(fileno(f));
    std::fclose(f);
  }
}

// Checkpoint write and read times against plain I/O of the same number of
// bytes (the parameters and optimizer state, from host memory) to the same
// folder, medians of `iters`. The reference is one sequential write of all
// the bytes; with several ranks, every rank writing its share at once is
// shown too. All writes end with an fsync, so they measure the disk rather
// than the page cache. Returns the report on rank 0, "" elsewhere.
std::string bench_checkpoint(const std::string& dir, int iters, const CheckpointTarget& target, const MpiEnv& mpi) {
  const std::string ckpt = dir + "/bench_checkpoint.h5", plain = dir + "/bench_plain.bin";
  const std::size_t bytes =
      target.model.layout().stored_count() * sizeof(float) * (1 + target.optimizer.state().size());
  const bool root = mpi.rank() == 0, parallel = mpi.size() > 1;
  std::vector<char> buffer(root ? bytes : bytes / mpi.size(), 1);
  std::vector<double> write, read, sequential, shares;
  auto timed = [&](std::vector<double>& into, auto&& what) {
    MPI_Barrier(MPI_COMM_WORLD);
    const auto t0 = Clock::now();
    what();
    MPI_Barrier(MPI_COMM_WORLD);
    into.push_back(seconds_since(t0));
  };
  auto checkpoint_io = [&] {
    timed(write, [&] { save_checkpoint(ckpt, target, {0, 0, 0, "bench"}); });
    timed(read, [&] { load_checkpoint(ckpt, target, 0); });
    if (root) std::remove(ckpt.c_str());
  };
  auto plain_io = [&] {
    timed(sequential, [&] {
      if (root) plain_write(plain, buffer.data(), bytes);
    });
    if (root) std::remove(plain.c_str());
    if (!parallel) return;
    const std::string mine = plain + "." + std::to_string(mpi.rank());
    timed(shares, [&] { plain_write(mine, buffer.data(), bytes / mpi.size()); });
    std::remove(mine.c_str());
  };
  // The disk's speed drifts after bursts of writing: alternating the order
  // keeps either side from always following the other's burst.
  for (int i = 0; i < iters; ++i) {
    if (i % 2) {
      plain_io();
      checkpoint_io();
    } else {
      checkpoint_io();
      plain_io();
    }
  }
  if (!root) return "";
  const double gb = bytes / 1e9, w = median(write), r = median(read), pw = median(sequential);
  char line[400];
  int n = std::snprintf(line, sizeof line,
                        "checkpoint (%.2f GB, %d rank(s)%s): write %.2f s = %.2f GB/s, read %.2f s = %.2f GB/s; "
                        "plain sequential write %.2f GB/s; checkpoint write at %.0f%% of it",
                        gb, mpi.size(), target.reducer.partitioned() ? ", ZeRO-1" : "", w, gb / w, r, gb / r, gb / pw, 100 * pw / w);
  if (parallel)
    n += std::snprintf(line + n, sizeof line - n,
                       "; every rank writing its share at once: %.2f GB/s, checkpoint write at %.0f%% of that",
                       gb / median(shares), 100 * median(shares) / w);
  std::snprintf(line + n, sizeof line - n, "\n");
  return line;
}

struct Timings {
  std::vector<double> step, gemm, comm_wait;
  // Sophia's refresh beside each step: what it adds (Sophia-G: the refresh;
  // Sophia-H: the refreshing step less the plain step), and an AdamW step.
  std::vector<double> hessian, adamw;
  std::vector<double> hvp_ratio;  // each iteration's HVP passes over its forward+backward time
  double resident = 0;  // peak resident bytes after the warm-up
};

Options bench_options() {
  Options opts("bench",
               "Times GPT-2 forward+backward on random tokens and compares its FLOP rate with the rate of\n"
               "the same gemm calls (same shapes and transposes) measured in the same run. With --optimizer,\n"
               "times full training steps (forward, backward, clipping, update) and, for sophiag and sophiah, the\n"
               "Hessian refresh and an AdamW step beside them, and reports the peak resident memory of training.");
  add_model_options(opts, "gpt2");
  opts.add("--batch", "B", "batch size", "4");
  opts.add("--seq", "T", "sequence length", "64");
  opts.add("--warmup", "N", "untimed iterations first", "2");
  opts.add("--iters", "N", "timed iterations (the median is reported)", "5");
  opts.add("--optimizer", "NAME", "time full training steps with adamw, sophiag or sophiah (default: forward+backward only)");
  opts.add("--reduction", "MODE", "under mpiexec: gradient sums over ranks, overlap, blocking, zero1 or exact", "overlap");
  opts.add("--bucket-mb", "MB", "bucket size of overlapped reductions", "25");
  opts.add("--checkpoint", "DIR", "with --optimizer: also time checkpoint writes and reads in DIR against plain file I/O");
  opts.add_flag("--hvp", "also time an exact Hessian-vector product (forward-over-reverse) after each forward+backward");
  opts.add_flag("--breakdown",
                "then time each kernel and BLAS call over as many steps (fenced) and list them; so too for the "
                "Hessian refresh (with sophiag or sophiah) and the HVP (with --hvp)");
  opts.add("--gemm", "LIBRARY", "library of the float gemms (the gemm rate too): auto, blas or onednn, as train.gemm", "auto");
  add_precision_option(opts);
  opts.add_flag("--tf32", "float gemms on TF32 tensor cores (CUDA; the gemm rate too), as train.tf32 = true");
  opts.add_flag("--allreduce", "instead: time MPI_Allreduce of 4 KiB to 64 MiB over the ranks (bench/fit_alpha_beta.py)");
  opts.add_flag("--out-of-place", "with --allreduce: from a separate send buffer instead of MPI_IN_PLACE");
  opts.add_flag("--nonblocking", "with --allreduce: MPI_Iallreduce + MPI_Wait, as the overlapped gradient buckets");
  return opts;
}

// Hessian-vector products of a batch's loss along one Gaussian probe, drawn
// once: what is timed is the HVP alone, without the gradient, as the hvp
// command runs it (the training refresh's cost, gradient shared, is timed apart).
struct HvpTimer {
  View1<float> v, hv;
  explicit HvpTimer(const ParameterLayout& layout) : v("probe", layout.size()), hv("hvp", layout.size()) {
    draw_probe(layout, Probe::gaussian, 0, v);
  }
  // Seconds of one HVP.
  double operator()(GPT2<float>& model, const Batch& batch) {
    const auto t0 = Clock::now();
    model.hvp(batch.inputs, batch.targets, v, hv, {}, GPT2<float>::HvpGradient::skip);
    Kokkos::fence();
    return seconds_since(t0);
  }
};

// What a bench run measures, from its options (checked).
struct BenchSettings {
  GPT2Config config;
  int B, T, warmup, iters;
  bool full, tf32;  // full: training steps with oc, not forward+backward alone
  bool hvp;         // time GPT2::hvp beside forward+backward
  OptimizerConfig oc;
  Reduction reduction;
  double bucket_mb;
};

BenchSettings bench_settings(const Options& opts) {
  BenchSettings s;
  s.config = model_config(opts);
  s.B = int(opts.integer("--batch", 1, 1 << 16));
  s.T = int(opts.integer("--seq", 1, s.config.block_size));
  s.warmup = int(opts.integer("--warmup", 1, 1000));
  s.iters = int(opts.integer("--iters", 1, 1000));
  s.full = opts.has("--optimizer");
  if (!opts.flag("--allreduce") && (opts.flag("--out-of-place") || opts.flag("--nonblocking")))
    throw UsageError("bench: --out-of-place and --nonblocking choose how --allreduce calls MPI: give --allreduce too");
  if (opts.has("--checkpoint") && !s.full)
    throw UsageError("bench: --checkpoint times the checkpoints of training steps: give --optimizer too");
  s.oc = optimizer_defaults(s.full ? opts.choice<OptimizerType>("--optimizer") : OptimizerType::adamw);
  s.reduction = opts.choice<Reduction>("--reduction");
  s.bucket_mb = opts.number("--bucket-mb", 0.001, 65536);
  s.tf32 = opts.flag("--tf32");
  s.hvp = opts.flag("--hvp");
  if (s.hvp && s.full) throw UsageError("bench: --hvp times forward+backward against the HVP: leave out --optimizer");
  if (!set_gemm_tf32(s.tf32)) throw UsageError("bench: --tf32 needs a CUDA build (TF32 is a tensor-core format)");
  if (!use_gemm_library(opts.choice<GemmChoice>("--gemm")))
    throw UsageError("bench: --gemm onednn needs a build with oneDNN (libdnnl-dev, SK_ONEDNN=ON), and this one has none");
  use_precision_option(opts, "bench");
  return s;
}

// What Sophia's refresh adds to training, and Sophia against AdamW at
// hessian_interval k: (k steps + 1 refresh's extra) / k per step.
void print_refresh_cost(const BenchSettings& s, const Timings& t, double step_s) {
  const int k = s.oc.hessian_interval;
  const double extra = median(t.hessian), adamw = median(t.adamw), amortised = step_s + extra / k;
  if (s.oc.type == OptimizerType::sophiah)
    std::printf("hessian refresh (exact HVP, within the step): median %.1f ms more than a training step, %.2f times "
                "it; the HVP passes %.2f times the forward+backward they replace (ratios of the same iterations)\n",
                extra * 1e3, extra / step_s, median(t.hvp_ratio));
  else
    std::printf("hessian refresh (sampled-label gradient): median %.1f ms, %.2f times the training step\n",
                extra * 1e3, extra / step_s);
  std::printf("every %d steps: %.1f ms per step amortised, against %.1f ms per adamw step in the same run: %+.1f%%\n", k,
              amortised * 1e3, adamw * 1e3, 100 * (amortised / adamw - 1));
}

// Rank 0's report of the timings, against the gemm rate of the same shapes.
void print_report(const BenchSettings& s, const std::string& model_name, const Timings& t, const GPT2<float>& model,
                  const GradientReducer& reducer, int ranks) {
  const int B = s.B, T = s.T;
  const double step_s = median(t.step), gemm_s = median(t.gemm);
  const double lin = linear_flops(s.config, B, T), att = attention_flops(s.config, B, T);
  const bool bf16 = kblas::gemm_precision() == kblas::GemmPrecision::bf16;
  std::printf("bench: %s-shaped model, %.2fM parameters, B=%d T=%d, float32%s\n", model_name.c_str(),
              model.layout().stored_count() / 1e6, B, T,
              s.tf32 ? " with TF32 gemms" : bf16 ? " with bf16 gemm inputs (fp32 accumulation)" : "");
  std::printf("parallelism: Kokkos %s (concurrency %d), BLAS threads %s, %d MPI rank(s) each running this\n",
              ExecSpace::name(), int(ExecSpace().concurrency()), blas_threads().c_str(), ranks);
  std::printf("gemm library: %s\ngemm precision: %s\n", gemm_library_name(), bf16 ? "bf16" : "fp32");
  std::printf("thread settings: %s\n", thread_settings().c_str());
  const std::string what = s.full ? "training step (" + std::string(name_of(s.oc.type)) + ")" : "forward+backward";
  std::printf("%s: median %.1f ms over %d iterations (min %.1f, max %.1f), %.0f tokens/s\n", what.c_str(),
              step_s * 1e3, s.iters, *std::min_element(t.step.begin(), t.step.end()) * 1e3,
              *std::max_element(t.step.begin(), t.step.end()) * 1e3, B * T / step_s);
  if (s.full && ranks > 1) {
    const std::vector<double> timed(t.comm_wait.end() - s.iters, t.comm_wait.end());
    std::printf("communication (%s): median wait %.1f ms, %.1f%% of the step; %.1f MB sent per rank per step\n",
                name_of(s.reduction), median(timed) * 1e3, 100 * median(timed) / step_s,
                (reducer.bytes_sent_per_reduction() + reducer.bytes_sent_per_gather()) / 1e6);
  }
  if (!t.hessian.empty()) print_refresh_cost(s, t, step_s);
  if (!s.full && !t.hvp_ratio.empty())
    std::printf("hvp (forward-over-reverse, without the gradient): median %.2f times forward+backward (ratios of the "
                "same iterations)\n",
                median(t.hvp_ratio));
  std::printf("work per step: %.2f GFLOP (linear layers %.2f, attention %.3f)\n", (lin + att) / 1e9, lin / 1e9,
              att / 1e9);
  std::printf("achieved: %.1f GFLOP/s\n", (lin + att) / step_s / 1e9);
  std::printf("gemm (%s) on the same shapes: %.1f GFLOP/s (median %.1f ms per step's worth)\n", gemm_description().c_str(),
              lin / gemm_s / 1e9, gemm_s * 1e3);
  std::printf("fraction of gemm rate: %.3f\n", (lin + att) / step_s / (lin / gemm_s));
  std::printf("peak resident memory: %.2f GB\n", t.resident / 1e9);
  std::printf("LM head logits: %.3f GB in chunks of rows (all B*T rows at once would take %.3f GB)\n",
              model.lm_head_bytes(B, T) / 1e9, double(B) * T * s.config.padded_vocab() * sizeof(float) / 1e9);
}

// Seconds that Sophia's refresh adds as training runs it (Sophia-G:
// hessian_refresh after a step; Sophia-H: a refreshing_step less a plain step
// just before it, whose forward+backward its HVP passes are compared with),
// and of an AdamW step on the same batch.
struct RefreshCost {
  double extra, adamw, hvp_passes = 0, forward_backward = 0;
};

// The refresh as training runs it: for Sophia-H a refreshing step (the HVP
// passes in place of forward+backward, then the update), for Sophia-G
// hessian_refresh. Returns the seconds of Sophia-H's HVP passes (0 for Sophia-G).
double run_refresh(GPT2<float>& model, Optimizer& optimizer, GradientReducer& reducer,
                   const std::vector<SequenceBatch>& micro, const OptimizerConfig& oc, long key) {
  if (oc.type != OptimizerType::sophiah) {
    hessian_refresh(model, optimizer, reducer, micro, oc.grad_clip, key);
    return 0;
  }
  return refreshing_step(model, optimizer, reducer, micro, micro.size(), key, oc.lr, oc.grad_clip, key)
      .hessian.times.forward;
}

RefreshCost time_refresh(GPT2<float>& model, Optimizer& optimizer, Optimizer& adamw, GradientReducer& reducer,
                         const std::vector<SequenceBatch>& micro, const BenchSettings& s, long key) {
  const OptimizerConfig& oc = s.oc;
  RefreshCost c{};
  auto t0 = Clock::now();
  if (oc.type == OptimizerType::sophiah) {
    const StepTimes plain = optimizer_step(model, optimizer, reducer, micro, oc.lr, oc.grad_clip, key).times;
    const double plain_s = seconds_since(t0);
    c.forward_backward = plain.forward + plain.backward;
    t0 = Clock::now();
    c.hvp_passes = run_refresh(model, optimizer, reducer, micro, oc, key);
    c.extra = seconds_since(t0) - plain_s;
  } else {
    run_refresh(model, optimizer, reducer, micro, oc, key);
    c.extra = seconds_since(t0);
  }
  t0 = Clock::now();
  optimizer_step(model, adamw, reducer, micro, oc.lr, oc.grad_clip, key);
  c.adamw = seconds_since(t0);
  return c;
}

}  // namespace

int cmd_bench(int argc, char** argv, const MpiEnv& mpi) {
  Options opts = bench_options();
  if (!parse_or_help(opts, argc, argv, mpi)) return 0;
  const BenchSettings s = bench_settings(opts);
  if (opts.flag("--allreduce"))
    return bench_allreduce(s.warmup, s.iters, {!opts.flag("--out-of-place"), opts.flag("--nonblocking")}, mpi);
  const int B = s.B, T = s.T;
  const double state_share = s.reduction == Reduction::zero1 ? 1.0 / mpi.size() : 1.0;
  require_memory("bench", s.full ? training_need(s.config, B / mpi.size(), T, state_share)
                                 : forward_need(s.config, B / mpi.size(), T));
  GPT2<float> model(s.config);
  model.init_random(1337);
  std::mt19937 rng(42 + mpi.rank());  // each rank its own tokens: B per rank (weak scaling)
  std::vector<std::uint16_t> tokens(std::size_t(B) * T + 1);
  for (auto& tok : tokens) tok = std::uint16_t(rng() % s.config.vocab_size);
  StepBatches batches(1, B, T);  // consecutive rows of one random text, sequence numbers 0..B-1
  for (int b = 0; b < B; ++b) batches.set_row(0, b, tokens.data() + std::size_t(b) * T, std::uint64_t(b));
  const std::vector<SequenceBatch> micro = batches.upload();
  GradientReducer reducer(model.grads, s.reduction, std::size_t(s.bucket_mb * 1e6));
  const OptimizerConfig& oc = s.oc;
  const auto optimizer =
      s.full ? make_optimizer(oc, model.layout(), double(B) * T * mpi.size(), reducer.partition()) : nullptr;
  const bool sophia = s.full && is_sophia(oc.type);
  const auto adamw = sophia ? make_optimizer(optimizer_defaults(OptimizerType::adamw), model.layout(),
                                             double(B) * T * mpi.size(), reducer.partition())
                            : nullptr;
  Timings t;

  // One step of what is measured: forward+backward, or a full training step.
  auto step = [&](long i) {
    if (!s.full) {
      model.zero_grad();
      model.forward(micro[0].batch.inputs, micro[0].batch.targets);
      model.backward();
    } else {
      t.comm_wait.push_back(optimizer_step(model, *optimizer, reducer, micro, oc.lr, oc.grad_clip, i).times.comm_wait);
    }
  };
  const auto shapes = linear_layers(s.config, B, T);
  for (int i = 0; i < s.warmup; ++i) step(i);
  if (sophia) time_refresh(model, *optimizer, *adamw, reducer, micro, s, 0);
  t.resident = peak_resident_bytes();  // before the gemm reference allocates its buffers
  std::optional<HvpTimer> hvp;
  if (s.hvp) hvp.emplace(model.layout());
  for (int i = 0; i < s.iters; ++i) {
    auto t0 = Clock::now();
    step(s.warmup + i);
    t.step.push_back(seconds_since(t0));
    t.gemm.push_back(time_step_gemms(shapes));
    if (hvp) t.hvp_ratio.push_back((*hvp)(model, micro[0].batch) / t.step.back());
    if (sophia) {
      const RefreshCost c = time_refresh(model, *optimizer, *adamw, reducer, micro, s, i + 1);
      t.hessian.push_back(c.extra);
      t.adamw.push_back(c.adamw);
      if (c.hvp_passes > 0) t.hvp_ratio.push_back(c.hvp_passes / c.forward_backward);
    }
  }
  std::string checkpoint_line;
  if (opts.has("--checkpoint"))
    checkpoint_line = bench_checkpoint(opts.str("--checkpoint"), s.iters, {model, *optimizer, reducer, oc.type}, mpi);
  if (mpi.rank() != 0) return 0;
  print_report(s, opts.str("--model"), t, model, reducer, mpi.size());
  std::fputs(checkpoint_line.c_str(), stdout);
  if (opts.flag("--breakdown")) print_breakdown("step", step, s.iters);
  if (opts.flag("--breakdown") && sophia)
    print_breakdown("Hessian refresh", [&](long i) { run_refresh(model, *optimizer, reducer, micro, oc, i); },
                    s.iters);
  if (opts.flag("--breakdown") && s.hvp)
    print_breakdown("hvp", [&](long) { (*hvp)(model, micro[0].batch); }, s.iters);
  return 0;
}

}  // namespace sk
