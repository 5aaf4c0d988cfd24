#include "memory.hpp"
#include "train.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "checkpoint.hpp"
#include "checkpoint_policy.hpp"
#include "comm.hpp"
#include "data.hpp"
#include "error.hpp"
#include "evaluate.hpp"
#include "flops.hpp"
#include "batched_gemm.hpp"
#include "gemm_rate.hpp"
#include "generate.hpp"
#include "gpt2.hpp"
#include "metrics.hpp"
#include "model_weights.hpp"
#include "optimizer.hpp"
#include "random.hpp"
#include "schedule.hpp"
#include "step.hpp"
#include "timer.hpp"
#include "tokenizer.hpp"
#include "watchdog.hpp"
#include "weights.hpp"

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

std::unique_ptr<GPT2<float>> make_model(const GPT2Config& config, const std::string& init_from, std::uint64_t seed) {
  auto model = std::make_unique<GPT2<float>>(config);
  if (init_from.empty()) {
    model->init_random(seed);
    return model;
  }
  const std::string differences = shape_differences(weights_config(init_from), config);
  if (!differences.empty())
    throw Error("--init-from " + init_from + ": model shape differs from the deck's [model]: " + differences);
  load_weights(*model, init_from);
  return model;
}

// Phase times of a step into its metrics line.
void add_times(JsonLine& line, double data, const StepTimes& s, double hessian) {
  line.add("t_data", data).add("t_forward", s.forward).add("t_backward", s.backward).add("t_comm_wait", s.comm_wait);
  line.add("t_optimizer", s.optimizer).add("t_hessian", hessian);
}

// The keys whose values differ between a checkpoint's deck and this one; if
// they change the schedule (a longer train.steps stretches the decay), the
// rate of the last step done and of the next: the jump a user should see.
std::string deck_changes(const std::string& stored, const Deck& deck, long step) {
  const Deck before = Deck::parse(stored, "checkpoint deck", {});
  std::string out;
  for (const auto& key : deck.keys_differing(before))
    out += "  " + key + ": " + before.formatted(key) + " -> " + deck.formatted(key) + "\n";
  const TrainConfig a = TrainConfig::from(before), b = TrainConfig::from(deck);
  const double lr_a = learning_rate(a.schedule, a.optimizer.lr, step, a.train.steps);
  const double lr_b = learning_rate(b.schedule, b.optimizer.lr, step, b.train.steps);
  if (lr_a != lr_b && step > 0) {
    char line[200];
    std::snprintf(line, sizeof line,
                  "  the learning-rate schedule now follows this deck: %.3g at step %ld (the last done), %.3g at step "
                  "%ld\n",
                  learning_rate(a.schedule, a.optimizer.lr, step - 1, a.train.steps), step, lr_b, step + 1);
    out += line;
  }
  return out;
}

// Set by SIGTERM, SIGINT and SIGUSR1 (Slurm's warning before a time limit):
// the loop finishes its step, saves a checkpoint and exits for a requeue.
volatile std::sig_atomic_t stop_signal = 0;
extern "C" void request_stop(int signal) { stop_signal = signal; }

// What to stop for after a step, agreed by all ranks.
struct StopRequests {
  bool signal;           // a stop signal on any rank: checkpoint and exit for a requeue
  bool checkpoint_time;  // checkpoint.minutes have passed by rank 0's clock
};
StopRequests agreed_stop_requests(bool root, double minutes, Clock::time_point last_checkpoint) {
  int asked[2] = {stop_signal ? 1 : 0, root && minutes > 0 && seconds_since(last_checkpoint) >= 60 * minutes};
  MPI_Allreduce(MPI_IN_PLACE, asked, 2, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return {asked[0] > 0, asked[1] > 0};
}

// Rank 0: creates the output folder and records the resolved deck there; the
// log shows the keys that differ from the defaults.
void start_output(const std::string& dir, const Deck& deck) {
  make_output_dir(dir);
  std::printf("deck: keys that differ from the defaults (all of them in %s/config.toml):\n%s", dir.c_str(),
              deck.summary().c_str());
  std::ofstream(dir + "/config.toml") << deck.to_toml();
}

// Rank 0's metrics file. A resumed run first drops the lines that the stopped
// run wrote after its checkpoint, and logs what the deck changes.
std::unique_ptr<MetricsFile> open_metrics(const std::string& dir, const std::string& resumed_from,
                                          const TrainingState& state, const Deck& deck) {
  const std::string path = dir + "/metrics.jsonl";
  if (!resumed_from.empty()) {
    std::printf("resume: %s at step %ld\n%s", resumed_from.c_str(), long(state.step), deck_changes(state.deck, deck, long(state.step)).c_str());
    truncate_metrics(path, state.step);
  }
  return std::make_unique<MetricsFile>(path, !resumed_from.empty());
}

// Rank 0's log lines about the run before its first step.
void print_run(const TrainConfig& cfg, const TokenShards& data, const GradientReducer& reducer, int ranks,
               double tokens_per_step, double coordinates) {
  std::printf("model: %.2fM parameters; %s; %.0f tokens per step; %ld training windows in %zu shard(s)\n",
              coordinates / 1e6, name_of(cfg.optimizer.type), tokens_per_step, long(data.windows()), data.files());
  if (ranks > 1)
    std::printf("ranks: %d, %d sequences each per micro-batch; %s; MB sent per rank per step: %.1f gradients, "
                "%.1f parameters%s\n",
                ranks, cfg.train.batch_size / ranks, cfg.parallel.zero1 ? "ZeRO-1 (bucketed reduces)" : name_of(cfg.parallel.reduction),
                reducer.bytes_sent_per_reduction() / 1e6, reducer.bytes_sent_per_gather() / 1e6,
                is_sophia(cfg.optimizer.type) ? " (and the gradients again on Hessian steps)" : "");
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
    const double own = measured_gemm_rate(cfg.model, B, T), square = square_gemm_rate();
    u.peak = std::max(own, square);
    u.peak_source = std::string("the gemm rate (") + gemm_description() + ") of " +
                    (own >= square ? "this run's shapes, measured at start"
                                   : "1024-square gemms, measured at start (above this run's shapes')");
  }
  if (root)
    std::printf("mfu: model FLOPs per second on a rank (%.4g GFLOP per step) against %.1f GFLOP/s, %s\n",
                u.step_flops / 1e9, u.peak / 1e9, u.peak_source.c_str());
  return u;
}

// One run of `sophia-kokkos train`, in the order a reader meets it: the
// constructor starts it (data, output folder, model, optimizer, resume), run()
// loops over the steps, each an update (and on some steps a Hessian refresh)
// and its metrics line, with evaluations and checkpoints at their intervals,
// and writes the final weights.
class Trainer {
 public:
  Trainer(const TrainConfig& cfg, const Deck& deck, const TrainOptions& options, const MpiEnv& mpi);
  int run();  // 0, or exit_checkpointed_requeue / exit_checkpoint_failed

 private:
  CheckpointTarget checkpoint_target() const {
    return {*model_, *optimizer_, *reducer_, cfg_.optimizer.type};
  }
  JsonLine step(long step);
  void report(long step, const StepResult& r, double lr, double seconds);
  void evaluate(long step);
  void sample(long step);
  // Whether an every-`interval`-steps event (validation, sample) falls after
  // `done` steps: every interval, and at the end.
  bool due(int interval, long done) const {
    return (interval > 0 && done % interval == 0) || done == cfg_.train.steps;
  }
  bool checkpoint(long step);
  void write_final_weights();

  const TrainConfig& cfg_;
  const MpiEnv& mpi_;
  const bool root_;
  const int B_;  // sequences per micro-batch, over all ranks
  const TokenShards train_data_;
  const DataOrder order_;
  std::unique_ptr<TokenShards> val_data_;
  const std::string toml_;  // the resolved deck, as printed and saved
  std::unique_ptr<GPT2<float>> model_;
  std::unique_ptr<GradientReducer> reducer_;
  std::unique_ptr<Optimizer> optimizer_;
  double tokens_per_step_ = 0, coordinates_ = 0;
  TrainingState state_;
  std::string resumed_from_;  // empty: a fresh start
  std::unique_ptr<MetricsFile> metrics_;  // rank 0's
  Utilisation util_;
  std::unique_ptr<StepBatches> step_batches_, val_batches_;  // device buffers, made once
  std::unique_ptr<Gpt2Tokenizer> tokenizer_;  // with train.sample_interval
  Clock::time_point start_, last_checkpoint_;
  long first_step_ = 0;  // the step this process started at
};

int checked_batch_size(const TrainConfig& cfg, const MpiEnv& mpi) {
  const int B = cfg.train.batch_size;
  if (B % mpi.size() != 0)
    throw Error("train.batch_size " + std::to_string(B) + " (sequences per micro-batch over all ranks) is not divisible by the " +
                std::to_string(mpi.size()) + " ranks");
  return B;
}

// Data first: a problem with it should not wait for the model to be built.
Trainer::Trainer(const TrainConfig& cfg, const Deck& deck, const TrainOptions& options, const MpiEnv& mpi)
    : cfg_(cfg), mpi_(mpi), root_(mpi.rank() == 0), B_(checked_batch_size(cfg, mpi)),
      train_data_(cfg.data.train_data, cfg.train.seq_len, cfg.model.vocab_size),
      order_(train_data_.windows(), cfg.data.order == WindowOrder::shuffled, cfg.train.seed), toml_(deck.to_toml()) {
  const auto& t = cfg.train;
  require_windows(train_data_, std::uint64_t(B_), "train_data");
  if (!cfg.data.val_data.empty()) {
    val_data_ = std::make_unique<TokenShards>(cfg.data.val_data, t.seq_len, cfg.model.vocab_size);
    require_windows(*val_data_, std::uint64_t(B_) * t.eval_batches, "val_data");
  }
  // On every rank, so that a missing tokenizer stops them all.
  if (t.sample_interval > 0) tokenizer_ = std::make_unique<Gpt2Tokenizer>(tokenizer_dir());
  if (!set_gemm_tf32(t.tf32)) throw Error("deck: train.tf32 = true needs a CUDA build (TF32 is a tensor-core format)");
  if (!use_gemm_library(t.gemm))
    throw Error("deck: train.gemm = \"onednn\" needs a build with oneDNN (libdnnl-dev, SK_ONEDNN=ON), and this one has none");
  if (const std::string missing = use_gemm_precision(t.precision); !missing.empty())
    throw Error("deck: train.precision = \"" + std::string(name_of(t.precision)) + "\": " + missing);
  // After the precision: bf16 adds the gemms' copy of the weights.
  MemoryNeed need =
      training_need(cfg.model, B_ / mpi.size(), t.seq_len, cfg.parallel.zero1 ? 1.0 / mpi.size() : 1.0);
  const bool sophiah = cfg.optimizer.type == OptimizerType::sophiah;
  // Exact sums: 16 bytes a parameter for the gradients, as many for H u.
  if (cfg.parallel.mode() == Reduction::exact)
    need.add("exact gradient sums", 4 * model_bytes(cfg.model, false) * (sophiah ? 2 : 1));
  // Sophia-H's refresh: the probe and H u.
  require_memory("train", sophiah
                              ? with_hvp(need, cfg.model, B_ / mpi.size(), t.seq_len, 2)
                              : need);
  model_ = make_model(cfg.model, options.init_from, t.seed);
  reducer_ = std::make_unique<GradientReducer>(model_->grads, cfg.parallel.mode(),
                                               std::size_t(cfg.parallel.bucket_mb * 1e6));
  tokens_per_step_ = double(B_) * t.seq_len * t.grad_accum;  // over all ranks
  optimizer_ = make_optimizer(cfg.optimizer, model_->layout(), tokens_per_step_, reducer_->partition());
  coordinates_ = double(model_->layout().stored_count());
  state_ = {0, 0, t.seed, toml_};
  // Output after the resume: whether this run may write into the folder
  // depends on whether it continues a run found there.
  const std::string resume = options.resume.empty() ? cfg.checkpoint.resume : options.resume;
  resumed_from_ = resume_run(resume, cfg.output_dir, checkpoint_target(), t.steps, state_, root_);
  if (root_) {
    claim_output_dir(cfg.output_dir, resumed_from_, resume, toml_, options.overwrite);
    if (resume == "auto" && resumed_from_.empty())
      std::printf("resume: no checkpoint in %s, starting fresh\n", cfg.output_dir.c_str());
    start_output(cfg.output_dir, deck);
    metrics_ = open_metrics(cfg.output_dir, resumed_from_, state_, deck);
    print_run(cfg, train_data_, *reducer_, mpi.size(), tokens_per_step_, coordinates_);
  }
  util_ = utilisation(cfg, mpi.size(), root_);
  step_batches_ = std::make_unique<StepBatches>(t.grad_accum, B_ / mpi.size(), t.seq_len);
  if (val_data_) val_batches_ = std::make_unique<StepBatches>(t.eval_batches, B_ / mpi.size(), t.seq_len);
}

int Trainer::run() {
  const auto& t = cfg_.train;
  if (resumed_from_.empty()) evaluate(0);  // the untrained model's loss: the baseline of the curve
  start_ = last_checkpoint_ = Clock::now();
  first_step_ = state_.step;
  // Over the steps, where every rank waits for the others in each step.
  std::unique_ptr<PeerWatchdog> watchdog;
  if (mpi_.size() > 1)
    watchdog = std::make_unique<PeerWatchdog>(cfg_.output_dir, mpi_.rank(), mpi_.size(), cfg_.parallel.peer_timeout);
  for (long step = state_.step; step < t.steps; ++step) {
    const JsonLine line = this->step(step);
    if (root_) metrics_->write(line);
    // Before the step's checkpoint: a run resumed from it keeps these lines
    // of the metrics and does not write them again (truncate_metrics).
    if (due(t.eval_interval, step + 1)) evaluate(step + 1);
    if (due(t.sample_interval, step + 1)) sample(step + 1);

    const StopRequests requests = agreed_stop_requests(root_, cfg_.checkpoint.minutes, last_checkpoint_);
    const bool by_count = cfg_.checkpoint.interval > 0 && (step + 1) % cfg_.checkpoint.interval == 0;
    if (by_count || requests.signal || requests.checkpoint_time) {
      if (!checkpoint(step + 1)) return exit_checkpoint_failed;
      last_checkpoint_ = Clock::now();
    }
    if (watchdog) watchdog->progress(step + 1);
    if (requests.signal) {
      if (root_) std::printf("stopped by a signal after step %ld; exit code %d asks for a requeue\n", step + 1,
                             exit_checkpointed_requeue);
      return exit_checkpointed_requeue;
    }
  }
  watchdog.reset();
  write_final_weights();
  return 0;
}

// Rank 0's text sample after `step` steps, printed and written: what
// `sample --seed train.seed --tokens train.sample_tokens` draws from the
// weights of that step. The same seed every time, so that samples show the
// model, not the draw, changing.
void Trainer::sample(long step) {
  if (!root_ || cfg_.train.sample_interval == 0) return;
  GenerationRequest request;
  request.prompt = {Gpt2Tokenizer::end_of_text};
  request.new_tokens = cfg_.train.sample_tokens;
  request.stop_token = Gpt2Tokenizer::end_of_text;
  SamplingSettings settings;
  settings.seed = cfg_.train.seed;
  const std::string text = tokenizer_->decode_text(generate(*model_, request, settings)[0]);
  std::printf("step %ld sample:\n", step);
  std::fwrite(text.data(), 1, text.size(), stdout);  // may hold NUL bytes
  std::fputc('\n', stdout);
  metrics_->write(JsonLine().add("type", std::string("sample")).add("step", step).add("text", text));
}

// One optimizer step on this step's data with, when the optimizer asks, the
// Hessian refresh on the first hessian_batch sequences of it (Sophia-G after
// the update, Sophia-H within the step); its metrics line.
JsonLine Trainer::step(long step) {
  const auto t0 = Clock::now();
  const OptimizerConfig& o = cfg_.optimizer;
  const double lr = learning_rate(cfg_.schedule, o.lr, step, cfg_.train.steps);
  std::vector<SequenceBatch> micro = rank_batches(*step_batches_, train_data_, order_, state_.data_position, B_, mpi_);
  state_.data_position += std::uint64_t(B_) * cfg_.train.grad_accum;
  const double t_data = seconds_since(t0);

  const bool refresh = optimizer_->wants_hessian(step);
  const std::size_t hessian_micro = o.hessian_batch > 0 ? o.hessian_batch / B_ : cfg_.train.grad_accum;
  const std::uint64_t key = hash_key(cfg_.train.seed, std::uint64_t(step), 0x5a3d1e);
  std::optional<HessianResult> h;
  double t_hessian = 0;
  StepResult r;
  if (refresh && o.type == OptimizerType::sophiah) {
    const RefreshedStep both =
        refreshing_step(*model_, *optimizer_, *reducer_, micro, hessian_micro, key, lr, o.grad_clip, step);
    r = both.step;
    h = both.hessian;
    const StepTimes& th = both.hessian.times;
    t_hessian = th.forward + th.comm_wait + th.optimizer;
  } else {
    r = optimizer_step(*model_, *optimizer_, *reducer_, micro, lr, o.grad_clip, step);
  }
  if (!std::isfinite(r.loss)) {
    const std::string origin = model_->nonfinite_origin();  // this rank's last micro-batch
    throw Error("loss is " + std::to_string(r.loss) + " at step " + std::to_string(step + 1) +
                (origin.empty() ? "" : " (NaN or inf first in " + origin + ")") +
                "; stopping without writing final weights (try a lower optimizer.lr)");
  }
  if (refresh && o.type == OptimizerType::sophiag) {
    const auto th = Clock::now();
    micro.resize(hessian_micro);
    h = hessian_refresh(*model_, *optimizer_, *reducer_, micro, o.grad_clip, key);
    t_hessian = seconds_since(th);
  }
  JsonLine line;
  // Numbered as the console, evaluations and checkpoints number it: the steps done after this update.
  line.add("type", std::string("step")).add("step", step + 1).add("loss", r.loss).add("lr", lr).add("grad_norm", r.grad_norm);
  if (is_sophia(o.type)) line.add("clip_rate", r.clipped / coordinates_);
  if (h) line.add("hessian_l1", h->h_l1).add("hessian_l2", h->h_l2).add("ghat_norm", h->ghat_norm);
  const double dt = seconds_since(t0);
  line.add("tokens_per_s", tokens_per_step_ / dt).add("mfu", util_.step_flops / dt / util_.peak).add("step_time", dt);
  add_times(line, t_data, r.times, t_hessian);
  report(step, r, lr, dt);
  return line;
}

// Rank 0's progress line, every log_interval steps and after the last.
void Trainer::report(long step, const StepResult& r, double lr, double seconds) {
  const auto& t = cfg_.train;
  if (!root_ || (step % t.log_interval != 0 && step != t.steps - 1)) return;
  const double clip_rate = is_sophia(cfg_.optimizer.type) ? r.clipped / coordinates_ : -1;
  print_step(step, first_step_, t.steps, r, lr, clip_rate, tokens_per_step_ / seconds,
             util_.step_flops / seconds / util_.peak, seconds_since(start_));
}

// The validation loss after `step` steps, printed and written (with validation data).
void Trainer::evaluate(long step) {
  if (!val_data_) return;
  const double val_loss = mean_loss(*model_, *val_data_, *val_batches_, B_, mpi_);
  if (root_) {
    std::printf("step %ld: val loss %.4f\n", step, val_loss);
    metrics_->write(JsonLine().add("type", std::string("eval")).add("step", step).add("val_loss", val_loss));
  }
}

// Saves at `step` (steps done); false if that failed and the deck says stop.
// Every rank learns the outcome, also of rank 0's own work on the folder.
bool Trainer::checkpoint(long step) {
  return save_run_checkpoint(cfg_.checkpoint, cfg_.output_dir, checkpoint_target(),
                             {step, state_.data_position, cfg_.train.seed, toml_}, root_);
}

void Trainer::write_final_weights() {
  if (!root_) return;
  auto host = Kokkos::create_mirror_view(model_->params);
  Kokkos::deep_copy(host, model_->params);
  write_weights(cfg_.output_dir + "/final.h5", model_->config(), model_->layout(), host.data());
  std::printf("wrote %s/final.h5 after %s\n", cfg_.output_dir.c_str(), duration(seconds_since(start_)).c_str());
}

}  // namespace

void catch_stop_signals() {
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) std::signal(sig, request_stop);
}

int train(const TrainConfig& config, const Deck& deck, const TrainOptions& options, const MpiEnv& mpi) {
  catch_stop_signals();
  return Trainer(config, deck, options, mpi).run();
}

}  // namespace sk
