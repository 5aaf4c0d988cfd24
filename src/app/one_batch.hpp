// What grad and hvp share: the options naming the weights (or --init), one
// batch of a token file and the output file, and the model and batch they give.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "batch.hpp"
#include "commands.hpp"
#include "gpt2.hpp"

namespace sk {

void add_one_batch_options(Options& opts);

struct OneBatch {
  GPT2Config config;
  std::unique_ptr<GPT2<float>> model;
  Batch batch;
  std::string out;  // --out
};

// Checks the options (inputs and outputs, with extra_inputs such as hvp's
// direction file, must not clobber each other), reads the first B*T+1 tokens
// and loads or initialises the model: everything before the passes, so that a
// bad input stops the command before any output is written.
// vectors: the parameter-sized buffers of Hessian-vector products the
// command holds (0: none, a plain forward and backward).
OneBatch load_one_batch(const std::string& command, const Options& opts, const MpiEnv& mpi,
                        const std::vector<FileArg>& extra_inputs, int hvp_vectors = 0);

}  // namespace sk
