// When and where the training loop saves checkpoints, which ones it keeps, and
// which one a resumed run starts from. The file format is io/checkpoint.hpp.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "checkpoint.hpp"
#include "comm.hpp"
#include "deck.hpp"
#include "gpt2.hpp"
#include "optimizer.hpp"

namespace sk {

// Exit codes of `train` besides 0 (done), 1 (error) and 2 (bad command line).
constexpr int exit_checkpointed_requeue = 75;  // stopped by a signal after saving a checkpoint
constexpr int exit_checkpoint_failed = 74;     // a checkpoint could not be written

// Writes a checkpoint of the model and this rank's optimizer state
// (collective over ranks); throws sk::Error if it cannot.
void save_checkpoint(const std::string& path, GPT2<float>& model, Optimizer& opt, const GradientReducer& reducer,
                     const TrainConfig& cfg, const TrainingState& state);

// Loads a checkpoint into the model and optimizer after checking that it fits
// the deck (collective; all ranks agree on the outcome). Returns its state.
TrainingState load_checkpoint(const std::string& path, GPT2<float>& model, Optimizer& opt,
                              const GradientReducer& reducer, const TrainConfig& cfg);

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

// The checkpoint to resume from: "auto" takes the newest one in dir that opens
// and verifies (saying which are damaged), or "" if there is none; any other
// value must be a checkpoint that verifies. `load` loads a candidate (as
// load_checkpoint does: fully read and checked before anything is taken from
// it) and throws sk::Error if it is damaged.
std::string choose_checkpoint(const std::string& resume, const std::string& dir,
                              const std::function<void(const std::string&)>& load, bool say);

}  // namespace sk
