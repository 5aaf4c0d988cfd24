// When and where the training loop saves checkpoints, which ones it keeps,
// which one a resumed run starts from and whether it fits the deck, and
// whether a run may write into its output folder. The file format is
// io/checkpoint.hpp.
#pragma once
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "comm.hpp"
#include "deck.hpp"
#include "error.hpp"
#include "gpt2.hpp"
#include "optimizer.hpp"

namespace sk {

// Exit codes of `train` besides 0 (done), 1 (error) and 2 (bad command line).
constexpr int exit_checkpointed_requeue = 75;  // stopped by a signal after saving a checkpoint
constexpr int exit_checkpoint_failed = 74;     // a checkpoint could not be written

// What a checkpoint holds of a run: the model, this rank's optimizer state
// (its partition) and which optimizer it is.
struct CheckpointTarget {
  GPT2<float>& model;
  Optimizer& optimizer;
  const GradientReducer& reducer;
  OptimizerType optimizer_type;
};

// A checkpoint that is readable but does not fit the deck (model shape,
// optimizer, counters): `--resume auto` stops at it instead of skipping it
// as damaged.
struct CheckpointMismatch : Error {
  using Error::Error;
};

// Writes a checkpoint of the target (collective over ranks); throws
// sk::Error if it cannot.
void save_checkpoint(const std::string& path, const CheckpointTarget& target, const TrainingState& state);

// Loads a checkpoint into the target after checking that it fits: the model
// shape, the optimizer, and counters that a run of `steps` steps can resume
// (collective; all ranks agree on the outcome). Returns its state.
TrainingState load_checkpoint(const std::string& path, const CheckpointTarget& target, long steps);

// Why a checkpoint's counters cannot be resumed by a run of `steps` steps,
// or "" if they can: the step in [0, steps], and a data position of at least
// one sequence per step done (none before the first).
std::string counter_problems(const TrainingState& state, long steps);

// The checkpoint at `state.step` in dir: written, `latest` pointed at it and
// the kept set applied (collective). Rank 0 reports the outcome. Returns
// whether training goes on: true, or after a failure the deck's
// checkpoint.continue_on_failure.
bool save_run_checkpoint(const CheckpointConfig& config, const std::string& dir, const CheckpointTarget& target,
                         const TrainingState& state, bool root);

// Resumes as `resume` says: "" starts fresh; "auto" loads the newest
// checkpoint in dir that opens and verifies (saying which are damaged), or
// starts fresh if there is none, and refuses one that does not fit the deck;
// any other value must be a checkpoint that loads. Fills `state`; returns the checkpoint's path, "" for a fresh start.
std::string resume_run(const std::string& resume, const std::string& dir, const CheckpointTarget& target, long steps,
                       TrainingState& state, bool root);

// "n_layer 2 (file) vs 1 (deck), ..." for the fields that differ; empty if none.
std::string shape_differences(const GPT2Config& file, const GPT2Config& deck);

// dir/ckpt_<step, 8 digits>.h5
std::string checkpoint_path(const std::string& dir, long step);

// Checkpoints in dir, newest (highest step) first.
std::vector<std::string> list_checkpoints(const std::string& dir);

// After a checkpoint is complete: points dir/latest at it (written to a
// temporary name and renamed) and deletes the checkpoints that the policy does
// not keep: the newest keep_last, and every keep_every-th step (0: none).
void after_checkpoint(const std::string& dir, const std::string& newest, int keep_last, long keep_every);

// Rank 0, before a run writes into dir: refuses (sk::Error) when dir holds
// another run's metrics, final weights or checkpoints. Allowed: a run
// resumed from a checkpoint in dir (`resumed_from`); `resume` "auto" finding
// no loadable checkpoint in an unfinished run of this deck (`toml`, as in
// dir/config.toml) or one whose checkpoints are all damaged; and `overwrite`,
// which removes the earlier run's checkpoints and `latest` so that the new
// run's keep policy and later resumes see its own alone.
void claim_output_dir(const std::string& dir, const std::string& resumed_from, const std::string& resume,
                      const std::string& toml, bool overwrite);

}  // namespace sk
