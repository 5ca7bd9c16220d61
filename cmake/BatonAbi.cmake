# SPDX-License-Identifier: BSD-3-Clause
# The ABI of the shared libraries.
#
# - While the version is 0.x every minor release may break the ABI: the
#   SONAME carries major.minor (libbaton.so.0.1) and find_package accepts
#   only the same minor (BatonInstall.cmake). From 1.0 on: the major.
# - A linker version script makes libbaton.so and libbaton_mpi.so export
#   exactly the public bt_* symbols, under the version node BATON_<soversion>.
#   libbaton_mpi calls a few of libbaton's bt__ internals; those, and only
#   those (read from the undefined symbols of the MPI objects at build time),
#   are exported under the node BATON_PRIVATE_<soversion>, which no program
#   may link (as glibc's GLIBC_PRIVATE). Sharing them, rather than linking a
#   second copy of core into libbaton_mpi, keeps one copy of the state both
#   libraries touch (the slice table, the thread's last error).
# tests/abi checks the result with nm -D against the public headers.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(BATON_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(BATON_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()
set(BATON_ABI_NODE BATON_${BATON_SOVERSION})
set(BATON_ABI_PRIVATE_NODE BATON_PRIVATE_${BATON_SOVERSION})

# baton_abi_library(<target> [PRIVATE_FROM <object library>...]): link the
# shared <target> with a version script exporting bt_[a-z0-9]* under
# BATON_<soversion>, plus the bt__ symbols that the objects of the named
# object libraries leave undefined under BATON_PRIVATE_<soversion>.
function(baton_abi_library target)
  cmake_parse_arguments(abi "" "" "PRIVATE_FROM" ${ARGN})
  set(map ${CMAKE_CURRENT_BINARY_DIR}/${target}.map)
  set(objects "")
  foreach(lib IN LISTS abi_PRIVATE_FROM)
    list(APPEND objects $<TARGET_OBJECTS:${lib}>)
  endforeach()
  add_custom_command(OUTPUT ${map}
    COMMAND ${CMAKE_COMMAND} -DOUT=${map} -DNM=${CMAKE_NM}
            -DNODE=${BATON_ABI_NODE} -DPRIVATE_NODE=${BATON_ABI_PRIVATE_NODE}
            "-DOBJECTS=${objects}"
            -P ${PROJECT_SOURCE_DIR}/cmake/BatonVersionScript.cmake
    DEPENDS ${objects} ${PROJECT_SOURCE_DIR}/cmake/BatonVersionScript.cmake
    VERBATIM
    COMMENT "Version script of ${target}")
  add_custom_target(${target}_map DEPENDS ${map})
  if(abi_PRIVATE_FROM)
    add_dependencies(${target}_map ${abi_PRIVATE_FROM})
  endif()
  add_dependencies(${target} ${target}_map)
  target_link_options(${target} PRIVATE "LINKER:--version-script=${map}"
                      "LINKER:--no-undefined")
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${map})
endfunction()
