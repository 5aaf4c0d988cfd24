#include "train.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "../io/metrics.hpp"
#include "../io/weights.hpp"
#include "../kernels/random.hpp"
#include "data.hpp"
#include "error.hpp"
#include "gpt2.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"
#include "step.hpp"

namespace sk {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

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

// "n_layer 2 (file) vs 1 (deck), ..." for the fields that differ; empty if none.
std::string shape_differences(const GPT2Config& file, const GPT2Config& deck) {
  std::string out;
  auto compare = [&](const char* name, int a, int b) {
    if (a != b) out += (out.empty() ? "" : ", ") + std::string(name) + " " + std::to_string(a) + " (file) vs " +
                       std::to_string(b) + " (deck)";
  };
  compare("vocab_size", file.vocab_size, deck.vocab_size);
  compare("block_size", file.block_size, deck.block_size);
  compare("n_layer", file.n_layer, deck.n_layer);
  compare("n_head", file.n_head, deck.n_head);
  compare("n_embd", file.n_embd, deck.n_embd);
  return out;
}

void require_windows(const TokenShards& shards, std::uint64_t needed, const std::string& what) {
  if (shards.windows() < needed)
    throw Error(what + " " + shards.pattern() + " holds " + std::to_string(shards.windows()) + " windows of seq_len+1 tokens (" +
                std::to_string(shards.tokens()) + " tokens), fewer than the " + std::to_string(needed) + " " + what +
                " needs; use a smaller batch or seq_len, or more data");
}

// Mean loss over `batches` micro-batches of the validation data, in order.
double evaluate(GPT2<float>& model, const TokenShards& val, int batches, int B, int T) {
  const DataOrder order(val.windows(), false, 0);
  double sum = 0;
  for (int i = 0; i < batches; ++i) {
    const auto b = load_batch(val, order, std::uint64_t(i) * B, B, T);
    sum += model.forward(b.batch.inputs, b.batch.targets);
  }
  return sum / batches;
}

}  // namespace

double train(const TrainConfig& cfg, const Deck& deck, const TrainOptions& options, const MpiEnv& mpi) {
  const auto& t = cfg.train;
  const int B = t.batch_size, T = t.seq_len, accum = t.grad_accum;
  const bool root = mpi.rank() == 0;
  const bool sophia = cfg.optimizer.type == "sophiag";

  // Data first: a problem with it should not wait for the model to be built.
  const TokenShards train_data(cfg.data.train_data, T, cfg.model.vocab_size);
  require_windows(train_data, std::uint64_t(B), "train_data");
  const DataOrder order(train_data.windows(), cfg.data.order == "shuffled", t.seed);
  std::unique_ptr<TokenShards> val_data;
  if (!cfg.data.val_data.empty()) {
    val_data = std::make_unique<TokenShards>(cfg.data.val_data, T, cfg.model.vocab_size);
    require_windows(*val_data, std::uint64_t(B) * t.eval_batches, "val_data");
  }

  if (root) make_output_dir(cfg.output_dir);
  const std::string toml = deck.to_toml();
  if (root) {
    std::printf("%s\n", toml.c_str());
    std::ofstream(cfg.output_dir + "/config.toml") << toml;
  }

  GPT2<float> model(cfg.model);
  if (options.init_from.empty()) {
    model.init_random(t.seed);
  } else {
    const std::string differences = shape_differences(read_config(options.init_from), cfg.model);
    if (!differences.empty())
      throw Error("--init-from " + options.init_from + ": model shape differs from the deck's [model]: " +
                  differences);
    auto host = Kokkos::create_mirror_view(model.params);
    read_weights(options.init_from, model.layout(), host.data());
    Kokkos::deep_copy(model.params, host);
  }
  const double tokens_per_step = double(B) * T * accum * mpi.size();
  auto optimizer = make_optimizer(cfg.optimizer, model.layout(), tokens_per_step);
  const int hessian_micro = cfg.optimizer.hessian_batch > 0 ? cfg.optimizer.hessian_batch / B : accum;
  std::unique_ptr<MetricsFile> metrics;
  if (root) metrics = std::make_unique<MetricsFile>(cfg.output_dir + "/metrics.jsonl", false);
  if (root)
    std::printf("model: %.2fM parameters; %s; %.0f tokens per step; %ld training windows in %zu shard(s)\n",
                model.layout().stored_count() / 1e6, cfg.optimizer.type.c_str(), tokens_per_step,
                long(train_data.windows()), train_data.files());

  double val_loss = std::numeric_limits<double>::quiet_NaN();
  auto run_eval = [&](long step) {
    if (!val_data) return;
    val_loss = evaluate(model, *val_data, t.eval_batches, B, T);
    if (root) {
      std::printf("step %ld: val loss %.4f\n", step, val_loss);
      metrics->write(JsonLine().add("type", std::string("eval")).add("step", step).add("val_loss", val_loss));
    }
  };

  run_eval(0);  // the untrained model's loss: the baseline of the curve
  const auto start = Clock::now();
  for (long step = 0; step < t.steps; ++step) {
    const auto t0 = Clock::now();
    const double lr = learning_rate(cfg.schedule, cfg.optimizer.lr, step, t.steps);
    const std::uint64_t first = std::uint64_t(step) * B * accum;  // this step's first sequence

    std::vector<SequenceBatch> micro;
    for (int m = 0; m < accum; ++m) micro.push_back(load_batch(train_data, order, first + std::uint64_t(m) * B, B, T));
    const StepResult r = optimizer_step(model, *optimizer, micro, lr, cfg.optimizer.grad_clip, step);
    if (!std::isfinite(r.loss))
      throw Error("loss is " + std::to_string(r.loss) + " at step " + std::to_string(step) +
                  "; stopping without writing final weights (try a lower optimizer.lr)");

    JsonLine line;
    line.add("type", std::string("step")).add("step", step).add("loss", r.loss).add("lr", lr).add("grad_norm", r.grad_norm);
    if (sophia) line.add("clip_rate", r.clip_rate);
    if (optimizer->wants_hessian(step)) {
      // On the first hessian_batch sequences of this step's data.
      micro.resize(hessian_micro);
      const HessianResult h = hessian_refresh(model, *optimizer, micro, cfg.optimizer.grad_clip,
                                              hash_key(t.seed, std::uint64_t(step), 0x5a3d1e));
      line.add("hessian_l1", h.h_l1).add("hessian_l2", h.h_l2).add("ghat_norm", h.ghat_norm);
    }
    Kokkos::fence();
    const double dt = seconds_since(t0);
    line.add("tokens_per_s", tokens_per_step / dt).add("step_time", dt);
    if (root) {
      metrics->write(line);
      if (step % t.log_interval == 0 || step == t.steps - 1) {
        const double eta = seconds_since(start) / (step + 1) * (t.steps - step - 1);
        char clip[32] = "";
        if (sophia) std::snprintf(clip, sizeof clip, " | clip %5.1f%%", 100 * r.clip_rate);
        std::printf("step %ld/%d | loss %.4f | lr %.2e | grad norm %.3f%s | %.0f tok/s | eta %s\n", step + 1,
                    t.steps, r.loss, lr, r.grad_norm, clip, tokens_per_step / dt, duration(eta).c_str());
        std::fflush(stdout);
      }
    }
    if (t.eval_interval > 0 && (step + 1) % t.eval_interval == 0 && step + 1 < t.steps) run_eval(step + 1);
  }
  run_eval(t.steps);

  if (root) {
    auto host = Kokkos::create_mirror_view(model.params);
    Kokkos::deep_copy(host, model.params);
    write_weights(cfg.output_dir + "/final.h5", model.config(), model.layout(), host.data());
    std::printf("wrote %s/final.h5 after %s\n", cfg.output_dir.c_str(), duration(seconds_since(start)).c_str());
  }
  return val_loss;
}

}  // namespace sk
