# Writes OUTPUT: a C++ file defining kith::node::BuiltInTemplates() from INPUTS, the page
# templates node/templates/NAME.html. The name is the file name without ".html".
string(REPLACE "|" ";" INPUTS "${INPUTS}")
set(body "")
foreach(path IN LISTS INPUTS)
  get_filename_component(name "${path}" NAME_WE)
  if(NOT name MATCHES "^[a-z0-9_-]+$")
    message(FATAL_ERROR "template file name must be [a-z0-9_-]+.html: ${path}")
  endif()
  file(READ "${path}" text)
  string(FIND "${text}" ")kith_html\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "template ${path} contains the raw-string delimiter )kith_html\"")
  endif()
  string(APPEND body "      {\"${name}\", R\"kith_html(${text})kith_html\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from node/templates/*.html; do not edit.
#include <string_view>
#include <utility>
#include <vector>

namespace kith::node {

const std::vector<std::pair<std::string_view, std::string_view>>& BuiltInTemplates() {
  static const std::vector<std::pair<std::string_view, std::string_view>> templates = {
${body}  };
  return templates;
}

}  // namespace kith::node
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
