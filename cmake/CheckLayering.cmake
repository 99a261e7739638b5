# Build-time check of lib/src's layering (README "Architecture"). Run by the `check_layering`
# target before libstatestore is compiled; fails the build naming the file and the include.
#
#   util/      includes only public headers and util/
#   sessions/  includes only public headers, util/ and sessions/ (a layer on the public Store API)
#   config/    includes only public headers, util/ and config/ (likewise)
#   core/      includes only public headers, util/ and core/: what every engine shares
#   sqlite/    never includes config/ or admin/, and sessions/ only where listed below
#   postgresql/ includes only public headers, util/, core/ and postgresql/ (never sqlite/)
#
# Usage: cmake -DSRC_DIR=<lib/src> -DSTAMP=<file> -P CheckLayering.cmake
cmake_minimum_required(VERSION 3.25)

# Known crossings, each with its reason. Removing one is progress; adding one needs a reason.
set(allowed
  # Migration 0003 re-keys the principal digests inside session index keys (a one-time schema
  # upgrade of data the sessions layer wrote; the key layout is fixed by files in the field).
  "sqlite/redaction_migration.cc:sessions/session_keys.h")

function(allowed_prefixes folder out)
  if(folder STREQUAL "util")
    set(${out} "statestore/;util/" PARENT_SCOPE)
  elseif(folder STREQUAL "sessions" OR folder STREQUAL "config")
    set(${out} "statestore/;util/;${folder}/" PARENT_SCOPE)
  elseif(folder STREQUAL "core")
    set(${out} "statestore/;util/;core/" PARENT_SCOPE)
  elseif(folder STREQUAL "sqlite")
    set(${out} "statestore/;util/;core/;sqlite/" PARENT_SCOPE)
  elseif(folder STREQUAL "postgresql")
    set(${out} "statestore/;util/;core/;postgresql/" PARENT_SCOPE)
  else()
    set(${out} "*" PARENT_SCOPE)
  endif()
endfunction()

get_filename_component(SRC_DIR "${SRC_DIR}" ABSOLUTE)
file(GLOB_RECURSE sources RELATIVE "${SRC_DIR}" "${SRC_DIR}/*.h" "${SRC_DIR}/*.cc")
set(problems "")
foreach(rel IN LISTS sources)
  string(REGEX MATCH "^[^/]+" folder "${rel}")
  allowed_prefixes("${folder}" prefixes)
  if(prefixes STREQUAL "*")
    continue()
  endif()
  file(STRINGS "${SRC_DIR}/${rel}" includes REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  foreach(line IN LISTS includes)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" header "${line}")
    set(ok FALSE)
    foreach(prefix IN LISTS prefixes)
      string(FIND "${header}" "${prefix}" at)
      if(at EQUAL 0)
        set(ok TRUE)
      endif()
    endforeach()
    if(NOT ok AND "${rel}:${header}" IN_LIST allowed)
      set(ok TRUE)
    endif()
    if(NOT ok)
      string(APPEND problems "\n  lib/src/${rel} includes \"${header}\"")
    endif()
  endforeach()
endforeach()

if(problems)
  message(FATAL_ERROR "lib/src layering broken (see cmake/CheckLayering.cmake for the rules):"
                      "${problems}")
endif()
file(WRITE "${STAMP}" "ok\n")
