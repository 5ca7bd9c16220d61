! SPDX-License-Identifier: BSD-3-Clause
! The Fortran module baton against the library: runtime, arrays with
! reversed axes, slices and views, kernels, a Fortran callback on the
! workers, channels of values and of slices, status strings.
module test_baton_parts
  use, intrinsic :: iso_c_binding
  use baton
  implicit none
contains
  ! bt_parallel_slices callback: add 1 to every element of the part.
  function add_one(part, worker, ctx) bind(c) result(rc)
    type(bt_slice), value :: part
    integer(c_int), value :: worker
    type(c_ptr), value :: ctx
    integer(c_int) :: rc
    type(bt_view) :: v
    real(c_double), pointer :: p(:, :)
    if (worker < 0 .or. c_associated(ctx)) then
      rc = BT_EINVAL
      return
    end if
    rc = bt_slice_view(part, v)
    if (rc /= BT_OK) return
    rc = baton_view_f64_2d(v, p)
    if (rc /= BT_OK) return
    p = p + 1.0_c_double
  end function
end module test_baton_parts

program test_baton
  use, intrinsic :: iso_c_binding
  use baton
  use test_baton_parts
  implicit none
  type(bt_options) :: opt
  type(c_ptr) :: rt, a, w, ch, vch
  type(bt_slice) :: s, moved, got, other
  type(bt_view) :: v
  real(c_double), pointer :: p(:, :)
  real(c_double), target :: wmem(4, 6)
  real(c_double) :: total, x
  integer :: i, j, failures

  failures = 0
  call expect(opt%struct_size == c_sizeof(opt), "bt_options%struct_size is sizeof")
  opt%workers = 2
  call check(bt_runtime_create(opt, rt), "bt_runtime_create")
  call expect(bt_runtime_workers(rt) == 2, "two workers")
  call expect(len(baton_version()) > 0, "baton_version")

  ! A Fortran u(5, 3) is the baton array [3, 5].
  call check(baton_array_create(rt, BT_F64, [5, 3], BT_PLACE_LOCAL, a), &
             "baton_array_create")
  call check(bt_array_own(a, c_null_ptr, 0_c_int64_t, s), "bt_array_own")
  call check(bt_slice_view(s, v), "bt_slice_view")
  call expect(v%ndim == 2 .and. v%shape(1) == 3 .and. v%shape(2) == 5, &
              "reversed shape [3, 5]")
  call check(baton_view_f64_2d(v, p), "baton_view_f64_2d")
  call expect(size(p, 1) == 5 .and. size(p, 2) == 3, "Fortran shape (5, 3)")
  do j = 1, 3
    do i = 1, 5
      p(i, j) = real(i + 10 * j, c_double)
    end do
  end do
  call check(bt_slice_release(s), "bt_slice_release")
  call check(bt_sum(rt, a, total), "bt_sum")
  call expect(abs(total - 345.0_c_double) < 1e-12_c_double, "sum 345")

  ! A Fortran callback on the workers, one part per worker.
  call check(bt_parallel_slices(rt, a, 0_c_int, 1_c_int, c_funloc(add_one), &
                                c_null_ptr), "bt_parallel_slices")
  call check(bt_sum(rt, a, total), "bt_sum after add_one")
  call expect(abs(total - 360.0_c_double) < 1e-12_c_double, "sum 360")
  call check(bt_fill(rt, a, 2.0_c_double), "bt_fill")
  call check(bt_sum(rt, a, total), "bt_sum after fill")
  call expect(abs(total - 30.0_c_double) < 1e-12_c_double, "sum 30")

  ! A channel of slices: the slice moves, the region stays locked.
  call check(bt_chan_create(bt_f_type(BT_TYPE_SLICE), 1_c_size_t, ch), &
             "bt_chan_create slice")
  call check(bt_array_own(a, c_null_ptr, 0_c_int64_t, s), "own to send")
  moved = s
  call check(baton_send_slice(ch, s), "send slice")
  call expect(bt_slice_view(moved, v) == BT_EMOVED, "sent handle: BT_EMOVED")
  call expect(bt_array_own(a, c_null_ptr, 0_c_int64_t, other) == BT_EBUSY, &
              "region locked while in flight: BT_EBUSY")
  call expect(len(baton_errmsg()) > 0, "bt_errmsg after BT_EBUSY")
  call check(baton_recv_slice(ch, got), "recv slice")
  call check(bt_slice_view(got, v), "view of received slice")
  call expect(v%writable == 1, "received slice writable")
  call check(bt_slice_release(got), "release received slice")
  call check(bt_chan_release(ch), "bt_chan_release")

  ! A channel of values.
  call check(bt_chan_create(bt_f_type(BT_TYPE_F64), 2_c_size_t, vch), &
             "bt_chan_create f64")
  call check(baton_send_f64(vch, 3.5_c_double), "send f64")
  call check(baton_recv_f64(vch, x), "recv f64")
  call expect(abs(x - 3.5_c_double) < tiny(x), "value 3.5 received")
  call check(bt_chan_close(vch), "close")
  call expect(baton_recv_f64(vch, x) == BT_ECLOSED, "closed: BT_ECLOSED")
  call check(bt_chan_release(vch), "release f64 chan")

  ! Wrapping Fortran memory.
  do j = 1, 6
    do i = 1, 4
      wmem(i, j) = real(i * j, c_double)
    end do
  end do
  call check(baton_array_wrap(rt, c_loc(wmem), BT_F64, [4, 6], w), &
             "baton_array_wrap")
  call check(bt_sum(rt, w, total), "bt_sum wrapped")
  call expect(abs(total - sum(wmem)) < 1e-12_c_double, "wrapped sum")
  call check(bt_array_release(w), "release wrapped")

  call expect(baton_strerror(BT_EBUSY) /= "", "bt_strerror")
  call check(bt_array_release(a), "bt_array_release")
  call check(bt_runtime_destroy(rt), "bt_runtime_destroy")
  if (failures > 0) then
    print '(i0, a)', failures, " check(s) failed"
    error stop 1
  end if
  print '(a)', "fortran baton module: all checks passed"

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
      print '(a, a)', "failed: ", what
      failures = failures + 1
    end if
  end subroutine
end program test_baton
