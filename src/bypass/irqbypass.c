/* SPDX-License-Identifier: MIT */
/*
 * irqbypass.c - the irq bypass manager's registry and its pairing (Linux's virt/lib/irqbypass.c).
 *
 * Two singly linked lists, producers and consumers, behind one mutex. Registries are small (one entry
 * per assigned vector, one per irqfd) and registration is rare, so a list walk with one kcmp per entry
 * is enough; Linux used a list for the same reason until its 2025 xarray rework. Both lists hold the
 * embedded struct virq_bypass_link, so registering and unregistering are written once for both sides;
 * only connect and disconnect know which side is which.
 */
#define _GNU_SOURCE
#include "bypass/irqbypass.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

/* The process-wide registry (ARCHITECTURE.md 5.1). Every op runs with this held. */
static pthread_mutex_t virq_bypass_lock = PTHREAD_MUTEX_INITIALIZER;
static struct virq_bypass_link *virq_bypass_producers; /* [L:virq_bypass_lock] */
static struct virq_bypass_link *virq_bypass_consumers; /* [L:virq_bypass_lock] */

int virq_bypass_same_file(int a, int b)
{
	pid_t self = getpid();
	long r = syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
	return r < 0 ? -errno : (int)r;
}

static struct virq_bypass_producer *to_prod(struct virq_bypass_link *l)
{
	return container_of(l, struct virq_bypass_producer, link);
}

static struct virq_bypass_consumer *to_cons(struct virq_bypass_link *l)
{
	return container_of(l, struct virq_bypass_consumer, link);
}

/* Linux's __connect. Returns 0 with both sides paired, or the error with neither changed. */
static int connect_locked(struct virq_bypass_producer *prod, struct virq_bypass_consumer *cons)
{
	const struct virq_bypass_producer_ops *po = prod->ops;
	const struct virq_bypass_consumer_ops *co = cons->ops;
	int ret = 0;

	if (po->stop)
		po->stop(prod);
	if (co->stop)
		co->stop(cons);
	if (po->add_consumer)
		ret = po->add_consumer(prod, cons);
	if (!ret) {
		ret = co->add_producer(cons, prod);
		if (ret && po->del_consumer)
			po->del_consumer(prod, cons);
	}
	if (co->start)
		co->start(cons);
	if (po->start)
		po->start(prod);
	if (!ret) {
		prod->consumer = cons;
		cons->producer = prod;
	}
	return ret;
}

/* Linux's __disconnect: the consumer lets go first, so it stops steering the producer's interrupt
 * before the producer forgets it. */
static void disconnect_locked(struct virq_bypass_producer *prod, struct virq_bypass_consumer *cons)
{
	const struct virq_bypass_producer_ops *po = prod->ops;
	const struct virq_bypass_consumer_ops *co = cons->ops;

	if (po->stop)
		po->stop(prod);
	if (co->stop)
		co->stop(cons);
	co->del_producer(cons, prod);
	if (po->del_consumer)
		po->del_consumer(prod, cons);
	if (co->start)
		co->start(cons);
	if (po->start)
		po->start(prod);
	prod->consumer = NULL;
	cons->producer = NULL;
}

/* The entry of @list whose eventfd is @token's file: 0 and *found (NULL if none), or -errno from kcmp. */
static int find_locked(struct virq_bypass_link *list, int token, struct virq_bypass_link **found)
{
	*found = NULL;
	for (struct virq_bypass_link *l = list; l; l = l->next) {
		int r = virq_bypass_same_file(token, l->token);
		if (r < 0)
			return r;
		if (r == 0) {
			*found = l;
			break;
		}
	}
	return 0;
}

/*
 * Register @self on @mine, pairing it with the entry of @theirs that has the same eventfd. @is_prod
 * says which side @self is, so the pair is connected the right way round.
 */
static int do_register(struct virq_bypass_link *self, bool is_prod, int eventfd, struct virq_bypass_link **mine,
		       struct virq_bypass_link **theirs)
{
	struct virq_bypass_link *twin, *peer;
	int ret;

	if (eventfd < 0)
		return -EINVAL;
	/* Our own reference to the caller's file: it keeps the identity stable while registered. */
	int token = fcntl(eventfd, F_DUPFD_CLOEXEC, 3);
	if (token < 0)
		return -EBADF;
	pthread_mutex_lock(&virq_bypass_lock);
	ret = self->registered ? -EINVAL : find_locked(*mine, token, &twin);
	if (!ret && twin)
		ret = -EBUSY; /* one producer and one consumer per eventfd */
	if (!ret)
		ret = find_locked(*theirs, token, &peer);
	if (!ret && peer)
		ret = is_prod ? connect_locked(to_prod(self), to_cons(peer))
			      : connect_locked(to_prod(peer), to_cons(self));
	if (!ret) {
		self->token = token;
		self->registered = true;
		self->next = *mine;
		*mine = self;
	}
	pthread_mutex_unlock(&virq_bypass_lock);
	if (ret)
		close(token);
	return ret;
}

/* Unpair @self if it is paired, and take it off @list. */
static void do_unregister(struct virq_bypass_link *self, bool is_prod, struct virq_bypass_link **list)
{
	pthread_mutex_lock(&virq_bypass_lock);
	if (!self->registered) {
		pthread_mutex_unlock(&virq_bypass_lock);
		return;
	}
	if (is_prod && to_prod(self)->consumer)
		disconnect_locked(to_prod(self), to_prod(self)->consumer);
	else if (!is_prod && to_cons(self)->producer)
		disconnect_locked(to_cons(self)->producer, to_cons(self));
	for (struct virq_bypass_link **link = list; *link; link = &(*link)->next)
		if (*link == self) {
			*link = self->next;
			break;
		}
	int token = self->token;
	self->registered = false;
	self->next = NULL;
	self->token = -1;
	pthread_mutex_unlock(&virq_bypass_lock);
	close(token);
}

int virq_bypass_register_producer(struct virq_bypass_producer *prod, int eventfd)
{
	if (!prod || !prod->ops)
		return -EINVAL;
	return do_register(&prod->link, true, eventfd, &virq_bypass_producers, &virq_bypass_consumers);
}

int virq_bypass_register_consumer(struct virq_bypass_consumer *cons, int eventfd)
{
	if (!cons || !cons->ops || !cons->ops->add_producer || !cons->ops->del_producer)
		return -EINVAL;
	return do_register(&cons->link, false, eventfd, &virq_bypass_consumers, &virq_bypass_producers);
}

void virq_bypass_unregister_producer(struct virq_bypass_producer *prod)
{
	if (prod)
		do_unregister(&prod->link, true, &virq_bypass_producers);
}

void virq_bypass_unregister_consumer(struct virq_bypass_consumer *cons)
{
	if (cons)
		do_unregister(&cons->link, false, &virq_bypass_consumers);
}

bool virq_bypass_producer_paired(struct virq_bypass_producer *prod)
{
	pthread_mutex_lock(&virq_bypass_lock);
	bool paired = prod->consumer != NULL;
	pthread_mutex_unlock(&virq_bypass_lock);
	return paired;
}

bool virq_bypass_consumer_paired(struct virq_bypass_consumer *cons)
{
	pthread_mutex_lock(&virq_bypass_lock);
	bool paired = cons->producer != NULL;
	pthread_mutex_unlock(&virq_bypass_lock);
	return paired;
}
