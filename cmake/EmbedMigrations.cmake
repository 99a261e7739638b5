# Build-time script: turns migrations/<engine>/NNNN_name.sql into a C++ source with one entry per
# file. Invoked as: cmake -DMIGRATIONS_DIR=... -DOUTPUT=... [-DHEADER= -DNAMESPACE= -DTABLE= -DCOUNT=] -P
# EmbedMigrations.cmake. HEADER (default sqlite/migrations.h) declares the Migration struct and
# the table; TABLE (default kMigrations) and COUNT (default kMigrationCount) name them.
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
if(NOT DEFINED HEADER)
  set(HEADER "sqlite/migrations.h")
endif()
if(NOT DEFINED TABLE)
  set(TABLE "kMigrations")
endif()
if(NOT DEFINED NAMESPACE)
  set(NAMESPACE "statestore::internal")
endif()
if(NOT DEFINED COUNT)
  set(COUNT "kMigrationCount")
endif()
set(content "// Generated from ${MIGRATIONS_DIR}/*.sql by cmake/EmbedMigrations.cmake. Do not edit.
#include \"${HEADER}\"

namespace ${NAMESPACE} {

const Migration ${TABLE}[] = {
${entries}};
const int ${COUNT} = static_cast<int>(sizeof(${TABLE}) / sizeof(${TABLE}[0]));

}  // namespace ${NAMESPACE}
")
# Rewrite only on change so that an unrelated build does not recompile it.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
