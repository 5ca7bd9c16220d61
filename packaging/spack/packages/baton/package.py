# SPDX-License-Identifier: BSD-3-Clause
# Spack package for baton. Use it from this source tree:
#   spack repo add packaging/spack
#   spack install baton@main +mpi +blas +fortran
# or copy this file into a Spack repository of your own.

from spack.package import *


class Baton(CMakePackage):
    """Owned slices over typed channels, pinned workers and MPI: a C11
    library for array-parallel numeric work on HPC machines."""

    # Placeholders (.invalid): set them to where the repository is published
    # before adding the package to a shared Spack repository.
    homepage = "https://baton.invalid"
    git = "https://baton.invalid/baton.git"

    license("BSD-3-Clause")

    version("main", branch="main")

    variant("mpi", default=True, description="Build the MPI bridge (baton::mpi)")
    variant("blas", default=True, description="OpenBLAS for gemm tiles")
    variant("fortran", default=True, description="Fortran modules baton and baton_mpi")
    variant("shared", default=True, description="Shared libraries")

    depends_on("c", type="build")
    depends_on("fortran", type="build", when="+fortran")
    depends_on("cmake@3.20:", type="build")
    depends_on("pkgconfig", type="build")
    depends_on("hwloc@2:")
    depends_on("mpi", when="+mpi")
    depends_on("openblas", when="+blas")

    def cmake_args(self):
        return [
            self.define_from_variant("BATON_MPI", "mpi"),
            self.define_from_variant("BATON_BLAS", "blas"),
            self.define_from_variant("BATON_FORTRAN", "fortran"),
            self.define_from_variant("BUILD_SHARED_LIBS", "shared"),
            self.define("BATON_BENCHMARKS", False),
            self.define("BATON_EXAMPLES", False),
            self.define("BUILD_TESTING", self.run_tests),
        ]
