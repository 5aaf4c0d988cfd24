// Token shards through their memory mappings, and batches packed into one
// device allocation per step.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>

#include "helpers.hpp"
#include "shards.hpp"
#include "tokens.hpp"
#include "data.hpp"
#include "error.hpp"

using namespace sk;

namespace {

// A fresh folder for one test's shards, in the system's temporary folder
// (not wherever the tests are started from).
std::string shard_dir(const std::string& name) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("sophia_data_test_" + name)).string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::uint16_t> random_tokens(std::size_t n, int vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::vector<std::uint16_t> t(n);
  for (auto& x : t) x = std::uint16_t(rng() % vocab);
  return t;
}


}  // namespace

using sk_test::on_host;

TEST_CASE("shard windows read through the mapping equal per-file reads, across shard boundaries", "[data]") {
  const std::string dir = shard_dir("windows");
  const int T = 4, V = 97;
  // Sizes: windows cut mid-shard, a shard too short for one window, one
  // exactly T+1 long, and a last window ending on the shard's last token.
  const std::vector<std::size_t> sizes = {23, 3, 5, 41, 17};
  std::vector<std::string> paths;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    paths.push_back(dir + "/shard_" + std::to_string(i) + ".bin");
    write_tokens(paths.back(), random_tokens(sizes[i], V, unsigned(i + 1)));
  }
  const TokenShards shards(dir + "/shard_*.bin", T, V);
  CHECK(shards.files() == sizes.size());
  CHECK(shards.tokens() == 23 + 3 + 5 + 41 + 17);
  std::uint64_t w = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i)
    for (std::size_t k = 0; k < (sizes[i] - 1) / T; ++k, ++w) {
      const auto expected = read_tokens(paths[i], T + 1, k * T);
      const std::uint16_t* mapped = shards.window(w);
      std::vector<std::uint16_t> copied(T + 1);
      shards.read_window(w, copied.data());
      REQUIRE(std::vector<std::uint16_t>(mapped, mapped + T + 1) == expected);
      REQUIRE(copied == expected);
    }
  CHECK(shards.windows() == w);
  CHECK(w == 5 + 0 + 1 + 10 + 4);
}

TEST_CASE("shards: the vocabulary check names the shard and token; malformed shards fail at open", "[data]") {
  const std::string dir = shard_dir("errors");
  auto tokens = random_tokens(30, 97, 7);
  tokens[10] = 97;
  write_tokens(dir + "/big_id.bin", tokens);
  const TokenShards shards(dir + "/big_id.bin", 4, 97);
  CHECK_NOTHROW(shards.window(0));  // tokens 0-4
  CHECK_NOTHROW(shards.window(1));  // 4-8
  CHECK_THROWS_WITH(shards.window(2), Catch::Contains("big_id.bin: token 10 has id 97, not below the model's vocab_size 97"));
  std::vector<std::uint16_t> out(5);
  CHECK_THROWS_WITH(shards.read_window(2, out.data()), Catch::Contains("token 10 has id 97"));
  CHECK_NOTHROW(shards.window(3));  // 12-16
  CHECK_NOTHROW(TokenShards(dir + "/big_id.bin", 4, 98).window(2));

  CHECK_THROWS_WITH(TokenShards(dir + "/none_*.bin", 4, 97), Catch::Contains("no token shards match"));
  write_tokens(dir + "/empty.bin", {});
  CHECK_THROWS_WITH(TokenShards(dir + "/empty.bin", 4, 97), Catch::Contains("empty.bin is empty"));
  // One bad shard among good ones: the set fails to open (and unmaps the rest).
  write_tokens(dir + "/a.bin", random_tokens(20, 97, 1));
  {
    std::ofstream(dir + "/b.bin", std::ios::binary) << "not a token file";
  }
  CHECK_THROWS_WITH(TokenShards(dir + "/[ab].bin", 4, 97), Catch::Contains("shorter than its 1024-byte header"));
  std::vector<std::int32_t> header(256, 0);
  header[0] = 20240519;
  {
    std::ofstream out(dir + "/b.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(header.data()), 1024);
  }
  CHECK_THROWS_WITH(TokenShards(dir + "/[ab].bin", 4, 97), Catch::Contains("bad magic 20240519"));
  header[0] = 20240520, header[1] = 1, header[2] = 100;
  {
    std::ofstream out(dir + "/b.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(header.data()), 1024);
    out.write(reinterpret_cast<const char*>(tokens.data()), 20);
  }
  CHECK_THROWS_WITH(TokenShards(dir + "/[ab].bin", 4, 97), Catch::Contains("truncated: header says 100 tokens, body holds 10"));
}

TEST_CASE("a step's micro-batches: one allocation, reused, with the right rows, targets and sequence numbers", "[data]") {
  const std::string dir = shard_dir("batches");
  const int T = 5, V = 97, M = 3, rows = 2;
  write_tokens(dir + "/s0.bin", random_tokens(37, V, 3));
  write_tokens(dir + "/s1.bin", random_tokens(52, V, 4));
  const TokenShards shards(dir + "/s*.bin", T, V);
  const DataOrder order(shards.windows(), true, 11);
  StepBatches step(M, rows, T);
  const auto check = [&](std::uint64_t first, std::uint64_t stride) {
    const auto& micro = load_batches(step, shards, order, first, stride);
    REQUIRE(micro.size() == std::size_t(M));
    for (int m = 0; m < M; ++m) {
      const auto in = on_host(micro[m].batch.inputs);
      const auto tg = on_host(micro[m].batch.targets);
      const auto seq = on_host(micro[m].sequences);
      REQUIRE(in.extent(0) == std::size_t(rows));
      REQUIRE(in.extent(1) == std::size_t(T));
      for (int b = 0; b < rows; ++b) {
        const std::uint64_t sequence = first + m * stride + b;
        REQUIRE(seq(b) == sequence);
        std::vector<std::uint16_t> window(T + 1);
        shards.read_window(order.window(sequence), window.data());
        for (int t = 0; t < T; ++t) {
          REQUIRE(in(b, t) == window[t]);
          REQUIRE(tg(b, t) == window[t + 1]);
        }
      }
    }
    return micro;
  };
  const auto first = check(0, 4);
  const auto second = check(1000, 7);  // past one epoch: other windows, same memory
  for (int m = 0; m < M; ++m) {
    CHECK(first[m].batch.inputs.data() == second[m].batch.inputs.data());
    CHECK(first[m].sequences.data() == second[m].sequences.data());
    CHECK(first[m].batch.storage.data() == step.batches()[0].batch.storage.data());
  }
  // Every view lies in the one allocation, without overlaps; labels are shared.
  const auto& b = step.batches();
  const char* lo = reinterpret_cast<const char*>(b[0].batch.storage.data());
  const char* hi = lo + b[0].batch.storage.span() * sizeof(std::uint64_t);
  std::vector<std::pair<const char*, const char*>> parts;
  auto add = [&](const void* p, std::size_t bytes) {
    const char* c = static_cast<const char*>(p);
    CHECK(c >= lo);
    CHECK(c + bytes <= hi);
    parts.emplace_back(c, c + bytes);
  };
  for (int m = 0; m < M; ++m) {
    add(b[m].batch.inputs.data(), rows * T * sizeof(int));
    add(b[m].batch.targets.data(), rows * T * sizeof(int));
    add(b[m].sequences.data(), rows * sizeof(std::uint64_t));
    CHECK(b[m].labels.data() == b[0].labels.data());
  }
  add(b[0].labels.data(), rows * T * sizeof(int));
  std::sort(parts.begin(), parts.end());
  for (std::size_t i = 1; i < parts.size(); ++i) CHECK(parts[i - 1].second <= parts[i].first);
  // A window with an id outside the vocabulary stops the load with its message.
  auto bad = random_tokens(12, V, 5);
  bad[3] = 200;
  write_tokens(dir + "/bad.bin", bad);
  const TokenShards bad_shards(dir + "/bad.bin", T, V);
  StepBatches one(1, 1, T);
  CHECK_THROWS_WITH(load_batches(one, bad_shards, DataOrder(bad_shards.windows(), false, 0), 0, 1),
                    Catch::Contains("bad.bin: token 3 has id 200, not below the model's vocab_size 97"));
}

TEST_CASE("make_batch packs consecutive or separate windows with one allocation", "[data]") {
  const auto tokens = random_tokens(3 * 7 + 1, 50257, 9);
  for (std::size_t stride : {std::size_t(6), std::size_t(7)}) {
    const int B = 3, T = 6;
    const Batch batch = make_batch(tokens, stride, B, T);
    const auto in = on_host(batch.inputs);
    const auto tg = on_host(batch.targets);
    for (int b = 0; b < B; ++b)
      for (int t = 0; t < T; ++t) {
        REQUIRE(in(b, t) == tokens[b * stride + t]);
        REQUIRE(tg(b, t) == tokens[b * stride + t + 1]);
      }
    const char* lo = reinterpret_cast<const char*>(batch.storage.data());
    const char* hi = lo + batch.storage.span() * sizeof(std::uint64_t);
    CHECK(reinterpret_cast<const char*>(batch.inputs.data()) >= lo);
    CHECK(reinterpret_cast<const char*>(batch.targets.data() + B * T) <= hi);
  }
}
