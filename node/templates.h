// Templates: the page templates, rendered with escaping by default.
//
// Syntax (a small, logic-less subset of Mustache):
//   {{name}} {{a.b.c}}   the value, HTML-escaped (& < > " ' and `=` escaped); numbers and
//                        booleans printed; null/missing prints nothing
//   {{#name}}...{{/name}} a section: repeated for each element of an array, shown once for a
//                        true/non-empty value (with that value's fields in scope for objects)
//   {{^name}}...{{/name}} inverted: shown when the value is missing, false, null or empty
//   {{> name}}           includes the template `name` with the current data
//   {{! comment }}
// There is deliberately no unescaped output: pages pass text, never HTML (Markdown is rendered
// elsewhere and passed as a separate, already-sanitised value under a `_html` suffixed key,
// the only keys printed raw).
//
// Built-in templates are compiled into the binary from node/templates/*.html; a file of the
// same name in `override_dir` replaces one. Every page template is rendered inside the
// template "layout" (GOV.UK Frontend page structure) which receives the page's data plus
// `content_html` (the page's own output).
//
// Thread-safety: a loaded Templates is immutable; Render may be called from any thread.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "storage/result.h"

namespace kith::node {

class Templates {
 public:
  // Loads and parses every template (built-ins, then overrides from `override_dir` when it is
  // not empty). kInvalidArgument naming the file and line of a syntax error (an unclosed or
  // mismatched section, an unknown include).
  static Result<std::unique_ptr<Templates>> Load(const std::filesystem::path& override_dir);

  // Renders the page `name` (e.g. "sign-in") with `data`, wrapped in "layout".
  // kNotFound for an unknown name.
  Result<std::string> RenderPage(std::string_view name, const nlohmann::json& data) const;

  // Renders `name` alone (no layout).
  Result<std::string> Render(std::string_view name, const nlohmann::json& data) const;

  ~Templates();

 private:
  Templates();
  struct Parsed;
  std::map<std::string, std::unique_ptr<Parsed>, std::less<>> templates_;
};

}  // namespace kith::node
