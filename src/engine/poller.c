/* SPDX-License-Identifier: MIT */
/*
 * poller.c - the VM's irqfd poller: one thread that waits on every bound eventfd with epoll and injects
 * directly from its own context (KVM injects from the eventfd's wake-up callback).
 *
 * The poller drains an eventfd (read) before it injects, so the irqfd consumes its signals as KVM's
 * priority waiter does, and signals that arrive while an injection is pending coalesce: an irqfd is not a
 * counter. A non-resampling irqfd pulses its GSI (assert, de-assert on source 0); a resampling one only
 * asserts source 1.
 *
 * Flush: the poller counts completed event batches. An irqfd being shut down is first removed from
 * epoll; waiting for the batch in progress (or for one more batch, forced by a kick) then guarantees that
 * no event fetched before the removal is still being handled. This plays the part of KVM's flush of its
 * irqfd cleanup workqueue.
 *
 * The poller also owns the IOAPIC storm guard's timerfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/irqfd.h"
#include "engine/probes.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

#define VIRQ_POLLER_BATCH 64

/* epoll data for the poller's own descriptors: addresses that can never be an irqfd. */
static char virq_poller_kick_tag, virq_poller_timer_tag;

void virq_poller_init(struct virq_poller *poller)
{
	poller->epoll_fd = poller->kick_fd = poller->storm_timer_fd = -1;
	pthread_mutex_init(&poller->seq_lock, NULL);
	pthread_cond_init(&poller->seq_cond, NULL);
}

void virq_irqfd_inject(struct virq_irqfd *irqfd)
{
	struct virq_vm *vm = irqfd->vm;
	uint64_t count;

	/* The dup shares the caller's file, which may be blocking: RWF_NOWAIT keeps the poller from ever
	 * sleeping in read() when another reader drained the eventfd first (a spurious wake-up). */
	struct iovec iov = { .iov_base = &count, .iov_len = sizeof(count) };
	if (preadv2(irqfd->efd, &iov, 1, -1, RWF_NOWAIT) != sizeof(count))
		return;
	/* KVM accepts any GSI for an irqfd; only routable ones (< KVM_MAX_IRQ_ROUTES) have counters. */
	if (irqfd->gsi < KVM_MAX_IRQ_ROUTES)
		atomic_fetch_add_explicit(&vm->gsi_stats[irqfd->gsi].irqfd_signals, count, memory_order_relaxed);
	uint64_t now = virq_now_ns();
	if (irqfd->resample_efd >= 0) {
		virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_RESAMPLE, irqfd->gsi, true, now);
	} else {
		virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_USERSPACE, irqfd->gsi, true, now);
		virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_USERSPACE, irqfd->gsi, false, now);
	}
}

static void virq_poller_handle(struct virq_vm *vm, const struct epoll_event *ev)
{
	uint64_t count;

	if (ev->data.ptr == &virq_poller_kick_tag) {
		if (read(vm->poller.kick_fd, &count, sizeof(count)) < 0) {
			/* EAGAIN: another batch already drained it */
		}
	} else if (ev->data.ptr == &virq_poller_timer_tag) {
		if (read(vm->poller.storm_timer_fd, &count, sizeof(count)) == sizeof(count))
			virq_ioapic_storm_timer(&vm->ioapic);
	} else {
		struct virq_irqfd *irqfd = ev->data.ptr;
		if (atomic_load_explicit(&irqfd->active, memory_order_acquire))
			virq_irqfd_inject(irqfd);
	}
}

static void *virq_poller_main(void *arg)
{
	struct virq_vm *vm = arg;
	struct virq_poller *poller = &vm->poller;
	struct epoll_event events[VIRQ_POLLER_BATCH];

	while (!atomic_load_explicit(&poller->stop, memory_order_acquire)) {
		int n = epoll_wait(poller->epoll_fd, events, VIRQ_POLLER_BATCH, -1);
		for (int i = 0; i < n; i++)
			virq_poller_handle(vm, &events[i]);
		pthread_mutex_lock(&poller->seq_lock);
		poller->seq++;
		pthread_cond_broadcast(&poller->seq_cond);
		pthread_mutex_unlock(&poller->seq_lock);
	}
	return NULL;
}

static void virq_poller_kick(struct virq_poller *poller)
{
	uint64_t one = 1;
	if (write(poller->kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so a wake-up is already pending */
	}
}

void virq_poller_flush(struct virq_vm *vm)
{
	struct virq_poller *poller = &vm->poller;

	if (!poller->started)
		return;
	pthread_mutex_lock(&poller->seq_lock);
	uint64_t target = poller->seq + 1;
	virq_poller_kick(poller);
	while (poller->seq < target)
		pthread_cond_wait(&poller->seq_cond, &poller->seq_lock);
	pthread_mutex_unlock(&poller->seq_lock);
}

static int virq_poller_add(struct virq_poller *poller, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };
	return epoll_ctl(poller->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void virq_poller_close_fds(struct virq_poller *poller)
{
	int *fds[] = { &poller->epoll_fd, &poller->kick_fd, &poller->storm_timer_fd };
	for (unsigned i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* Start the poller (KVM_CREATE_IRQCHIP, with vm->lock held). */
int virq_poller_start(struct virq_vm *vm)
{
	struct virq_poller *poller = &vm->poller;
	int ret;

	poller->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	poller->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	poller->storm_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (poller->epoll_fd < 0 || poller->kick_fd < 0 || poller->storm_timer_fd < 0) {
		ret = -errno;
		goto out_close;
	}
	ret = virq_poller_add(poller, poller->kick_fd, &virq_poller_kick_tag);
	if (ret == 0)
		ret = virq_poller_add(poller, poller->storm_timer_fd, &virq_poller_timer_tag);
	if (ret == 0)
		ret = -pthread_create(&poller->thread, NULL, virq_poller_main, vm);
	if (ret < 0)
		goto out_close;
	poller->started = true;
	return 0;

out_close:
	virq_poller_close_fds(poller);
	return ret;
}

void virq_poller_stop(struct virq_vm *vm)
{
	struct virq_poller *poller = &vm->poller;

	if (poller->started) {
		atomic_store_explicit(&poller->stop, true, memory_order_release);
		virq_poller_kick(poller);
		pthread_join(poller->thread, NULL);
		poller->started = false;
	}
	virq_poller_close_fds(poller);
	pthread_cond_destroy(&poller->seq_cond);
	pthread_mutex_destroy(&poller->seq_lock);
}

void virq_poller_arm_storm_timer(struct virq_vm *vm, uint64_t delay_ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(delay_ns / 1000000000ull), .tv_nsec = (long)(delay_ns % 1000000000ull) },
	};
	if (vm->poller.storm_timer_fd >= 0)
		timerfd_settime(vm->poller.storm_timer_fd, 0, &its, NULL);
}
