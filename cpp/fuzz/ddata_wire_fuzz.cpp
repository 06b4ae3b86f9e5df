// A coverage-guided fuzz target (libFuzzer) for the ddata wire decoder, the
// code that takes blobs from peers. Built by `make test-fuzz` with clang
// (-DATOMR_FUZZ=ON) against the ddata component, and run for a fixed time
// from the seed corpus in cpp/fuzz/corpus/ddata_wire.
//
// For every input: decoding either throws malformed_data_error or gives a
// value whose encoding decodes again to the same encoding, and merging the
// value with a copy of itself changes nothing. The sanitizers report memory
// errors and undefined behaviour; anything else thrown is a failure too.

#include "atomr/ddata/replicated_data.hpp"
#include "atomr/ddata/wire.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "ddata_wire_fuzz: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace atomr::ddata;
  const auto* bytes = reinterpret_cast<const char*>(data);
  (void)is_canonical_element(std::string_view(bytes, size));
  for (element_check check : {element_check::none, element_check::canonical}) {
    std::unique_ptr<replicated_data> value;
    try {
      value = from_bytes(bytes, size, check);
    } catch (const malformed_data_error&) {
      continue;
    }
    const std::string once = to_bytes(*value);
    std::unique_ptr<replicated_data> again;
    try {
      again = from_bytes(once.data(), once.size(), check);
    } catch (const malformed_data_error&) {
      fail("a decoded value's own encoding does not decode");
    }
    if (to_bytes(*again) != once)
      fail("re-encoding a decoded value changes its bytes");
    again->merge(*value->clone());
    if (to_bytes(*again) != once)
      fail("merging a value with itself changes it");
  }
  return 0;
}
