! SPDX-License-Identifier: BSD-3-Clause
! baton: the Fortran interface (ISO_C_BINDING) to baton's runtime, arrays,
! slices, views, kernels and channels of values and slices.
!
! Column-major arrays map to baton arrays with their axes reversed: a
! Fortran array u(n1, n2) is the baton array of shape [n2, n1], and baton's
! axis 0 is Fortran's last dimension. baton_array_create, baton_array_wrap
! and baton_view_f64_2d do the reversal; the raw bt_* interfaces take
! shapes, regions and axes in baton's (C) order, 0-based.
!
! Status codes are integer(c_int): BT_OK (0) or a negative code; the
! calling thread's last failure is baton_errmsg(). Handles are type(c_ptr);
! slices are type(bt_slice) values.
module baton
  use, intrinsic :: iso_c_binding
  implicit none
  private :: c_string

  ! ---- status codes (baton/status.h)
  integer(c_int), parameter :: BT_OK = 0, BT_EINVAL = -1, BT_ENOMEM = -2, &
      BT_EBUSY = -3, BT_EMOVED = -4, BT_ETYPE = -5, BT_ECLOSED = -6, &
      BT_EAGAIN = -7, BT_ETIMEDOUT = -8, BT_ESHARED = -9, BT_ECYCLE = -10, &
      BT_EFROZEN = -11, BT_ETOPO = -12, BT_EMPI = -13, BT_ENOTSUP = -14, &
      BT_ESTATE = -15
  ! ---- enumerations
  integer(c_int), parameter :: BT_BIND_CORE = 0, BT_BIND_PU = 1, &
      BT_BIND_NUMA = 2, BT_BIND_NONE = 3
  integer(c_int), parameter :: BT_F64 = 0, BT_F32 = 1, BT_I64 = 2, &
      BT_I32 = 3, BT_U8 = 4
  integer(c_int), parameter :: BT_PLACE_LOCAL = 0, BT_PLACE_INTERLEAVE = 1, &
      BT_PLACE_BLOCKS = 2
  integer(c_int), parameter :: BT_CHECKED = 0, BT_UNCHECKED = 1
  integer(c_int), parameter :: BT_MAX_DIMS = 8
  integer(c_int64_t), parameter :: BT_FOREVER = -1_c_int64_t

  ! ---- by-value structures, laid out as in C
  ! bt_options%struct_size: C's sizeof(bt_options) (baton/runtime.h), so the
  ! library reads this layout whatever its version; leave it as it is.
  type, bind(c) :: bt_options
    integer(c_size_t) :: struct_size = c_sizeof(0_c_size_t) + &
        2 * c_sizeof(0_c_int) + c_sizeof(c_null_ptr)
    integer(c_int) :: workers = 0
    integer(c_int) :: bind = BT_BIND_CORE
    type(c_ptr) :: topology = c_null_ptr
  end type bt_options

  type, bind(c) :: bt_range
    integer(c_int64_t) :: start, stop   ! [start, stop), 0-based
  end type bt_range

  type, bind(c) :: bt_slice
    integer(c_int64_t) :: id
  end type bt_slice

  type, bind(c) :: bt_view
    type(c_ptr) :: data
    integer(c_int) :: dtype, ndim, writable, numa
    integer(c_int64_t) :: shape(BT_MAX_DIMS), strides(BT_MAX_DIMS), &
        origin(BT_MAX_DIMS)
  end type bt_view

  ! Transfer types are type(c_ptr) handles (baton/type.h's const bt_type *),
  ! from bt_f_type(BT_TYPE_F64...) or bt_f_type_value; channels take them.
  integer(c_int), parameter :: BT_TYPE_F64 = 0, BT_TYPE_I64 = 1, &
      BT_TYPE_I32 = 2, BT_TYPE_SLICE = 3, BT_TYPE_PTR = 4

  ! ---- the C entry points
  interface
    ! status and version
    function bt_strerror_c(code) bind(c, name="bt_strerror") result(s)
      import :: c_int, c_ptr
      integer(c_int), value :: code
      type(c_ptr) :: s
    end function
    function bt_errmsg_c() bind(c, name="bt_errmsg") result(s)
      import :: c_ptr
      type(c_ptr) :: s
    end function
    function bt_version_c() bind(c, name="bt_version") result(s)
      import :: c_ptr
      type(c_ptr) :: s
    end function

    ! runtime
    function bt_runtime_create(opt, rt) bind(c) result(rc)
      import :: c_int, c_ptr, bt_options
      type(bt_options), intent(in) :: opt
      type(c_ptr), intent(out) :: rt
      integer(c_int) :: rc
    end function
    function bt_runtime_destroy(rt) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
      integer(c_int) :: rc
    end function
    function bt_runtime_workers(rt) bind(c) result(n)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
      integer(c_int) :: n
    end function
    function bt_runtime_numa_nodes(rt) bind(c) result(n)
      import :: c_int, c_ptr
      type(c_ptr), value :: rt
      integer(c_int) :: n
    end function
    function bt_self() bind(c) result(w)
      import :: c_int
      integer(c_int) :: w
    end function

    ! arrays (shape and strides in baton's order: see baton_array_create)
    function bt_array_create(rt, dtype, ndim, shape, place, a) bind(c) &
        result(rc)
      import :: c_int, c_int64_t, c_ptr
      type(c_ptr), value :: rt
      integer(c_int), value :: dtype, ndim, place
      integer(c_int64_t), intent(in) :: shape(*)
      type(c_ptr), intent(out) :: a
      integer(c_int) :: rc
    end function
    function bt_array_wrap(rt, data, dtype, ndim, shape, strides, a) &
        bind(c) result(rc)
      import :: c_int, c_int64_t, c_ptr
      type(c_ptr), value :: rt, data
      integer(c_int), value :: dtype, ndim
      integer(c_int64_t), intent(in) :: shape(*)
      type(c_ptr), value :: strides
      type(c_ptr), intent(out) :: a
      integer(c_int) :: rc
    end function
    function bt_array_release(a) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: a
      integer(c_int) :: rc
    end function
    function bt_array_ndim(a) bind(c) result(n)
      import :: c_int, c_ptr
      type(c_ptr), value :: a
      integer(c_int) :: n
    end function

    ! slices (region: ndim bt_range in baton's order, or c_null_ptr)
    function bt_array_own(a, region, timeout_ns, s) bind(c) result(rc)
      import :: c_int, c_int64_t, c_ptr, bt_slice
      type(c_ptr), value :: a, region
      integer(c_int64_t), value :: timeout_ns
      type(bt_slice), intent(out) :: s
      integer(c_int) :: rc
    end function
    function bt_array_borrow(a, region, timeout_ns, s) bind(c) result(rc)
      import :: c_int, c_int64_t, c_ptr, bt_slice
      type(c_ptr), value :: a, region
      integer(c_int64_t), value :: timeout_ns
      type(bt_slice), intent(out) :: s
      integer(c_int) :: rc
    end function
    function bt_slice_split(s, axis, parts, out) bind(c) result(rc)
      import :: c_int, bt_slice
      type(bt_slice), value :: s
      integer(c_int), value :: axis, parts
      type(bt_slice), intent(out) :: out(*)
      integer(c_int) :: rc
    end function
    function bt_slice_release(s) bind(c) result(rc)
      import :: c_int, bt_slice
      type(bt_slice), value :: s
      integer(c_int) :: rc
    end function
    function bt_slice_view(s, v) bind(c) result(rc)
      import :: c_int, bt_slice, bt_view
      type(bt_slice), value :: s
      type(bt_view), intent(out) :: v
      integer(c_int) :: rc
    end function

    ! kernels (bt_parallel_slices' fn: see slice_fn below)
    function bt_parallel_slices(rt, a, axis, writable, fn, ctx) bind(c) &
        result(rc)
      import :: c_int, c_ptr, c_funptr
      type(c_ptr), value :: rt, a
      integer(c_int), value :: axis, writable
      type(c_funptr), value :: fn
      type(c_ptr), value :: ctx
      integer(c_int) :: rc
    end function
    function bt_fill(rt, a, value) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: rt, a
      real(c_double), value :: value
      integer(c_int) :: rc
    end function
    function bt_axpy(rt, alpha, x, y) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: rt
      real(c_double), value :: alpha
      type(c_ptr), value :: x, y
      integer(c_int) :: rc
    end function
    function bt_nstream(rt, a, b, c, scalar) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: rt, a, b, c
      real(c_double), value :: scalar
      integer(c_int) :: rc
    end function
    function bt_dot(rt, x, y, out) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: rt, x, y
      real(c_double), intent(out) :: out
      integer(c_int) :: rc
    end function
    function bt_nrm2(rt, x, out) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: rt, x
      real(c_double), intent(out) :: out
      integer(c_int) :: rc
    end function
    function bt_sum(rt, x, out) bind(c) result(rc)
      import :: c_int, c_ptr, c_double
      type(c_ptr), value :: rt, x
      real(c_double), intent(out) :: out
      integer(c_int) :: rc
    end function

    ! channels (elem: c_loc of one element of the channel's type)
    ! t: bt_f_type(BT_TYPE_F64), bt_f_type_value(...)
    function bt_chan_create(t, capacity, ch) bind(c) result(rc)
      import :: c_int, c_ptr, c_size_t
      type(c_ptr), value :: t
      integer(c_size_t), value :: capacity
      type(c_ptr), intent(out) :: ch
      integer(c_int) :: rc
    end function
    function bt_chan_release(ch) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: ch
      integer(c_int) :: rc
    end function
    function bt_chan_close(ch) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: ch
      integer(c_int) :: rc
    end function
    function bt_send(ch, elem) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: ch, elem
      integer(c_int) :: rc
    end function
    function bt_recv(ch, elem) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: ch, elem
      integer(c_int) :: rc
    end function
    function bt_try_send(ch, elem) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: ch, elem
      integer(c_int) :: rc
    end function
    function bt_try_recv(ch, elem) bind(c) result(rc)
      import :: c_int, c_ptr
      type(c_ptr), value :: ch, elem
      integer(c_int) :: rc
    end function
    function bt_recv_timeout(ch, elem, ns) bind(c) result(rc)
      import :: c_int, c_ptr, c_int64_t
      type(c_ptr), value :: ch, elem
      integer(c_int64_t), value :: ns
      integer(c_int) :: rc
    end function

    ! transfer types (fortran/baton_f.c)
    function bt_f_type(which) bind(c) result(t)
      import :: c_int, c_ptr
      integer(c_int), value :: which   ! BT_TYPE_F64...: c_null_ptr if unknown
      type(c_ptr) :: t
    end function
    ! A plain value type of size bytes (an array section, a derived type),
    ! copied by channels; free it with bt_f_type_free once no channel uses it.
    function bt_f_type_value(name, size, t) bind(c) result(rc)
      import :: c_int, c_char, c_size_t, c_ptr
      character(kind=c_char), intent(in) :: name(*)
      integer(c_size_t), value :: size
      type(c_ptr), intent(out) :: t
      integer(c_int) :: rc
    end function
    subroutine bt_f_type_free(t) bind(c)
      import :: c_ptr
      type(c_ptr), value :: t
    end subroutine
  end interface

  ! The procedure bt_parallel_slices calls on each part, on a worker:
  ! pass c_funloc of a function with this interface.
  abstract interface
    function slice_fn(part, worker, ctx) bind(c) result(rc)
      import :: c_int, c_ptr, bt_slice
      type(bt_slice), value :: part
      integer(c_int), value :: worker
      type(c_ptr), value :: ctx
      integer(c_int) :: rc
    end function
  end interface

contains

  ! A C string as a Fortran string.
  function c_string(p) result(s)
    type(c_ptr), intent(in) :: p
    character(:), allocatable :: s
    character(kind=c_char), pointer :: chars(:)
    integer :: n
    interface
      function strlen(str) bind(c, name="strlen") result(len)
        import :: c_ptr, c_size_t
        type(c_ptr), value :: str
        integer(c_size_t) :: len
      end function
    end interface
    if (.not. c_associated(p)) then
      s = ""
      return
    end if
    n = int(strlen(p))
    call c_f_pointer(p, chars, [n])
    allocate(character(n) :: s)
    s = transfer(chars(1:n), s)
  end function c_string

  !> The description of a status code.
  function baton_strerror(code) result(s)
    integer(c_int), intent(in) :: code
    character(:), allocatable :: s
    s = c_string(bt_strerror_c(code))
  end function

  !> The calling thread's last failure, as a sentence with its values.
  function baton_errmsg() result(s)
    character(:), allocatable :: s
    s = c_string(bt_errmsg_c())
  end function

  !> The version of the library linked ("0.1.0").
  function baton_version() result(s)
    character(:), allocatable :: s
    s = c_string(bt_version_c())
  end function

  !> A new baton array for a Fortran shape: shape(1) is the fastest axis,
  !> as in Fortran; baton sees the axes reversed.
  function baton_array_create(rt, dtype, shape, place, a) result(rc)
    type(c_ptr), intent(in) :: rt
    integer(c_int), intent(in) :: dtype, place
    integer, intent(in) :: shape(:)
    type(c_ptr), intent(out) :: a
    integer(c_int) :: rc
    integer(c_int64_t) :: cshape(BT_MAX_DIMS)
    integer :: k, n
    n = size(shape)
    if (n < 1 .or. n > BT_MAX_DIMS) then
      rc = BT_EINVAL
      a = c_null_ptr
      return
    end if
    do k = 1, n
      cshape(k) = int(shape(n + 1 - k), c_int64_t)
    end do
    rc = bt_array_create(rt, dtype, int(n, c_int), cshape, place, a)
  end function

  !> Wrap contiguous Fortran memory (c_loc of its first element) of a
  !> Fortran shape as a baton array, without copying; the memory must
  !> outlive the array.
  function baton_array_wrap(rt, data, dtype, shape, a) result(rc)
    type(c_ptr), intent(in) :: rt, data
    integer(c_int), intent(in) :: dtype
    integer, intent(in) :: shape(:)
    type(c_ptr), intent(out) :: a
    integer(c_int) :: rc
    integer(c_int64_t) :: cshape(BT_MAX_DIMS)
    integer :: k, n
    n = size(shape)
    if (n < 1 .or. n > BT_MAX_DIMS) then
      rc = BT_EINVAL
      a = c_null_ptr
      return
    end if
    do k = 1, n
      cshape(k) = int(shape(n + 1 - k), c_int64_t)
    end do
    rc = bt_array_wrap(rt, data, dtype, int(n, c_int), cshape, c_null_ptr, a)
  end function

  !> A Fortran pointer p(:, :) on a 2-D f64 view whose rows (baton's last
  !> axis) are contiguous: p(i, j) is baton element [j-1, i-1] of the view.
  !> Returns BT_EINVAL for another dtype or rank, BT_ENOTSUP for a view
  !> whose rows are not contiguous (take it as 1-D rows instead).
  function baton_view_f64_2d(v, p) result(rc)
    type(bt_view), intent(in) :: v
    real(c_double), pointer, intent(out) :: p(:, :)
    integer(c_int) :: rc
    nullify(p)
    if (v%dtype /= BT_F64 .or. v%ndim /= 2) then
      rc = BT_EINVAL
      return
    end if
    if (v%strides(2) /= 1 .or. (v%shape(1) > 1 .and. &
        v%strides(1) /= v%shape(2))) then
      rc = BT_ENOTSUP
      return
    end if
    call c_f_pointer(v%data, p, [v%shape(2), v%shape(1)])
    rc = BT_OK
  end function

  !> A Fortran pointer p(:) on a 1-D f64 view (contiguous).
  function baton_view_f64_1d(v, p) result(rc)
    type(bt_view), intent(in) :: v
    real(c_double), pointer, intent(out) :: p(:)
    integer(c_int) :: rc
    nullify(p)
    if (v%dtype /= BT_F64 .or. v%ndim /= 1) then
      rc = BT_EINVAL
      return
    end if
    if (v%shape(1) > 1 .and. v%strides(1) /= 1) then
      rc = BT_ENOTSUP
      return
    end if
    call c_f_pointer(v%data, p, [v%shape(1)])
    rc = BT_OK
  end function

  !> Channels of values: send or receive one real(c_double).
  function baton_send_f64(ch, x) result(rc)
    type(c_ptr), intent(in) :: ch
    real(c_double), intent(in), target :: x
    integer(c_int) :: rc
    rc = bt_send(ch, c_loc(x))
  end function
  function baton_recv_f64(ch, x) result(rc)
    type(c_ptr), intent(in) :: ch
    real(c_double), intent(out), target :: x
    integer(c_int) :: rc
    rc = bt_recv(ch, c_loc(x))
  end function
  function baton_send_i64(ch, x) result(rc)
    type(c_ptr), intent(in) :: ch
    integer(c_int64_t), intent(in), target :: x
    integer(c_int) :: rc
    rc = bt_send(ch, c_loc(x))
  end function
  function baton_recv_i64(ch, x) result(rc)
    type(c_ptr), intent(in) :: ch
    integer(c_int64_t), intent(out), target :: x
    integer(c_int) :: rc
    rc = bt_recv(ch, c_loc(x))
  end function

  !> Channels of slices: the slice moves (zero-copy); after a successful
  !> send the sender's handle answers BT_EMOVED.
  function baton_send_slice(ch, s) result(rc)
    type(c_ptr), intent(in) :: ch
    type(bt_slice), intent(in), target :: s
    integer(c_int) :: rc
    rc = bt_send(ch, c_loc(s))
  end function
  function baton_recv_slice(ch, s) result(rc)
    type(c_ptr), intent(in) :: ch
    type(bt_slice), intent(out), target :: s
    integer(c_int) :: rc
    rc = bt_recv(ch, c_loc(s))
  end function
end module baton
