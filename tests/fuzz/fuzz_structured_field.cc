// Fuzzes the RFC 9651 parser: every input parses or fails cleanly, and whatever parses
// serializes to a canonical form that parses back to the same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "federation/structured_field.h"

namespace sf = kith::federation::sf;

namespace {

template <class T, class Parse, class Serialize>
void RoundTrip(std::string_view input, Parse parse, Serialize serialize) {
  auto parsed = parse(input);
  if (!parsed.ok()) return;
  auto text = serialize(*parsed);
  if (!text.ok()) std::abort();  // a parsed value must always serialize
  auto again = parse(*text);
  if (!again.ok() || !(*again == *parsed)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  RoundTrip<sf::Item>(input, sf::ParseItem, sf::SerializeItem);
  RoundTrip<sf::List>(input, sf::ParseList, sf::SerializeList);
  RoundTrip<sf::Dictionary>(input, sf::ParseDictionary, sf::SerializeDictionary);
  return 0;
}
