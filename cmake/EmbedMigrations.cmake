# Build-time script: turns migrations/sqlite/NNNN_name.sql into a C++ source with one entry per file.
# Invoked as: cmake -DMIGRATIONS_DIR=... -DOUTPUT=... -P EmbedMigrations.cmake
# Fails the build if the numbers are not 1, 2, 3, ... without gaps or duplicates.
file(GLOB files RELATIVE "${MIGRATIONS_DIR}" "${MIGRATIONS_DIR}/*.sql")
list(SORT files)
set(entries "")
set(expected 1)
foreach(f IN LISTS files)
  if(NOT f MATCHES "^([0-9][0-9][0-9][0-9])_([a-z0-9_]+)\\.sql$")
    message(FATAL_ERROR "migration file name must be NNNN_name.sql (lower case): ${f}")
  endif()
  math(EXPR number "${CMAKE_MATCH_1}")
  set(name "${CMAKE_MATCH_2}")
  if(NOT number EQUAL expected)
    message(FATAL_ERROR "migration ${f}: expected number ${expected} (no gaps, no duplicates)")
  endif()
  file(READ "${MIGRATIONS_DIR}/${f}" sql)
  if(sql MATCHES "\\)statestore_sql\"")
    message(FATAL_ERROR "migration ${f} contains the raw-string delimiter")
  endif()
  string(APPEND entries "    {${number}, \"${name}\", R\"statestore_sql(${sql})statestore_sql\"},\n")
  math(EXPR expected "${expected} + 1")
endforeach()
if(expected EQUAL 1)
  message(FATAL_ERROR "no migrations found in ${MIGRATIONS_DIR}")
endif()
set(content "// Generated from migrations/sqlite/*.sql by cmake/EmbedMigrations.cmake. Do not edit.
#include \"sqlite/migrations.h\"

namespace statestore::internal {

const Migration kMigrations[] = {
${entries}};
const int kMigrationCount = static_cast<int>(sizeof(kMigrations) / sizeof(kMigrations[0]));

}  // namespace statestore::internal
")
# Rewrite only on change so that an unrelated build does not recompile it.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
