# ctest `install_consumer` (label packaging): proves that an installed statestore is usable.
#
#   cmake -DSTATESTORE_BUILD_DIR=... -DCONSUMER_SOURCE_DIR=... -DWORK_DIR=... [options] \
#         -P run_consumer.cmake
#
# 1. cmake --install STATESTORE_BUILD_DIR --prefix WORK_DIR/prefix   (a fresh, empty prefix)
# 2. configure CONSUMER_SOURCE_DIR with CMAKE_PREFIX_PATH=WORK_DIR/prefix, same compiler, build
#    type and flags as the statestore build; with SANITIZE set, also -fsanitize=SANITIZE (a
#    sanitized static library only links into a sanitized program)
# 3. build it, and check that find_package took statestore from WORK_DIR/prefix
# 4. run it: it must exit 0 (the value round-tripped)
# Any failing step fails the test.
#
# Options: CONFIG (build configuration), GENERATOR, MAKE_PROGRAM, CXX_COMPILER, CXX_FLAGS,
# SANITIZE, VERSION (the version find_package must accept), LIBRARY (the built libstatestore.a,
# checked before installing).
cmake_minimum_required(VERSION 3.20)

foreach(var STATESTORE_BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(consumer_build "${WORK_DIR}/consumer-build")

# Runs a command, echoing it; fails the test with its output if it exits non-zero.
function(run_step name)
  string(REPLACE ";" " " printable "${ARGN}")
  message(STATUS "[${name}] ${printable}")
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE out
    TIMEOUT 600)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[${name}] failed (${rc}):\n${out}")
  endif()
  message(STATUS "[${name}] ok\n${out}")
endfunction()

if(LIBRARY AND NOT EXISTS "${LIBRARY}")
  message(FATAL_ERROR "${LIBRARY} does not exist: build the statestore target first")
endif()

# 1. Install into an empty prefix, so nothing stale can make the test pass.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(install_cmd "${CMAKE_COMMAND}" --install "${STATESTORE_BUILD_DIR}" --prefix "${prefix}")
if(CONFIG)
  list(APPEND install_cmd --config "${CONFIG}")
endif()
run_step(install ${install_cmd})
foreach(f include/statestore/statestore.h include/statestore/store.h)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install did not produce ${prefix}/${f}")
  endif()
endforeach()
file(GLOB_RECURSE installed_libs "${prefix}/*/libstatestore.a")
file(GLOB_RECURSE installed_configs "${prefix}/*/statestoreConfig.cmake")
if(NOT installed_libs OR NOT installed_configs)
  message(FATAL_ERROR "install did not produce libstatestore.a and statestoreConfig.cmake "
                      "under ${prefix}")
endif()

# 2. Configure the consumer against the prefix only.
set(configure_cmd "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${consumer_build}"
    "-DCMAKE_PREFIX_PATH=${prefix}")
if(GENERATOR)
  list(APPEND configure_cmd -G "${GENERATOR}")
endif()
if(MAKE_PROGRAM)
  list(APPEND configure_cmd "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(CXX_COMPILER)
  list(APPEND configure_cmd "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
if(CONFIG)
  list(APPEND configure_cmd "-DCMAKE_BUILD_TYPE=${CONFIG}")
endif()
if(VERSION)
  list(APPEND configure_cmd "-DSTATESTORE_VERSION=${VERSION}")
endif()
set(cxx_flags "${CXX_FLAGS}")
set(link_flags "")
if(SANITIZE)
  string(APPEND cxx_flags " -fsanitize=${SANITIZE} -fno-omit-frame-pointer")
  if(SANITIZE MATCHES "undefined")
    string(APPEND cxx_flags " -fno-sanitize-recover=undefined")
  endif()
  set(link_flags "-fsanitize=${SANITIZE}")
endif()
string(STRIP "${cxx_flags}" cxx_flags)
list(APPEND configure_cmd "-DCMAKE_CXX_FLAGS=${cxx_flags}"
     "-DCMAKE_EXE_LINKER_FLAGS=${link_flags}")
run_step(configure ${configure_cmd})

# find_package must have used the fresh prefix, not some other statestore on the system.
file(STRINGS "${consumer_build}/CMakeCache.txt" found_dir REGEX "^statestore_DIR:")
string(REGEX REPLACE "^statestore_DIR:[A-Z]+=" "" found_dir "${found_dir}")
file(REAL_PATH "${prefix}" real_prefix)
if(EXISTS "${found_dir}")
  file(REAL_PATH "${found_dir}" found_dir)
endif()
string(FIND "${found_dir}/" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "find_package(statestore) used '${found_dir}', not the prefix ${prefix}")
endif()

# 3. Build.
set(build_cmd "${CMAKE_COMMAND}" --build "${consumer_build}")
if(CONFIG)
  list(APPEND build_cmd --config "${CONFIG}")
endif()
run_step(build ${build_cmd})

# 4. Run.
find_program(consumer_exe statestore_consumer
  PATHS "${consumer_build}" "${consumer_build}/${CONFIG}" NO_DEFAULT_PATH NO_CACHE)
if(NOT consumer_exe)
  message(FATAL_ERROR "the consumer build produced no statestore_consumer in ${consumer_build}")
endif()
run_step(run "${consumer_exe}")
message(STATUS "install_consumer: passed")
