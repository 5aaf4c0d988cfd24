// Pieces of the training program: the input deck, the data order, the
// learning-rate schedule and the weight-decay mask of the optimizers.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <set>

#include <filesystem>
#include <fstream>

#include "checkpoint_policy.hpp"
#include "data.hpp"
#include "deck.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"
#include "timer.hpp"

using namespace sk;

TEST_CASE("deck: defaults, file values, overrides and derived defaults", "[deck]") {
  const Deck d = Deck::parse("[optimizer]\ntype = \"adamw\"\nlr = 1e-3\n[train]\nsteps = 50\n", "test.toml",
                             {"train.steps=70", "data.train_data=partitions/*.bin", "optimizer.rho=0.05"});
  CHECK(d.str("optimizer.type") == "adamw");
  CHECK(d.integer("train.steps") == 70);  // the override wins
  CHECK(d.str("data.train_data") == "partitions/*.bin");  // a bare word is a string
  CHECK(d.number("optimizer.beta2") == 0.95);  // adamw's default
  CHECK(d.number("optimizer.weight_decay") == 0.1);
  CHECK(d.number("schedule.min_lr") == Approx(1e-4));  // lr / 10
  CHECK(d.integer("train.batch_size") == 8);
  // The resolved deck reads back as itself.
  const Deck again = Deck::parse(d.to_toml(), "resolved", {});
  CHECK(again.to_toml() == d.to_toml());
  const TrainConfig c = TrainConfig::from(d);
  CHECK(c.optimizer.lr == 1e-3);
  CHECK(c.model.n_embd == 64);
}

TEST_CASE("deck: counts kept in an int are refused beyond its range", "[deck][errors]") {
  for (const std::string key : {"train.steps", "train.eval_interval", "train.log_interval", "checkpoint.interval",
                                "train.batch_size", "train.seq_len", "train.grad_accum", "train.eval_batches",
                                "optimizer.hessian_interval", "optimizer.hessian_batch", "schedule.warmup_steps",
                                "checkpoint.keep_last", "model.vocab_size", "model.block_size", "model.n_layer",
                                "model.n_head", "model.n_embd"})
    CHECK_THROWS_WITH(Deck::parse("", "deck", {key + "=2147483648"}), Catch::Contains(key + " = 2147483648 is out of range"));
  const TrainConfig c = TrainConfig::from(Deck::parse("", "deck", {"data.train_data=x", "train.steps=2147483647",
                                                                   "checkpoint.interval=2147483647"}));
  CHECK(c.train.steps == 2147483647);
  CHECK(c.checkpoint.interval == 2147483647);
}

TEST_CASE("eta: at the pace of this process's own steps, also after a resume", "[train]") {
  CHECK(eta_seconds(10.0, 0, 9, 100) == Approx(90.0));   // 10 steps in 10 s, 90 to go
  CHECK(eta_seconds(10.0, 90, 94, 100) == Approx(10.0));  // resumed at 90: 5 steps in 10 s, 5 to go
  CHECK(eta_seconds(10.0, 90, 99, 100) == 0.0);
}

TEST_CASE("deck: every mistake names its key", "[deck][errors]") {
  auto parse = [](const std::string& text, std::vector<std::string> sets = {}) {
    return Deck::parse(text, "deck.toml", sets);
  };
  CHECK_THROWS_WITH(parse("[train]\nstepz = 3\n"), Catch::Contains("unknown key train.stepz"));
  CHECK_THROWS_WITH(parse("[train]\nsteps = \"many\"\n"), Catch::Contains("train.steps must be an integer"));
  CHECK_THROWS_WITH(parse("[train]\nsteps = 2.5\n"), Catch::Contains("train.steps must be an integer"));
  CHECK_THROWS_WITH(parse("[optimizer]\nbeta1 = 1.5\n"), Catch::Contains("optimizer.beta1 = 1.5 is out of range"));
  CHECK_THROWS_WITH(parse("[train]\npeak_flops = -1e12\n"), Catch::Contains("train.peak_flops = -1e12 is out of range"));
  CHECK_THROWS_WITH(parse("[optimizer]\ntype = \"sgd\"\n"), Catch::Contains("is not one of: sophiag, adamw"));
  CHECK_THROWS_WITH(parse("[train\nsteps = 1\n"), Catch::Contains("deck.toml:1:"));
  CHECK_THROWS_WITH(parse("steps = 1\n"), Catch::Contains("'steps' is not a section"));
  CHECK_THROWS_WITH(parse("", {"train.steps"}), Catch::Contains("expected section.key=value"));
  CHECK_THROWS_WITH(parse("", {"train.bogus=1"}), Catch::Contains("unknown key train.bogus"));
  CHECK_THROWS_WITH(parse("", {"train.steps=-4"}), Catch::Contains("train.steps = -4 is out of range"));
  CHECK_THROWS_WITH(TrainConfig::from(parse("")), Catch::Contains("data.train_data is required"));
  CHECK_THROWS_WITH(TrainConfig::from(parse("", {"data.train_data=x", "train.seq_len=65"})),
                    Catch::Contains("train.seq_len 65 exceeds the model's block_size 64"));
  CHECK_THROWS_WITH(TrainConfig::from(parse("", {"data.train_data=x", "model.n_head=5"})),
                    Catch::Contains("not divisible by n_head (5)"));
  CHECK_THROWS_WITH(TrainConfig::from(parse("", {"data.train_data=x", "optimizer.hessian_batch=4"})),
                    Catch::Contains("multiple of train.batch_size"));
  CHECK_THROWS_WITH(
      TrainConfig::from(parse("", {"data.train_data=x", "parallel.reduction=exact", "parallel.zero1=true"})),
      Catch::Contains("parallel.zero1 and parallel.reduction = \"exact\" do not combine"));
  CHECK_THROWS_WITH(parse("", {"parallel.reduction=zero1"}),
                    Catch::Contains("parallel.reduction = \"zero1\" is not one of: overlap, blocking, exact"));
}

TEST_CASE("deck: a run prints the keys given with values other than their defaults", "[deck]") {
  const Deck d = Deck::parse("[optimizer]\ntype = \"adamw\"\nlr = 6e-4\nbeta1 = 0.8\n[train]\nsteps = 1000\n", "t.toml",
                             {"train.batch_size=4", "schedule.warmup_steps=2000"});
  // lr is adamw's default, steps and warmup_steps the defaults; min_lr follows lr.
  CHECK(d.summary() == "  optimizer.type = 'adamw'\n  optimizer.beta1 = 0.8\n  train.batch_size = 4\n");
  const Deck other = Deck::parse("", "t.toml", {"optimizer.type=adamw", "optimizer.beta1=0.8", "train.batch_size=4"});
  CHECK(d.keys_differing(other).empty());
  CHECK(d.keys_differing(Deck::parse("", "t.toml", {})) ==
        std::vector<std::string>{"optimizer.type", "optimizer.lr", "optimizer.beta1", "optimizer.beta2",
                                 "optimizer.weight_decay", "schedule.min_lr", "train.batch_size"});
}

TEST_CASE("deck: relative paths in a deck file start at its folder, those of --set at the working directory", "[deck]") {
  const auto dir = std::filesystem::temp_directory_path() / "sk_deck_paths" / "configs";
  std::filesystem::create_directories(dir);
  const std::string deck = (dir / "run.toml").string();
  std::ofstream(deck) << "[data]\ntrain_data = \"../data/train_*.bin\"\nval_data = \"/abs/val.bin\"\n"
                         "[output]\ndir = \"out\"\n[checkpoint]\nresume = \"auto\"\n";
  const Deck d = Deck::load(deck, {"data.val_data=here/val.bin"});
  CHECK(d.str("data.train_data") == (dir.parent_path() / "data/train_*.bin").string());
  CHECK(d.str("output.dir") == (dir / "out").string());
  CHECK(d.str("checkpoint.resume") == "auto");     // a keyword, not a path
  CHECK(d.str("data.val_data") == "here/val.bin");  // --set: as given
  CHECK(Deck::load(deck, {}).str("data.val_data") == "/abs/val.bin");
  // A deck given by a relative path gives paths relative to the same place.
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir.parent_path());
  CHECK(Deck::load("configs/run.toml", {}).str("data.train_data") == "data/train_*.bin");
  CHECK(Deck::load("configs/run.toml", {}).str("output.dir") == "configs/out");
  std::filesystem::current_path(cwd);
  std::filesystem::remove_all(dir.parent_path());
}

TEST_CASE("deck: values in range that would break the run are refused", "[deck][errors]") {
  auto parse = [](const std::string& text, std::vector<std::string> sets = {}) {
    return Deck::parse(text, "deck.toml", sets);
  };
  CHECK_THROWS_WITH(parse("[train]\npeak_flops = inf\n"), Catch::Contains("train.peak_flops = inf is not a finite number"));
  CHECK_THROWS_WITH(parse("", {"optimizer.grad_clip=nan"}), Catch::Contains("optimizer.grad_clip = nan is not a finite"));
  CHECK_THROWS_WITH(parse("", {"optimizer.type=adamw", "optimizer.eps=0"}),
                    Catch::Contains("optimizer.eps = 0.0 is out of range (0, 1]"));
  CHECK(parse("", {"optimizer.eps=1e-30"}).number("optimizer.eps") == 1e-30);
  CHECK_THROWS_WITH(parse("", {"parallel.peer_timeout=0"}), Catch::Contains("parallel.peer_timeout = 0.0 is out of range (0,"));
  CHECK(parse("", {"parallel.peer_timeout=0.5"}).number("parallel.peer_timeout") == 0.5);
  // One --set sets one key: a line break cannot smuggle in a second.
  CHECK_THROWS_WITH(parse("", {"train.steps=5\ntrain.batch_size=2"}),
                    Catch::Contains("--set train.steps: the value holds a line break"));
  CHECK_THROWS_WITH(parse("", {"output.dir=a\tb"}), Catch::Contains("line break or control character"));
}

TEST_CASE("deck: each optimizer's defaults, stated once, reach the deck, the help and the benchmark", "[deck]") {
  const OptimizerConfig adamw = optimizer_defaults(OptimizerType::adamw);
  const OptimizerConfig sophia = optimizer_defaults(OptimizerType::sophiag);
  CHECK(adamw.type == OptimizerType::adamw);
  CHECK(adamw.lr == 6e-4);
  CHECK(adamw.beta1 == 0.9);
  CHECK(sophia.type == OptimizerType::sophiag);
  CHECK(sophia.lr == 3e-4);
  CHECK(sophia.beta2 == 0.99);
  const std::string help = Deck::reference();
  CHECK_THAT(help, Catch::Contains("optimizer.lr = 3e-4 (adamw 6e-4)"));
  CHECK_THAT(help, Catch::Contains("optimizer.weight_decay = 0.2 (adamw 0.1)"));
  // Enums are converted once at the boundary and print by their deck names.
  const TrainConfig c = TrainConfig::from(Deck::parse(
      "", "deck", {"data.train_data=x", "schedule.kind=linear", "data.order=sequential", "parallel.reduction=blocking"}));
  CHECK(c.schedule.kind == ScheduleKind::linear);
  CHECK(c.data.order == WindowOrder::sequential);
  CHECK(c.parallel.mode() == Reduction::blocking);
  CHECK(std::string(name_of(c.optimizer.type)) == "sophiag");
  CHECK(TrainConfig::from(Deck::parse("", "deck", {"data.train_data=x", "parallel.zero1=true"})).parallel.mode() ==
        Reduction::zero1);
  CHECK_THROWS_WITH(Deck::parse("", "deck", {"parallel.reduction=zero1"}),
                    Catch::Contains("is not one of: overlap, blocking"));
}

TEST_CASE("shuffled data order is a fresh permutation every epoch", "[data]") {
  for (std::uint64_t windows : {1ull, 7ull, 64ull, 1000ull}) {
    const DataOrder order(windows, true, 42);
    std::set<std::uint64_t> epoch0, epoch1;
    bool differs = false;
    for (std::uint64_t i = 0; i < windows; ++i) {
      epoch0.insert(order.window(i));
      epoch1.insert(order.window(windows + i));
      differs = differs || order.window(i) != order.window(windows + i);
    }
    CHECK(epoch0.size() == windows);  // each window exactly once
    CHECK(epoch1.size() == windows);
    CHECK(*epoch0.rbegin() == windows - 1);
    if (windows >= 64) CHECK(differs);
  }
  const DataOrder a(1000, true, 1), b(1000, true, 1), c(1000, true, 2), seq(1000, false, 1);
  int same_as_other_seed = 0;
  for (std::uint64_t i = 0; i < 1000; ++i) {
    REQUIRE(a.window(i) == b.window(i));  // the seed alone decides the order
    same_as_other_seed += a.window(i) == c.window(i);
    REQUIRE(seq.window(i + 1000) == i);
  }
  CHECK(same_as_other_seed < 20);
}

TEST_CASE("learning-rate schedules", "[schedule]") {
  const ScheduleConfig cosine{ScheduleKind::cosine, 10, 1e-4};
  CHECK(learning_rate(cosine, 1e-3, 0, 111) == Approx(1e-4));  // warm-up from lr/warmup
  CHECK(learning_rate(cosine, 1e-3, 9, 111) == Approx(1e-3));
  CHECK(learning_rate(cosine, 1e-3, 10, 111) == Approx(1e-3));
  CHECK(learning_rate(cosine, 1e-3, 60, 111) == Approx(5.5e-4));  // half way: the mean
  CHECK(learning_rate(cosine, 1e-3, 110, 111) == Approx(1e-4));
  const ScheduleConfig linear{ScheduleKind::linear, 0, 0.0};
  CHECK(learning_rate(linear, 1.0, 0, 101) == Approx(1.0));
  CHECK(learning_rate(linear, 1.0, 25, 101) == Approx(0.75));
  CHECK(learning_rate(linear, 1.0, 100, 101) == Approx(0.0).margin(1e-12));
  const ScheduleConfig constant{ScheduleKind::constant, 5, 0.0};
  CHECK(learning_rate(constant, 2.0, 2, 100) == Approx(1.2));
  CHECK(learning_rate(constant, 2.0, 50, 100) == 2.0);
}

TEST_CASE("weight decay reaches matmul weights and embeddings only", "[optimizer]") {
  GPT2Config c{50, 8, 2, 2, 4};
  const ParameterLayout layout(c);
  for (const OptimizerType type : {OptimizerType::adamw, OptimizerType::sophiag}) {
    OptimizerConfig oc{type, 0.1, 0.9, 0.95, 1e-8, 0.04, 0.5, 1.0, 10, 0};
    auto opt = make_optimizer(oc, layout, 64, Partition{0, layout.size()});
    View1<float> params("p", layout.size()), grads("g", layout.size());
    Kokkos::deep_copy(params, 1.0f);
    opt->set_squares(0);
    opt->clip(1, 0);
    opt->step(params, grads, 0.1, 0);  // zero gradients: only the decay moves anything
    auto host = Kokkos::create_mirror_view(params);
    Kokkos::deep_copy(host, params);
    for (const auto& t : layout.tensors()) {
      const float expected = t.shape.size() == 2 ? 1.0f - 0.1f * 0.5f : 1.0f;
      INFO(name_of(type) << " " << t.name);
      CHECK(host(t.offset) == Approx(expected).epsilon(1e-6));
      CHECK(host(t.offset + t.size() - 1) == Approx(expected).epsilon(1e-6));
    }
  }
}

TEST_CASE("an optimizer with a partition updates and keeps state for that range only", "[optimizer]") {
  GPT2Config c{50, 8, 2, 2, 4};
  const ParameterLayout layout(c);
  const Partition partition{101, 517};  // cuts through tensors on both ends
  for (const OptimizerType type : {OptimizerType::adamw, OptimizerType::sophiag}) {
    OptimizerConfig oc{type, 0.1, 0.9, 0.95, 1e-8, 0.04, 0.0, 1.0, 10, 0};
    auto opt = make_optimizer(oc, layout, 64, partition);
    for (auto& [name, view] : opt->state()) CHECK(view.extent(0) == partition.size());
    View1<float> params("p", layout.size()), grads("g", layout.size());
    Kokkos::deep_copy(grads, 1.0f);
    opt->set_squares(0);
    opt->clip(1, 0);
    opt->step(params, grads, 0.1, 0);
    auto host = Kokkos::create_mirror_view(params);
    Kokkos::deep_copy(host, params);
    for (std::size_t i = 0; i < layout.size(); ++i) {
      INFO(name_of(type) << " coordinate " << i);
      if (i >= partition.begin && i < partition.end)
        REQUIRE(host(i) < 0.0f);  // a positive gradient moves it down
      else
        REQUIRE(host(i) == 0.0f);
    }
  }
}

TEST_CASE("checkpoint keep policy and the latest pointer", "[checkpoint]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "sk_keep_policy";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (long step = 2; step <= 20; step += 2) std::ofstream(checkpoint_path(dir.string(), step)) << "x";
  std::ofstream(dir / "ckpt_notastep.h5") << "x";  // not a checkpoint name: left alone
  after_checkpoint(dir.string(), checkpoint_path(dir.string(), 20), 2, 8);
  std::vector<std::string> left;
  for (const auto& p : list_checkpoints(dir.string())) left.push_back(fs::path(p).filename().string());
  CHECK(left == std::vector<std::string>{"ckpt_00000020.h5", "ckpt_00000018.h5", "ckpt_00000016.h5",
                                         "ckpt_00000008.h5"});
  CHECK(fs::exists(dir / "ckpt_notastep.h5"));
  std::string latest;
  std::ifstream(dir / "latest") >> latest;
  CHECK(latest == "ckpt_00000020.h5");
  CHECK_FALSE(fs::exists(dir / "latest.tmp"));
  fs::remove_all(dir);
}

TEST_CASE("checkpoint counters: a step in [0, steps], at least one sequence per step", "[checkpoint]") {
  CHECK(counter_problems({0, 0, 1, ""}, 10) == "");
  CHECK(counter_problems({10, 40, 1, ""}, 10) == "");  // a run stopped at its end
  CHECK(counter_problems({3, 3, 1, ""}, 10) == "");
  CHECK(counter_problems({-1, 0, 1, ""}, 10) == "step -1 is negative");
  CHECK_THAT(counter_problems({11, 44, 1, ""}, 10), Catch::Contains("step 11 is past the deck's train.steps = 10"));
  CHECK_THAT(counter_problems({4, 3, 1, ""}, 10), Catch::Contains("data position 3 sequences does not fit step 4"));
  CHECK_THAT(counter_problems({0, 8, 1, ""}, 10), Catch::Contains("data position 8 sequences does not fit step 0"));
}

TEST_CASE("an output folder holding another run is refused unless that run is resumed or replaced", "[checkpoint]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "sk_claim_output";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string d = dir.string(), ckpt = checkpoint_path(d, 4);
  claim_output_dir(d, "", "", "deck", false);  // empty: free
  std::ofstream(dir / "metrics.jsonl");
  claim_output_dir(d, "", "", "deck", false);  // an empty metrics file holds no results
  std::ofstream(dir / "metrics.jsonl") << "{}\n";
  std::ofstream(dir / "config.toml") << "deck";
  CHECK_THROWS_WITH(claim_output_dir(d, "", "", "deck", false), Catch::Contains("holds another run (metrics.jsonl)"));
  claim_output_dir(d, "", "auto", "deck", false);  // the same deck, unfinished: a restart
  CHECK_THROWS_WITH(claim_output_dir(d, "", "auto", "other deck", false), Catch::Contains("train --overwrite"));
  std::ofstream(ckpt) << "x";
  claim_output_dir(d, ckpt, "auto", "other deck", false);  // resumed from its checkpoint
  CHECK_THROWS_WITH(claim_output_dir(d, "elsewhere/ckpt_00000004.h5", "elsewhere/ckpt_00000004.h5", "other deck", false),
                    Catch::Contains("or continue it with --resume auto"));
  std::ofstream(dir / "final.h5") << "x";
  CHECK_THROWS(claim_output_dir(d, "", "auto", "deck", false));  // finished: not restarted
  claim_output_dir(d, "", "", "other deck", true);
  CHECK_FALSE(fs::exists(ckpt));
  CHECK(fs::exists(dir / "final.h5"));  // replaced when the new run ends, not before
  fs::remove_all(dir);
}

TEST_CASE("deck: numbers are printed in their shortest form and read back bit for bit", "[deck]") {
  const std::vector<std::string> sets = {
      "optimizer.lr=0.00029999999999999997", "optimizer.beta1=0.965", "optimizer.rho=0.04",
      "optimizer.weight_decay=0.2", "optimizer.eps=1e-15", "optimizer.grad_clip=0.1",
      "schedule.min_lr=3.3333333333333335e-05", "parallel.bucket_mb=25", "checkpoint.minutes=1234567.875"};
  const Deck d = Deck::parse("", "test.toml", sets);
  const std::string text = d.to_toml();
  for (const char* line : {"lr = 3e-4", "beta1 = 0.965", "rho = 0.04", "weight_decay = 0.2", "eps = 1e-15",
                           "grad_clip = 0.1", "min_lr = 3.3333333333333335e-5", "bucket_mb = 25.0",
                           "minutes = 1234567.875"}) {
    INFO(text);
    CHECK(text.find(std::string("\n") + line + "\n") != std::string::npos);
  }
  CHECK(text.find("99999") == std::string::npos);
  const Deck again = Deck::parse(text, "resolved", {});
  for (const auto& set : sets) {
    const std::string key = set.substr(0, set.find('='));
    INFO(key);
    const double a = d.number(key), b = again.number(key);
    CHECK(std::memcmp(&a, &b, sizeof a) == 0);  // the same bits
  }
  CHECK(again.to_toml() == text);
}
