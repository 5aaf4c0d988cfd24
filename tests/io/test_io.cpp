// Weights and token files: round trips, and every malformed input refused with
// a message that names the problem.
#include <catch2/catch.hpp>
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "checkpoint.hpp"
#include "files.hpp"
#include "checksum.hpp"
#include "hdf5_handle.hpp"
#include "metadata_only_driver.hpp"
#include "metrics.hpp"
#include "strict_json.hpp"
#include "tokens.hpp"
#include "weights.hpp"
#include "error.hpp"
#include "gpt2.hpp"

using namespace sk;

namespace {

std::string temp_path(const std::string& name) { return "io_test_" + name; }

GPT2Config small_config() {
  GPT2Config c{101, 9, 2, 2, 6};  // vocab padded to 128 in memory
  c.validate();
  return c;
}

// A weights file of small_config() with random weights; returns the host copy.
std::vector<float> write_small_weights(const std::string& path) {
  GPT2<float> model(small_config());
  model.init_random(3);
  auto host = Kokkos::create_mirror_view(model.params);
  Kokkos::deep_copy(host, model.params);
  write_weights(path, model.config(), model.layout(), host.data());
  return std::vector<float>(host.data(), host.data() + host.extent(0));
}

// Applies an edit to an existing HDF5 file in place.
template <class Edit>
void edit_file(const std::string& path, Edit edit) {
  H5Handle f(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  REQUIRE(f.valid());
  edit(f.get());
}

void replace_dataset(hid_t file, const std::string& name, hid_t type, std::vector<hsize_t> dims) {
  REQUIRE(H5Ldelete(file, name.c_str(), H5P_DEFAULT) >= 0);
  H5Handle space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle d(H5Dcreate2(file, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  REQUIRE(d.valid());
}

}  // namespace

TEST_CASE("weights round trip through HDF5 without the vocabulary padding", "[io][weights]") {
  const std::string path = temp_path("roundtrip.h5");
  const auto written = write_small_weights(path);
  const GPT2Config c = read_config(path);
  CHECK(c.vocab_size == 101);
  CHECK(c.n_embd == 6);
  const ParameterLayout layout(c);
  std::vector<float> read(layout.size(), -1.0f);
  read_weights(path, layout, read.data());
  CHECK(read == written);  // padding rows come back as the zeros they were
  // The file itself holds exactly vocab_size rows.
  H5Handle f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  H5Handle d(H5Dopen2(f.get(), "model/transformer.wte.weight", H5P_DEFAULT), H5Dclose);
  H5Handle space(H5Dget_space(d.get()), H5Sclose);
  hsize_t dims[2];
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  CHECK(dims[0] == 101);
  CHECK(dims[1] == 6);
  std::remove(path.c_str());
}

TEST_CASE("malformed weights files are refused with a clear message", "[io][weights][errors]") {
  const std::string path = temp_path("bad.h5");
  const ParameterLayout layout(small_config());
  std::vector<float> buffer(layout.size());
  const std::string qkv = "model/transformer.h.1.attn.c_attn.weight";

  SECTION("missing file") {
    CHECK_THROWS_WITH(read_config(temp_path("absent.h5")), Catch::Contains("no such file"));
  }
  SECTION("not an HDF5 file") {
    std::ofstream(path) << "just text\n";
    CHECK_THROWS_WITH(read_config(path), Catch::Contains("is not an HDF5 file"));
  }
  SECTION("missing tensor") {
    write_small_weights(path);
    edit_file(path, [&](hid_t f) { REQUIRE(H5Ldelete(f, qkv.c_str(), H5P_DEFAULT) >= 0); });
    CHECK_THROWS_WITH(read_weights(path, layout, buffer.data()),
                      Catch::Contains("transformer.h.1.attn.c_attn.weight is missing"));
  }
  SECTION("wrong shape") {
    write_small_weights(path);
    edit_file(path, [&](hid_t f) { replace_dataset(f, qkv, H5T_IEEE_F32LE, {6, 18}); });
    CHECK_THROWS_WITH(read_weights(path, layout, buffer.data()),
                      Catch::Contains("has shape [6, 18], expected [18, 6]"));
  }
  SECTION("integer tensor") {
    write_small_weights(path);
    edit_file(path, [&](hid_t f) { replace_dataset(f, qkv, H5T_STD_I32LE, {18, 6}); });
    CHECK_THROWS_WITH(read_weights(path, layout, buffer.data()), Catch::Contains("is not floating point"));
  }
  SECTION("missing config attribute") {
    write_small_weights(path);
    edit_file(path, [&](hid_t f) { REQUIRE(H5Adelete_by_name(f, "config", "n_head", H5P_DEFAULT) >= 0); });
    CHECK_THROWS_WITH(read_config(path), Catch::Contains("/config attribute n_head is missing"));
  }
  SECTION("config that breaks the model's rules") {
    write_small_weights(path);
    edit_file(path, [&](hid_t f) {
      H5Handle g(H5Gopen2(f, "config", H5P_DEFAULT), H5Gclose);
      H5Handle a(H5Aopen(g.get(), "n_head", H5P_DEFAULT), H5Aclose);
      const long four = 4;  // 6 is not divisible by 4
      REQUIRE(H5Awrite(a.get(), H5T_NATIVE_LONG, &four) >= 0);
    });
    CHECK_THROWS_WITH(read_config(path), Catch::Contains("n_embd (6) is not divisible by n_head (4)"));
  }
  SECTION("config too large to build") {  // else a small file could ask for 2e9 layers
    write_small_weights(path);
    edit_file(path, [&](hid_t f) {
      H5Handle g(H5Gopen2(f, "config", H5P_DEFAULT), H5Gclose);
      H5Handle a(H5Aopen(g.get(), "n_layer", H5P_DEFAULT), H5Aclose);
      const long layers = 2000000000;
      REQUIRE(H5Awrite(a.get(), H5T_NATIVE_LONG, &layers) >= 0);
    });
    CHECK_THROWS_WITH(read_config(path), Catch::Contains("n_layer 2000000000 exceeds 1000"));
  }
  std::remove(path.c_str());
}

TEST_CASE("writing weights into a missing folder fails cleanly", "[io][weights][errors]") {
  const GPT2Config c = small_config();
  const ParameterLayout layout(c);
  std::vector<float> buffer(layout.size());
  CHECK_THROWS_WITH(write_weights("no_such_folder/w.h5", c, layout, buffer.data()),
                    Catch::Contains("cannot create no_such_folder/w.h5.tmp"));
}

TEST_CASE("same_file compares identity, not spelling, existing or not", "[io][files]") {
  const std::string a = temp_path("same_a");
  std::ofstream(a) << "x";
  CHECK(same_file(a, "./" + a));
  const std::string link = temp_path("same_link");
  std::filesystem::remove(link);
  std::filesystem::create_symlink(a, link);
  CHECK(same_file(link, a));
  std::filesystem::remove(link);
  CHECK(same_file(temp_path("not_yet"), "./" + temp_path("not_yet")));
  CHECK_FALSE(same_file(a, temp_path("not_yet")));
  std::remove(a.c_str());
}

TEST_CASE("staged files replace all destinations or none", "[io][files][errors]") {
  const std::string a = temp_path("staged_a"), dir = temp_path("staged_dir");
  std::ofstream(a) << "old";
  std::filesystem::create_directories(dir);
  {
    StagedFiles out;
    std::ofstream(out.stage(a)) << "new";
    CHECK_THROWS_WITH(out.stage(dir), "cannot write " + dir + ": it is a directory, not a file");
  }  // not committed: the temporary goes, the old file stays
  CHECK_FALSE(std::filesystem::exists(a + ".tmp"));
  std::ifstream in(a);
  std::string text;
  in >> text;
  CHECK(text == "old");
  std::remove(a.c_str());
  std::filesystem::remove(dir);
}

TEST_CASE("JSON from files: errors by line and column, numbers beyond double and repeated keys refused", "[io][files][errors]") {
  CHECK(parse_json_strictly(R"({"a": {"b": 1}, "b": 2})", "f")["b"] == 2);
  CHECK_THROWS_WITH(parse_json_strictly("{\n \"a\": x}", "f"),
                    Catch::StartsWith("f: invalid JSON at line 2, column 7: syntax error"));
  CHECK_THROWS_WITH(parse_json_strictly(R"({"a": [1e400]})", "f"), "f: invalid JSON (number overflow parsing '1e400')");
  CHECK_THROWS_WITH(parse_json_strictly("[-" + std::string(1000, '9') + "e999]", "f"),
                    "f: invalid JSON (number overflow parsing '-" + std::string(54, '9') + "...)");
  CHECK_THROWS_WITH(parse_json_strictly(R"({"a": 1, "a": 2})", "f"), R"(f: key "a" appears twice)");
  CHECK_THROWS_WITH(parse_json_strictly(R"({"o": {"k": 1, "k": 1}})", "f"), R"(f: key "k" appears twice)");
}

TEST_CASE("token files round trip and malformed ones are refused", "[io][tokens][errors]") {
  const std::string path = temp_path("tokens.bin");
  const std::vector<std::uint16_t> tokens = {5, 0, 65535, 17, 3};
  write_tokens(path, tokens);
  CHECK(read_tokens(path, 5) == tokens);
  CHECK(read_tokens(path, 2) == std::vector<std::uint16_t>{5, 0});
  CHECK_THROWS_WITH(read_tokens(path, 6), Catch::Contains("has 5 tokens, 6 are needed"));
  CHECK_THROWS_WITH(check_token_range(tokens, 50257, path), Catch::Contains("token 2 has id 65535"));
  CHECK_NOTHROW(check_token_range({5, 0, 17}, 50257, path));

  SECTION("truncated body") {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size() - 3);
    CHECK_THROWS_WITH(read_tokens(path, 1), Catch::Contains("truncated: header says 5 tokens, body holds 3"));
  }
  SECTION("bad magic") {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    const std::int32_t wrong = 20240519;
    f.write(reinterpret_cast<const char*>(&wrong), sizeof wrong);
    f.close();
    CHECK_THROWS_WITH(read_tokens(path, 1), Catch::Contains("bad magic 20240519"));
  }
  SECTION("shorter than the header") {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << "abc";
    CHECK_THROWS_WITH(read_tokens(path, 1), Catch::Contains("shorter than its 1024-byte header"));
  }
  SECTION("missing") {
    CHECK_THROWS_WITH(read_tokens(temp_path("absent.bin"), 1), Catch::Contains("cannot open token file"));
  }
  std::remove(path.c_str());
}

namespace {

// A vector dataset "x" of n elements stored as one chunk with HDF5's Fletcher32.
H5Handle one_chunk_dataset(hid_t file, hid_t type, hsize_t n) {
  const hsize_t dims[1] = {n};
  H5Handle space(H5Screate_simple(1, dims, nullptr), H5Sclose);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  H5Pset_chunk(dcpl.get(), 1, dims);
  H5Pset_fletcher32(dcpl.get());
  return H5Handle(H5Dcreate2(file, "x", type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
}

}  // namespace

// Every line's step counts the updates done when it was written, as the
// checkpoint's does: a run resumed at step 4 keeps steps 1 to 4 and the
// evaluation and sample after step 4, and drops what came after them.
TEST_CASE("metrics of steps after the resumed checkpoint are dropped", "[io][metrics]") {
  const std::string path = temp_path("metrics.jsonl");
  const std::string kept = "{\"type\":\"eval\",\"step\":0}\n"
                           "{\"type\":\"step\",\"step\":1}\n{\"type\":\"step\",\"step\":4}\n"
                           "{\"type\":\"eval\",\"step\":4}\n{\"type\":\"sample\",\"step\":4}\n";
  std::ofstream(path) << kept << "{\"type\":\"step\",\"step\":5}\n{\"type\":\"eval\",\"step\":6}\n";
  truncate_metrics(path, 4);
  std::ifstream in(path);
  const std::string after((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(after == kept);
  std::remove(path.c_str());
}

TEST_CASE("fletcher32 matches the checksum HDF5's filter appends to a chunk", "[io][checkpoint]") {
  hdf5_quiet();
  const std::string path = temp_path("fletcher32.h5");
  std::mt19937 rng(7);
  // Odd and even lengths, one 360-word block and more, and all-0xff bytes,
  // where a sum of 0 mod 65535 may be folded to 0 or to 0xffff.
  for (const std::size_t n : {1, 2, 7, 720, 721, 1440, 100003}) {
    for (const bool ones : {false, true}) {
      std::vector<unsigned char> data(n);
      for (auto& b : data) b = ones ? 0xff : static_cast<unsigned char>(rng());
      H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
      H5Handle d = one_chunk_dataset(file.get(), H5T_NATIVE_UCHAR, n);
      REQUIRE(H5Dwrite(d.get(), H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) >= 0);
      H5Fflush(file.get(), H5F_SCOPE_LOCAL);
      std::vector<unsigned char> stored(n + 4);
      const hsize_t origin[1] = {0};
      std::uint32_t filters = 0;
      REQUIRE(H5Dread_chunk(d.get(), H5P_DEFAULT, origin, &filters, stored.data()) >= 0);
      const std::uint32_t expected = stored[n] | stored[n + 1] << 8 | stored[n + 2] << 16 | std::uint32_t(stored[n + 3]) << 24;
      INFO("bytes " << n << (ones ? ", all 0xff" : ", random"));
      CHECK(fletcher32(data.data(), n) == expected);
    }
  }
  std::remove(path.c_str());
}

TEST_CASE("the metadata-only driver leaves out chunk bytes only while asked", "[io][checkpoint]") {
  hdf5_quiet();
  const std::string path = temp_path("metadata_only.h5");
  std::vector<float> values(1000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = 0.5f + float(i);
  const std::size_t bytes = values.size() * sizeof(float);
  const char* note = "written as a variable-length string, which HDF5 stores in its global heap as raw data";
  haddr_t address = HADDR_UNDEF;
  {
    H5Handle fapl(metadata_only_access(), H5Pclose);
    H5Handle file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), H5Fclose);
    REQUIRE(file.valid());
    const hsize_t origin[1] = {0};
    H5Handle d = one_chunk_dataset(file.get(), H5T_IEEE_F32LE, values.size());
    std::vector<unsigned char> junk(bytes + 4, 0xab);
    {
      RawDataSkipped skipped;
      REQUIRE(H5Dwrite_chunk(d.get(), H5P_DEFAULT, 0, origin, junk.size(), junk.data()) >= 0);
    }
    unsigned filters = 0;
    hsize_t size = 0;
    REQUIRE(H5Dget_chunk_info_by_coord(d.get(), origin, &filters, &address, &size) >= 0);
    CHECK(size == bytes + 4);
    H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(type.get(), H5T_VARIABLE);
    H5Handle scalar(H5Screate(H5S_SCALAR), H5Sclose);
    H5Handle a(H5Acreate2(d.get(), "note", type.get(), scalar.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    REQUIRE(H5Awrite(a.get(), type.get(), &note) >= 0);
  }
  // The chunk's place holds none of the bytes handed to the library.
  std::fstream raw(path, std::ios::in | std::ios::out | std::ios::binary);
  std::vector<unsigned char> stored(bytes + 4);
  raw.seekg(std::streamoff(address));
  raw.read(reinterpret_cast<char*>(stored.data()), std::streamsize(stored.size()));
  CHECK(std::count(stored.begin(), stored.end(), 0xab) == 0);
  // Written there with its checksum, the chunk reads back through the
  // default driver, which verifies it; the attribute was written as usual.
  const auto* data = reinterpret_cast<const unsigned char*>(values.data());
  const std::uint32_t sum = fletcher32(data, bytes);
  raw.seekp(std::streamoff(address));
  raw.write(reinterpret_cast<const char*>(data), std::streamsize(bytes));
  for (int i = 0; i < 4; ++i) raw.put(char(sum >> (8 * i)));
  raw.close();
  H5Handle file = open_hdf5_readonly(path, "test file");
  H5Handle d(H5Dopen2(file.get(), "x", H5P_DEFAULT), H5Dclose);
  std::vector<float> back(values.size());
  REQUIRE(H5Dread(d.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data()) >= 0);
  CHECK(back == values);
  H5Handle a(H5Aopen(d.get(), "note", H5P_DEFAULT), H5Aclose);
  H5Handle type(H5Aget_type(a.get()), H5Tclose);
  char* text = nullptr;
  REQUIRE(H5Aread(a.get(), type.get(), &text) >= 0);
  CHECK(std::string(text) == note);
  H5free_memory(text);
  std::remove(path.c_str());
}

namespace {

// A value for element x of buffer `which` (-1: parameters, else a state).
float pattern(int which, std::size_t x) { return float(which + 2) + float(x % 9973) * 1e-4f; }

// Writes a checkpoint from buffers where every rank holds the parameters and
// the optimizer state [shard_begin, shard_end), and checks on every rank that
// reading it back gives every stored element (padding rows read as zero).
void check_checkpoint_round_trip(const std::string& path, const GPT2Config& config, std::size_t shard_begin,
                                 std::size_t shard_end, bool sharded) {
  const ParameterLayout layout(config);
  const std::size_t n = layout.size();
  std::vector<float> params(n), exp_avg(shard_end - shard_begin), hessian(shard_end - shard_begin);
  for (std::size_t x = 0; x < n; ++x) params[x] = pattern(-1, x);
  for (std::size_t x = shard_begin; x < shard_end; ++x) {
    exp_avg[x - shard_begin] = pattern(0, x);
    hessian[x - shard_begin] = pattern(1, x);
  }
  CheckpointData data{params.data(), OptimizerType::sophiag, {{"exp_avg", exp_avg.data()}, {"hessian", hessian.data()}},
                      shard_begin, shard_end, sharded, TrainingState{7, 11, 13, "deck"}};
  write_checkpoint(path, config, layout, data);

  std::vector<float> params_in(n, -1.0f), exp_avg_in(n, -1.0f), hessian_in(n, -1.0f);
  read_checkpoint(path, layout, params_in.data(), {{"exp_avg", exp_avg_in.data()}, {"hessian", hessian_in.data()}}, 0,
                  n);
  std::size_t wrong = 0;
  for (const auto& t : layout.tensors()) {
    std::size_t stored = 1;
    for (auto d : t.stored) stored *= d;
    for (std::size_t e = 0; e < t.size(); ++e) {
      const std::size_t x = t.offset + e;
      const bool in_file = e < stored;
      wrong += params_in[x] != (in_file ? pattern(-1, x) : 0.0f);
      wrong += exp_avg_in[x] != (in_file ? pattern(0, x) : 0.0f);
      wrong += hessian_in[x] != (in_file ? pattern(1, x) : 0.0f);
    }
  }
  CHECK(wrong == 0);
  const CheckpointInfo info = read_checkpoint_info(path);
  CHECK(info.config.vocab_size == config.vocab_size);
  CHECK(info.optimizer_type == OptimizerType::sophiag);
  CHECK(info.state.step == 7);
}

}  // namespace

// Run by CTest on 3 ranks (checkpoint_write_3ranks): the writer divides the
// file's chunks among ranks and assembles chunks that span shards.
TEST_CASE("a checkpoint written by ranks holding different shards reads back exactly", "[.mpi_checkpoint]") {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  // wte (50257 x 96 stored) takes two 16 MB chunks, the second padded.
  GPT2Config config{50257, 8, 1, 2, 96};
  config.validate();
  const ParameterLayout layout(config);
  const TensorSpec& wte = layout.find("transformer.wte.weight");
  REQUIRE(wte.size() > (std::size_t(1) << 22));
  const std::string path = "io_test_sharded_rank_file.h5";
  SECTION("uneven shards: wte's first chunk lies in every rank's shard") {
    const std::size_t begin = rank == 0 ? 0 : wte.offset + 1000 * rank + 17;
    const std::size_t end = rank == ranks - 1 ? layout.size() : wte.offset + 1000 * (rank + 1) + 17;
    check_checkpoint_round_trip(path, config, begin, end, true);
  }
  SECTION("even shards, as ZeRO-1 splits") {
    check_checkpoint_round_trip(path, config, layout.size() * rank / ranks, layout.size() * (rank + 1) / ranks, true);
  }
  SECTION("every rank holds everything") { check_checkpoint_round_trip(path, config, 0, layout.size(), false); }
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank == 0) std::remove(path.c_str());
}
