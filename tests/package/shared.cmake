# SPDX-License-Identifier: BSD-3-Clause
# baton as a distribution ships it: a shared build of this source tree with
# a multiarch libdir, installed to a stage, then checked the way packagers
# and users meet it:
#  - the ABI: nm -D of libbaton.so / libbaton_mpi.so against the headers
#    (abi_check.cmake);
#  - the installed baton-info runs from the stage;
#  - pkg-config: hwloc and OpenBLAS private in the shared build, a C and a
#    C++ (-pedantic-errors) consumer build and run;
#  - find_package(baton): the downstream project builds and runs, and the
#    version file accepts only the same minor release while 0.x.
# Arguments: SOURCE (the baton tree), WORK, CC, CXX, MPI, MPICC, MPIEXEC,
# FORTRAN (ON/OFF), MULTIARCH (e.g. x86_64-linux-gnu), NM, TESTS (this folder).
# The build folder is kept between runs (an incremental rebuild); the rest
# starts afresh.
file(REMOVE_RECURSE ${WORK}/stage ${WORK}/downstream)
set(build ${WORK}/build)
set(stage ${WORK}/stage)
set(libdir lib/${MULTIARCH})

macro(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
endmacro()

set(mpi_args -DBATON_MPI=OFF)
if(MPI)
  set(mpi_args -DBATON_MPI=ON -DMPI_C_COMPILER=${MPICC}
               -DMPIEXEC_EXECUTABLE=${MPIEXEC})
endif()
run("configure (shared)" ${CMAKE_COMMAND} -S ${SOURCE} -B ${build}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=${CC}
    -DBUILD_SHARED_LIBS=ON -DCMAKE_INSTALL_LIBDIR=${libdir}
    -DBATON_TESTS=OFF -DBATON_BENCHMARKS=OFF -DBATON_EXAMPLES=OFF
    -DBATON_FORTRAN=${FORTRAN} ${mpi_args})
run("build (shared)" ${CMAKE_COMMAND} --build ${build} -j 2)
run("install (shared)" ${CMAKE_COMMAND} --install ${build} --prefix ${stage})

# The ABI.
run("ABI check" ${CMAKE_COMMAND} -DINCLUDE=${stage}/include
    -DLIBDIR=${stage}/${libdir} -DNM=${NM} -P ${TESTS}/abi_check.cmake)
message("${out}")

# baton-info from the install tree.
run("installed baton-info" ${stage}/bin/baton-info --workers 8 --topology
    "pack:2 [numa] core:4 pu:2")
if(NOT out MATCHES "Placement: 8 workers on 2 NUMA nodes")
  message(FATAL_ERROR "installed baton-info printed:\n${out}")
endif()

# pkg-config, from a multiarch libdir.
set(ENV{PKG_CONFIG_PATH} ${stage}/${libdir}/pkgconfig)
run("pkg-config --libs baton" pkg-config --cflags --libs baton)
string(STRIP "${out}" flags)
if(flags MATCHES "-lhwloc|-lopenblas")
  message(FATAL_ERROR "pkg-config --libs baton names private dependencies of the shared libbaton: ${flags}")
endif()
run("pkg-config --static --libs baton" pkg-config --static --libs baton)
if(NOT out MATCHES "-lhwloc")
  message(FATAL_ERROR "pkg-config --static --libs baton lacks hwloc: ${out}")
endif()
separate_arguments(flags UNIX_COMMAND "${flags}")
set(rpath -Wl,-rpath,${stage}/${libdir})
run("C consumer (pkg-config)" ${CC} -std=c11 -Wall -Wextra -Werror
    -o ${WORK}/app_pc ${TESTS}/downstream/app.c ${flags} ${rpath})
run("C consumer run" ${WORK}/app_pc)
message("${out}")
if(CXX)
  run("C++ consumer (pkg-config)" ${CXX} -std=c++11 -Wall -Wextra
      -pedantic-errors -Werror -o ${WORK}/app_cxx
      ${TESTS}/downstream/app_cxx.cpp ${flags} ${rpath})
  run("C++ consumer run" ${WORK}/app_cxx)
  message("${out}")
endif()

# find_package, and the version rule.
run("downstream configure" ${CMAKE_COMMAND} -S ${TESTS}/downstream
    -B ${WORK}/downstream -DCMAKE_C_COMPILER=${CC}
    -DCMAKE_PREFIX_PATH=${stage} -DWITH_MPI=${MPI})
run("downstream build" ${CMAKE_COMMAND} --build ${WORK}/downstream)
run("downstream run" ${WORK}/downstream/app)
if(MPI)
  run("downstream MPI run" ${MPIEXEC} -n 2 ${WORK}/downstream/app_mpi)
  if(NOT out MATCHES "rank 1 of 2")
    message(FATAL_ERROR "app_mpi under ${MPIEXEC} -n 2 printed:\n${out}")
  endif()
endif()
set(PACKAGE_FIND_VERSION 0.0)
set(PACKAGE_FIND_VERSION_MAJOR 0)
set(PACKAGE_FIND_VERSION_MINOR 0)
set(PACKAGE_FIND_VERSION_PATCH 0)
set(PACKAGE_FIND_VERSION_COUNT 2)
set(CMAKE_SIZEOF_VOID_P 8)
include(${stage}/${libdir}/cmake/baton/batonConfigVersion.cmake)
if(PACKAGE_VERSION_COMPATIBLE)
  message(FATAL_ERROR "find_package(baton 0.0) accepts baton ${PACKAGE_VERSION}: 0.x minor releases are not compatible")
endif()
message(STATUS "shared install checked: ${stage}")
