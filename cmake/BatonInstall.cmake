# SPDX-License-Identifier: BSD-3-Clause
# Install and export: find_package(baton) gives baton::baton (and baton::mpi,
# baton::fortran); pkg-config gives baton (and baton-mpi).
include(CMakePackageConfigHelpers)

install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/include/baton/version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/baton)

set(baton_targets baton baton_headers)
if(TARGET baton_mpi)
  list(APPEND baton_targets baton_mpi)
endif()
set_target_properties(baton_headers PROPERTIES EXPORT_NAME headers)
install(TARGETS ${baton_targets} EXPORT batonTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT batonTargets NAMESPACE baton::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)

# What the package configuration must find again: a static libbaton
# carries hwloc and BLAS in its link interface; a shared one hides them.
set(BATON_CONFIG_HAVE_MPI ${BT_HAVE_MPI})
if(BUILD_SHARED_LIBS)
  set(BATON_CONFIG_STATIC 0)
else()
  set(BATON_CONFIG_STATIC 1)
endif()
set(BATON_CONFIG_BLAS_FROM "${BATON_BLAS_FROM}")
if(TARGET baton_fortran)
  set(BATON_CONFIG_HAVE_FORTRAN 1)
else()
  set(BATON_CONFIG_HAVE_FORTRAN 0)
endif()
configure_package_config_file(cmake/batonConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/batonConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)
# 0.x: a minor release may break the API and ABI (README "Stability").
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(baton_compat SameMinorVersion)
else()
  set(baton_compat SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/batonConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${baton_compat})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/batonConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/batonConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)

# pkg-config. The prefix is found from the .pc file's own folder
# (${pcfiledir}), so the install tree can move, whatever the depth of
# CMAKE_INSTALL_LIBDIR (lib, lib64, lib/x86_64-linux-gnu); absolute
# libdir or includedir are written as they are.
set(pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(BATON_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(BATON_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  string(REGEX REPLACE "[^/]+" ".." up "${pc_dir}")
  string(REGEX REPLACE "/+$" "" up "${up}")
  set(BATON_PC_PREFIX "\${pcfiledir}/${up}")
  set(BATON_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(BATON_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(BATON_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()

# hwloc and BLAS are libbaton's private dependencies: Requires.private and
# Libs.private for a shared libbaton; a static-only install needs them at
# every link, so there they are public.
set(pc_requires "hwloc")
set(pc_libs "")
if(BATON_BLAS_FROM STREQUAL "pkg-config")
  string(APPEND pc_requires ", openblas")
elseif(BATON_BLAS_FROM STREQUAL "FindBLAS")
  set(pc_libs "${BATON_BLAS_PC_LIBS} ")
endif()
string(APPEND pc_libs "-lpthread -lm")
if(BUILD_SHARED_LIBS)
  set(BATON_PC_REQUIRES "")
  set(BATON_PC_REQUIRES_PRIVATE "${pc_requires}")
  set(BATON_PC_LIBS "")
  set(BATON_PC_LIBS_PRIVATE "${pc_libs}")
else()
  set(BATON_PC_REQUIRES "${pc_requires}")
  set(BATON_PC_REQUIRES_PRIVATE "")
  set(BATON_PC_LIBS "${pc_libs}")
  set(BATON_PC_LIBS_PRIVATE "")
endif()
configure_file(cmake/baton.pc.in ${CMAKE_CURRENT_BINARY_DIR}/baton.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/baton.pc DESTINATION ${pc_dir})
if(TARGET baton_mpi)
  # The MPI's own module (BatonDeps.cmake: ompi-c or mpich) is public:
  # baton/mpi.h includes mpi.h. An MPI without one: build with its mpicc.
  set(BATON_PC_MPI_REQUIRES "baton = ${PROJECT_VERSION}")
  if(BATON_MPI_PC_MODULE)
    string(APPEND BATON_PC_MPI_REQUIRES ", ${BATON_MPI_PC_MODULE}")
  endif()
  configure_file(cmake/baton-mpi.pc.in ${CMAKE_CURRENT_BINARY_DIR}/baton-mpi.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/baton-mpi.pc DESTINATION ${pc_dir})
endif()
