// The closed sets of names that decks, options and files use, as enums. A name
// is converted once, where it enters (the deck, a command-line option, a file's
// attribute); past that boundary the program compares enums, never strings.
#pragma once
#include <optional>
#include <string>

namespace sk {

// sophiah: Sophia with Hutchinson's estimator u * (H u) of the Hessian's
// diagonal, from exact Hessian-vector products (GPT2::hvp).
enum class OptimizerType { sophiag, adamw, sophiah };
enum class ScheduleKind { cosine, linear, constant };
enum class WindowOrder { sequential, shuffled };
// How gradients are summed over ranks: one call after the backward pass,
// buckets during it, bucketed reduce-scatters to ZeRO-1 partitions, or exact
// fixed-point sums whose bits do not depend on the rank count.
enum class Reduction { blocking, overlap, zero1, exact };
// The library float gemms run in: auto (the build's default: oneDNN where
// built), KokkosKernels' BLAS, or oneDNN (host builds that found it).
enum class GemmChoice { automatic, blas, onednn };
// The distribution of a Hessian probe (Hutchinson's estimator): standard
// normal entries or random signs.
enum class Probe { gaussian, rademacher };
// The precision of the gemms' inputs: fp32, or bf16 with f32 accumulation
// (weights, optimizer state and everything else stay fp32).
enum class Precision { fp32, bf16 };

// Each enum's names, in the order of its values.
template <class E>
struct Names;
template <>
struct Names<OptimizerType> {
  static constexpr const char* list[] = {"sophiag", "adamw", "sophiah"};
};
template <>
struct Names<ScheduleKind> {
  static constexpr const char* list[] = {"cosine", "linear", "constant"};
};
template <>
struct Names<WindowOrder> {
  static constexpr const char* list[] = {"sequential", "shuffled"};
};
template <>
struct Names<Reduction> {
  static constexpr const char* list[] = {"blocking", "overlap", "zero1", "exact"};
};
template <>
struct Names<GemmChoice> {
  static constexpr const char* list[] = {"auto", "blas", "onednn"};
};
template <>
struct Names<Precision> {
  static constexpr const char* list[] = {"fp32", "bf16"};
};

template <>
struct Names<Probe> {
  static constexpr const char* list[] = {"gaussian", "rademacher"};
};

// Whether the optimizer keeps a diagonal Hessian estimate (Sophia-G, Sophia-H).
inline bool is_sophia(OptimizerType t) { return t != OptimizerType::adamw; }

template <class E>
const char* name_of(E value) {
  return Names<E>::list[int(value)];
}

// The value called `name`; nullopt for any other name.
template <class E>
std::optional<E> named(const std::string& name) {
  int i = 0;
  for (const char* n : Names<E>::list) {
    if (name == n) return E(i);
    ++i;
  }
  return std::nullopt;
}

// Every name of E, separated by commas, for messages that list the choices.
template <class E>
std::string listed_names() {
  std::string out;
  for (const char* n : Names<E>::list) out += (out.empty() ? "" : ", ") + std::string(n);
  return out;
}

}  // namespace sk
