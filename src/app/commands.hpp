// The subcommands of `sophia-kokkos` and the option groups they share.
#pragma once
#include <string>
#include <vector>

#include "cli.hpp"
#include "allreduce_timing.hpp"
#include "config.hpp"
#include "mpi_env.hpp"

namespace sk {

int cmd_grad(int argc, char** argv, const MpiEnv& mpi);
int cmd_hvp(int argc, char** argv, const MpiEnv& mpi);
int cmd_bench(int argc, char** argv, const MpiEnv& mpi);
int cmd_train(int argc, char** argv, const MpiEnv& mpi);
int cmd_inspect(int argc, char** argv, const MpiEnv& mpi);
int cmd_prepare(int argc, char** argv, const MpiEnv& mpi);
int cmd_evaluate(int argc, char** argv, const MpiEnv& mpi);
int cmd_import(int argc, char** argv, const MpiEnv& mpi);
int cmd_export(int argc, char** argv, const MpiEnv& mpi);
int cmd_sample(int argc, char** argv, const MpiEnv& mpi);

// bench --allreduce (src/app/bench_allreduce.cpp).
int bench_allreduce(int warmup, int iters, AllreduceMode mode, const MpiEnv& mpi);

// --tokenizer DIR, and the folder it names (io/tokenizer.hpp tokenizer_dir).
void add_tokenizer_option(Options& opts);
std::string tokenizer_option(const Options& opts);

// A file a command reads or writes: the path as the user gave it (or as
// derived from it), and the option it came from, for messages.
struct FileArg {
  std::string option, path;
};
// The one rule for outputs of every command: throws UsageError when an output
// is the same file as an input or as another output (by file identity, not
// spelling: io/files.hpp same_file), before anything is read or written.
void refuse_clobbering(const std::string& command, const std::vector<FileArg>& outputs,
                       const std::vector<FileArg>& inputs);

// The text of a file a command reads as text (`what`, e.g. "prompt file",
// names it in messages), or of standard input for "-": refused when missing,
// not a regular file, empty, or not UTF-8.
std::string utf8_text_file(const std::string& path, const std::string& what);

// Parses a command's arguments (argv[2..]); with --help, prints the help on
// rank 0 and returns false: the command has nothing more to do.
bool parse_or_help(Options& opts, int argc, char** argv, const MpiEnv& mpi);

// --model PRESET and per-field overrides (--n-layer, ...).
void add_model_options(Options& opts, const std::string& default_preset);
// --precision fp32|bf16, as train.precision; use_precision_option sets it
// (after the gemm library) before any model is built, or throws an Error
// naming what this build or CPU lacks for bf16.
void add_precision_option(Options& opts);
void use_precision_option(const Options& opts, const std::string& command);
GPT2Config model_config(const Options& opts);

}  // namespace sk
