/* SPDX-License-Identifier: MIT */
/*
 * stats.h - per-GSI counters of a VM. Relaxed atomics: each counter is exact on its own, and a reader
 * that wants them to balance reads them after the traffic has stopped.
 */
#ifndef VIRQ_ENGINE_STATS_H
#define VIRQ_ENGINE_STATS_H

#include <stdatomic.h>
#include <stdint.h>

struct virq_gsi_stats {
	_Atomic uint64_t raised;
	_Atomic uint64_t delivered;
	_Atomic uint64_t coalesced;
	_Atomic uint64_t ignored;
	_Atomic uint64_t irqfd_signals;
	_Atomic uint64_t resamples;
	_Atomic uint64_t pended;
};

static inline void virq_count(_Atomic uint64_t *counter)
{
	atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

static inline uint64_t virq_counter_read(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

#endif /* VIRQ_ENGINE_STATS_H */
