# Install and export: find_package(baton) gives baton::baton (and baton::mpi);
# pkg-config gives baton (and baton-mpi).
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

set(BATON_CONFIG_HAVE_MPI ${BT_HAVE_MPI})
configure_package_config_file(cmake/batonConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/batonConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/batonConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/batonConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/batonConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/baton)

# libbaton is static by default, so its dependencies are public in baton.pc.
set(BATON_PC_BLAS_LIBS "")
if(BATON_BLAS_NAME STREQUAL "openblas")
  set(BATON_PC_BLAS_LIBS "-lopenblas")
endif()
configure_file(cmake/baton.pc.in ${CMAKE_CURRENT_BINARY_DIR}/baton.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/baton.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(TARGET baton_mpi)
  # OpenMPI ships ompi-c.pc; other MPIs name theirs differently.
  set(BATON_MPI_PC_MODULE "ompi-c")
  configure_file(cmake/baton-mpi.pc.in ${CMAKE_CURRENT_BINARY_DIR}/baton-mpi.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/baton-mpi.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
