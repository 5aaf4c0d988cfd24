#include "train.hpp"

#include <csignal>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "checkpoint.hpp"
#include "metrics.hpp"
#include "weights.hpp"
#include "random.hpp"
#include "data.hpp"
#include "error.hpp"
#include "flops.hpp"
#include "gemm_rate.hpp"
#include "gpt2.hpp"
#include "checkpoint_policy.hpp"
#include "comm.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"
#include "step.hpp"
#include "timer.hpp"

namespace sk {
namespace {

std::string duration(double s) {
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  return buf;
}

void make_output_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error("cannot create output folder " + dir + ": " + ec.message());
  const std::string probe = dir + "/.write_test";
  if (!std::ofstream(probe)) throw Error("output folder " + dir + " is not writable");
  std::remove(probe.c_str());
}

void require_windows(const TokenShards& shards, std::uint64_t needed, const std::string& what) {
  if (shards.windows() < needed)
    throw Error(what + " " + shards.pattern() + " holds " + std::to_string(shards.windows()) + " windows of seq_len+1 tokens (" +
                std::to_string(shards.tokens()) + " tokens), fewer than the " + std::to_string(needed) + " " + what +
                " needs; use a smaller batch or seq_len, or more data");
}

// This rank's rows of micro-batches, loaded into `out` (out.micro_batches()
// of them): micro-batch m covers the global sequences first + m*B ..
// first + m*B + B-1, and rank r of R takes B/R of them in order.
const std::vector<SequenceBatch>& rank_batches(StepBatches& out, const TokenShards& shards, const DataOrder& order,
                                               std::uint64_t first, int B, const MpiEnv& mpi) {
  const std::uint64_t rows = std::uint64_t(B / mpi.size());
  return load_batches(out, shards, order, first + std::uint64_t(mpi.rank()) * rows, std::uint64_t(B));
}

// Mean loss over the first out.micro_batches() micro-batches of the validation data.
double evaluate(GPT2<float>& model, const TokenShards& val, StepBatches& out, int B, const MpiEnv& mpi) {
  const DataOrder order(val.windows(), false, 0);
  double sum = 0;
  for (const auto& b : rank_batches(out, val, order, 0, B, mpi)) sum += model.evaluate(b.batch.inputs, b.batch.targets);
  return sum_over_ranks(sum) / (double(out.micro_batches()) * mpi.size());
}

std::unique_ptr<GPT2<float>> make_model(const GPT2Config& config, const std::string& init_from, std::uint64_t seed) {
  auto model = std::make_unique<GPT2<float>>(config);
  if (init_from.empty()) {
    model->init_random(seed);
    return model;
  }
  const std::string differences = shape_differences(read_config(init_from), config);
  if (!differences.empty())
    throw Error("--init-from " + init_from + ": model shape differs from the deck's [model]: " + differences);
  auto host = Kokkos::create_mirror_view(model->params);
  read_weights(init_from, model->layout(), host.data());
  Kokkos::deep_copy(model->params, host);
  return model;
}

Reduction reduction_of(const ParallelConfig& p) {
  return p.zero1 ? Reduction::zero1 : reduction_named(p.reduction).value();  // the deck allows overlap, blocking
}

// Phase times of a step into its metrics line.
void add_times(JsonLine& line, double data, const StepTimes& s, double hessian) {
  line.add("t_data", data).add("t_forward", s.forward).add("t_backward", s.backward).add("t_comm_wait", s.comm_wait);
  line.add("t_optimizer", s.optimizer).add("t_hessian", hessian);
}

// The keys whose values differ between a checkpoint's deck and this one.
std::string deck_changes(const std::string& stored, const Deck& deck) {
  const Deck before = Deck::parse(stored, "checkpoint deck", {});
  std::string out;
  std::istringstream a(before.to_toml()), b(deck.to_toml());
  std::string la, lb, section;
  while (std::getline(a, la) && std::getline(b, lb)) {
    if (!la.empty() && la[0] == '[') section = la.substr(1, la.size() - 2);
    if (la != lb) out += "  " + section + "." + lb.substr(0, lb.find(" =")) + ": " + la.substr(la.find("= ") + 2) +
                         " -> " + lb.substr(lb.find("= ") + 2) + "\n";
  }
  return out;
}

// Set by SIGTERM, SIGINT and SIGUSR1 (Slurm's warning before a time limit):
// the loop finishes its step, saves a checkpoint and exits for a requeue.
volatile std::sig_atomic_t stop_signal = 0;
extern "C" void request_stop(int signal) { stop_signal = signal; }

// What to stop for after a step, agreed by all ranks: 1, a stop signal on any
// rank; 2, checkpoint time by rank 0's clock.
int agreed_stop_requests(bool root, double minutes, Clock::time_point last_checkpoint) {
  int requests = (stop_signal ? 1 : 0) | (root && minutes > 0 && seconds_since(last_checkpoint) >= 60 * minutes ? 2 : 0);
  MPI_Allreduce(MPI_IN_PLACE, &requests, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD);
  return requests;
}

// Rank 0: creates the output folder and records the resolved deck there and in the log.
void start_output(const std::string& dir, const std::string& toml) {
  make_output_dir(dir);
  std::printf("%s\n", toml.c_str());
  std::ofstream(dir + "/config.toml") << toml;
}

// Rank 0's metrics file. A resumed run first drops the lines that the stopped
// run wrote after its checkpoint, and logs what the deck changes.
std::unique_ptr<MetricsFile> open_metrics(const std::string& dir, const std::string& resumed_from,
                                          const TrainingState& state, const Deck& deck) {
  const std::string path = dir + "/metrics.jsonl";
  if (!resumed_from.empty()) {
    std::printf("resume: %s at step %ld\n%s", resumed_from.c_str(), long(state.step), deck_changes(state.deck, deck).c_str());
    truncate_metrics(path, state.step);
  }
  return std::make_unique<MetricsFile>(path, !resumed_from.empty());
}

// Rank 0's log lines about the run before its first step.
void print_run(const TrainConfig& cfg, const TokenShards& data, const GradientReducer& reducer, int ranks,
               double tokens_per_step, double coordinates) {
  std::printf("model: %.2fM parameters; %s; %.0f tokens per step; %ld training windows in %zu shard(s)\n",
              coordinates / 1e6, cfg.optimizer.type.c_str(), tokens_per_step, long(data.windows()), data.files());
  if (ranks > 1)
    std::printf("ranks: %d, %d sequences each per micro-batch; %s; MB sent per rank per step: %.1f gradients, "
                "%.1f parameters%s\n",
                ranks, cfg.train.batch_size / ranks, cfg.parallel.zero1 ? "ZeRO-1 (bucketed reduces)" : cfg.parallel.reduction.c_str(),
                reducer.bytes_sent_per_reduction() / 1e6, reducer.bytes_sent_per_gather() / 1e6,
                cfg.optimizer.type == "sophiag" ? " (and the gradients again on Hessian steps)" : "");
}

// Rank 0's progress line after `step`; clip_rate < 0: not Sophia.
// first_step: the step this process started at (after a resume, not 0).
void print_step(long step, long first_step, int steps, const StepResult& r, double lr, double clip_rate,
                double tokens_per_s, double mfu, double seconds_so_far) {
  const double eta = eta_seconds(seconds_so_far, first_step, step, steps);
  char clip[32] = "";
  if (clip_rate >= 0) std::snprintf(clip, sizeof clip, " | clip %5.1f%%", 100 * clip_rate);
  std::printf("step %ld/%d | loss %.4f | lr %.2e | grad norm %.3f%s | %.0f tok/s | mfu %.1f%% | fwd %.0f bwd %.0f "
              "comm %.0f opt %.0f ms | eta %s\n",
              step + 1, steps, r.loss, lr, r.grad_norm, clip, tokens_per_s, 100 * mfu, r.times.forward * 1e3,
              r.times.backward * 1e3, r.times.comm_wait * 1e3, r.times.optimizer * 1e3, duration(eta).c_str());
  std::fflush(stdout);
}

// Model FLOP utilisation: the FLOPs of a step's forward and backward passes on
// one rank (linear layers and attention, as `bench` counts them; not the
// Hessian refresh's extra pass) over the step's time, against a per-rank peak.
struct Utilisation {
  double step_flops, peak;
  std::string peak_source;
};
Utilisation utilisation(const TrainConfig& cfg, int ranks, bool root) {
  const int B = cfg.train.batch_size / ranks, T = cfg.train.seq_len;
  Utilisation u;
  u.step_flops = cfg.train.grad_accum * (linear_flops(cfg.model, B, T) + attention_flops(cfg.model, B, T));
  if (cfg.train.peak_flops > 0) {
    u.peak = cfg.train.peak_flops;
    u.peak_source = "train.peak_flops";
  } else {  // every rank at once, as the ranks share the node while training
    u.peak = measured_gemm_rate(cfg.model, B, T);
    u.peak_source = "the gemm rate of this run's shapes, measured at start";
  }
  if (root)
    std::printf("mfu: model FLOPs per second on a rank (%.4g GFLOP per step) against %.1f GFLOP/s, %s\n",
                u.step_flops / 1e9, u.peak / 1e9, u.peak_source.c_str());
  return u;
}

}  // namespace

void catch_stop_signals() {
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) std::signal(sig, request_stop);
}

TrainResult train(const TrainConfig& cfg, const Deck& deck, const TrainOptions& options, const MpiEnv& mpi) {
  const auto& t = cfg.train;
  const int B = t.batch_size, T = t.seq_len, accum = t.grad_accum;
  const bool root = mpi.rank() == 0;
  const bool sophia = cfg.optimizer.type == "sophiag";
  catch_stop_signals();
  if (B % mpi.size() != 0)
    throw Error("train.batch_size " + std::to_string(B) + " (sequences per micro-batch over all ranks) is not divisible by the " +
                std::to_string(mpi.size()) + " ranks");

  // Data first: a problem with it should not wait for the model to be built.
  const TokenShards train_data(cfg.data.train_data, T, cfg.model.vocab_size);
  require_windows(train_data, std::uint64_t(B), "train_data");
  const DataOrder order(train_data.windows(), cfg.data.order == "shuffled", t.seed);
  std::unique_ptr<TokenShards> val_data;
  if (!cfg.data.val_data.empty()) {
    val_data = std::make_unique<TokenShards>(cfg.data.val_data, T, cfg.model.vocab_size);
    require_windows(*val_data, std::uint64_t(B) * t.eval_batches, "val_data");
  }

  const std::string toml = deck.to_toml();
  if (root) start_output(cfg.output_dir, toml);

  auto model = make_model(cfg.model, options.init_from, t.seed);
  GradientReducer reducer(model->grads, reduction_of(cfg.parallel), std::size_t(cfg.parallel.bucket_mb * 1e6));
  const double tokens_per_step = double(B) * T * accum;  // over all ranks
  auto optimizer = make_optimizer(cfg.optimizer, model->layout(), tokens_per_step, reducer.partition());
  const int hessian_micro = cfg.optimizer.hessian_batch > 0 ? cfg.optimizer.hessian_batch / B : accum;
  const double coordinates = double(model->layout().stored_count());
  // Resume: the checkpoint's step, data position and state, or a fresh start.
  TrainingState state{0, 0, t.seed, toml};
  const std::string resume = options.resume.empty() ? cfg.checkpoint.resume : options.resume;
  std::string resumed_from;
  if (!resume.empty()) {
    resumed_from = choose_checkpoint(
        resume, cfg.output_dir, [&](const std::string& p) { state = load_checkpoint(p, *model, *optimizer, reducer, cfg); },
        root);
    if (root && resumed_from.empty()) std::printf("resume: no checkpoint in %s, starting fresh\n", cfg.output_dir.c_str());
  }
  std::unique_ptr<MetricsFile> metrics;
  if (root) {
    metrics = open_metrics(cfg.output_dir, resumed_from, state, deck);
    print_run(cfg, train_data, reducer, mpi.size(), tokens_per_step, coordinates);
  }
  const Utilisation util = utilisation(cfg, mpi.size(), root);

  // Device buffers for each step's micro-batches and for the evaluation's, made once.
  StepBatches step_batches(accum, B / mpi.size(), T);
  std::unique_ptr<StepBatches> val_batches;
  if (val_data) val_batches = std::make_unique<StepBatches>(t.eval_batches, B / mpi.size(), T);

  double val_loss = std::numeric_limits<double>::quiet_NaN();
  auto run_eval = [&](long step) {
    if (!val_data) return;
    val_loss = evaluate(*model, *val_data, *val_batches, B, mpi);
    if (root) {
      std::printf("step %ld: val loss %.4f\n", step, val_loss);
      metrics->write(JsonLine().add("type", std::string("eval")).add("step", step).add("val_loss", val_loss));
    }
  };

  // Saves at `step` (steps done); false if that failed and the deck says stop.
  // Every rank learns the outcome, also of rank 0's own work on the folder.
  auto checkpoint = [&](long step) {
    const std::string path = checkpoint_path(cfg.output_dir, step);
    std::string problem;
    try {
      save_checkpoint(path, *model, *optimizer, reducer, cfg, {step, state.data_position, t.seed, toml});
      if (root) after_checkpoint(cfg.output_dir, path, cfg.checkpoint.keep_last, cfg.checkpoint.keep_every);
    } catch (const std::exception& e) {  // also the file system's, e.g. from the folder's `latest`
      problem = e.what();
    }
    if (!failed_on_any_rank(!problem.empty())) {
      if (root) {
        std::printf("checkpoint: %s\n", path.c_str());
        std::fflush(stdout);  // a batch log shows each checkpoint once it is complete
      }
      return true;
    }
    if (root)  // the writing's errors reach every rank alike (io/checkpoint.cpp); rank 0 says them
      std::fprintf(stderr, "sophia-kokkos: checkpoint failed: %s\n", problem.empty() ? "on another rank" : problem.c_str());
    return cfg.checkpoint.continue_on_failure;
  };

  if (resumed_from.empty()) run_eval(0);  // the untrained model's loss: the baseline of the curve
  const auto start = Clock::now();
  const long first_step = state.step;
  auto last_checkpoint = start;
  for (long step = state.step; step < t.steps; ++step) {
    const auto t0 = Clock::now();
    const double lr = learning_rate(cfg.schedule, cfg.optimizer.lr, step, t.steps);
    std::vector<SequenceBatch> micro = rank_batches(step_batches, train_data, order, state.data_position, B, mpi);
    state.data_position += std::uint64_t(B) * accum;
    const double t_data = seconds_since(t0);

    const StepResult r = optimizer_step(*model, *optimizer, reducer, micro, lr, cfg.optimizer.grad_clip, step);
    if (!std::isfinite(r.loss))
      throw Error("loss is " + std::to_string(r.loss) + " at step " + std::to_string(step) +
                  "; stopping without writing final weights (try a lower optimizer.lr)");
    JsonLine line;
    line.add("type", std::string("step")).add("step", step).add("loss", r.loss).add("lr", lr).add("grad_norm", r.grad_norm);
    if (sophia) line.add("clip_rate", r.clipped / coordinates);
    double t_hessian = 0;
    if (optimizer->wants_hessian(step)) {
      // On the first hessian_batch sequences of this step's data.
      const auto th = Clock::now();
      micro.resize(hessian_micro);
      const HessianResult h = hessian_refresh(*model, *optimizer, reducer, micro, cfg.optimizer.grad_clip,
                                              hash_key(t.seed, std::uint64_t(step), 0x5a3d1e));
      t_hessian = seconds_since(th);
      line.add("hessian_l1", h.h_l1).add("hessian_l2", h.h_l2).add("ghat_norm", h.ghat_norm);
    }
    const double dt = seconds_since(t0);
    const double mfu = util.step_flops / dt / util.peak;
    line.add("tokens_per_s", tokens_per_step / dt).add("mfu", mfu).add("step_time", dt);
    add_times(line, t_data, r.times, t_hessian);
    if (root) {
      metrics->write(line);
      if (step % t.log_interval == 0 || step == t.steps - 1)
        print_step(step, first_step, t.steps, r, lr, sophia ? r.clipped / coordinates : -1, tokens_per_step / dt, mfu,
                   seconds_since(start));
    }
    if (t.eval_interval > 0 && (step + 1) % t.eval_interval == 0 && step + 1 < t.steps) run_eval(step + 1);

    const int requests = agreed_stop_requests(root, cfg.checkpoint.minutes, last_checkpoint);
    const bool by_count = cfg.checkpoint.interval > 0 && (step + 1) % cfg.checkpoint.interval == 0;
    if (by_count || requests) {
      if (!checkpoint(step + 1)) return {val_loss, exit_checkpoint_failed};
      last_checkpoint = Clock::now();
    }
    if (requests & 1) {
      if (root) std::printf("stopped by a signal after step %ld; exit code %d asks for a requeue\n", step + 1,
                            exit_checkpointed_requeue);
      return {val_loss, exit_checkpointed_requeue};
    }
  }
  run_eval(t.steps);

  if (root) {
    auto host = Kokkos::create_mirror_view(model->params);
    Kokkos::deep_copy(host, model->params);
    write_weights(cfg.output_dir + "/final.h5", model->config(), model->layout(), host.data());
    std::printf("wrote %s/final.h5 after %s\n", cfg.output_dir.c_str(), duration(seconds_since(start)).c_str());
  }
  return {val_loss, 0};
}

}  // namespace sk
