! SPDX-License-Identifier: BSD-3-Clause
! baton_mpi: the Fortran interface to baton's MPI bridge: attach from a
! Fortran communicator handle, remote channels, collectives on the bridge
! and distributed arrays (baton/mpi.h, baton/dist.h).
!
! Distributed arrays follow the reversed-axes rule of module baton: a
! Fortran decomposition of u(nx, ny) is the bt_dist of shape [ny, nx], and
! its procs, halo and periodic arrays are in baton's order too.
module baton_mpi
  use, intrinsic :: iso_c_binding
  use baton
  implicit none

  ! C's BT_SUM, BT_MAX, BT_MIN: Fortran names are case-insensitive, and
  ! bt_sum is the kernel of module baton.
  integer(c_int), parameter :: BT_OP_SUM = 0, BT_OP_MAX = 1, BT_OP_MIN = 2

  ! bt_dist%struct_size: C's sizeof(bt_dist) (baton/dist.h: the fields,
  ! rounded up to the alignment of int64_t); leave it as it is.
  integer(c_size_t), parameter, private :: dist_fields = c_sizeof(0_c_size_t) &
      + 2 * c_sizeof(0_c_int) + BT_MAX_DIMS * c_sizeof(0_c_int64_t) &
      + (3 * BT_MAX_DIMS + 1) * c_sizeof(0_c_int)
  integer(c_size_t), parameter, private :: dist_align = c_sizeof(0_c_int64_t)

  type, bind(c) :: bt_dist
    integer(c_size_t) :: struct_size = &
        dist_fields + dist_align - 1 - mod(dist_fields + dist_align - 1, &
        dist_align)
    integer(c_int) :: dtype = BT_F64
    integer(c_int) :: ndim = 0
    integer(c_int64_t) :: shape(BT_MAX_DIMS) = 0   ! global extents
    integer(c_int) :: procs(BT_MAX_DIMS) = 0       ! 0: as MPI_Dims_create
    integer(c_int) :: halo(BT_MAX_DIMS) = 0        ! ghost width per side
    integer(c_int) :: periodic(BT_MAX_DIMS) = 0
    integer(c_int) :: corners = 0
  end type bt_dist

  interface
    function bt_mpi_attach_f(rt, comm, m) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
      integer(c_int), value :: comm   ! MPI_Fint
      type(c_ptr), intent(out) :: m
      integer(c_int) :: rc
    end function
    function bt_mpi_detach(m) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: m
      integer(c_int) :: rc
    end function
    function bt_mpi_rank(m) bind(c) result(r)
      import :: c_int, c_ptr
      type(c_ptr), value :: m
      integer(c_int) :: r
    end function
    function bt_mpi_size(m) bind(c) result(n)
      import :: c_int, c_ptr
      type(c_ptr), value :: m
      integer(c_int) :: n
    end function
    function bt_mpi_chan_create(m, peer, tag, t, capacity, ch) bind(c) &
        result(rc)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: m
      integer(c_int), value :: peer, tag
      type(c_ptr), value :: t
      integer(c_size_t), value :: capacity
      type(c_ptr), intent(out) :: ch
      integer(c_int) :: rc
    end function

    ! collectives on the bridge
    function bt_mpi_allreduce(m, op, dtype, in, out, count) bind(c) &
        result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: m
      integer(c_int), value :: op, dtype
      type(c_ptr), value :: in, out
      integer(c_int), value :: count
      integer(c_int) :: rc
    end function
    function bt_mpi_barrier(m) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: m
      integer(c_int) :: rc
    end function
    function bt_mpi_bcast(m, root, buf, bytes) bind(c) result(rc)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: m
      integer(c_int), value :: root
      type(c_ptr), value :: buf
      integer(c_size_t), value :: bytes
      integer(c_int) :: rc
    end function

    ! distributed arrays
    function bt_darray_create(m, d, da) bind(c) result(rc)
      import :: c_int, c_ptr, bt_dist
      type(c_ptr), value :: m
      type(bt_dist), intent(in) :: d
      type(c_ptr), intent(out) :: da
      integer(c_int) :: rc
    end function
    function bt_darray_destroy(da) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: da
      integer(c_int) :: rc
    end function
    function bt_darray_like(da, twin) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: da
      type(c_ptr), intent(out) :: twin
      integer(c_int) :: rc
    end function
    function bt_darray_local(da) bind(c) result(a)
      import :: c_ptr
      type(c_ptr), value :: da
      type(c_ptr) :: a
    end function
    function bt_darray_interior(da) bind(c) result(a)
      import :: c_ptr
      type(c_ptr), value :: da
      type(c_ptr) :: a
    end function
    function bt_darray_owned(da, global) bind(c) result(rc)
      import :: c_int, c_ptr, bt_range
      type(c_ptr), value :: da
      type(bt_range), intent(out) :: global(*)
      integer(c_int) :: rc
    end function
    function bt_darray_coords(da, coords) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: da
      integer(c_int), intent(out) :: coords(*)
      integer(c_int) :: rc
    end function
    function bt_darray_halo(da, timeout_ns) bind(c) result(rc)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: da
      integer(c_int64_t), value :: timeout_ns
      integer(c_int) :: rc
    end function
    function bt_darray_halo_begin(da) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: da
      integer(c_int) :: rc
    end function
    function bt_darray_halo_end(da, timeout_ns) bind(c) result(rc)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: da
      integer(c_int64_t), value :: timeout_ns
      integer(c_int) :: rc
    end function
    function bt_darray_dot(x, y, out) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: x, y
      real(c_double), intent(out) :: out
      integer(c_int) :: rc
    end function
    function bt_darray_nrm2(x, out) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: x
      real(c_double), intent(out) :: out
      integer(c_int) :: rc
    end function
    function bt_darray_sum(x, out) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: x
      real(c_double), intent(out) :: out
      integer(c_int) :: rc
    end function
  end interface

contains

  !> Attach a runtime to a Fortran communicator (MPI_COMM_WORLD of
  !> `use mpi`, or comm%MPI_VAL of mpi_f08). MPI must be initialized.
  function baton_mpi_attach(rt, comm, m) result(rc)
    type(c_ptr), intent(in) :: rt
    integer, intent(in) :: comm
    type(c_ptr), intent(out) :: m
    integer(c_int) :: rc
    rc = bt_mpi_attach_f(rt, int(comm, c_int), m)
  end function

#ifdef BATON_HAVE_COLLECTIVES
  !> Sum (or max, min) of real(c_double) values over the bridge's ranks.
  function baton_allreduce_f64(m, op, in, out) result(rc)
    type(c_ptr), intent(in) :: m
    integer(c_int), intent(in) :: op
    real(c_double), intent(in), target :: in(:)
    real(c_double), intent(out), target :: out(:)
    integer(c_int) :: rc
    if (size(out) < size(in)) then
      rc = BT_EINVAL
      return
    end if
    rc = bt_mpi_allreduce(m, op, BT_F64, c_loc(in), c_loc(out), &
                          int(size(in), c_int))
  end function
#endif
end module baton_mpi
