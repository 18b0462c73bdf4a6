#include "federation/structured_field.h"

#include <sodium.h>

#include <cmath>
#include <cstdio>
#include <string>

namespace kith::federation::sf {
namespace {

constexpr int64_t kMaxInteger = 999'999'999'999'999;
constexpr int64_t kMaxDecimalThousandths = 999'999'999'999'999;  // 12 integer + 3 fraction digits

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLcAlpha(char c) { return c >= 'a' && c <= 'z'; }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// RFC 9110 tchar.
bool IsTchar(char c) {
  if (IsAlpha(c) || IsDigit(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsBase64Char(char c) { return IsAlpha(c) || IsDigit(c) || c == '+' || c == '/' || c == '='; }

Error ParseError(std::string what, size_t offset) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "structured field: " + what + " at offset " + std::to_string(offset));
}

Error SerializeError(std::string what) {
  return MakeError(ErrorCode::kInvalidArgument, "structured field: cannot serialize: " + what);
}

// A cursor over the input; every Parse* method follows the algorithm of RFC 9651 section 4.2.
class Parser {
 public:
  explicit Parser(std::string_view input) : in_(input) {}

  Result<Item> TopItem() {
    SkipSp();
    auto item = ParseItemAt();
    if (!item.ok()) return item;
    SkipSp();
    if (!AtEnd()) return ParseError("trailing characters after item", pos_);
    return item;
  }

  Result<List> TopList() {
    SkipSp();
    List list;
    while (!AtEnd()) {
      auto member = ParseItemOrInnerList();
      if (!member.ok()) return std::move(member).error();
      list.push_back(std::move(*member));
      SkipOws();
      if (AtEnd()) return list;
      if (Peek() != ',') return ParseError("expected ',' in list", pos_);
      ++pos_;
      SkipOws();
      if (AtEnd()) return ParseError("trailing ',' in list", pos_);
    }
    return list;
  }

  Result<Dictionary> TopDictionary() {
    SkipSp();
    Dictionary dict;
    while (!AtEnd()) {
      auto key = ParseKey();
      if (!key.ok()) return std::move(key).error();
      ListMember member;
      if (!AtEnd() && Peek() == '=') {
        ++pos_;
        auto m = ParseItemOrInnerList();
        if (!m.ok()) return std::move(m).error();
        member = std::move(*m);
      } else {
        auto params = ParseParameters();
        if (!params.ok()) return std::move(params).error();
        member = Item{true, std::move(*params)};
      }
      auto it = dict.begin();
      for (; it != dict.end(); ++it) {
        if (it->first == *key) break;
      }
      if (it != dict.end()) {
        it->second = std::move(member);
      } else {
        dict.emplace_back(std::move(*key), std::move(member));
      }
      SkipOws();
      if (AtEnd()) return dict;
      if (Peek() != ',') return ParseError("expected ',' in dictionary", pos_);
      ++pos_;
      SkipOws();
      if (AtEnd()) return ParseError("trailing ',' in dictionary", pos_);
    }
    return dict;
  }

 private:
  bool AtEnd() const { return pos_ >= in_.size(); }
  char Peek() const { return in_[pos_]; }
  void SkipSp() {
    while (!AtEnd() && Peek() == ' ') ++pos_;
  }
  void SkipOws() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t')) ++pos_;
  }

  Result<ListMember> ParseItemOrInnerList() {
    if (!AtEnd() && Peek() == '(') {
      auto inner = ParseInnerList();
      if (!inner.ok()) return std::move(inner).error();
      return ListMember{std::move(*inner)};
    }
    auto item = ParseItemAt();
    if (!item.ok()) return std::move(item).error();
    return ListMember{std::move(*item)};
  }

  Result<InnerList> ParseInnerList() {
    ++pos_;  // '('
    InnerList inner;
    while (!AtEnd()) {
      SkipSp();
      if (AtEnd()) break;
      if (Peek() == ')') {
        ++pos_;
        auto params = ParseParameters();
        if (!params.ok()) return std::move(params).error();
        inner.params = std::move(*params);
        return inner;
      }
      auto item = ParseItemAt();
      if (!item.ok()) return std::move(item).error();
      inner.items.push_back(std::move(*item));
      if (AtEnd()) break;
      if (Peek() != ' ' && Peek() != ')') {
        return ParseError("expected ' ' or ')' in inner list", pos_);
      }
    }
    return ParseError("unterminated inner list", pos_);
  }

  Result<Item> ParseItemAt() {
    auto bare = ParseBareItem();
    if (!bare.ok()) return std::move(bare).error();
    auto params = ParseParameters();
    if (!params.ok()) return std::move(params).error();
    return Item{std::move(*bare), std::move(*params)};
  }

  Result<Parameters> ParseParameters() {
    Parameters params;
    while (!AtEnd() && Peek() == ';') {
      ++pos_;
      SkipSp();
      auto key = ParseKey();
      if (!key.ok()) return std::move(key).error();
      BareItem value = true;
      if (!AtEnd() && Peek() == '=') {
        ++pos_;
        auto v = ParseBareItem();
        if (!v.ok()) return std::move(v).error();
        value = std::move(*v);
      }
      auto it = params.begin();
      for (; it != params.end(); ++it) {
        if (it->first == *key) break;
      }
      if (it != params.end()) {
        it->second = std::move(value);
      } else {
        params.emplace_back(std::move(*key), std::move(value));
      }
    }
    return params;
  }

  Result<std::string> ParseKey() {
    if (AtEnd() || (!IsLcAlpha(Peek()) && Peek() != '*')) {
      return ParseError("expected a key", pos_);
    }
    size_t start = pos_;
    while (!AtEnd()) {
      char c = Peek();
      if (!IsLcAlpha(c) && !IsDigit(c) && c != '_' && c != '-' && c != '.' && c != '*') break;
      ++pos_;
    }
    return std::string(in_.substr(start, pos_ - start));
  }

  Result<BareItem> ParseBareItem() {
    if (AtEnd()) return ParseError("expected an item", pos_);
    char c = Peek();
    if (c == '-' || IsDigit(c)) return ParseNumber();
    if (c == '"') return ParseString();
    if (c == '*' || IsAlpha(c)) return ParseToken();
    if (c == ':') return ParseByteSequence();
    if (c == '?') return ParseBoolean();
    if (c == '@') return ParseDate();
    if (c == '%') return ParseDisplayString();
    return ParseError(std::string("unexpected character '") + c + "'", pos_);
  }

  Result<BareItem> ParseNumber() {
    size_t start = pos_;
    bool negative = false;
    if (Peek() == '-') {
      negative = true;
      ++pos_;
    }
    if (AtEnd() || !IsDigit(Peek())) return ParseError("expected a digit", pos_);
    int64_t integer_part = 0;
    int int_digits = 0;
    while (!AtEnd() && IsDigit(Peek())) {
      if (++int_digits > 15) return ParseError("integer has more than 15 digits", start);
      integer_part = integer_part * 10 + (Peek() - '0');
      ++pos_;
    }
    if (AtEnd() || Peek() != '.') {
      return BareItem{negative ? -integer_part : integer_part};
    }
    if (int_digits > 12) return ParseError("decimal has more than 12 integer digits", start);
    ++pos_;  // '.'
    int frac_digits = 0;
    int64_t fraction = 0;
    while (!AtEnd() && IsDigit(Peek())) {
      if (++frac_digits > 3) return ParseError("decimal has more than 3 fraction digits", start);
      fraction = fraction * 10 + (Peek() - '0');
      ++pos_;
    }
    if (frac_digits == 0) return ParseError("decimal ends with '.'", pos_);
    for (int i = frac_digits; i < 3; ++i) fraction *= 10;
    int64_t thousandths = integer_part * 1000 + fraction;
    return BareItem{Decimal{negative ? -thousandths : thousandths}};
  }

  Result<BareItem> ParseString() {
    ++pos_;  // '"'
    std::string out;
    while (!AtEnd()) {
      char c = Peek();
      ++pos_;
      if (c == '\\') {
        if (AtEnd()) return ParseError("string ends inside an escape", pos_);
        char next = Peek();
        ++pos_;
        if (next != '"' && next != '\\') return ParseError("bad escape in string", pos_ - 1);
        out.push_back(next);
      } else if (c == '"') {
        return BareItem{std::move(out)};
      } else if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) {
        return ParseError("non-printable character in string", pos_ - 1);
      } else {
        out.push_back(c);
      }
    }
    return ParseError("unterminated string", pos_);
  }

  Result<BareItem> ParseToken() {
    size_t start = pos_;
    ++pos_;
    while (!AtEnd() && (IsTchar(Peek()) || Peek() == ':' || Peek() == '/')) ++pos_;
    return BareItem{Token{std::string(in_.substr(start, pos_ - start))}};
  }

  Result<BareItem> ParseByteSequence() {
    size_t start = ++pos_;  // ':'
    while (!AtEnd() && Peek() != ':') {
      if (!IsBase64Char(Peek())) return ParseError("bad character in byte sequence", pos_);
      ++pos_;
    }
    if (AtEnd()) return ParseError("unterminated byte sequence", pos_);
    std::string_view b64 = in_.substr(start, pos_ - start);
    ++pos_;  // ':'
    // Padding is optional on input (RFC 9651 4.2.7); '=' is only allowed at the end.
    size_t end = b64.size();
    while (end > 0 && b64[end - 1] == '=') --end;
    std::string_view body = b64.substr(0, end);
    if (body.find('=') != std::string_view::npos || b64.size() - end > 2) {
      return ParseError("misplaced '=' in byte sequence", start);
    }
    if (end != b64.size() && b64.size() % 4 != 0) {
      return ParseError("bad padding in byte sequence", start);
    }
    std::string out(body.size() * 3 / 4 + 3, '\0');
    size_t out_len = 0;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), body.data(),
                          body.size(), nullptr, &out_len, nullptr,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0) {
      return ParseError("invalid base64 in byte sequence", start);
    }
    out.resize(out_len);
    return BareItem{ByteSequence{std::move(out)}};
  }

  Result<BareItem> ParseBoolean() {
    ++pos_;  // '?'
    if (!AtEnd() && (Peek() == '0' || Peek() == '1')) {
      bool value = Peek() == '1';
      ++pos_;
      return BareItem{value};
    }
    return ParseError("expected ?0 or ?1", pos_);
  }

  Result<BareItem> ParseDate() {
    size_t start = pos_++;  // '@'
    if (AtEnd()) return ParseError("expected an integer after '@'", pos_);
    auto number = ParseNumber();
    if (!number.ok()) return number;
    if (!std::holds_alternative<int64_t>(*number)) {
      return ParseError("date must be an integer", start);
    }
    return BareItem{Date{std::get<int64_t>(*number)}};
  }

  static int HexValue(char c) {
    if (IsDigit(c)) return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // upper-case hex is invalid in display strings
  }

  Result<BareItem> ParseDisplayString() {
    size_t start = pos_;
    ++pos_;  // '%'
    if (AtEnd() || Peek() != '"') return ParseError("expected '\"' after '%'", pos_);
    ++pos_;
    std::string bytes;
    while (!AtEnd()) {
      char c = Peek();
      ++pos_;
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 || u > 0x7e) return ParseError("bad character in display string", pos_ - 1);
      if (c == '%') {
        if (pos_ + 2 > in_.size()) return ParseError("truncated escape in display string", pos_);
        int hi = HexValue(in_[pos_]);
        int lo = HexValue(in_[pos_ + 1]);
        if (hi < 0 || lo < 0) return ParseError("bad escape in display string", pos_);
        bytes.push_back(static_cast<char>(hi * 16 + lo));
        pos_ += 2;
      } else if (c == '"') {
        if (!IsValidUtf8(bytes)) return ParseError("display string is not valid UTF-8", start);
        return BareItem{DisplayString{std::move(bytes)}};
      } else {
        bytes.push_back(c);
      }
    }
    return ParseError("unterminated display string", pos_);
  }

 public:
  static bool IsValidUtf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      size_t len;
      uint32_t cp;
      if (c < 0x80) {
        ++i;
        continue;
      } else if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
      } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
      } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
      } else {
        return false;
      }
      if (i + len > s.size()) return false;
      for (size_t k = 1; k < len; ++k) {
        unsigned char cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xc0) != 0x80) return false;
        cp = (cp << 6) | (cc & 0x3f);
      }
      // Overlong forms, surrogates and values beyond U+10FFFF are invalid.
      if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
          cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return false;
      }
      i += len;
    }
    return true;
  }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

bool IsValidTokenText(std::string_view t) {
  if (t.empty() || (!IsAlpha(t[0]) && t[0] != '*')) return false;
  for (char c : t.substr(1)) {
    if (!IsTchar(c) && c != ':' && c != '/') return false;
  }
  return true;
}

Status AppendBareItem(std::string& out, const BareItem& item) {
  if (const auto* i = std::get_if<int64_t>(&item)) {
    if (*i > kMaxInteger || *i < -kMaxInteger) return SerializeError("integer out of range");
    out += std::to_string(*i);
  } else if (const auto* d = std::get_if<Decimal>(&item)) {
    int64_t t = d->thousandths;
    if (t > kMaxDecimalThousandths || t < -kMaxDecimalThousandths) {
      return SerializeError("decimal out of range");
    }
    if (t < 0) {
      out.push_back('-');
      t = -t;
    }
    out += std::to_string(t / 1000);
    out.push_back('.');
    int64_t frac = t % 1000;
    std::string digits = std::to_string(frac);
    digits.insert(0, 3 - digits.size(), '0');
    while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
    out += digits;
  } else if (const auto* s = std::get_if<std::string>(&item)) {
    out.push_back('"');
    for (char c : *s) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x20 || u > 0x7e) return SerializeError("non-printable character in string");
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  } else if (const auto* tok = std::get_if<Token>(&item)) {
    if (!IsValidTokenText(tok->value)) return SerializeError("invalid token '" + tok->value + "'");
    out += tok->value;
  } else if (const auto* b = std::get_if<ByteSequence>(&item)) {
    std::string b64(sodium_base64_encoded_len(b->bytes.size(), sodium_base64_VARIANT_ORIGINAL),
                    '\0');
    sodium_bin2base64(b64.data(), b64.size(),
                      reinterpret_cast<const unsigned char*>(b->bytes.data()), b->bytes.size(),
                      sodium_base64_VARIANT_ORIGINAL);
    b64.resize(std::char_traits<char>::length(b64.c_str()));
    out.push_back(':');
    out += b64;
    out.push_back(':');
  } else if (const auto* flag = std::get_if<bool>(&item)) {
    out += *flag ? "?1" : "?0";
  } else if (const auto* date = std::get_if<Date>(&item)) {
    if (date->seconds > kMaxInteger || date->seconds < -kMaxInteger) {
      return SerializeError("date out of range");
    }
    out.push_back('@');
    out += std::to_string(date->seconds);
  } else if (const auto* ds = std::get_if<DisplayString>(&item)) {
    if (!Parser::IsValidUtf8(ds->utf8)) return SerializeError("display string is not UTF-8");
    static constexpr char kHex[] = "0123456789abcdef";
    out += "%\"";
    for (char c : ds->utf8) {
      unsigned char u = static_cast<unsigned char>(c);
      if (c == '%' || c == '"' || u < 0x20 || u > 0x7e) {
        out.push_back('%');
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 0x0f]);
      } else {
        out.push_back(c);
      }
    }
    out.push_back('"');
  }
  return OkStatus();
}

Status AppendParameters(std::string& out, const Parameters& params) {
  for (const auto& [key, value] : params) {
    if (!IsValidKey(key)) return SerializeError("invalid parameter key '" + key + "'");
    out.push_back(';');
    out += key;
    if (const auto* flag = std::get_if<bool>(&value); flag && *flag) continue;
    out.push_back('=');
    KITH_RETURN_IF_ERROR(AppendBareItem(out, value));
  }
  return OkStatus();
}

Status AppendItem(std::string& out, const Item& item) {
  KITH_RETURN_IF_ERROR(AppendBareItem(out, item.value));
  return AppendParameters(out, item.params);
}

Status AppendInnerList(std::string& out, const InnerList& inner) {
  out.push_back('(');
  for (size_t i = 0; i < inner.items.size(); ++i) {
    if (i > 0) out.push_back(' ');
    KITH_RETURN_IF_ERROR(AppendItem(out, inner.items[i]));
  }
  out.push_back(')');
  return AppendParameters(out, inner.params);
}

Status AppendMember(std::string& out, const ListMember& member) {
  if (const auto* inner = std::get_if<InnerList>(&member)) return AppendInnerList(out, *inner);
  return AppendItem(out, std::get<Item>(member));
}

}  // namespace

Decimal Decimal::FromDouble(double value) {
  if (!std::isfinite(value) || std::fabs(value) >= 1e15) {
    // Out of range for the format; the serializer will refuse the saturated value.
    return Decimal{value < 0 ? -kMaxDecimalThousandths - 1 : kMaxDecimalThousandths + 1};
  }
  // Round on the decimal text, not on the binary value: 0.0015 is not exactly representable
  // and must still round (ties to even) to 0.002.
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.6f", std::fabs(value));
  std::string text(buf);
  size_t dot = text.find('.');
  int64_t integer_part = std::stoll(text.substr(0, dot));
  std::string frac = text.substr(dot + 1);
  int64_t thousandths = integer_part * 1000 + std::stoll(frac.substr(0, 3));
  std::string rest = frac.substr(3);
  bool more_than_half =
      rest[0] > '5' || (rest[0] == '5' && rest.find_first_not_of('0', 1) != std::string::npos);
  bool exactly_half = rest[0] == '5' && rest.find_first_not_of('0', 1) == std::string::npos;
  if (more_than_half || (exactly_half && thousandths % 2 == 1)) ++thousandths;
  return Decimal{value < 0 ? -thousandths : thousandths};
}

Result<Item> ParseItem(std::string_view field) { return Parser(field).TopItem(); }
Result<List> ParseList(std::string_view field) { return Parser(field).TopList(); }
Result<Dictionary> ParseDictionary(std::string_view field) { return Parser(field).TopDictionary(); }

Result<std::string> SerializeItem(const Item& item) {
  std::string out;
  KITH_RETURN_IF_ERROR(AppendItem(out, item));
  return out;
}

Result<std::string> SerializeList(const List& list) {
  std::string out;
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out += ", ";
    KITH_RETURN_IF_ERROR(AppendMember(out, list[i]));
  }
  return out;
}

Result<std::string> SerializeDictionary(const Dictionary& dictionary) {
  std::string out;
  for (size_t i = 0; i < dictionary.size(); ++i) {
    const auto& [key, member] = dictionary[i];
    if (!IsValidKey(key)) return SerializeError("invalid dictionary key '" + key + "'");
    if (i > 0) out += ", ";
    out += key;
    const auto* item = std::get_if<Item>(&member);
    if (item != nullptr && std::holds_alternative<bool>(item->value) &&
        std::get<bool>(item->value)) {
      KITH_RETURN_IF_ERROR(AppendParameters(out, item->params));
    } else {
      out.push_back('=');
      KITH_RETURN_IF_ERROR(AppendMember(out, member));
    }
  }
  return out;
}

Result<std::string> SerializeInnerList(const InnerList& inner_list) {
  std::string out;
  KITH_RETURN_IF_ERROR(AppendInnerList(out, inner_list));
  return out;
}

Result<std::string> SerializeBareItem(const BareItem& bare_item) {
  std::string out;
  KITH_RETURN_IF_ERROR(AppendBareItem(out, bare_item));
  return out;
}

Result<std::string> SerializeParameters(const Parameters& params) {
  std::string out;
  KITH_RETURN_IF_ERROR(AppendParameters(out, params));
  return out;
}

const BareItem* FindParam(const Parameters& params, std::string_view key) {
  for (const auto& [k, v] : params) {
    if (k == key) return &v;
  }
  return nullptr;
}

const ListMember* FindMember(const Dictionary& dictionary, std::string_view key) {
  for (const auto& [k, v] : dictionary) {
    if (k == key) return &v;
  }
  return nullptr;
}

bool IsValidKey(std::string_view key) {
  if (key.empty() || (!IsLcAlpha(key[0]) && key[0] != '*')) return false;
  for (char c : key) {
    if (!IsLcAlpha(c) && !IsDigit(c) && c != '_' && c != '-' && c != '.' && c != '*') return false;
  }
  return true;
}

}  // namespace kith::federation::sf
