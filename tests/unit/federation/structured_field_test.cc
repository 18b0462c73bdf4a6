#include "federation/structured_field.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace kith::federation::sf {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string Base32Decode(const std::string& in) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= '2' && c <= '7') {
      v = c - '2' + 26;
    } else {
      ADD_FAILURE() << "bad base32 in vector: " << in;
      return out;
    }
    buffer = (buffer << 5) | static_cast<uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<char>((buffer >> (bits - 8)) & 0xff));
      bits -= 8;
    }
  }
  return out;
}

// Converts the test suite's JSON representation into our types.
BareItem ToBare(const json& j) {
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<int64_t>();
  if (j.is_number_float()) return Decimal::FromDouble(j.get<double>());
  if (j.is_string()) return j.get<std::string>();
  const std::string type = j.at("__type").get<std::string>();
  if (type == "token") return Token{j.at("value").get<std::string>()};
  if (type == "binary") return ByteSequence{Base32Decode(j.at("value").get<std::string>())};
  if (type == "date") return Date{j.at("value").get<int64_t>()};
  if (type == "displaystring") return DisplayString{j.at("value").get<std::string>()};
  ADD_FAILURE() << "unknown __type " << type;
  return false;
}

Parameters ToParams(const json& j) {
  Parameters params;
  for (const auto& p : j) params.emplace_back(p.at(0).get<std::string>(), ToBare(p.at(1)));
  return params;
}

Item ToItem(const json& j) { return Item{ToBare(j.at(0)), ToParams(j.at(1))}; }

ListMember ToMember(const json& j) {
  if (j.at(0).is_array()) {
    InnerList inner;
    for (const auto& i : j.at(0)) inner.items.push_back(ToItem(i));
    inner.params = ToParams(j.at(1));
    return inner;
  }
  return ToItem(j);
}

List ToList(const json& j) {
  List list;
  for (const auto& m : j) list.push_back(ToMember(m));
  return list;
}

Dictionary ToDictionary(const json& j) {
  Dictionary dict;
  for (const auto& m : j) dict.emplace_back(m.at(0).get<std::string>(), ToMember(m.at(1)));
  return dict;
}

std::string JoinLines(const json& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) out += ", ";
    out += lines[i].get<std::string>();
  }
  return out;
}

// Parses `field` as `type` and serializes it again. `value_out` receives the parsed value as
// a comparable variant.
using Parsed = std::variant<Item, List, Dictionary>;

Result<Parsed> ParseAs(const std::string& type, std::string_view field) {
  if (type == "item") {
    auto r = ParseItem(field);
    if (!r.ok()) return std::move(r).error();
    return Parsed{std::move(*r)};
  }
  if (type == "list") {
    auto r = ParseList(field);
    if (!r.ok()) return std::move(r).error();
    return Parsed{std::move(*r)};
  }
  auto r = ParseDictionary(field);
  if (!r.ok()) return std::move(r).error();
  return Parsed{std::move(*r)};
}

Parsed Expected(const std::string& type, const json& j) {
  if (type == "item") return ToItem(j);
  if (type == "list") return ToList(j);
  return ToDictionary(j);
}

Result<std::string> Serialize(const Parsed& v) {
  if (const auto* i = std::get_if<Item>(&v)) return SerializeItem(*i);
  if (const auto* l = std::get_if<List>(&v)) return SerializeList(*l);
  return SerializeDictionary(std::get<Dictionary>(v));
}

std::vector<fs::path> VectorFiles() {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(KITH_VECTORS_DIR) / "structured-field-tests";
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(StructuredFieldVectors, EveryFileEveryCase) {
  const auto files = VectorFiles();
  ASSERT_GE(files.size(), 20u) << "structured-field vectors missing";
  size_t total = 0;
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    std::ifstream in(file);
    json cases = json::parse(in);
    ASSERT_TRUE(cases.is_array());
    const bool serialisation_only = file.parent_path().filename() == "serialisation-tests";
    size_t count = 0;
    for (const auto& c : cases) {
      ++count;
      const std::string name = c.at("name").get<std::string>();
      const std::string type = c.at("header_type").get<std::string>();
      const bool must_fail = c.value("must_fail", false);
      const bool can_fail = c.value("can_fail", false);
      SCOPED_TRACE(name);
      if (serialisation_only || !c.contains("raw")) {
        // Serialization test: serialize `expected`; must fail or produce `canonical`.
        auto out = Serialize(Expected(type, c.at("expected")));
        if (must_fail) {
          EXPECT_FALSE(out.ok()) << "serialized to " << (out.ok() ? *out : "");
        } else if (out.ok()) {
          EXPECT_EQ(*out, JoinLines(c.at("canonical")));
        } else {
          EXPECT_TRUE(can_fail) << out.error().message;
        }
        continue;
      }
      const std::string raw = JoinLines(c.at("raw"));
      auto parsed = ParseAs(type, raw);
      if (must_fail) {
        EXPECT_FALSE(parsed.ok()) << "parsed: " << raw;
        continue;
      }
      if (!parsed.ok()) {
        EXPECT_TRUE(can_fail) << raw << ": " << parsed.error().message;
        continue;
      }
      EXPECT_TRUE(*parsed == Expected(type, c.at("expected"))) << raw;
      auto out = Serialize(*parsed);
      ASSERT_TRUE(out.ok()) << out.error().message;
      const json& want = c.contains("canonical") ? c.at("canonical") : c.at("raw");
      EXPECT_EQ(*out, JoinLines(want));
    }
    EXPECT_GT(count, 0u) << "no cases in " << file;
    total += count;
  }
  EXPECT_GT(total, 1000u);
}

TEST(StructuredField, DecimalRoundsTiesToEven) {
  EXPECT_EQ(Decimal::FromDouble(0.0015).thousandths, 2);
  EXPECT_EQ(Decimal::FromDouble(0.0025).thousandths, 2);
  EXPECT_EQ(Decimal::FromDouble(-0.0035).thousandths, -4);
  EXPECT_EQ(Decimal::FromDouble(1.2344).thousandths, 1234);
}

TEST(StructuredField, ParseErrorsNameOffset) {
  auto r = ParseDictionary("a=1, b=(1 2");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(r.error().message.find("unterminated inner list"), std::string::npos);
}

TEST(StructuredField, DuplicateDictionaryKeyKeepsFirstPositionLastValue) {
  auto r = ParseDictionary("a=1, b=2, a=3");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].first, "a");
  EXPECT_EQ(std::get<int64_t>(std::get<Item>((*r)[0].second).value), 3);
}

TEST(StructuredField, RejectsUppercaseKeyAndBadByteSequence) {
  EXPECT_FALSE(ParseDictionary("A=1").ok());
  EXPECT_FALSE(ParseItem(":a=bc:").ok());
  EXPECT_FALSE(ParseItem(":YWJj").ok());
  EXPECT_FALSE(ParseItem("").ok());
  auto empty = ParseList("   ");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(StructuredField, SerializerRefusesInvalidValues) {
  EXPECT_FALSE(SerializeItem(Item{Token{"1abc"}, {}}).ok());
  EXPECT_FALSE(SerializeItem(Item{std::string("tab\t"), {}}).ok());
  EXPECT_FALSE(SerializeItem(Item{int64_t{1'000'000'000'000'000}, {}}).ok());
  EXPECT_FALSE(SerializeItem(Item{int64_t{1}, {{"Bad", true}}}).ok());
  EXPECT_FALSE(SerializeItem(Item{DisplayString{"\xff"}, {}}).ok());
}

}  // namespace
}  // namespace kith::federation::sf
