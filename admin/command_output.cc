#include "admin/command_output.h"

#include <algorithm>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <ctime>
#include <iostream>

namespace kith::admin {

using nlohmann::json;

int CommandFail(const Error& error, bool as_json) {
  if (as_json) {
    std::cout << json{{"error", std::string(error.Name())}, {"message", error.message}}.dump()
              << "\n";
  } else {
    std::cerr << "kithctl: " << error.message << "\n";
  }
  return error.code == ErrorCode::kInvalidArgument ? kExitUsage : kExitFailed;
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  auto print = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
      line += cells[i];
      // The last column is not padded, so lines carry no trailing blanks.
      if (i + 1 < cells.size()) line.append(widths[i] - cells[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  };
  print(header);
  for (const auto& row : rows) print(row);
}

std::string EncodePathSegment(std::string_view text) {
  return boost::urls::encode(text, boost::urls::unreserved_chars);
}

std::string JsonText(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::string();
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string FormatUnixTime(const json& value, std::string_view none) {
  if (!value.is_number_integer()) return std::string(none);
  const std::time_t t = value.get<int64_t>();
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

}  // namespace kith::admin
