/* SPDX-License-Identifier: MIT */
/*
 * rcu.c - thread registration for liburcu's memb flavour and the TSan annotations of rcu.h.
 */
#include "engine/rcu.h"

#include <pthread.h>
#include <stdbool.h>
#include <urcu/urcu-memb.h>

#ifdef VIRQ_TSAN
#include <sanitizer/tsan_interface.h>
/* Stands for "a read-side critical section has ended"; its address is all that matters. */
static char virq_rcu_tsan_token;
#endif

static pthread_key_t virq_rcu_key;
static pthread_once_t virq_rcu_key_once = PTHREAD_ONCE_INIT;
static _Thread_local bool virq_rcu_registered;

static void virq_rcu_thread_exit(void *unused)
{
	urcu_memb_unregister_thread();
}

static void virq_rcu_make_key(void)
{
	pthread_key_create(&virq_rcu_key, virq_rcu_thread_exit);
}

/* liburcu's memb readers must be registered; any thread may call into virq, so register on first use
 * and let the key's destructor unregister the thread when it exits. */
static void virq_rcu_register_self(void)
{
	pthread_once(&virq_rcu_key_once, virq_rcu_make_key);
	urcu_memb_register_thread();
	pthread_setspecific(virq_rcu_key, &virq_rcu_registered);
	virq_rcu_registered = true;
}

void virq_rcu_read_lock(void)
{
	if (!virq_rcu_registered)
		virq_rcu_register_self();
	urcu_memb_read_lock();
}

void virq_rcu_read_unlock(void)
{
#ifdef VIRQ_TSAN
	__tsan_release(&virq_rcu_tsan_token);
#endif
	urcu_memb_read_unlock();
}

void virq_rcu_synchronize(void)
{
	urcu_memb_synchronize_rcu();
#ifdef VIRQ_TSAN
	__tsan_acquire(&virq_rcu_tsan_token);
#endif
}
