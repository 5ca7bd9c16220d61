! SPDX-License-Identifier: BSD-3-Clause
! The heat equation on an n x n plate, in Fortran, over MPI ranks and
! baton's pinned workers: the example of module baton_mpi.
!
! The plate u(0:n+1, 0:n+1) (top edge i = 0 held at 1, the others at 0) is
! cut into blocks of columns, one per rank. Each step a rank sends its edge
! columns to its neighbours over remote baton channels (a value type of
! one column) and receives their columns into its ghost columns; the
! workers then update the columns of the block in parallel
! (bt_parallel_slices over the new field, a Fortran callback per part).
!
! Column-major arrays are baton arrays with reversed axes: the block
! un(0:n+1, 1:nl) is the baton array of shape [nl, n+2], and splitting it
! along baton's axis 0 gives each worker whole columns.
!
!   mpiexec -n 2 heat2d_mpi_f --n 64 --iterations 100 --check
! --check compares every rank's block with a serial computation (1e-12).
module heat2d_state
  use, intrinsic :: iso_c_binding
  use baton
  implicit none
  integer :: n
  real(c_double), parameter :: rate = 0.2_c_double
  real(c_double), allocatable, target :: u(:, :), un(:, :)
contains
  ! One part of a step: the columns of un the part owns, from u.
  function step_part(part, worker, ctx) bind(c) result(rc)
    type(bt_slice), value :: part
    integer(c_int), value :: worker
    type(c_ptr), value :: ctx
    integer(c_int) :: rc
    type(bt_view) :: v
    real(c_double), pointer :: p(:, :)
    integer :: i, j, jj
    if (worker < 0 .or. c_associated(ctx)) then
      rc = BT_EINVAL
      return
    end if
    rc = bt_slice_view(part, v)
    if (rc /= BT_OK) return
    rc = baton_view_f64_2d(v, p)      ! p(1:n+2, :) is un(0:n+1, cols)
    if (rc /= BT_OK) return
    do jj = 1, int(v%shape(1))
      j = int(v%origin(1)) + jj       ! block column, 1-based
      do i = 1, n
        p(i + 1, jj) = u(i, j) + rate * (u(i - 1, j) + u(i + 1, j) + &
                       u(i, j - 1) + u(i, j + 1) - 4.0_c_double * u(i, j))
      end do
    end do
  end function
end module heat2d_state

program heat2d_mpi
  use, intrinsic :: iso_c_binding
  use mpi
  use baton
  use baton_mpi
  use heat2d_state
  implicit none
  integer :: iterations, rank, nranks, provided, ierr, nl, j0, it, k
  logical :: check
  type(bt_options) :: opt
  type(c_ptr) :: rt, m, column, left, right, block
  real(c_double) :: change, global_change, err, global_err
  real(c_double), allocatable :: ref(:, :), refn(:, :)
  character(64) :: arg

  n = 64
  iterations = 100
  check = .false.
  k = 1
  do while (k <= command_argument_count())
    call get_command_argument(k, arg)
    select case (trim(arg))
    case ("--n")
      k = k + 1
      call get_command_argument(k, arg)
      read (arg, *) n
    case ("--iterations")
      k = k + 1
      call get_command_argument(k, arg)
      read (arg, *) iterations
    case ("--check")
      check = .true.
    case default
      print '(a)', "usage: heat2d_mpi_f [--n N] [--iterations K] [--check]"
      error stop 2
    end select
    k = k + 1
  end do

  call MPI_Init_thread(MPI_THREAD_MULTIPLE, provided, ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  call ok(bt_runtime_create(opt, rt), "bt_runtime_create")
  call ok(baton_mpi_attach(rt, MPI_COMM_WORLD, m), "baton_mpi_attach")

  ! This rank's columns: j0+1 .. j0+nl of the plate's 1..n.
  nl = n / nranks
  j0 = rank * nl + min(rank, mod(n, nranks))
  if (rank < mod(n, nranks)) nl = nl + 1
  allocate(u(0:n + 1, 0:nl + 1), un(0:n + 1, 0:nl + 1))
  u = 0
  u(0, :) = 1
  un = u

  ! One channel per neighbour, carrying a column (n+2 doubles) by value.
  call ok(bt_f_type_value("column" // c_null_char, &
          int(8 * (n + 2), c_size_t), column), "bt_f_type_value")
  left = c_null_ptr
  right = c_null_ptr
  if (rank > 0) call ok(bt_mpi_chan_create(m, rank - 1, 1, column, &
                        1_c_size_t, left), "channel to the left")
  if (rank < nranks - 1) call ok(bt_mpi_chan_create(m, rank + 1, 1, &
                                 column, 1_c_size_t, right), "channel right")
  call ok(baton_array_wrap(rt, c_loc(un(0, 1)), BT_F64, [n + 2, nl], block), &
          "baton_array_wrap")

  do it = 1, iterations
    if (c_associated(left)) call ok(bt_send(left, c_loc(u(0, 1))), "send")
    if (c_associated(right)) call ok(bt_send(right, c_loc(u(0, nl))), "send")
    if (c_associated(left)) call ok(bt_recv(left, c_loc(u(0, 0))), "recv")
    if (c_associated(right)) call ok(bt_recv(right, c_loc(u(0, nl + 1))), &
                                     "recv")
    call ok(bt_parallel_slices(rt, block, 0_c_int, 1_c_int, &
                               c_funloc(step_part), c_null_ptr), "step")
    change = maxval(abs(un(1:n, 1:nl) - u(1:n, 1:nl)))
    u(1:n, 1:nl) = un(1:n, 1:nl)
  end do
  call MPI_Allreduce(change, global_change, 1, MPI_DOUBLE_PRECISION, &
                     MPI_MAX, MPI_COMM_WORLD, ierr)
  if (rank == 0) print '(a, i0, a, i0, a, i0, a, es10.3)', "heat2d_mpi_f: ", &
      n, "x", n, " plate, ", nranks, " ranks, last change ", global_change

  if (check) then
    allocate(ref(0:n + 1, 0:n + 1), refn(0:n + 1, 0:n + 1))
    ref = 0
    ref(0, :) = 1
    refn = ref
    do it = 1, iterations
      refn(1:n, 1:n) = ref(1:n, 1:n) + rate * (ref(0:n - 1, 1:n) + &
          ref(2:n + 1, 1:n) + ref(1:n, 0:n - 1) + ref(1:n, 2:n + 1) - &
          4.0_c_double * ref(1:n, 1:n))
      ref = refn
    end do
    err = maxval(abs(ref(1:n, j0 + 1:j0 + nl) - u(1:n, 1:nl)))
    call MPI_Allreduce(err, global_err, 1, MPI_DOUBLE_PRECISION, MPI_MAX, &
                       MPI_COMM_WORLD, ierr)
    if (rank == 0) print '(a, es10.3)', "check: max difference from serial ", &
        global_err
    if (global_err > 1e-12_c_double) error stop 1
  end if

  call ok(bt_array_release(block), "bt_array_release")
  if (c_associated(left)) call ok(bt_chan_release(left), "release")
  if (c_associated(right)) call ok(bt_chan_release(right), "release")
  call ok(bt_mpi_detach(m), "bt_mpi_detach")
  call bt_f_type_free(column)
  call ok(bt_runtime_destroy(rt), "bt_runtime_destroy")
  call MPI_Finalize(ierr)

contains
  subroutine ok(rc, what)
    integer(c_int), intent(in) :: rc
    character(*), intent(in) :: what
    if (rc /= BT_OK) then
      print '(a, a, i0, a, a)', what, " failed: ", rc, ": ", baton_errmsg()
      call MPI_Abort(MPI_COMM_WORLD, 1, ierr)
    end if
  end subroutine
end program heat2d_mpi
