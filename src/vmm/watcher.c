/* SPDX-License-Identifier: MIT */
/*
 * watcher.c - the VMM thread that reads the VFIO triggers nobody else reads: vectors the guest masked
 * (their messages become virtual PBA bits) and vectors delivered from userspace (KVM_SIGNAL_MSI).
 *
 * A trigger is in the watcher's epoll set exactly while it is not an irqfd (msix.c moves it in and out
 * under the device's lock), so the engine and the VMM never race to drain the same eventfd.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/vmm_internal.h"

#define VMM_WATCH_STOP UINT64_MAX

int vmm_watch(struct virq_vmm *vmm, int fd, uint64_t cookie)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = cookie };
	return epoll_ctl(vmm->watch_epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int vmm_unwatch(struct virq_vmm *vmm, int fd)
{
	return epoll_ctl(vmm->watch_epfd, EPOLL_CTL_DEL, fd, NULL) < 0 ? -errno : 0;
}

static void vmm_watcher_fired(struct virq_vmm *vmm, uint64_t cookie)
{
	unsigned d = (unsigned)(cookie >> 32), k = (unsigned)cookie;
	struct vmm_device *dev = &vmm->dev[d];
	uint64_t count;

	/* Non-blocking: the vector may have become an irqfd since epoll said it was readable. */
	if (read(dev->vec[k].trigger, &count, sizeof(count)) == sizeof(count))
		vmm_msix_trigger_fired(dev, k);
}

static void *vmm_watcher_main(void *arg)
{
	struct virq_vmm *vmm = arg;
	struct epoll_event events[32];

	for (;;) {
		int n = epoll_wait(vmm->watch_epfd, events, 32, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		for (int i = 0; i < n; i++) {
			if (events[i].data.u64 == VMM_WATCH_STOP)
				return NULL;
			vmm_watcher_fired(vmm, events[i].data.u64);
		}
	}
}

int vmm_watcher_start(struct virq_vmm *vmm)
{
	int ret = vmm_watch(vmm, vmm->watch_stop, VMM_WATCH_STOP);

	if (ret < 0)
		return ret;
	ret = pthread_create(&vmm->watcher, NULL, vmm_watcher_main, vmm);
	if (ret)
		return -ret;
	vmm->watcher_started = true;
	return 0;
}

void vmm_watcher_stop(struct virq_vmm *vmm)
{
	uint64_t one = 1;

	if (!vmm->watcher_started)
		return;
	if (write(vmm->watch_stop, &one, sizeof(one)) == sizeof(one))
		pthread_join(vmm->watcher, NULL);
	vmm->watcher_started = false;
}
