/* SPDX-License-Identifier: MIT */
/*
 * test_posted_desc.c - the VT-d posted-interrupt descriptor: its bit layout (ON 256, SN 257, NV 279:272,
 * NDST 319:288), posting (PIR set, ON test-and-set, notify only when ON was clear and SN clear or
 * urgent, coalescing), folding (ON cleared, PIR taken once), SN and NV/NDST changes, the notification
 * slot, and many posters against one folder that folds only when notified (stress): every post is
 * folded exactly once or counted as coalesced, and no request is left in PIR without ON.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bypass/notify.h"
#include "bypass/posted_desc.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

static void raw(struct virq_posted_desc *d, uint8_t out[64])
{
	memcpy(out, (const void *)d, 64);
}

static void test_layout(void **state)
{
	(void)state;
	struct virq_posted_desc d;
	uint8_t b[64];

	assert_int_equal(sizeof(d), 64);
	assert_int_equal(_Alignof(struct virq_posted_desc), 64);
	virq_posted_desc_init(&d, 0xf2, 0x12345678);
	raw(&d, b);
	assert_int_equal(b[32], 0);          /* ON, SN clear */
	assert_int_equal(b[34], 0xf2);       /* NV: bits 279:272 = byte 34 */
	assert_int_equal(b[36] | b[37] << 8 | b[38] << 16 | (uint32_t)b[39] << 24, 0x12345678); /* NDST */
	virq_posted_desc_post(&d, 0x45, false);
	virq_posted_desc_set_sn(&d);
	raw(&d, b);
	assert_int_equal(b[0x45 / 8], 1 << (0x45 % 8)); /* PIR bit 0x45 */
	assert_int_equal(b[32], 3);                     /* ON = bit 256, SN = bit 257 */
	for (unsigned i = 40; i < 64; i++)
		assert_int_equal(b[i], 0);
}

static void test_post_and_fold(void **state)
{
	(void)state;
	struct virq_posted_desc d;
	uint64_t irr[4] = {0};

	virq_posted_desc_init(&d, 0xf2, 3);
	struct virq_posted_result r = virq_posted_desc_post(&d, 0x20, false);
	assert_true(r.notify);
	assert_false(r.coalesced);
	assert_int_equal(r.nv, 0xf2);
	assert_int_equal(r.ndst, 3);
	assert_true(virq_posted_desc_on(&d));
	/* ON set: further posts only record. */
	r = virq_posted_desc_post(&d, 0xff, false);
	assert_false(r.notify);
	assert_false(r.coalesced);
	r = virq_posted_desc_post(&d, 0x20, false);
	assert_false(r.notify);
	assert_true(r.coalesced);
	assert_int_equal(virq_posted_desc_fold(&d, irr), 2);
	assert_int_equal(irr[0], 1ull << 32);
	assert_int_equal(irr[3], 1ull << 63);
	assert_false(virq_posted_desc_on(&d));
	assert_false(virq_posted_desc_pir_pending(&d));
	assert_int_equal(virq_posted_desc_fold(&d, irr), 0);
	/* After a fold the next post notifies again. */
	assert_true(virq_posted_desc_post(&d, 0x21, false).notify);
}

static void test_suppress_and_urgent(void **state)
{
	(void)state;
	struct virq_posted_desc d;
	uint64_t pir[4];

	virq_posted_desc_init(&d, 0xf2, 1);
	virq_posted_desc_set_sn(&d);
	struct virq_posted_result r = virq_posted_desc_post(&d, 0x30, false);
	assert_false(r.notify); /* SN: only recorded */
	assert_false(virq_posted_desc_on(&d));
	assert_true(virq_posted_desc_pir_pending(&d));
	r = virq_posted_desc_post(&d, 0x31, true);
	assert_true(r.notify); /* URG overrides SN */
	assert_true(virq_posted_desc_take(&d, pir));
	assert_int_equal(pir[0], 3ull << 48);

	/* vcpu_load's pattern: PIR left under SN, SN cleared, then ON set so it is processed. */
	virq_posted_desc_post(&d, 0x40, false);
	virq_posted_desc_clear_sn(&d);
	assert_false(virq_posted_desc_on(&d));
	assert_false(virq_posted_desc_test_and_set_on(&d));
	assert_true(virq_posted_desc_test_and_set_on(&d));
	virq_posted_desc_take(&d, pir);
	/* A coalesced post still runs the ON check, as the hardware does. */
	virq_posted_desc_set_sn(&d);
	virq_posted_desc_post(&d, 0x50, false);
	virq_posted_desc_clear_sn(&d);
	r = virq_posted_desc_post(&d, 0x50, false);
	assert_true(r.coalesced);
	assert_true(r.notify);
}

static void test_nv_ndst(void **state)
{
	(void)state;
	struct virq_posted_desc d;

	virq_posted_desc_init(&d, VIRQ_POSTED_INTR_VECTOR, 0);
	virq_posted_desc_post(&d, 0x22, false);
	virq_posted_desc_set_sn(&d);
	virq_posted_desc_set_nv_ndst(&d, VIRQ_POSTED_INTR_WAKEUP_VECTOR, 0xabcdef01);
	uint64_t c = virq_posted_desc_control(&d);
	assert_int_equal(c & (VIRQ_PID_ON | VIRQ_PID_SN), VIRQ_PID_ON | VIRQ_PID_SN);
	assert_int_equal((c & VIRQ_PID_NV_MASK) >> VIRQ_PID_NV_SHIFT, VIRQ_POSTED_INTR_WAKEUP_VECTOR);
	assert_int_equal(c >> VIRQ_PID_NDST_SHIFT, 0xabcdef01);
	virq_posted_desc_clear_sn(&d);
	uint64_t pir[4];
	virq_posted_desc_take(&d, pir);
	struct virq_posted_result r = virq_posted_desc_post(&d, 0x22, false);
	assert_int_equal(r.nv, VIRQ_POSTED_INTR_WAKEUP_VECTOR);
	assert_int_equal(r.ndst, 0xabcdef01);
}

/* ---- the notification slot ---- */

static atomic_uint notes;
static _Atomic uint32_t last_ndst;
static _Atomic uint8_t last_nv;

static void note_handler(void *ctx, uint32_t ndst, uint8_t nv)
{
	atomic_fetch_add((atomic_uint *)ctx, 1);
	last_ndst = ndst;
	last_nv = nv;
}

static void test_notify_slot(void **state)
{
	(void)state;
	struct virq_bypass_notify_stats s0, s1;

	virq_bypass_notify_stats(&s0);
	assert_false(virq_bypass_notify(1, 0xf2)); /* nobody installed: dropped */
	assert_int_equal(virq_bypass_notify_install(NULL, NULL), -EINVAL);
	assert_int_equal(virq_bypass_notify_install(note_handler, &notes), 0);
	assert_int_equal(virq_bypass_notify_install(note_handler, &notes), -EBUSY);
	assert_true(virq_bypass_notify(9, 0xf1));
	assert_int_equal(atomic_load(&notes), 1);
	assert_int_equal(last_ndst, 9);
	assert_int_equal(last_nv, 0xf1);
	virq_bypass_notify_remove();
	virq_bypass_notify_remove();
	assert_false(virq_bypass_notify(9, 0xf1));
	virq_bypass_notify_stats(&s1);
	assert_int_equal(s1.sent - s0.sent, 1);
	assert_int_equal(s1.dropped - s0.dropped, 2);
}

/* ---- stress: many posters, one folder ---- */

#define POSTERS 3
#define POSTS   100000

struct stress {
	struct virq_posted_desc d;
	atomic_uint notified;             /* notifications the posters sent */
	atomic_bool done;
	_Atomic uint64_t posted[256], coalesced[256];
	uint64_t folded[256];             /* folder thread only */
	atomic_uint removals;             /* the notify slot churn thread */
};

struct poster_arg {
	struct stress *s;
	unsigned id;
};

static void *poster(void *arg)
{
	struct poster_arg *a = arg;
	struct stress *s = a->s;
	uint32_t x = 0x9e3779b9u * (a->id + 1);

	for (unsigned i = 0; i < POSTS; i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		uint8_t v = (uint8_t)(x % 24) + 0x20; /* a narrow range, so coalescing happens */
		struct virq_posted_result r = virq_posted_desc_post(&s->d, v, false);
		atomic_fetch_add_explicit(&s->posted[v], 1, memory_order_relaxed);
		if (r.coalesced)
			atomic_fetch_add_explicit(&s->coalesced[v], 1, memory_order_relaxed);
		if (r.notify) {
			virq_bypass_notify(r.ndst, r.nv);
			atomic_fetch_add(&s->notified, 1);
		}
		if (i % 16 == 0)
			sched_yield(); /* 2 cores: give the folder its turns, so folds interleave with posts */
	}
	return NULL;
}

static void fold_into(struct stress *s)
{
	uint64_t pir[4];
	if (!virq_posted_desc_take(&s->d, pir))
		return;
	for (unsigned v = 0; v < 256; v++)
		if (pir[v / 64] & (1ull << (v % 64)))
			s->folded[v]++;
}

/* The folder acts only on a notification, like a vCPU that folds on the posted-interrupt vector. */
static void *folder(void *arg)
{
	struct stress *s = arg;
	unsigned seen = 0;

	while (!atomic_load(&s->done)) {
		unsigned n = atomic_load(&s->notified);
		if (n == seen) {
			sched_yield();
			continue;
		}
		seen = n;
		fold_into(s);
	}
	return NULL;
}

/* Installs and removes a handler while notifications fly: removal must wait out calls in flight. */
static void *slot_churn(void *arg)
{
	struct stress *s = arg;
	while (!atomic_load(&s->done)) {
		atomic_uint ctx = 0;
		if (virq_bypass_notify_install(note_handler, &ctx) == 0) {
			sched_yield();
			virq_bypass_notify_remove(); /* ctx dies with this frame: no call may follow */
			atomic_fetch_add(&s->removals, 1);
		}
	}
	return NULL;
}

static void test_stress_posters_one_folder(void **state)
{
	(void)state;
	static struct stress s;
	pthread_t p[POSTERS], f, churn;
	struct poster_arg args[POSTERS];

	virq_posted_desc_init(&s.d, VIRQ_POSTED_INTR_VECTOR, 0);
	pthread_create(&f, NULL, folder, &s);
	pthread_create(&churn, NULL, slot_churn, &s);
	for (unsigned i = 0; i < POSTERS; i++) {
		args[i] = (struct poster_arg){.s = &s, .id = i};
		pthread_create(&p[i], NULL, poster, &args[i]);
	}
	for (unsigned i = 0; i < POSTERS; i++)
		pthread_join(p[i], NULL);
	/* Let the folder catch up with the last notification, then stop it. */
	while (virq_posted_desc_on(&s.d))
		sched_yield();
	atomic_store(&s.done, true);
	pthread_join(f, NULL);
	pthread_join(churn, NULL);

	/* Nothing stranded: a request in PIR always has ON set (a notification on its way). */
	assert_false(virq_posted_desc_pir_pending(&s.d) && !virq_posted_desc_on(&s.d));
	fold_into(&s);
	uint64_t posts = 0, coalesced = 0, folded = 0;
	for (unsigned v = 0; v < 256; v++) {
		assert_int_equal(s.posted[v] - s.coalesced[v], s.folded[v]);
		posts += s.posted[v];
		coalesced += s.coalesced[v];
		folded += s.folded[v];
	}
	assert_int_equal(posts, (uint64_t)POSTERS * POSTS);
	print_message("%lu posts: %lu folded, %lu coalesced, %u notifications, %u handler removals\n",
		      (unsigned long)posts, (unsigned long)folded, (unsigned long)coalesced,
		      atomic_load(&s.notified), atomic_load(&s.removals));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_post_and_fold),
		cmocka_unit_test(test_suppress_and_urgent),
		cmocka_unit_test(test_nv_ndst),
		cmocka_unit_test(test_notify_slot),
		cmocka_unit_test(test_stress_posters_one_folder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
