/* SPDX-License-Identifier: MIT */
/*
 * test_irqbypass.c - the irq bypass manager: pairing by eventfd identity in both registration orders,
 * one producer and one consumer per eventfd (EBUSY), a failing add_producer (registration fails, the
 * producer side is rolled back), argument errors, the identity outliving the caller's descriptor, and
 * register/unregister racing on the same eventfd from two threads (stress).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "bypass/irqbypass.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* A test producer/consumer: counts its callbacks and tracks its partner as the callbacks report it. */
struct tprod {
	struct virq_bypass_producer prod;
	atomic_int add, del, stop, start;
	_Atomic(struct virq_bypass_consumer *) peer;
};

struct tcons {
	struct virq_bypass_consumer cons;
	atomic_int add, del;
	_Atomic(struct virq_bypass_producer *) peer;
	int add_ret;
};

static int p_add(struct virq_bypass_producer *p, struct virq_bypass_consumer *c)
{
	struct tprod *t = container_of(p, struct tprod, prod);
	atomic_fetch_add(&t->add, 1);
	atomic_store(&t->peer, c);
	return 0;
}

static void p_del(struct virq_bypass_producer *p, struct virq_bypass_consumer *c)
{
	struct tprod *t = container_of(p, struct tprod, prod);
	assert_ptr_equal(atomic_load(&t->peer), c);
	atomic_fetch_add(&t->del, 1);
	atomic_store(&t->peer, NULL);
}

static void p_stop(struct virq_bypass_producer *p)
{
	atomic_fetch_add(&container_of(p, struct tprod, prod)->stop, 1);
}

static void p_start(struct virq_bypass_producer *p)
{
	atomic_fetch_add(&container_of(p, struct tprod, prod)->start, 1);
}

static int c_add(struct virq_bypass_consumer *c, struct virq_bypass_producer *p)
{
	struct tcons *t = container_of(c, struct tcons, cons);
	if (t->add_ret)
		return t->add_ret;
	atomic_fetch_add(&t->add, 1);
	atomic_store(&t->peer, p);
	return 0;
}

static void c_del(struct virq_bypass_consumer *c, struct virq_bypass_producer *p)
{
	struct tcons *t = container_of(c, struct tcons, cons);
	assert_ptr_equal(atomic_load(&t->peer), p);
	atomic_fetch_add(&t->del, 1);
	atomic_store(&t->peer, NULL);
}

static const struct virq_bypass_producer_ops pops = {
	.add_consumer = p_add, .del_consumer = p_del, .stop = p_stop, .start = p_start,
};
static const struct virq_bypass_consumer_ops cops = {.add_producer = c_add, .del_producer = c_del};

static void tprod_init(struct tprod *t)
{
	*t = (struct tprod){.prod = {.ops = &pops}};
}

static void tcons_init(struct tcons *t)
{
	*t = (struct tcons){.cons = {.ops = &cops}};
}

static int efd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void check_paired(struct tprod *p, struct tcons *c)
{
	assert_true(virq_bypass_producer_paired(&p->prod));
	assert_true(virq_bypass_consumer_paired(&c->cons));
	assert_ptr_equal(atomic_load(&p->peer), &c->cons);
	assert_ptr_equal(atomic_load(&c->peer), &p->prod);
}

static void test_producer_first(void **state)
{
	(void)state;
	struct tprod p;
	struct tcons c;
	int fd = efd();
	tprod_init(&p);
	tcons_init(&c);

	assert_int_equal(virq_bypass_register_producer(&p.prod, fd), 0);
	assert_false(virq_bypass_producer_paired(&p.prod));
	assert_int_equal(virq_bypass_register_consumer(&c.cons, fd), 0);
	check_paired(&p, &c);
	assert_int_equal(p.add, 1);
	assert_int_equal(c.add, 1);
	assert_int_equal(p.stop, 1); /* connect stops and restarts the producer around the pairing */
	assert_int_equal(p.start, 1);

	/* The consumer goes: del_producer has run when unregister returns. */
	virq_bypass_unregister_consumer(&c.cons);
	assert_int_equal(c.del, 1);
	assert_int_equal(p.del, 1);
	assert_false(virq_bypass_producer_paired(&p.prod));
	/* And comes back: paired again. */
	assert_int_equal(virq_bypass_register_consumer(&c.cons, fd), 0);
	check_paired(&p, &c);
	virq_bypass_unregister_producer(&p.prod);
	assert_int_equal(c.del, 2);
	assert_false(virq_bypass_consumer_paired(&c.cons));
	virq_bypass_unregister_consumer(&c.cons);
	assert_int_equal(c.del, 2); /* nothing left to disconnect */
	close(fd);
}

static void test_consumer_first(void **state)
{
	(void)state;
	struct tprod p;
	struct tcons c;
	int fd = efd(), other = efd();
	tprod_init(&p);
	tcons_init(&c);

	assert_int_equal(virq_bypass_register_consumer(&c.cons, fd), 0);
	/* A producer with another eventfd does not pair. */
	assert_int_equal(virq_bypass_register_producer(&p.prod, other), 0);
	assert_false(virq_bypass_consumer_paired(&c.cons));
	virq_bypass_unregister_producer(&p.prod);
	assert_int_equal(p.add, 0);

	assert_int_equal(virq_bypass_register_producer(&p.prod, fd), 0);
	check_paired(&p, &c);
	virq_bypass_unregister_producer(&p.prod);
	assert_int_equal(c.del, 1);
	assert_int_equal(p.del, 1);
	virq_bypass_unregister_consumer(&c.cons);
	close(fd);
	close(other);
}

/* Identity is the open file: another number for the same file is the same token, and the manager's own
 * reference keeps it alive after the caller closes its number. */
static void test_identity_and_one_to_one(void **state)
{
	(void)state;
	struct tprod p1, p2;
	struct tcons c1, c2;
	int fd = efd();
	int alias = dup(fd);
	tprod_init(&p1);
	tprod_init(&p2);
	tcons_init(&c1);
	tcons_init(&c2);

	assert_int_equal(virq_bypass_register_producer(&p1.prod, fd), 0);
	assert_int_equal(virq_bypass_register_producer(&p2.prod, alias), -EBUSY);
	assert_int_equal(virq_bypass_register_producer(&p2.prod, fd), -EBUSY);
	close(fd); /* the caller's number goes; the registration keeps the file */
	assert_int_equal(virq_bypass_register_consumer(&c1.cons, alias), 0);
	check_paired(&p1, &c1);
	assert_int_equal(virq_bypass_register_consumer(&c2.cons, alias), -EBUSY);
	assert_int_equal(c2.add, 0);
	virq_bypass_unregister_consumer(&c2.cons); /* never registered: a no-op */
	assert_int_equal(c1.del, 0);
	virq_bypass_unregister_producer(&p1.prod);
	virq_bypass_unregister_consumer(&c1.cons);
	close(alias);
}

static void test_add_producer_fails(void **state)
{
	(void)state;
	struct tprod p;
	struct tcons c;
	int fd = efd();
	tprod_init(&p);
	tcons_init(&c);
	c.add_ret = -EIO;

	assert_int_equal(virq_bypass_register_consumer(&c.cons, fd), 0);
	/* The pair is not made: the registration fails with the consumer's error, the producer side is
	 * rolled back (add_consumer then del_consumer), and the consumer stays registered, unpaired. */
	assert_int_equal(virq_bypass_register_producer(&p.prod, fd), -EIO);
	assert_int_equal(p.add, 1);
	assert_int_equal(p.del, 1);
	assert_int_equal(p.start, 1);
	assert_false(virq_bypass_consumer_paired(&c.cons));
	virq_bypass_unregister_producer(&p.prod); /* safe after a failed registration */
	assert_int_equal(c.del, 0);
	c.add_ret = 0;
	assert_int_equal(virq_bypass_register_producer(&p.prod, fd), 0);
	check_paired(&p, &c);
	virq_bypass_unregister_consumer(&c.cons);
	virq_bypass_unregister_producer(&p.prod);
	close(fd);
}

static void test_errors(void **state)
{
	(void)state;
	struct tprod p;
	struct tcons c;
	int fd = efd();
	static const struct virq_bypass_consumer_ops half = {.add_producer = c_add};
	tprod_init(&p);
	tcons_init(&c);

	struct virq_bypass_producer bare = {0};
	assert_int_equal(virq_bypass_register_producer(&bare, fd), -EINVAL);
	assert_int_equal(virq_bypass_register_producer(NULL, fd), -EINVAL);
	struct virq_bypass_consumer halfc = {.ops = &half};
	assert_int_equal(virq_bypass_register_consumer(&halfc, fd), -EINVAL);
	assert_int_equal(virq_bypass_register_producer(&p.prod, -1), -EINVAL);
	int closed = efd();
	close(closed);
	assert_int_equal(virq_bypass_register_producer(&p.prod, closed), -EBADF);
	assert_int_equal(virq_bypass_register_producer(&p.prod, fd), 0);
	int other = efd();
	assert_int_equal(virq_bypass_register_producer(&p.prod, other), -EINVAL); /* already registered */
	virq_bypass_unregister_producer(&p.prod);
	virq_bypass_unregister_producer(&p.prod);
	virq_bypass_unregister_producer(NULL);
	close(other);
	close(fd);
}

/* ---- stress: unregister during pairing ---- */

#define ROUNDS 3000

struct race {
	int fd;
	struct tprod p;
	struct tcons c;
};

static void *race_producer(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < ROUNDS; i++) {
		assert_int_equal(virq_bypass_register_producer(&r->p.prod, r->fd), 0);
		sched_yield(); /* stay registered for a moment, so the consumer can pair */
		virq_bypass_unregister_producer(&r->p.prod);
		/* Once unregister returns, the pair is gone on both sides. */
		assert_null(atomic_load(&r->p.peer));
	}
	return NULL;
}

static void *race_consumer(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < ROUNDS; i++) {
		assert_int_equal(virq_bypass_register_consumer(&r->c.cons, r->fd), 0);
		sched_yield();
		virq_bypass_unregister_consumer(&r->c.cons);
		assert_null(atomic_load(&r->c.peer));
	}
	return NULL;
}

static void test_stress_register_race(void **state)
{
	(void)state;
	struct race r[2];
	pthread_t t[4];

	for (int i = 0; i < 2; i++) {
		r[i].fd = efd();
		tprod_init(&r[i].p);
		tcons_init(&r[i].c);
		pthread_create(&t[2 * i], NULL, race_producer, &r[i]);
		pthread_create(&t[2 * i + 1], NULL, race_consumer, &r[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		/* Every pairing was undone exactly once, on both sides. */
		assert_int_equal(r[i].p.add, r[i].p.del);
		assert_int_equal(r[i].c.add, r[i].c.del);
		assert_int_equal(r[i].p.add, r[i].c.add);
		assert_int_equal(r[i].p.stop, r[i].p.start);
		print_message("pair %d: %d pairings in %d rounds\n", i, r[i].c.add, ROUNDS);
		close(r[i].fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_producer_first),
		cmocka_unit_test(test_consumer_first),
		cmocka_unit_test(test_identity_and_one_to_one),
		cmocka_unit_test(test_add_producer_fails),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_stress_register_race),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
