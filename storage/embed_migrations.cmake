# Writes OUTPUT: a C++ file defining kith::storage::BuiltInMigrations() from INPUTS,
# files named NNNN_name.sql. Versions must be contiguous from 1.
string(REPLACE "|" ";" INPUTS "${INPUTS}")
set(body "")
set(expected 1)
foreach(path IN LISTS INPUTS)
  get_filename_component(file "${path}" NAME_WE)
  string(REGEX MATCH "^([0-9]+)_(.+)$" ok "${file}")
  if(NOT ok)
    message(FATAL_ERROR "migration file name must be NNNN_name.sql: ${path}")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  if(NOT version EQUAL expected)
    message(FATAL_ERROR "migration ${path}: expected version ${expected}, got ${version}")
  endif()
  math(EXPR expected "${expected} + 1")
  file(READ "${path}" sql)
  string(APPEND body "      {${version}, \"${name}\", R\"kith_sql(${sql})kith_sql\"},\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from storage/migrations/*.sql; do not edit.
#include \"storage/migrations.h\"

namespace kith::storage {

const std::vector<Migration>& BuiltInMigrations() {
  static const std::vector<Migration> migrations = {
${body}  };
  return migrations;
}

}  // namespace kith::storage
")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
