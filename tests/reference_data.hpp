// Reads the golden data of tests/reference (made by make_reference.py).
#pragma once
#include <hdf5.h>

#include <string>
#include <vector>

namespace sk::test {

// A dataset of a file as float64 values, or an attribute of its root as int.
std::vector<double> read_dataset(const std::string& path, const std::string& name);
long read_root_attribute(const std::string& path, const std::string& name);

inline std::string reference(const std::string& file) { return std::string(SK_REFERENCE_DIR) + "/" + file; }

}  // namespace sk::test
