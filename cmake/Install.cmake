# Installation and the CMake package for libstatestore.a (included at the end of the top-level
# CMakeLists.txt).
#
#   cmake --install build --prefix /opt/statestore
#
# installs
#   include/statestore/*.h                       the public headers (and nothing from lib/src)
#   lib/libstatestore.a                          (${CMAKE_INSTALL_LIBDIR})
#   lib/cmake/statestore/statestoreConfig.cmake  + ConfigVersion + Targets
#
# and a consumer then writes
#
#   find_package(statestore 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE statestore::statestore)
#
# libstatestore.a links SQLiteCpp, SQLite, Boost.Thread, spdlog and Threads PRIVATE. For a static
# library CMake still exports them as $<LINK_ONLY:...> (the consumer's link needs them), so the
# package config finds each of them (find_dependency) before it loads the exported target.
# Tested by tests/install (ctest label `packaging`).

include(CMakePackageConfigHelpers)

set(STATESTORE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/statestore"
    CACHE STRING "Where statestoreConfig.cmake is installed, relative to the prefix")
mark_as_advanced(STATESTORE_INSTALL_CMAKEDIR)

install(TARGETS statestore
  EXPORT statestoreTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")
# (The include directory of the exported target comes from the $<INSTALL_INTERFACE:...> in
# lib/CMakeLists.txt.)

# Only the public headers; lib/src holds the internal ones.
install(DIRECTORY "${PROJECT_SOURCE_DIR}/lib/include/statestore"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  FILES_MATCHING PATTERN "*.h")

install(EXPORT statestoreTargets
  NAMESPACE statestore::
  FILE statestoreTargets.cmake
  DESTINATION "${STATESTORE_INSTALL_CMAKEDIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/statestoreConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/cmake/statestoreConfig.cmake"
  INSTALL_DESTINATION "${STATESTORE_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/cmake/statestoreConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)
install(FILES
  "${PROJECT_BINARY_DIR}/cmake/statestoreConfig.cmake"
  "${PROJECT_BINARY_DIR}/cmake/statestoreConfigVersion.cmake"
  DESTINATION "${STATESTORE_INSTALL_CMAKEDIR}")
