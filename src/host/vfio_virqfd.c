/* SPDX-License-Identifier: MIT */
/*
 * vfio_virqfd.c - the INTx unmask eventfd (vfio's "virqfd"): a write to it unmasks the function's INTx,
 * as VFIO_IRQ_SET_ACTION_UNMASK would, without a system call from the writer's side. It is how a VMM hands
 * KVM's resamplefd to VFIO, so that the guest's EOI unmasks the host line.
 *
 * The kernel runs the unmask from the eventfd's wait queue. Here each function has one watcher thread,
 * started with the first unmask eventfd and stopped at the last VFIO close, that waits in epoll. Each
 * registration carries a generation number; the watcher drains the eventfd and unmasks under the
 * function's lock only if the generation is still current, so once virq_virqfd_disable() returns no
 * unmask from the old eventfd can happen (vfio_virqfd_disable's flush) and the descriptor can be closed.
 */
#define _GNU_SOURCE
#include "host/pci_function.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#define WATCH_STOP UINT64_MAX /* the epoll cookie of the stop eventfd; generations never reach it */

/* Drain the eventfd without ever blocking: another reader may have emptied it since epoll said so. */
static uint64_t drain(int fd)
{
	uint64_t count = 0;
	struct iovec iov = {&count, sizeof(count)};

	if (preadv2(fd, &iov, 1, -1, RWF_NOWAIT) == sizeof(count))
		return count;
	if (errno == EOPNOTSUPP) { /* kernels without RWF_NOWAIT on eventfds */
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 0) == 1 && read(fd, &count, sizeof(count)) == sizeof(count))
			return count;
	}
	return 0;
}

static void virqfd_fired(struct virq_pci_function *fn, uint64_t gen)
{
	struct virq_pci_signal sig = {.fd = -1};
	bool unmasked = false;

	pthread_mutex_lock(&fn->lock);
	if (fn->unmask_gen == gen && fn->unmask_efd >= 0 && drain(fn->unmask_efd)) {
		sig = virq_pci_signal_begin_locked(fn, virq_vfio_intx_unmask_locked(fn));
		unmasked = true;
	}
	pthread_mutex_unlock(&fn->lock);
	virq_pci_signal_end(fn, sig);
	if (unmasked)
		virq_pci_notify(fn, VIRQ_PCI_EVENT_INTX_UNMASK, 0);
}

/* watch_epfd is written before the thread starts and closed after it is joined. */
static void *watcher_main(void *arg)
{
	struct virq_pci_function *fn = arg;
	struct epoll_event ev[4];

	for (;;) {
		int n = epoll_wait(fn->watch_epfd, ev, 4, -1);
		if (n < 0 && errno != EINTR)
			return NULL;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == WATCH_STOP)
				return NULL;
			virqfd_fired(fn, ev[i].data.u64);
		}
	}
}

static int watcher_start(struct virq_pci_function *fn)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WATCH_STOP};
	int ret;

	if (fn->watcher_running)
		return 0;
	fn->watch_epfd = epoll_create1(EPOLL_CLOEXEC);
	fn->watch_stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fn->watch_epfd < 0 || fn->watch_stop < 0 ||
	    epoll_ctl(fn->watch_epfd, EPOLL_CTL_ADD, fn->watch_stop, &ev) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = -pthread_create(&fn->watcher, NULL, watcher_main, fn);
	if (ret)
		goto fail;
	pthread_setname_np(fn->watcher, "virq-virqfd");
	fn->watcher_running = true;
	return 0;
fail:
	if (fn->watch_epfd >= 0)
		close(fn->watch_epfd);
	if (fn->watch_stop >= 0)
		close(fn->watch_stop);
	fn->watch_epfd = fn->watch_stop = -1;
	return ret;
}

int virq_virqfd_enable(struct virq_pci_function *fn, int user_fd)
{
	/* As vfio_virqfd_enable: the descriptor is checked (EBADF, EINVAL) before the slot (EBUSY). */
	int fd = virq_eventfd_dup(user_fd), ret;
	if (fd < 0)
		return fd;
	pthread_mutex_lock(&fn->lock);
	bool busy = fn->unmask_efd >= 0;
	pthread_mutex_unlock(&fn->lock);
	if (busy) {
		close(fd);
		return -EBUSY; /* one virqfd per action; remove it (fd -1) first */
	}
	ret = watcher_start(fn);
	if (ret) {
		close(fd);
		return ret;
	}
	pthread_mutex_lock(&fn->lock);
	fn->unmask_efd = fd;
	uint64_t gen = ++fn->unmask_gen;
	pthread_mutex_unlock(&fn->lock);
	/* Level-triggered: an eventfd already signalled at registration unmasks at once, as in the kernel. */
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = gen};
	if (epoll_ctl(fn->watch_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		virq_virqfd_disable(fn);
		return ret;
	}
	return 0;
}

void virq_virqfd_disable(struct virq_pci_function *fn)
{
	pthread_mutex_lock(&fn->lock);
	int fd = fn->unmask_efd;
	fn->unmask_efd = -1;
	fn->unmask_gen++;
	pthread_mutex_unlock(&fn->lock);
	if (fd < 0)
		return;
	if (fn->watch_epfd >= 0)
		epoll_ctl(fn->watch_epfd, EPOLL_CTL_DEL, fd, NULL);
	close(fd); /* the watcher only touches it under the lock with the old generation: never again */
}

void virq_virqfd_stop(struct virq_pci_function *fn)
{
	virq_virqfd_disable(fn);
	if (!fn->watcher_running)
		return;
	eventfd_write(fn->watch_stop, 1);
	pthread_join(fn->watcher, NULL);
	close(fn->watch_epfd);
	close(fn->watch_stop);
	fn->watch_epfd = fn->watch_stop = -1;
	fn->watcher_running = false;
}
