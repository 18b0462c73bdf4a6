// Fuzzes node-document parsing: any input is accepted or refused cleanly, and an accepted
// document serializes to JSON that parses back to the same canonical form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "federation/node_document.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto doc = kith::federation::ParseNodeDocument(input);
  if (!doc.ok()) return 0;
  const std::string text = kith::federation::SerializeNodeDocument(*doc);
  auto again = kith::federation::ParseNodeDocument(text);
  if (!again.ok() || kith::federation::SerializeNodeDocument(*again) != text) std::abort();
  return 0;
}
