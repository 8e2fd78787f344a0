/* SPDX-License-Identifier: MIT */
/*
 * latency.h - a log-linear latency histogram: 8 sub-buckets per power of two, so any percentile it
 * reports is within about 6% of the true value. Lock-free: one writer (the vCPU thread), any reader.
 */
#ifndef VIRQ_GUEST_LATENCY_H
#define VIRQ_GUEST_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>

#define VIRQ_LAT_SUB_BITS 3
#define VIRQ_LAT_BUCKETS (64 << VIRQ_LAT_SUB_BITS)

struct virq_latency_hist {
	_Atomic uint64_t count;
	_Atomic uint64_t max_ns;
	_Atomic uint32_t bucket[VIRQ_LAT_BUCKETS];
};

void virq_latency_record(struct virq_latency_hist *hist, uint64_t ns);
/* The @permille-th percentile (500 = median), 0 if empty. */
uint64_t virq_latency_percentile(const struct virq_latency_hist *hist, unsigned permille);

#endif /* VIRQ_GUEST_LATENCY_H */
