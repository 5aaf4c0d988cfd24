// The whole model against PyTorch's golden data (tests/reference), and the
// properties of the flat parameter buffer, padding and initialisation.
#include <catch2/catch.hpp>

#include <cmath>

#include "tokens.hpp"
#include "weights.hpp"
#include "reference_data.hpp"
#include "batch.hpp"
#include "gpt2.hpp"
#include "probe.hpp"

using namespace sk;
using sk::test::reference;

namespace {

template <class T>
struct ReferenceRun {
  GPT2<T> model;
  Batch batch;
  explicit ReferenceRun(const std::string& weights = reference("weights.h5"))
      : model(read_config(weights)), batch(load_batch()) {
    auto host = Kokkos::create_mirror_view(model.params);
    read_weights(weights, model.layout(), host.data());
    Kokkos::deep_copy(model.params, host);
  }
  static Batch load_batch() {
    const int B = int(test::read_root_attribute(reference("expected.h5"), "B"));
    const int Tn = int(test::read_root_attribute(reference("expected.h5"), "T"));
    return make_batch(read_tokens(reference("tokens.bin"), std::size_t(B) * Tn + 1), Tn, B, Tn);
  }
  T loss_and_grad() {
    model.zero_grad();
    const T loss = model.forward(batch.inputs, batch.targets);
    model.backward();
    return loss;
  }
};

// Largest |ours - ref| over a tensor, relative to the tensor's largest |ref|.
template <class T>
double worst_relative_error(const GPT2<T>& model, const std::string& group) {
  auto host = Kokkos::create_mirror_view(model.grads);
  Kokkos::deep_copy(host, model.grads);
  double worst = 0;
  for (const auto& t : model.layout().tensors()) {
    const auto ref = test::read_dataset(reference("expected.h5"), group + "/" + t.name);
    double scale = 0, err = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      scale = std::max(scale, std::fabs(ref[i]));
      err = std::max(err, std::fabs(double(host(t.offset + i)) - ref[i]));
    }
    INFO(t.name << ": max error " << err << ", max |grad| " << scale);
    CHECK(err <= 1e-3 * scale);  // the looser bound; tighter ones are checked by the caller
    worst = std::max(worst, err / scale);
  }
  return worst;
}

}  // namespace

// Loss within loss_tol and every gradient within grad_tol, both relative.
template <class T>
void check_against_reference(double loss_tol, double grad_tol) {
  ReferenceRun<T> run;
  const double loss = run.loss_and_grad();
  const double expected = test::read_dataset(reference("expected.h5"), "loss")[0];
  CHECK(std::fabs(loss - expected) <= loss_tol * expected);
  CHECK(worst_relative_error(run.model, "grad") <= grad_tol);
}

TEST_CASE("fp32 loss and gradients match PyTorch", "[gpt2][reference]") {
  // fp32 against a float64 reference on the same float32 weights.
  check_against_reference<float>(1e-5, 1e-4);
}

TEST_CASE("fp64 loss and gradients match PyTorch to rounding", "[gpt2][reference]") {
  // The reference computes in float64 too, so only summation order differs;
  // the exp-based tanh in GELU costs a few ulps near zero.
  check_against_reference<double>(1e-12, 1e-9);
}

// H.v by central differences of the gradient, (g(p + h v) - g(p - h v)) / 2h:
// a test aid for GPT2::hvp only (the training path never differentiates numerically).
std::vector<double> central_difference_hvp(ReferenceRun<double>& run, const std::vector<double>& v, double h) {
  auto params = Kokkos::create_mirror(run.model.params);
  Kokkos::deep_copy(params, run.model.params);
  const auto p0 = params;
  auto gradient_at = [&](double step) {
    auto moved = Kokkos::create_mirror(run.model.params);
    for (std::size_t i = 0; i < v.size(); ++i) moved(i) = p0(i) + step * v[i];
    Kokkos::deep_copy(run.model.params, moved);
    run.loss_and_grad();
    auto g = Kokkos::create_mirror(run.model.grads);
    Kokkos::deep_copy(g, run.model.grads);
    return g;
  };
  const auto plus = gradient_at(h), minus = gradient_at(-h);
  Kokkos::deep_copy(run.model.params, p0);
  std::vector<double> hv(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) hv[i] = (plus(i) - minus(i)) / (2 * h);
  return hv;
}

TEST_CASE("fp64 Hessian-vector product matches central differences of the gradient", "[gpt2][hvp]") {
  ReferenceRun<double> run;
  const auto& layout = run.model.layout();
  std::vector<double> v(layout.size());
  View1<double> v_dev("v", v.size()), hv_dev("hv", v.size());
  draw_probe(layout, Probe::gaussian, 3, v_dev);
  Kokkos::deep_copy(Kokkos::View<double*, Kokkos::HostSpace, Unmanaged>(v.data(), v.size()), v_dev);
  run.model.zero_grad();
  const double loss = run.model.hvp(run.batch.inputs, run.batch.targets, v_dev, hv_dev);
  auto hv = Kokkos::create_mirror(hv_dev);
  Kokkos::deep_copy(hv, hv_dev);
  // The gradient, a by-product, has the bits of forward + backward.
  auto grad_hvp = Kokkos::create_mirror(run.model.grads);
  Kokkos::deep_copy(grad_hvp, run.model.grads);
  CHECK(run.loss_and_grad() == loss);
  auto grad = Kokkos::create_mirror_view(run.model.grads);
  Kokkos::deep_copy(grad, run.model.grads);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < v.size(); ++i) differ += grad(i) != grad_hvp(i);
  CHECK(differ == 0);

  const auto fd = central_difference_hvp(run, v, 1e-5);
  for (const auto& t : layout.tensors()) {
    double err = 0, scale = 0;
    for (std::size_t i = t.offset; i < t.offset + t.size(); ++i) {
      err = std::max(err, std::fabs(hv(i) - fd[i]));
      scale = std::max(scale, std::fabs(fd[i]));
    }
    INFO(t.name << ": max |hvp - fd| " << err << ", max |fd| " << scale);
    CHECK(err <= 1e-6 * scale);
  }
}

TEST_CASE("Hutchinson probes: N(0, 1) or signs, zero in wte's padding, a function of the seed", "[gpt2][hvp]") {
  GPT2Config c = preset("tiny");
  c.vocab_size = 1001;  // padded to a multiple of 64 rows
  const ParameterLayout layout(c);
  const TensorSpec& wte = layout.find("transformer.wte.weight");
  REQUIRE(wte.size() > wte.stored_size());
  auto draw = [&](Probe kind, std::uint64_t seed) {
    View1<float> v("probe", layout.size());
    draw_probe(layout, kind, seed, v);
    auto host = Kokkos::create_mirror(v);
    Kokkos::deep_copy(host, v);
    return host;
  };
  const auto g = draw(Probe::gaussian, 5), g_again = draw(Probe::gaussian, 5), g_other = draw(Probe::gaussian, 6);
  const auto r = draw(Probe::rademacher, 5), r_again = draw(Probe::rademacher, 5), r_other = draw(Probe::rademacher, 6);
  double sum = 0, squares = 0, sign_sum = 0, next_product = 0, block_product = 0;  // signs 64 to a hash: see below
  std::size_t n = 0, same = 0, differ = 0, signs = 0, signs_same = 0, signs_differ = 0, pairs = 0;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    const bool padding = i >= wte.offset + wte.stored_size() && i < wte.offset + wte.size();
    if (padding) {
      REQUIRE(g(i) == 0.0f);
      REQUIRE(r(i) == 0.0f);
      continue;
    }
    sum += g(i);
    squares += double(g(i)) * g(i);
    ++n;
    same += g(i) == g_again(i);
    differ += g(i) != g_other(i);
    signs += r(i) == 1.0f || r(i) == -1.0f;
    signs_same += r(i) == r_again(i);
    signs_differ += r(i) != r_other(i);
    sign_sum += r(i);
    if (i + 64 < wte.offset + wte.stored_size()) {
      next_product += r(i) * r(i + 1);
      block_product += r(i) * r(i + 64);
      ++pairs;
    }
  }
  CHECK(same == n);
  CHECK(differ > n - n / 1000);
  CHECK(signs == n);
  CHECK(std::fabs(sum / n) < 5 / std::sqrt(double(n)));        // 5 standard errors
  CHECK(std::fabs(squares / n - 1) < 5 * std::sqrt(2.0 / n));  // the variance's
  // Signs: fair, independent of their neighbours and of the entry 64 on (the
  // same bit of the next hash), about half of them changed by another seed.
  const double se = 5 / std::sqrt(double(n));
  CHECK(signs_same == n);
  CHECK(std::fabs(double(signs_differ) / n - 0.5) < se);
  CHECK(std::fabs(sign_sum / n) < se);
  CHECK(std::fabs(next_product / pairs) < 5 / std::sqrt(double(pairs)));
  CHECK(std::fabs(block_product / pairs) < 5 / std::sqrt(double(pairs)));
}

TEST_CASE("gradients accumulate until zero_grad", "[gpt2]") {
  ReferenceRun<double> run;
  run.loss_and_grad();
  auto once = Kokkos::create_mirror(run.model.grads);
  Kokkos::deep_copy(once, run.model.grads);
  run.model.forward(run.batch.inputs, run.batch.targets);
  run.model.backward();
  auto twice = Kokkos::create_mirror_view(run.model.grads);
  Kokkos::deep_copy(twice, run.model.grads);
  double worst = 0;
  for (std::size_t i = 0; i < once.extent(0); ++i) worst = std::max(worst, std::fabs(twice(i) - 2 * once(i)));
  CHECK(worst <= 1e-14);
}

TEST_CASE("hvp adds H v and the gradient, as backward adds the gradient", "[gpt2][hvp]") {
  ReferenceRun<double> run;
  const auto& layout = run.model.layout();
  View1<double> v("v", layout.size()), hv("hv", layout.size());
  draw_probe(layout, Probe::rademacher, 4, v);
  run.model.zero_grad();
  run.model.hvp(run.batch.inputs, run.batch.targets, v, hv);
  auto hv_once = Kokkos::create_mirror(hv), g_once = Kokkos::create_mirror(run.model.grads);
  Kokkos::deep_copy(hv_once, hv);
  Kokkos::deep_copy(g_once, run.model.grads);
  std::size_t finals = 0;
  run.model.hvp(run.batch.inputs, run.batch.targets, v, hv, [&](std::size_t) { ++finals; });
  auto hv_twice = Kokkos::create_mirror_view(hv), g_twice = Kokkos::create_mirror_view(run.model.grads);
  Kokkos::deep_copy(hv_twice, hv);
  Kokkos::deep_copy(g_twice, run.model.grads);
  double worst_hv = 0, worst_g = 0, hv_scale = 0;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    worst_hv = std::max(worst_hv, std::fabs(hv_twice(i) - 2 * hv_once(i)));
    worst_g = std::max(worst_g, std::fabs(g_twice(i) - 2 * g_once(i)));
    hv_scale = std::max(hv_scale, std::fabs(hv_once(i)));
  }
  CHECK(hv_scale > 0);
  CHECK(worst_hv <= 1e-13 * hv_scale);
  CHECK(worst_g <= 1e-14);
  CHECK(finals == std::size_t(run.model.config().n_layer) + 2);  // ln_f, each block, the embeddings: as backward
}

TEST_CASE("hvp without the gradient gives H v's bits and leaves grads alone", "[gpt2][hvp]") {
  ReferenceRun<double> run;
  const auto& layout = run.model.layout();
  View1<double> v("v", layout.size()), with("with", layout.size()), without("without", layout.size());
  draw_probe(layout, Probe::gaussian, 9, v);
  run.model.zero_grad();
  run.model.hvp(run.batch.inputs, run.batch.targets, v, with);
  // grads holds the gradient now; the skipping HVP must not add to it.
  auto g_before = Kokkos::create_mirror(run.model.grads);
  Kokkos::deep_copy(g_before, run.model.grads);
  run.model.hvp(run.batch.inputs, run.batch.targets, v, without, {}, GPT2<double>::HvpGradient::skip);
  auto g_after = Kokkos::create_mirror_view(run.model.grads);
  Kokkos::deep_copy(g_after, run.model.grads);
  auto a = Kokkos::create_mirror(with), b = Kokkos::create_mirror(without);
  Kokkos::deep_copy(a, with);
  Kokkos::deep_copy(b, without);
  std::size_t hv_differ = 0, g_differ = 0, g_nonzero = 0;
  for (std::size_t i = 0; i < layout.size(); ++i) {
    hv_differ += a(i) != b(i);
    g_differ += g_after(i) != g_before(i);
    g_nonzero += g_before(i) != 0;
  }
  CHECK(hv_differ == 0);
  CHECK(g_differ == 0);
  CHECK(g_nonzero > layout.size() / 2);
}

TEST_CASE("a model without gradients evaluates as one with them, holding no gradient buffer", "[gpt2]") {
  ReferenceRun<double> run;
  const double kept = run.model.evaluate(run.batch.inputs, run.batch.targets);
  GPT2<double> inference(run.model.config(), GPT2<double>::Gradients::none);
  Kokkos::deep_copy(inference.params, run.model.params);
  CHECK(inference.grads.extent(0) == 0);
  CHECK(inference.evaluate(run.batch.inputs, run.batch.targets) == kept);
  CHECK_THROWS_WITH(inference.forward(run.batch.inputs, run.batch.targets),
                    Catch::Contains("built for inference (no gradients)"));
}

TEST_CASE("vocabulary padding never reaches the loss or the gradients", "[gpt2]") {
  ReferenceRun<double> run;
  const auto& config = run.model.config();
  REQUIRE(config.padded_vocab() > config.vocab_size);
  const double clean = run.loss_and_grad();

  // Garbage in the padding rows of wte must change nothing.
  const auto& wte = run.model.layout().find("transformer.wte.weight");
  auto params = Kokkos::create_mirror_view(run.model.params);
  Kokkos::deep_copy(params, run.model.params);
  for (std::size_t i = wte.stored[0] * wte.shape[1]; i < wte.size(); ++i) params(wte.offset + i) = 1e3;
  Kokkos::deep_copy(run.model.params, params);
  CHECK(run.loss_and_grad() == Approx(clean).epsilon(1e-14));

  auto grads = Kokkos::create_mirror_view(run.model.grads);
  Kokkos::deep_copy(grads, run.model.grads);
  double padded = 0;
  for (std::size_t i = wte.stored[0] * wte.shape[1]; i < wte.size(); ++i) padded = std::max(padded, std::fabs(grads(wte.offset + i)));
  CHECK(padded == 0.0);
}

TEST_CASE("parameter layout of the GPT-2 presets", "[gpt2][layout]") {
  // GPT-2 small's published parameter count, wpe included, LM head tied.
  CHECK(ParameterLayout(preset("gpt2")).stored_count() == 124439808);
  CHECK(ParameterLayout(preset("gpt2-medium")).stored_count() == 354823168);
  const ParameterLayout tiny(preset("tiny"));
  std::size_t next = 0;
  for (const auto& t : tiny.tensors()) {  // tensors tile the flat buffer with no gaps
    CHECK(t.offset == next);
    next += t.size();
  }
  CHECK(next == tiny.size());
  CHECK(tiny.tensors().size() == 2 + 12 * 2 + 2);
}

TEST_CASE("model shapes are validated", "[gpt2][config]") {
  GPT2Config c = preset("tiny");
  c.n_head = 5;  // 64 is not divisible by 5
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("n_embd (64) is not divisible by n_head (5)"));
  c = preset("tiny");
  c.n_layer = 0;
  CHECK_THROWS_WITH(c.validate(), Catch::Contains("n_layer must be positive"));
  CHECK_THROWS_WITH(preset("gpt3"), Catch::Contains("unknown model preset 'gpt3'"));
}

TEST_CASE("random initialisation follows GPT-2's recipe", "[gpt2][init]") {
  GPT2Config c = preset("tiny");
  c.n_layer = 3;
  GPT2<float> a(c), b(c);
  a.init_random(7);
  b.init_random(7);
  auto ha = Kokkos::create_mirror(a.params);
  auto hb = Kokkos::create_mirror(b.params);
  Kokkos::deep_copy(ha, a.params);
  Kokkos::deep_copy(hb, b.params);
  bool same = true;
  for (std::size_t i = 0; i < ha.extent(0); ++i) same = same && ha(i) == hb(i);
  CHECK(same);  // the seed alone decides the weights
  b.init_random(8);
  Kokkos::deep_copy(hb, b.params);
  CHECK(ha(a.layout().find("transformer.wte.weight").offset) != hb(b.layout().find("transformer.wte.weight").offset));

  auto stats = [&](const TensorSpec& t, std::size_t n) {
    double sum = 0, sq = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += ha(t.offset + i);
      sq += double(ha(t.offset + i)) * ha(t.offset + i);
    }
    return std::make_pair(sum / n, std::sqrt(sq / n - (sum / n) * (sum / n)));
  };
  const auto& wte = a.layout().find("transformer.wte.weight");
  const auto [wte_mean, wte_std] = stats(wte, wte.stored[0] * wte.shape[1]);  // 3.2M samples
  CHECK(std::fabs(wte_mean) < 1e-4);
  CHECK(wte_std == Approx(0.02).epsilon(0.01));
  const auto& proj = a.layout().find("transformer.h.1.mlp.c_proj.weight");
  CHECK(stats(proj, proj.size()).second == Approx(0.02 / std::sqrt(2.0 * c.n_layer)).epsilon(0.02));
  for (std::size_t i = wte.stored[0] * wte.shape[1]; i < wte.size(); ++i) REQUIRE(ha(wte.offset + i) == 0.0f);
  const auto& ln = a.layout().find("transformer.h.2.ln_2.weight");
  const auto& bias = a.layout().find("transformer.h.2.attn.c_attn.bias");
  for (std::size_t i = 0; i < ln.size(); ++i) REQUIRE(ha(ln.offset + i) == 1.0f);
  for (std::size_t i = 0; i < bias.size(); ++i) REQUIRE(ha(bias.offset + i) == 0.0f);
}
