// The kernels' tangents (the R-operator of Hessian-vector products) against
// central differences of the kernels themselves, in double: for inputs x and
// a direction d, tangent(x; d) = (f(x + h d) - f(x - h d)) / 2h up to the
// differences' error. The backward kernels' tangents are checked the same
// way, as derivatives of the backward's outputs, so every second derivative
// (GELU'', the softmax and LayerNorm Jacobians' tangents) is covered.
#include <catch2/catch.hpp>

#include <functional>
#include <random>
#include <vector>

#include "attention.hpp"
#include "gelu.hpp"
#include "kernel_checks.hpp"
#include "layernorm.hpp"
#include "lm_head.hpp"
#include "matmul.hpp"
#include "reduction.hpp"

using namespace sk_test;

namespace {

// An input of a kernel with its direction.
struct Moving {
  const Buf& x;
  const Buf& d;
};

// Concatenated device values of the outputs.
std::vector<double> values_of(const std::vector<const Buf*>& outs) {
  std::vector<double> all;
  for (const Buf* b : outs) {
    const auto v = b->values();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// Moves every input by step * its direction (and back with -step).
void shift(const std::vector<Moving>& in, double step) {
  for (const Moving& m : in) {
    m.x.download();
    m.d.download();
    for (int i = 0; i < m.x.size(); ++i) m.x[i] += step * m.d[i];
    m.x.upload();
  }
}

// Checks `tangent` against central differences of the outputs that run()
// computes, along the inputs' directions. run() recomputes everything from
// the inputs' device values.
void check_tangent(const char* what, const std::vector<Moving>& in, const std::function<void()>& run,
                   const std::vector<const Buf*>& outs, const std::vector<double>& tangent) {
  shift(in, kStep);
  run();
  const auto plus = values_of(outs);
  shift(in, -2 * kStep);
  run();
  const auto minus = values_of(outs);
  shift(in, kStep);
  std::vector<double> fd(plus.size());
  for (std::size_t i = 0; i < fd.size(); ++i) fd[i] = (plus[i] - minus[i]) / (2 * kStep);
  // Central differences of O(1) values: error ~1e-10 (kernel_checks.hpp).
  check_close(what, tangent, fd, kFdTol);
}

Buf normal(int rows, int cols, std::mt19937& rng, double mean = 0, double sd = 1) {
  Buf b(rows, cols);
  fill_normal(b, rng, mean, sd);
  return b;
}

}  // namespace

TEST_CASE("GELU's tangents match central differences of its forward and backward", "[kernels][tangent]") {
  std::mt19937 rng(1);
  const int N = 5, C = 37;
  const Buf x = normal(N, C, rng, 0, 2), xd = normal(N, C, rng), g = normal(N, C, rng), gd = normal(N, C, rng);
  Buf y(N, C), dx(N, C), t(N, C);
  sk::gelu_forward_tangent<double>(t.t(), x.t(), xd.t());
  check_tangent("gelu forward", {{x, xd}}, [&] { sk::gelu_forward<double>(y.t(), x.t()); }, {&y}, t.values());
  // The backward's tangent in place (rdinp aliasing rdout), as the model runs it.
  Kokkos::deep_copy(t.dev, gd.dev);
  sk::gelu_backward_tangent<double>(t.t(), x.t(), xd.t(), g.t(), t.t());
  check_tangent("gelu backward", {{x, xd}, {g, gd}}, [&] { sk::gelu_backward<double>(dx.t(), x.t(), g.t()); }, {&dx},
                t.values());
}

TEST_CASE("LayerNorm's tangents match central differences of its forward and backward", "[kernels][tangent]") {
  std::mt19937 rng(2);
  const int N = 37, C = 21;  // N over one row block of the parameter sums
  const Buf x = normal(N, C, rng, 0.5, 2), xd = normal(N, C, rng), w = normal(1, C, rng, 1, 0.3),
            wd = normal(1, C, rng), b = normal(1, C, rng), bd = normal(1, C, rng), g = normal(N, C, rng),
            gd = normal(N, C, rng);
  Buf y(N, C), mean(1, N), rstd(1, N), yd(N, C), md(1, N), sd(1, N);
  Buf partials(1, int(sk::column_partials_size(N, C, 2)));
  const auto forward = [&] { sk::layernorm_forward<double>(y.t(), mean.t1(), rstd.t1(), x.t(), w.t1(), b.t1()); };
  forward();
  sk::layernorm_forward_tangent<double>(yd.t(), md.t1(), sd.t1(), x.t(), xd.t(), w.t1(), wd.t1(), bd.t1(), mean.t1(),
                                        rstd.t1());
  auto want = values_of({&yd, &md, &sd});
  check_tangent("layernorm forward", {{x, xd}, {w, wd}, {b, bd}}, forward, {&y, &mean, &rstd}, want);

  Buf dx(N, C), dw(1, C), db(1, C), rdx(N, C), rdw(1, C), rdb(1, C);
  forward();
  fill(rdx, 0.5);  // all three accumulate: start from nonzero values
  fill(rdw, 0.5);
  fill(rdb, 0.5);
  sk::layernorm_backward_tangent<double>(rdx.t(), rdw.t1(), rdb.t1(), g.t(), gd.t(), x.t(), xd.t(), w.t1(), wd.t1(),
                                         mean.t1(), rstd.t1(), md.t1(), sd.t1(), partials.t1());
  want = values_of({&rdx, &rdw, &rdb});
  for (double& v : want) v -= 0.5;
  const auto backward = [&] {
    forward();
    fill(dx, 0);
    fill(dw, 0);
    fill(db, 0);
    sk::layernorm_backward<double>(dx.t(), dw.t1(), db.t1(), g.t(), x.t(), w.t1(), mean.t1(), rstd.t1(), partials.t1());
  };
  check_tangent("layernorm backward", {{x, xd}, {w, wd}, {g, gd}}, backward, {&dx, &dw, &db}, want);
}

TEST_CASE("the linear layer's tangents match central differences", "[kernels][tangent]") {
  std::mt19937 rng(3);
  const int N = 9, IC = 13, OC = 7;
  const Buf x = normal(N, IC, rng), xd = normal(N, IC, rng), w = normal(OC, IC, rng), wd = normal(OC, IC, rng),
            b = normal(1, OC, rng), bd = normal(1, OC, rng), g = normal(N, OC, rng), gd = normal(N, OC, rng);
  Buf ones(1, N), y(N, OC), yd(N, OC), dx(N, IC), dw(OC, IC), db(1, OC), rdx(N, IC), rdw(OC, IC), rdb(1, OC);
  fill(ones, 1);
  sk::matmul_forward_tangent<double>(yd.t(), x.t(), xd.t(), w.t(), wd.t(), bd.t1());
  check_tangent("matmul forward", {{x, xd}, {w, wd}, {b, bd}}, [&] { sk::matmul_forward<double>(y.t(), x.t(), w.t(), b.t1()); },
                {&y}, yd.values());
  fill(rdx, kGarbage);  // overwritten
  sk::matmul_backward_tangent<double>(rdx.t(), rdw.t(), rdb.t1(), g.t(), gd.t(), x.t(), xd.t(), w.t(), wd.t(),
                                      ones.t1());
  const auto backward = [&] {
    fill(dw, 0);
    fill(db, 0);
    sk::matmul_backward<double>(dx.t(), dw.t(), db.t1(), g.t(), x.t(), w.t(), ones.t1());
  };
  check_tangent("matmul backward", {{x, xd}, {w, wd}, {g, gd}}, backward, {&dx, &dw, &db},
                values_of({&rdx, &rdw, &rdb}));
}

TEST_CASE("the LM head's tangent (softmax cross-entropy's Jacobian) matches central differences", "[kernels][tangent]") {
  std::mt19937 rng(4);
  const int B = 2, T = 7, N = B * T, C = 6, V = 37, Vp = 48, chunk = 5;  // uneven chunks, padded vocabulary
  const Buf x = normal(N, C, rng), xd = normal(N, C, rng);
  Buf wte = normal(Vp, C, rng, 0, 0.5), wd = normal(Vp, C, rng);
  for (int v = V; v < Vp; ++v)
    for (int c = 0; c < C; ++c) wte(v, c) = wd(v, c) = 0;  // padding rows stay zero, as in the model
  wte.upload();
  wd.upload();
  std::vector<int> ids(N);
  for (int& id : ids) id = int(rng() % V);
  const auto targets = make_tokens(B, T, ids);
  const auto rows = sk::row_tokens(targets, 0, N);
  Buf losses(1, N), dx(N, C), dwte(Vp, C), logits(chunk, Vp), zd(chunk, Vp), rdx(N, C), rdwte(Vp, C);
  sk::lm_head_forward_backward_tangent<double>(losses.t1(), dx.t(), dwte.t(), rdx.t(), rdwte.t(), logits.t(), zd.t(),
                                               x.t(), xd.t(), wte.t(), wd.t(), rows, V, 1.0 / N);
  const auto want = values_of({&rdx, &rdwte});
  const auto run = [&] {
    fill(dwte, 0);
    sk::lm_head_forward_backward<double>(losses.t1(), dx.t(), dwte.t(), logits.t(), x.t(), wte.t(), rows, V, 1.0 / N);
  };
  check_tangent("lm head backward", {{x, xd}, {wte, wd}}, run, {&dx, &dwte}, want);
}

TEST_CASE("attention's tangents match central differences, past a tile and with head size 48", "[kernels][tangent]") {
  std::mt19937 rng(5);
  const sk::AttentionShape s{2, 67, 2, 48};  // T past one 64-row tile
  const int BT = s.B * s.T, C = s.NH * s.HS;
  const Buf qkv = normal(BT, 3 * C, rng, 0, 0.3), qd = normal(BT, 3 * C, rng), g = normal(BT, C, rng),
            gd = normal(BT, C, rng);
  Buf out(BT, C), lse(1, s.B * s.NH * s.T), od(BT, C), ld(1, s.B * s.NH * s.T), dqkv(BT, 3 * C), rdqkv(BT, 3 * C);
  Buf scratch(1, int(sk::attention_scratch_size(s))), tangent_scratch(1, int(sk::attention_tangent_scratch_size(s)));
  const auto forward = [&] { sk::attention_forward<double>(out.t(), lse.t1(), scratch.t1(), qkv.t(), s); };
  forward();
  sk::attention_forward_tangent<double>(od.t(), ld.t1(), tangent_scratch.t1(), qkv.t(), qd.t(), lse.t1(), s);
  check_tangent("attention forward", {{qkv, qd}}, forward, {&out, &lse}, values_of({&od, &ld}));
  forward();
  fill(rdqkv, kGarbage);  // overwritten
  sk::attention_backward_tangent<double>(rdqkv.t(), tangent_scratch.t1(), g.t(), gd.t(), qkv.t(), qd.t(), out.t(), od.t(),
                                         lse.t1(), ld.t1(), s);
  const auto backward = [&] {
    forward();
    sk::attention_backward<double>(dqkv.t(), scratch.t1(), g.t(), qkv.t(), out.t(), lse.t1(), s);
  };
  check_tangent("attention backward", {{qkv, qd}, {g, gd}}, backward, {&dqkv}, rdqkv.values());
}

TEST_CASE("attention's tangents: BLAS blocks (host) and batched gemms (GPUs) equal the row kernels, over query blocks",
          "[kernels][tangent]") {
  std::mt19937 rng(6);
  const sk::AttentionShape s{2, 150, 3, 20};  // T past one block of 128 query rows
  const int BT = s.B * s.T, C = s.NH * s.HS, rows = s.B * s.NH * s.T;
  const Buf qkv = normal(BT, 3 * C, rng, 0, 0.3), qd = normal(BT, 3 * C, rng), g = normal(BT, C, rng),
            gd = normal(BT, C, rng);
  Buf out(BT, C), lse(1, rows), scratch(1, int(sk::attention_scratch_size(s)));
  sk::attention_forward<double>(out.t(), lse.t1(), scratch.t1(), qkv.t(), s);
  Buf od_rows(BT, C), ld_rows(1, rows), rdqkv_rows(BT, 3 * C), deltas(1, int(sk::attention_rows_tangent_scratch_size(s)));
  sk::attention_forward_tangent_rows<double>(od_rows.t(), ld_rows.t1(), qkv.t(), qd.t(), lse.t1(), s);
  sk::attention_backward_tangent_rows<double>(rdqkv_rows.t(), deltas.t1(), g.t(), gd.t(), qkv.t(), qd.t(), out.t(),
                                              od_rows.t(), lse.t1(), ld_rows.t1(), s);
  Buf od(BT, C), ld(1, rows), rdqkv(BT, 3 * C);
  const auto check = [&](const char* what) {
    INFO(what);
    check_close("R{out}", od.values(), od_rows.values(), 1e-12);
    check_close("R{lse}", ld.values(), ld_rows.values(), 1e-12);
    check_close("R{dqkv}", rdqkv.values(), rdqkv_rows.values(), 1e-12);
    for (Buf* b : {&od, &ld, &rdqkv}) fill(*b, kGarbage);  // the next implementation overwrites them
  };
  for (Buf* b : {&od, &ld, &rdqkv}) fill(*b, kGarbage);
  Buf blocks(1, int(sk::attention_blocked_tangent_scratch_size(s)));
  sk::attention_forward_tangent_blocked<double>(od.t(), ld.t1(), blocks.t1(), qkv.t(), qd.t(), lse.t1(), s);
  sk::attention_backward_tangent_blocked<double>(rdqkv.t(), blocks.t1(), g.t(), gd.t(), qkv.t(), qd.t(), out.t(),
                                                 od_rows.t(), lse.t1(), ld_rows.t1(), s);
  check("BLAS blocks");
  Buf batched(1, int(sk::attention_batched_tangent_scratch_size(s)));
  sk::attention_forward_tangent_batched<double>(od.t(), ld.t1(), batched.t1(), qkv.t(), qd.t(), lse.t1(), s);
  sk::attention_backward_tangent_batched<double>(rdqkv.t(), batched.t1(), g.t(), gd.t(), qkv.t(), qd.t(), out.t(),
                                                 od_rows.t(), lse.t1(), ld_rows.t1(), s);
  check("batched gemms");
}
