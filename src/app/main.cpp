// sophia-kokkos: GPT-2 pretraining with the Sophia optimizer on Kokkos and MPI.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <Kokkos_Core.hpp>
#if defined(KOKKOS_ENABLE_CUDA)
#include <cuda_runtime_api.h>
#elif defined(KOKKOS_ENABLE_HIP)
#include <hip/hip_runtime_api.h>
#endif

#include "commands.hpp"
#include "error.hpp"
#include "train.hpp"

namespace {

struct Subcommand {
  const char* name;
  int (*run)(int, char**, const sk::MpiEnv&);
  const char* summary;
};

const Subcommand subcommands[] = {
    {"train", sk::cmd_train, "pretrain GPT-2 with Sophia-G, Sophia-H or AdamW as an input deck (TOML) says"},
    {"inspect", sk::cmd_inspect, "print a checkpoint's contents and verify every checksum"},
    {"grad", sk::cmd_grad, "loss and gradients of one batch, written to HDF5 (for checking against PyTorch)"},
    {"hvp", sk::cmd_hvp, "an exact Hessian-vector product of one batch's loss, written to HDF5"},
    {"bench", sk::cmd_bench, "time forward+backward against the machine's gemm rate on the same shapes"},
    {"prepare", sk::cmd_prepare, "tokenize text files into token shards for training and validation"},
    {"sample", sk::cmd_sample, "continue a prompt with a model (temperature, top-k, top-p)"},
    {"evaluate", sk::cmd_evaluate, "mean loss and perplexity of weights on token shards"},
    {"import", sk::cmd_import, "convert a Hugging Face GPT-2 checkpoint (safetensors) into a weights file"},
    {"export", sk::cmd_export, "write a weights file as a Hugging Face GPT-2 checkpoint (safetensors)"},
};

void print_help() {
  std::puts("usage: sophia-kokkos [--help] COMMAND [options]\n\ncommands:");
  for (const auto& s : subcommands) std::printf("  %-8s %s\n", s.name, s.summary);
  std::puts("\n'sophia-kokkos COMMAND --help' describes a command's options.\n"
            "Kokkos options (--kokkos-threads=N, --kokkos-device-id=N, ...) are accepted by every command;\n"
            "'sophia-kokkos --kokkos-help' lists them.");
}

// Kokkos prints its whole option list when it sees --help (or -h), ahead of
// ours. The help arguments are hidden from Kokkos::initialize and put back
// after it, so that --help prints our help alone; --kokkos-help still prints
// Kokkos' own.
class HelpHiddenFromKokkos {
 public:
  HelpHiddenFromKokkos(int argc, char** argv) {
    for (int i = 1; i < argc; ++i)
      if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
        help_ = argv[i];
        argv[i] = placeholder_;
      }
  }
  // After Kokkos has removed its own arguments from argv.
  void restore(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i)
      if (argv[i] == placeholder_) argv[i] = help_;
  }

 private:
  char placeholder_[32] = "--help-hidden-from-kokkos";
  char* help_ = nullptr;
};

// A GPU build needs a visible GPU; without one, Kokkos::initialize would abort.
// Returns the reason there is none, or "" when there is one (or on CPU builds).
std::string missing_gpu() {
  int n = 0;
#if defined(KOKKOS_ENABLE_CUDA)
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess || n == 0)
    return std::string("this build runs on CUDA, but no CUDA device is visible (cudaGetDeviceCount: ") +
           (err != cudaSuccess ? cudaGetErrorString(err) : "0 devices") + ")";
#elif defined(KOKKOS_ENABLE_HIP)
  const hipError_t err = hipGetDeviceCount(&n);
  if (err != hipSuccess || n == 0)
    return std::string("this build runs on HIP, but no HIP device is visible (hipGetDeviceCount: ") +
           (err != hipSuccess ? hipGetErrorString(err) : "0 devices") + ")";
#endif
  (void)n;
  return "";
}

// Kokkos' OpenMP backend prints a block of advice when OMP_PROC_BIND is unset.
// The OpenMP runtime has read its settings already (threads stay unpinned,
// its default), so one line says that and what to set instead; OMP_PROC_BIND
// is then set to what the runtime does, which keeps Kokkos quiet.
void explain_unset_binding(int rank) {
#if defined(KOKKOS_ENABLE_OPENMP)
  if (std::getenv("OMP_PROC_BIND")) return;
  if (rank == 0)
    std::fputs("sophia-kokkos: note: OMP_PROC_BIND is not set, so OpenMP threads are not pinned to cores; "
               "for speed set OMP_PROC_BIND=spread OMP_PLACES=threads (the jobs/ scripts do)\n",
               stderr);
  setenv("OMP_PROC_BIND", "false", 0);
#else
  (void)rank;
#endif
}

// The --kokkos-* options that take an integer: checked here, because Kokkos
// reads them with std::stoi and a malformed one escapes as "stoi".
void check_kokkos_integers(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    for (const char* name : {"--kokkos-threads", "--kokkos-num-threads", "--kokkos-numa", "--kokkos-device-id",
                             "--kokkos-num-devices", "--kokkos-skip-device"}) {
      const std::string n = name;
      if (arg != n && arg.compare(0, n.size() + 1, n + "=") != 0) continue;
      const std::string value = arg.size() > n.size() ? arg.substr(n.size() + 1) : "";
      const bool whole = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos &&
                         value.size() < 10;
      if (!whole) throw sk::UsageError("option " + n + " needs a non-negative integer (" + n + "=N), got '" + value + "'");
    }
  }
}

// Kokkos for the lifetime of a command, finalised also when the command throws.
class KokkosSession {
 public:
  KokkosSession(int& argc, char** argv) {
    check_kokkos_integers(argc, argv);
    try {
      Kokkos::initialize(argc, argv);
    } catch (const std::exception& e) {
      throw sk::Error(std::string("Kokkos could not start: ") + e.what());
    }
  }
  ~KokkosSession() {
    if (Kokkos::is_initialized()) Kokkos::finalize();
  }
  KokkosSession(const KokkosSession&) = delete;
  KokkosSession& operator=(const KokkosSession&) = delete;
};

// Starts Kokkos and runs the command argv[1]; returns its exit status.
int run(int argc, char** argv, const sk::MpiEnv& mpi) {
  const std::string no_gpu = missing_gpu();
  if (!no_gpu.empty()) throw sk::Error(no_gpu);
  bool kokkos_help = false;
  for (int i = 1; i < argc; ++i) kokkos_help = kokkos_help || !std::strcmp(argv[i], "--kokkos-help");
  // Kokkos strips its own --kokkos-* arguments from argv.
  const HelpHiddenFromKokkos hidden(argc, argv);
  explain_unset_binding(mpi.rank());
  const KokkosSession kokkos(argc, argv);
  hidden.restore(argc, argv);
  if (kokkos_help) return 0;  // Kokkos has printed its options: nothing else to do
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    if (mpi.rank() == 0) print_help();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& s : subcommands)
    if (!std::strcmp(argv[1], s.name)) return s.run(argc, argv, mpi);
  throw sk::UsageError(std::string("unknown command '") + argv[1] + "'");
}

// The command whose help a usage error points at ("train "), or "" for the
// program's own.
std::string help_topic(int argc, char** argv) {
  if (argc < 2) return "";
  for (const auto& s : subcommands)
    if (!std::strcmp(argv[1], s.name)) return std::string(s.name) + " ";
  return "";
}

}  // namespace

// The one error boundary: every failure, from Kokkos' start to the end of a
// command, becomes a message and an exit code (2: usage, 1: anything else).
int main(int argc, char** argv) {
  if (argc > 1 && !std::strcmp(argv[1], "train")) sk::catch_stop_signals();
  sk::MpiEnv mpi(&argc, &argv);
  const std::string who = mpi.size() > 1 ? "rank " + std::to_string(mpi.rank()) + ": " : "";
  int status = 0;
  bool failed = false;  // by an exception: the other ranks may be waiting in a collective
  try {
    status = run(argc, argv, mpi);
  } catch (const sk::UsageError& e) {
    std::fprintf(stderr, "sophia-kokkos: %s%s\nTry 'sophia-kokkos %s--help'.\n", who.c_str(), e.what(),
                 help_topic(argc, argv).c_str());
    status = 2;
    failed = true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sophia-kokkos: %serror: %s\n", who.c_str(), e.what());
    status = 1;
    failed = true;
  }
  // A failure on one rank must not leave the others waiting in a collective.
  if (failed && mpi.size() > 1) MPI_Abort(MPI_COMM_WORLD, status);
  return status;
}
