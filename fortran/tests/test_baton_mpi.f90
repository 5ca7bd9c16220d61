! SPDX-License-Identifier: BSD-3-Clause
! The Fortran module baton_mpi on 2 ranks: attach from MPI_COMM_WORLD,
! the bridge's collectives, a distributed array (reversed axes), its halo
! exchange and global reductions.
program test_baton_mpi
  use, intrinsic :: iso_c_binding
  use mpi
  use baton
  use baton_mpi
  implicit none
  integer, parameter :: nx = 10, ny = 12
  type(bt_options) :: opt
  type(bt_dist) :: d
  type(bt_range) :: owned(2)
  type(bt_view) :: v
  type(bt_slice) :: s
  type(c_ptr) :: rt, m, da
  real(c_double), pointer :: p(:, :)
  real(c_double), target :: mine(1), total(1), buf(1)
  real(c_double) :: x
  integer :: rank, nranks, provided, ierr, failures, rows
  integer(c_int) :: coords(2)

  failures = 0
  call MPI_Init_thread(MPI_THREAD_MULTIPLE, provided, ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  call check(bt_runtime_create(opt, rt), "bt_runtime_create")
  call check(baton_mpi_attach(rt, MPI_COMM_WORLD, m), "baton_mpi_attach")
  call expect(bt_mpi_rank(m) == rank, "rank as MPI's")
  call expect(bt_mpi_size(m) == nranks, "size as MPI's")

  ! Collectives on the bridge.
  mine(1) = real(rank + 1, c_double)
  call check(baton_allreduce_f64(m, BT_OP_SUM, mine, total), "allreduce sum")
  call expect(abs(total(1) - nranks * (nranks + 1) / 2.0_c_double) < 1e-12, &
              "sum of rank+1")
  call check(baton_allreduce_f64(m, BT_OP_MAX, mine, total), "allreduce max")
  call expect(abs(total(1) - nranks) < 1e-12, "max of rank+1")
  buf(1) = 0
  if (rank == 0) buf(1) = 42
  call check(bt_mpi_bcast(m, 0, c_loc(buf), 8_c_size_t), "bcast")
  call expect(abs(buf(1) - 42) < 1e-12, "bcast from rank 0")
  call check(bt_mpi_barrier(m), "barrier")

  ! A Fortran u(nx, ny) over the ranks: the bt_dist of shape [ny, nx],
  ! split along baton's axis 0 (Fortran's columns) only.
  call expect(d%struct_size == c_sizeof(d), "bt_dist%struct_size is sizeof")
  d%ndim = 2
  d%shape(1:2) = [int(ny, c_int64_t), int(nx, c_int64_t)]
  d%procs(1:2) = [nranks, 1]
  d%halo(1:2) = [1, 1]
  call check(bt_darray_create(m, d, da), "bt_darray_create")
  call check(bt_darray_owned(da, owned), "bt_darray_owned")
  call check(bt_darray_coords(da, coords), "bt_darray_coords")
  call expect(coords(1) == rank .and. coords(2) == 0, "coords [rank, 0]")
  rows = int(owned(1)%stop - owned(1)%start)
  call expect(owned(2)%start == 0 .and. owned(2)%stop == nx, &
              "whole Fortran columns owned")
  call check(bt_fill(rt, bt_darray_interior(da), real(rank + 1, c_double)), &
             "fill interior")
  call check(bt_darray_sum(da, x), "bt_darray_sum")
  total(1) = 0
  mine(1) = real((rank + 1) * rows * nx, c_double)
  call check(baton_allreduce_f64(m, BT_OP_SUM, mine, total), "expected sum")
  call expect(abs(x - total(1)) < 1e-9, "global sum of the darray")
  call check(bt_darray_halo(da, BT_FOREVER), "bt_darray_halo")

  ! The ghost columns (Fortran view of the local block) hold the
  ! neighbours' values.
  call check(bt_array_borrow(bt_darray_local(da), c_null_ptr, BT_FOREVER, s), &
             "borrow local")
  call check(bt_slice_view(s, v), "view local")
  call check(baton_view_f64_2d(v, p), "Fortran view of the local block")
  call expect(size(p, 1) == nx + 2 .and. size(p, 2) == rows + 2, &
              "local block (nx+2, rows+2)")
  if (rank > 0) call expect(all(abs(p(2:nx + 1, 1) - rank) < 1e-12), &
                            "ghost column from the rank before")
  if (rank < nranks - 1) call expect( &
      all(abs(p(2:nx + 1, rows + 2) - (rank + 2)) < 1e-12), &
      "ghost column from the rank after")
  call check(bt_slice_release(s), "release local")

  call check(bt_darray_destroy(da), "bt_darray_destroy")
  call check(bt_mpi_detach(m), "bt_mpi_detach")
  call check(bt_runtime_destroy(rt), "bt_runtime_destroy")
  call MPI_Finalize(ierr)
  if (failures > 0) error stop 1
  if (rank == 0) print '(a)', "fortran baton_mpi module: all checks passed"

contains
  subroutine check(rc, what)
    integer(c_int), intent(in) :: rc
    character(*), intent(in) :: what
    if (rc /= BT_OK) then
      print '(a, a, i0, a, a)', what, ": status ", rc, ": ", baton_errmsg()
      failures = failures + 1
    end if
  end subroutine
  subroutine expect(cond, what)
    logical, intent(in) :: cond
    character(*), intent(in) :: what
    if (.not. cond) then
      print '(a, i0, a, a)', "rank ", rank, " failed: ", what
      failures = failures + 1
    end if
  end subroutine
end program test_baton_mpi
