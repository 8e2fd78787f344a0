/* SPDX-License-Identifier: MIT */
/*
 * poller.c - the VM's irqfd poller: one thread that waits on every bound eventfd with epoll and injects
 * from its own context (KVM injects from the eventfd's wake-up callback). It is the watcher of last
 * resort: a halted vCPU claims an irqfd's wake-up first (irqfd_watch.c), so the poller serves the signals
 * that arrive while every vCPU is running.
 *
 * The poller also owns the IOAPIC storm guard's timerfd, and a kick eventfd that ends its wait when the
 * VM goes away.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/irqfd.h"
#include "engine/vm.h"

#define VIRQ_POLLER_BATCH 64

/* epoll cookies of the poller's own descriptors; an irqfd's cookie never has a slot this high. */
#define VIRQ_POLLER_KICK UINT32_MAX
#define VIRQ_POLLER_TIMER (UINT32_MAX - 1)

void virq_poller_init(struct virq_poller *poller)
{
	poller->epoll_fd = poller->kick_fd = poller->storm_timer_fd = -1;
}

static void virq_poller_handle(struct virq_vm *vm, uint64_t cookie)
{
	uint64_t count;

	if (cookie == VIRQ_POLLER_KICK) {
		if (read(vm->poller.kick_fd, &count, sizeof(count)) < 0) {
			/* EAGAIN: an earlier pass drained it */
		}
	} else if (cookie == VIRQ_POLLER_TIMER) {
		if (read(vm->poller.storm_timer_fd, &count, sizeof(count)) == sizeof(count))
			virq_ioapic_storm_timer(&vm->ioapic);
	} else {
		virq_irqfd_harvest(vm, cookie);
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
			virq_poller_handle(vm, events[i].data.u64);
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

static int virq_poller_add(struct virq_poller *poller, int fd, uint64_t cookie)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = cookie };
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

/*
 * Watchers drain eventfds with preadv2(RWF_NOWAIT) (irqfd_watch.c), which eventfds honour since Linux
 * 5.12. On an older kernel the read would fail forever and a level-triggered watcher would spin, so
 * refuse up front: -EOPNOTSUPP from KVM_CREATE_IRQCHIP.
 */
static int virq_poller_check_nowait_reads(void)
{
	uint64_t count;
	struct iovec iov = { .iov_base = &count, .iov_len = sizeof(count) };
	int efd = eventfd(0, EFD_CLOEXEC), ret = 0;

	if (efd < 0)
		return -errno;
	if (preadv2(efd, &iov, 1, -1, RWF_NOWAIT) >= 0 || errno != EAGAIN)
		ret = -EOPNOTSUPP;
	close(efd);
	return ret;
}

/* Start the poller (KVM_CREATE_IRQCHIP, with vm->lock held). */
int virq_poller_start(struct virq_vm *vm)
{
	struct virq_poller *poller = &vm->poller;
	int ret = virq_poller_check_nowait_reads();

	if (ret < 0)
		return ret;
	poller->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	poller->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	poller->storm_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (poller->epoll_fd < 0 || poller->kick_fd < 0 || poller->storm_timer_fd < 0) {
		ret = -errno;
		goto out_close;
	}
	ret = virq_poller_add(poller, poller->kick_fd, VIRQ_POLLER_KICK);
	if (ret == 0)
		ret = virq_poller_add(poller, poller->storm_timer_fd, VIRQ_POLLER_TIMER);
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
}

void virq_poller_arm_storm_timer(struct virq_vm *vm, uint64_t delay_ns)
{
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(delay_ns / 1000000000ull), .tv_nsec = (long)(delay_ns % 1000000000ull) },
	};
	if (vm->poller.storm_timer_fd >= 0)
		timerfd_settime(vm->poller.storm_timer_fd, 0, &its, NULL);
}
