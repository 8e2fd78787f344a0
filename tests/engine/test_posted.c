/* SPDX-License-Identifier: MIT */
/*
 * test_posted.c - per-vCPU posted interrupts (src/engine/posted.c): KVM's vCPU flow over a VT-d
 * descriptor. Unit: a running vCPU folds a post with no wakeup; SN only records and the next run folds;
 * a blocked vCPU is kicked by the wakeup handler exactly when its ON is set, and no other vCPU is;
 * block() reports a post that raced with the NV switch; stale notifications change nothing; the handler
 * through the process-wide notification slot. Stress (also under ThreadSanitizer): posters against a vCPU
 * thread cycling run / fold / block / sleep / unblock / sched-out across two pCPU lists: no vector lost
 * (posted - coalesced == folded), no wakeup lost (a sleep never times out with ON set), wake-up latency
 * bounded, and a bystander blocked on the same list never kicked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bypass/notify.h"
#include "engine/posted.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* A stand-in for the engine's vCPU: its kick protocol (vcpu.h) over an eventfd. */
enum { FAKE_RUNNING, FAKE_HALTED, FAKE_WAKING };

struct fake_vcpu {
	struct virq_posted_vcpu pv;
	_Atomic uint64_t irr[4];
	_Atomic int mode;
	_Atomic bool event;
	_Atomic uint64_t kicks;
	int wake_fd;
};

static void fake_kick(void *ctx)
{
	struct fake_vcpu *v = ctx;
	int halted = FAKE_HALTED;
	uint64_t one = 1;

	atomic_fetch_add(&v->kicks, 1);
	atomic_store(&v->event, true);
	if (atomic_compare_exchange_strong(&v->mode, &halted, FAKE_WAKING))
		assert_int_equal(write(v->wake_fd, &one, sizeof(one)), sizeof(one));
}

static const struct virq_posted_ops fake_ops = {.kick = fake_kick};

static void fake_init(struct fake_vcpu *v, struct virq_posted_pcpus *p)
{
	for (unsigned i = 0; i < 4; i++)
		atomic_init(&v->irr[i], 0);
	atomic_init(&v->mode, FAKE_RUNNING);
	atomic_init(&v->event, false);
	atomic_init(&v->kicks, 0);
	v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(v->wake_fd >= 0);
	virq_posted_vcpu_init(&v->pv, p, &fake_ops, v);
}

static void fake_fini(struct fake_vcpu *v)
{
	virq_posted_vcpu_destroy(&v->pv);
	close(v->wake_fd);
}

static bool irr_has(struct fake_vcpu *v, uint8_t vec)
{
	return atomic_load(&v->irr[vec >> 6]) & (1ull << (vec & 63));
}

static uint64_t ctl(struct fake_vcpu *v)
{
	return virq_posted_desc_control(&v->pv.desc);
}

static uint8_t nv_of(uint64_t c)
{
	return (uint8_t)((c & VIRQ_PID_NV_MASK) >> VIRQ_PID_NV_SHIFT);
}

static struct virq_posted_pcpus *pcpus_new(void)
{
	struct virq_posted_pcpus *p = aligned_alloc(64, sizeof(*p));
	assert_non_null(p);
	assert_int_equal(virq_posted_pcpus_init(p), 0);
	return p;
}

static void pcpus_free(struct virq_posted_pcpus *p)
{
	virq_posted_pcpus_destroy(p);
	free(p);
}

static void test_init_state(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();
	struct fake_vcpu v;

	fake_init(&v, p);
	assert_int_equal(virq_posted_vcpu_desc_addr(&v.pv) % 64, 0);
	assert_true(ctl(&v) & VIRQ_PID_SN); /* not running until running() */
	assert_false(virq_posted_vcpu_blocked(&v.pv));
	virq_posted_vcpu_running(&v.pv, 3);
	assert_false(ctl(&v) & (VIRQ_PID_SN | VIRQ_PID_ON));
	assert_int_equal(nv_of(ctl(&v)), VIRQ_POSTED_INTR_VECTOR);
	assert_int_equal(ctl(&v) >> VIRQ_PID_NDST_SHIFT, 3);
	assert_true(virq_posted_this_pcpu() >= 0 && virq_posted_this_pcpu() < VIRQ_POSTED_NR_PCPUS);
	fake_fini(&v);
	pcpus_free(p);
}

static void test_running_fold(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();
	struct fake_vcpu v;

	fake_init(&v, p);
	virq_posted_vcpu_running(&v.pv, 3);
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 0); /* nothing: ON clear */
	struct virq_posted_result r = virq_posted_desc_post(&v.pv.desc, 0x41, false);
	assert_true(r.notify);
	assert_int_equal(r.nv, VIRQ_POSTED_INTR_VECTOR);
	assert_int_equal(r.ndst, 3);
	virq_posted_notify_handler(p, r.ndst, r.nv);
	assert_int_equal(atomic_load(&v.kicks), 0); /* running: no wakeup, the vCPU polls ON */
	assert_int_equal(atomic_load(&p->notify_running), 1);
	assert_true(virq_posted_vcpu_pending(&v.pv));
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 1);
	assert_true(irr_has(&v, 0x41));
	assert_false(ctl(&v) & VIRQ_PID_ON);
	assert_false(virq_posted_desc_pir_pending(&v.pv.desc));
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 0);
	assert_int_equal(atomic_load(&v.pv.folded), 1);
	fake_fini(&v);
	pcpus_free(p);
}

/*
 * Re-targeting a posted vector takes its pending request from the old vCPU's PIR, unless the bit also
 * carries a software request of that vCPU's (stamped by the LAPIC override): that one stays, and is
 * folded there.
 */
static void test_retarget_takes_only_device_requests(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();
	struct fake_vcpu v;

	fake_init(&v, p);
	virq_posted_vcpu_running(&v.pv, 3);
	assert_true(virq_posted_vcpu_of_desc(virq_posted_vcpu_desc_addr(&v.pv)) == &v.pv);
	assert_false(virq_posted_vcpu_take_device_request(&v.pv, 0x41)); /* nothing pending */

	virq_posted_desc_post(&v.pv.desc, 0x41, false); /* a device post: no stamp */
	assert_true(virq_posted_vcpu_take_device_request(&v.pv, 0x41));
	assert_false(virq_posted_desc_pir_pending(&v.pv.desc));

	atomic_store(&v.pv.raise_ns[0x42], 12345); /* a software post: stamp, then the bit */
	virq_posted_desc_post(&v.pv.desc, 0x42, true);
	assert_false(virq_posted_vcpu_take_device_request(&v.pv, 0x42));
	assert_true(virq_posted_desc_pir_pending(&v.pv.desc));
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 1);
	assert_true(irr_has(&v, 0x42));
	fake_fini(&v);
	pcpus_free(p);
}

static void test_sn_records_then_next_run_folds(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();
	struct fake_vcpu v;

	fake_init(&v, p);
	virq_posted_vcpu_running(&v.pv, 1);
	virq_posted_vcpu_sched_out(&v.pv);
	struct virq_posted_result r = virq_posted_desc_post(&v.pv.desc, 0x55, false);
	assert_false(r.notify); /* SN: only recorded */
	assert_false(virq_posted_vcpu_pending(&v.pv));
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 0);
	assert_false(irr_has(&v, 0x55));
	virq_posted_vcpu_running(&v.pv, 2); /* moved pCPU too: NDST follows */
	assert_int_equal(ctl(&v) >> VIRQ_PID_NDST_SHIFT, 2);
	assert_true(virq_posted_vcpu_pending(&v.pv)); /* vcpu_load set ON for the recorded request */
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 1);
	assert_true(irr_has(&v, 0x55));
	fake_fini(&v);
	pcpus_free(p);
}

static void test_blocked_wakeup_kicks_exactly_the_target(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();
	struct fake_vcpu a, b, c;

	fake_init(&a, p);
	fake_init(&b, p);
	fake_init(&c, p);
	virq_posted_vcpu_running(&a.pv, 2);
	virq_posted_vcpu_running(&b.pv, 2);
	virq_posted_vcpu_running(&c.pv, 5);
	assert_false(virq_posted_vcpu_block(&a.pv, 2));
	assert_false(virq_posted_vcpu_block(&b.pv, 2));
	assert_false(virq_posted_vcpu_block(&c.pv, 5));
	assert_true(virq_posted_vcpu_blocked(&a.pv));
	assert_int_equal(nv_of(ctl(&a)), VIRQ_POSTED_INTR_WAKEUP_VECTOR);
	atomic_store(&a.mode, FAKE_HALTED);

	struct virq_posted_result r = virq_posted_desc_post(&a.pv.desc, 0x61, false);
	assert_true(r.notify);
	assert_int_equal(r.nv, VIRQ_POSTED_INTR_WAKEUP_VECTOR);
	assert_int_equal(r.ndst, 2);
	virq_posted_notify_handler(p, r.ndst, r.nv);
	assert_int_equal(atomic_load(&a.kicks), 1);
	assert_int_equal(atomic_load(&a.mode), FAKE_WAKING); /* the halted vCPU was woken */
	assert_int_equal(atomic_load(&b.kicks), 0);           /* same list, ON clear */
	assert_int_equal(atomic_load(&c.kicks), 0);           /* other list */

	/* A second post finds ON set: no second notification until a fold. */
	assert_false(virq_posted_desc_post(&a.pv.desc, 0x62, false).notify);
	virq_posted_vcpu_unblock(&a.pv);
	assert_false(virq_posted_vcpu_blocked(&a.pv));
	assert_int_equal(nv_of(ctl(&a)), VIRQ_POSTED_INTR_VECTOR);
	assert_int_equal(virq_posted_vcpu_fold(&a.pv, a.irr), 2);
	assert_true(irr_has(&a, 0x61) && irr_has(&a, 0x62));

	/* The list still holds b (and only b): a wakeup for b now reaches b alone. */
	r = virq_posted_desc_post(&b.pv.desc, 0x70, false);
	virq_posted_notify_handler(p, r.ndst, r.nv);
	assert_int_equal(atomic_load(&b.kicks), 1);
	assert_int_equal(atomic_load(&a.kicks), 1);
	assert_int_equal(atomic_load(&p->kicks), 2);
	fake_fini(&a);
	fake_fini(&b);
	fake_fini(&c);
	pcpus_free(p);
}

static void test_block_sees_post_before_nv_switch(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();
	struct fake_vcpu v;

	fake_init(&v, p);
	virq_posted_vcpu_running(&v.pv, 4);
	/* The post reads NV = 0xf2 and its notification wakes nobody ... */
	struct virq_posted_result r = virq_posted_desc_post(&v.pv.desc, 0x33, false);
	virq_posted_notify_handler(p, r.ndst, r.nv);
	/* ... so block must report it (KVM's self-IPI) instead of letting the vCPU sleep. */
	assert_true(virq_posted_vcpu_block(&v.pv, 4));
	assert_int_equal(atomic_load(&v.pv.block_pending), 1);
	virq_posted_vcpu_unblock(&v.pv);
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 1);
	/* Re-blocking on another list moves it. */
	assert_false(virq_posted_vcpu_block(&v.pv, 6));
	assert_false(virq_posted_vcpu_block(&v.pv, 7));
	assert_int_equal(v.pv.blocked_pcpu, 7);
	assert_int_equal(ctl(&v) >> VIRQ_PID_NDST_SHIFT, 7);
	r = virq_posted_desc_post(&v.pv.desc, 0x34, false);
	virq_posted_notify_handler(p, 6, VIRQ_POSTED_INTR_WAKEUP_VECTOR); /* stale: old list */
	assert_int_equal(atomic_load(&v.kicks), 0);
	virq_posted_notify_handler(p, r.ndst, r.nv);
	assert_int_equal(atomic_load(&v.kicks), 1);
	/* running() straight from blocked takes it off the list too. */
	virq_posted_vcpu_running(&v.pv, 7);
	assert_false(virq_posted_vcpu_blocked(&v.pv));
	assert_int_equal(nv_of(ctl(&v)), VIRQ_POSTED_INTR_VECTOR);
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 1);
	fake_fini(&v);
	pcpus_free(p);
}

static void test_stale_and_stray_notifications(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();

	virq_posted_notify_handler(p, VIRQ_POSTED_NR_PCPUS + 5, VIRQ_POSTED_INTR_WAKEUP_VECTOR);
	virq_posted_notify_handler(p, 0, 0x30);
	virq_posted_notify_handler(p, 1, VIRQ_POSTED_INTR_WAKEUP_VECTOR); /* empty list */
	assert_int_equal(atomic_load(&p->notify_stray), 2);
	assert_int_equal(atomic_load(&p->notify_wakeup), 1);
	assert_int_equal(atomic_load(&p->kicks), 0);
	pcpus_free(p);
}

static void test_through_notification_slot(void **state)
{
	(void)state;
	struct virq_posted_pcpus *p = pcpus_new();
	struct fake_vcpu v;

	fake_init(&v, p);
	assert_int_equal(virq_posted_pcpus_install(p), 0);
	assert_int_equal(virq_posted_pcpus_install(p), -EBUSY);
	virq_posted_vcpu_running(&v.pv, 9);
	assert_false(virq_posted_vcpu_block(&v.pv, 9));
	struct virq_posted_result r = virq_posted_desc_post(&v.pv.desc, 0x99, false);
	assert_true(virq_bypass_notify(r.ndst, r.nv)); /* what the host's IOMMU does */
	assert_int_equal(atomic_load(&v.kicks), 1);
	virq_posted_pcpus_remove();
	virq_posted_vcpu_unblock(&v.pv);
	assert_int_equal(virq_posted_vcpu_fold(&v.pv, v.irr), 1);
	fake_fini(&v);
	pcpus_free(p);
}

/* ---- stress: posters against a vCPU cycling through every state ---- */

#define STRESS_POSTERS 2
#define STRESS_SLEEP_TIMEOUT_MS 5000
#define STRESS_WAKE_BOUND_NS 2000000000ull /* generous: TSan on 2 cores */

struct stress {
	struct virq_posted_pcpus *p;
	struct fake_vcpu vcpu, bystander;
	_Atomic bool stop;
	_Atomic uint64_t posted, coalesced, notified;
	_Atomic uint64_t notify_ns;     /* start time of the latest post that notified the wakeup vector */
	uint64_t folded, sleeps, wakes, max_wake_ns, lost; /* vCPU thread only */
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct poster_arg {
	struct stress *s;
	unsigned seed;
};

static void *poster(void *arg)
{
	struct poster_arg *a = arg;
	struct stress *s = a->s;
	unsigned seed = a->seed;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		uint8_t vec = (uint8_t)(32 + rand_r(&seed) % 224);
		uint64_t t = now_ns();
		struct virq_posted_result r = virq_posted_desc_post(&s->vcpu.pv.desc, vec, false);
		atomic_fetch_add(&s->posted, 1);
		if (r.coalesced)
			atomic_fetch_add(&s->coalesced, 1);
		if (r.notify) {
			if (r.nv == VIRQ_POSTED_INTR_WAKEUP_VECTOR)
				atomic_store(&s->notify_ns, t);
			atomic_fetch_add(&s->notified, 1);
			virq_posted_notify_handler(s->p, r.ndst, r.nv);
		}
		if (rand_r(&seed) % 8 == 0)
			usleep(rand_r(&seed) % 200);
	}
	return NULL;
}

static void stress_fold(struct stress *s)
{
	uint64_t irr[4];
	s->folded += virq_posted_vcpu_fold(&s->vcpu.pv, s->vcpu.irr);
	for (unsigned i = 0; i < 4; i++) /* the guest "takes" everything: IRR back to empty */
		irr[i] = atomic_exchange(&s->vcpu.irr[i], 0);
	(void)irr;
}

/* hlt with IF=1, as vcpu_halt.c would do it with posted interrupts wired in. */
static void stress_halt(struct stress *s, int pcpu)
{
	struct fake_vcpu *v = &s->vcpu;
	uint64_t cnt, start = now_ns();

	if (virq_posted_vcpu_block(&v->pv, pcpu)) {
		virq_posted_vcpu_unblock(&v->pv);
		return; /* a post raced with the NV switch: do not sleep */
	}
	for (;;) {
		atomic_store(&v->mode, FAKE_HALTED);
		if (virq_posted_vcpu_pending(&v->pv) || atomic_exchange(&v->event, false))
			break;
		s->sleeps++;
		struct pollfd pfd = {.fd = v->wake_fd, .events = POLLIN};
		int n = poll(&pfd, 1, STRESS_SLEEP_TIMEOUT_MS);
		if (n == 0) {
			/* Nobody woke us: fine only if nothing is waiting with ON set. */
			if (virq_posted_desc_on(&v->pv.desc))
				s->lost++;
			if (atomic_load(&s->stop))
				break;
			continue;
		}
		assert_int_equal(read(v->wake_fd, &cnt, sizeof(cnt)), sizeof(cnt));
		s->wakes++;
		/* Latency of a genuine wakeup: from the post that set ON (and so notified 0xf1) to here. A
		 * late write from an earlier wakeup (ON clear) or a post not yet stamped is not measured. */
		uint64_t t = atomic_load(&s->notify_ns);
		if (virq_posted_desc_on(&v->pv.desc) && t >= start) {
			uint64_t lat = now_ns() - t;
			if (lat > s->max_wake_ns)
				s->max_wake_ns = lat;
		}
	}
	atomic_store(&v->mode, FAKE_RUNNING);
	virq_posted_vcpu_unblock(&v->pv);
}

static void *vcpu_thread(void *arg)
{
	struct stress *s = arg;
	unsigned seed = 7;
	int pcpu = 1;

	virq_posted_vcpu_running(&s->vcpu.pv, pcpu);
	while (!atomic_load(&s->stop)) {
		for (unsigned i = 0; i < 50; i++) /* ops, each boundary folds */
			stress_fold(s);
		switch (rand_r(&seed) % 4) {
		case 0:
		case 1:
			stress_halt(s, pcpu);
			break;
		case 2: /* KVM_RUN returns: SN, away for a while, back on (maybe) another pCPU */
			virq_posted_vcpu_sched_out(&s->vcpu.pv);
			usleep(rand_r(&seed) % 100);
			pcpu = pcpu == 1 ? 2 : 1;
			break;
		default:
			break;
		}
		virq_posted_vcpu_running(&s->vcpu.pv, pcpu);
	}
	return NULL;
}

static void test_stress_no_lost_vector_or_wakeup(void **state)
{
	(void)state;
	struct stress *s = aligned_alloc(64, sizeof(*s));
	pthread_t posters[STRESS_POSTERS], vt;
	struct poster_arg pa[STRESS_POSTERS];

	assert_non_null(s);
	*s = (struct stress){0};
	s->p = pcpus_new();
	fake_init(&s->vcpu, s->p);
	fake_init(&s->bystander, s->p);
	virq_posted_vcpu_running(&s->bystander.pv, 1);
	assert_false(virq_posted_vcpu_block(&s->bystander.pv, 1)); /* sits on list 1 throughout */

	assert_int_equal(pthread_create(&vt, NULL, vcpu_thread, s), 0);
	for (unsigned i = 0; i < STRESS_POSTERS; i++) {
		pa[i] = (struct poster_arg){.s = s, .seed = 100 + i};
		assert_int_equal(pthread_create(&posters[i], NULL, poster, &pa[i]), 0);
	}
	usleep(getenv("VIRQ_STRESS_LONG") ? 5000000 : 1000000);
	atomic_store(&s->stop, true);
	for (unsigned i = 0; i < STRESS_POSTERS; i++)
		pthread_join(posters[i], NULL);
	/* Posters are done. A halted vCPU with ON set would be a lost wakeup; then end its sleep. */
	usleep(50000);
	bool lost_at_end = atomic_load(&s->vcpu.mode) == FAKE_HALTED && virq_posted_desc_on(&s->vcpu.pv.desc);
	fake_kick(&s->vcpu);
	pthread_join(vt, NULL);

	virq_posted_vcpu_running(&s->vcpu.pv, 1); /* last vcpu_load: sets ON for anything recorded */
	stress_fold(s);
	print_message("posted %lu coalesced %lu folded %lu notified %lu sleeps %lu wakes %lu max wake %lu ns\n",
		      (unsigned long)s->posted, (unsigned long)s->coalesced, (unsigned long)s->folded,
		      (unsigned long)s->notified, (unsigned long)s->sleeps, (unsigned long)s->wakes,
		      (unsigned long)s->max_wake_ns);
	assert_true(s->posted > 1000);
	assert_int_equal(s->posted - s->coalesced, s->folded);
	assert_false(virq_posted_desc_pir_pending(&s->vcpu.pv.desc));
	assert_int_equal(s->lost, 0);
	assert_false(lost_at_end);
	assert_true(s->wakes > 0);
	assert_true(s->max_wake_ns < STRESS_WAKE_BOUND_NS);
	assert_int_equal(atomic_load(&s->bystander.kicks), 0);

	fake_fini(&s->vcpu);
	fake_fini(&s->bystander);
	pcpus_free(s->p);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_state),
		cmocka_unit_test(test_running_fold),
		cmocka_unit_test(test_retarget_takes_only_device_requests),
		cmocka_unit_test(test_sn_records_then_next_run_folds),
		cmocka_unit_test(test_blocked_wakeup_kicks_exactly_the_target),
		cmocka_unit_test(test_block_sees_post_before_nv_switch),
		cmocka_unit_test(test_stale_and_stray_notifications),
		cmocka_unit_test(test_through_notification_slot),
		cmocka_unit_test(test_stress_no_lost_vector_or_wakeup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
