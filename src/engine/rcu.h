/* SPDX-License-Identifier: MIT */
/*
 * rcu.h - the one place virq touches liburcu (memb flavour).
 *
 * The routing table and the irqfd lists are read under RCU and replaced whole, as KVM does with SRCU.
 * Debian 12's liburcu (0.13) is invisible to ThreadSanitizer, so this wrapper:
 *  - calls liburcu out of line (we never define _LGPL_SOURCE), so TSan sees only our code;
 *  - publishes and reads pointers with C11 release/acquire atomics instead of rcu_assign_pointer() and
 *    rcu_dereference(), which TSan understands;
 *  - tells TSan about each grace period: a read-side critical section "releases" a token when it ends,
 *    and virq_rcu_synchronize() "acquires" it, which is the happens-before edge a grace period provides.
 * Threads register lazily on their first read lock and unregister when they exit.
 */
#ifndef VIRQ_ENGINE_RCU_H
#define VIRQ_ENGINE_RCU_H

#include <stdatomic.h>

void virq_rcu_read_lock(void);
void virq_rcu_read_unlock(void);

/* Wait until every read-side critical section that began before the call has ended. Never call it
 * from inside a read-side critical section. */
void virq_rcu_synchronize(void);

/* Pointer publication (release) and read-side dereference (acquire) of an _Atomic pointer field. */
#define virq_rcu_assign(field, value) atomic_store_explicit(&(field), (value), memory_order_release)
#define virq_rcu_deref(field) atomic_load_explicit(&(field), memory_order_acquire)

#endif /* VIRQ_ENGINE_RCU_H */
