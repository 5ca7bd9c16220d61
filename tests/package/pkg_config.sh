#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Build tests/package/downstream/app.c with a plain pkg-config command line
# against the staged install, and run it.
set -eu
stage=$1 src=$2 work=$3 cc=$4 mpi=$5
mkdir -p "$work"
libdir=$(ls -d "$stage"/lib*/pkgconfig | head -n 1)
export PKG_CONFIG_PATH="$libdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
# shellcheck disable=SC2046
"$cc" -std=c11 -o "$work/app" "$src" $(pkg-config --cflags --libs baton)
LD_LIBRARY_PATH="$(dirname "$libdir")" "$work/app"
if [ "$mpi" = 1 ]; then
  pkg-config --exists --print-errors baton-mpi
  echo "baton-mpi: $(pkg-config --libs baton-mpi)"
fi
