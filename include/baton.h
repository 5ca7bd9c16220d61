/* SPDX-License-Identifier: BSD-3-Clause */
/**
 * @file baton.h
 * @brief Umbrella header: everything but the MPI bridge (baton/mpi.h).
 */
#ifndef BATON_H
#define BATON_H

#include "baton/status.h"
#include "baton/version.h"
#include "baton/runtime.h"
#include "baton/type.h"
#include "baton/chan.h"
#include "baton/job.h"
#include "baton/box.h"
#include "baton/array.h"
#include "baton/kernels.h"
#include "baton/stats.h"

#endif /* BATON_H */
