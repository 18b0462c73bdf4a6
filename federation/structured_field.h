// Structured Field Values for HTTP (RFC 9651, which obsoletes RFC 8941): a parser and a
// serializer for items, lists and dictionaries with parameters and inner lists, and every bare
// item type (integer, decimal, string, token, byte sequence, boolean, date, display string).
//
// Parsing is strict, as the RFC requires: any deviation fails the whole field with
// ErrorCode::kInvalidArgument and a message naming the first problem and its offset. The
// serializer produces the canonical form and fails (kInvalidArgument) on values that cannot be
// represented (integers beyond 15 digits, keys or tokens with bad characters, ...).
//
// All functions are pure and thread-safe. Values are plain copyable types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "storage/result.h"

namespace kith::federation::sf {

// sf-token, e.g. `gzip` or `*foo/bar:baz`.
struct Token {
  std::string value;
  friend bool operator==(const Token&, const Token&) = default;
};

// sf-binary: raw bytes, written as :base64:.
struct ByteSequence {
  std::string bytes;
  friend bool operator==(const ByteSequence&, const ByteSequence&) = default;
};

// sf-decimal, held exactly as thousandths (the format has at most three fractional digits).
struct Decimal {
  int64_t thousandths = 0;
  // Rounds `value` to three fractional digits, ties to even (RFC 9651 section 4.1.5).
  static Decimal FromDouble(double value);
  double ToDouble() const { return static_cast<double>(thousandths) / 1000.0; }
  friend bool operator==(const Decimal&, const Decimal&) = default;
};

// sf-date: seconds since the Unix epoch, written as @1659578233.
struct Date {
  int64_t seconds = 0;
  friend bool operator==(const Date&, const Date&) = default;
};

// sf-displaystring: Unicode text (held as UTF-8), written as %"f%c3%bc".
struct DisplayString {
  std::string utf8;
  friend bool operator==(const DisplayString&, const DisplayString&) = default;
};

// A bare item. std::string is sf-string (printable ASCII only).
using BareItem =
    std::variant<int64_t, Decimal, std::string, Token, ByteSequence, bool, Date, DisplayString>;

// Ordered parameters; keys are unique (parsing keeps the last value at the first position).
using Parameters = std::vector<std::pair<std::string, BareItem>>;

struct Item {
  BareItem value;
  Parameters params;
  friend bool operator==(const Item&, const Item&) = default;
};

struct InnerList {
  std::vector<Item> items;
  Parameters params;
  friend bool operator==(const InnerList&, const InnerList&) = default;
};

using ListMember = std::variant<Item, InnerList>;
using List = std::vector<ListMember>;
// Ordered dictionary; keys are unique (parsing keeps the last value at the first position).
using Dictionary = std::vector<std::pair<std::string, ListMember>>;

// Parsers. `field` is the field value with several field lines already combined with ", ".
// An empty (or all-space) list or dictionary field parses to an empty container; an empty item
// field is an error.
Result<Item> ParseItem(std::string_view field);
Result<List> ParseList(std::string_view field);
Result<Dictionary> ParseDictionary(std::string_view field);

// Serializers (canonical form). They fail on values the format cannot carry.
Result<std::string> SerializeItem(const Item& item);
Result<std::string> SerializeList(const List& list);
Result<std::string> SerializeDictionary(const Dictionary& dictionary);
Result<std::string> SerializeInnerList(const InnerList& inner_list);
Result<std::string> SerializeBareItem(const BareItem& bare_item);
Result<std::string> SerializeParameters(const Parameters& params);

// Looks up a key in parameters or a dictionary; nullptr when absent.
const BareItem* FindParam(const Parameters& params, std::string_view key);
const ListMember* FindMember(const Dictionary& dictionary, std::string_view key);

// True if `key` is a valid sf key (lcalpha or "*", then lcalpha / DIGIT / "_" / "-" / "." / "*").
bool IsValidKey(std::string_view key);

}  // namespace kith::federation::sf
