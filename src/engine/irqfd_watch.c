/* SPDX-License-Identifier: MIT */
/*
 * irqfd_watch.c - who waits on irqfd eventfds, and how an epoll event finds its irqfd.
 *
 * Watchers: every bound eventfd sits in the epoll set of each vCPU (which waits on it while halted) and,
 * last, in the VM poller's set, all with EPOLLEXCLUSIVE. A signal then wakes exactly one waiter, in that
 * order: the first halted vCPU if there is one (one thread wake-up from device to guest instead of two,
 * perf-floors goal G1), otherwise the poller (the vCPUs are running and notice the IRR bit at their next
 * op boundary). The order is the eventfd's wait-queue order, the order in which the sets were added.
 *
 * Cookies: an epoll event carries (generation << 32 | slot), never a pointer. The harvester looks the slot
 * up in the VM's irqfd table inside an RCU read-side critical section and checks the generation, so an
 * event fetched just before the irqfd was removed finds nothing once the remover's grace period has
 * passed: the grace period is what makes "no injection after deassign returns" hold for every watcher.
 *
 * Draining: the harvester reads the eventfd with RWF_NOWAIT (the dup shares the caller's file, which may
 * be blocking) before it injects, so the irqfd consumes its signals as KVM's priority waiter does, and
 * signals that arrive while an injection is pending coalesce: an irqfd is not a counter.
 *
 * Locking: the table and the watch lists change under vm->irqfd_lock; harvesters use RCU only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "engine/irqfd.h"
#include "engine/rcu.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

struct virq_irqfd_table {
	uint32_t size;
	struct virq_irqfd *_Atomic slot[];
};

uint64_t virq_irqfd_cookie(const struct virq_irqfd *irqfd)
{
	return (uint64_t)irqfd->gen << 32 | irqfd->slot;
}

/*
 * Reserve a free slot of the table for @irqfd (growing it: copy, publish, grace period) and give it its
 * cookie. The slot stays empty until virq_irqfd_table_publish_locked(), so an event that arrives while
 * the epoll sets are being set up finds nothing, and the level-triggered sets report it again later.
 */
int virq_irqfd_table_reserve_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	struct virq_irqfd_table *t = atomic_load_explicit(&vm->irqfd_table, memory_order_relaxed);
	uint32_t size = t ? t->size : 0, slot;

	for (slot = 0; slot < size; slot++)
		if (!atomic_load_explicit(&t->slot[slot], memory_order_relaxed))
			break;
	if (slot == size) {
		uint32_t grown = size ? size * 2 : 16;
		struct virq_irqfd_table *n = calloc(1, sizeof(*n) + grown * sizeof(n->slot[0]));
		if (!n)
			return -ENOMEM;
		n->size = grown;
		for (uint32_t i = 0; i < size; i++)
			atomic_init(&n->slot[i], atomic_load_explicit(&t->slot[i], memory_order_relaxed));
		virq_rcu_assign(vm->irqfd_table, n);
		virq_rcu_synchronize();
		free(t);
	}
	irqfd->slot = slot;
	irqfd->gen = ++vm->irqfd_gen;
	return 0;
}

/* Make a reserved, fully watched irqfd visible to the watchers. */
void virq_irqfd_table_publish_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	struct virq_irqfd_table *t = atomic_load_explicit(&vm->irqfd_table, memory_order_relaxed);
	atomic_store_explicit(&t->slot[irqfd->slot], irqfd, memory_order_release);
}

void virq_irqfd_table_remove_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	struct virq_irqfd_table *t = atomic_load_explicit(&vm->irqfd_table, memory_order_relaxed);
	atomic_store_explicit(&t->slot[irqfd->slot], NULL, memory_order_release);
}

void virq_irqfd_table_free(struct virq_vm *vm)
{
	free(atomic_load_explicit(&vm->irqfd_table, memory_order_relaxed));
}

/* Read the eventfd and raise the GSI: the injection proper. Caller in an RCU read-side section. */
static void virq_irqfd_inject(struct virq_irqfd *irqfd)
{
	struct virq_vm *vm = irqfd->vm;
	struct iovec iov;
	uint64_t count;

	iov.iov_base = &count;
	iov.iov_len = sizeof(count);
	if (preadv2(irqfd->efd, &iov, 1, -1, RWF_NOWAIT) != sizeof(count))
		return; /* another watcher, or another reader, drained it first */
	/* KVM accepts any GSI for an irqfd; only routable ones (< KVM_MAX_IRQ_ROUTES) have counters. */
	if (irqfd->gsi < KVM_MAX_IRQ_ROUTES)
		atomic_fetch_add_explicit(&vm->gsi_stats[irqfd->gsi].irqfd_signals, count, memory_order_relaxed);
	uint64_t now = virq_now_ns();
	if (irqfd->resample_efd >= 0) {
		virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_RESAMPLE, irqfd->gsi, true, now);
	} else {
		/* A plain irqfd pulses the line, as KVM's irqfd_inject() does. */
		virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_USERSPACE, irqfd->gsi, true, now);
		virq_vm_set_irq(vm, VIRQ_IRQ_SOURCE_USERSPACE, irqfd->gsi, false, now);
	}
}

void virq_irqfd_drain(struct virq_irqfd *irqfd)
{
	virq_irqfd_inject(irqfd);
}

void virq_irqfd_harvest(struct virq_vm *vm, uint64_t cookie)
{
	uint32_t slot = (uint32_t)cookie, gen = (uint32_t)(cookie >> 32);

	virq_rcu_read_lock();
	struct virq_irqfd_table *t = virq_rcu_deref(vm->irqfd_table);
	struct virq_irqfd *irqfd = t && slot < t->size ? atomic_load_explicit(&t->slot[slot], memory_order_acquire)
						       : NULL;
	if (irqfd && irqfd->gen == gen)
		virq_irqfd_inject(irqfd);
	virq_rcu_read_unlock();
}

static int virq_irqfd_watch_in(int epfd, const struct virq_irqfd *irqfd)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.u64 = virq_irqfd_cookie(irqfd) };
	return epoll_ctl(epfd, EPOLL_CTL_ADD, irqfd->efd, &ev) < 0 ? -errno : 0;
}

int virq_irqfd_watch_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	int ret = 0;

	for (unsigned id = 0; id < VIRQ_MAX_VCPUS && ret == 0; id++) {
		struct virq_vcpu *vcpu = virq_vm_vcpu(vm, id);
		if (vcpu)
			ret = virq_irqfd_watch_in(vcpu->halt_epfd, irqfd);
	}
	/* The poller last: an exclusive wake-up goes to a halted vCPU first. */
	if (ret == 0)
		ret = virq_irqfd_watch_in(vm->poller.epoll_fd, irqfd);
	if (ret < 0)
		virq_irqfd_unwatch_locked(vm, irqfd);
	return ret;
}

void virq_irqfd_unwatch_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	for (unsigned id = 0; id < VIRQ_MAX_VCPUS; id++) {
		struct virq_vcpu *vcpu = virq_vm_vcpu(vm, id);
		if (vcpu)
			epoll_ctl(vcpu->halt_epfd, EPOLL_CTL_DEL, irqfd->efd, NULL);
	}
	epoll_ctl(vm->poller.epoll_fd, EPOLL_CTL_DEL, irqfd->efd, NULL);
}

/*
 * A vCPU is being created: let it watch every bound eventfd. Its entries come after the poller's in the
 * eventfds' wait queues, so for irqfds bound before the vCPU existed the poller keeps first claim (still
 * correct, one wake-up more); VMMs create their vCPUs before they wire devices, as QEMU does.
 */
int virq_irqfd_watch_vcpu_locked(struct virq_vm *vm, struct virq_vcpu *vcpu)
{
	int ret = 0;

	for (struct virq_irqfd *irqfd = vm->irqfds; irqfd && ret == 0; irqfd = irqfd->next)
		ret = virq_irqfd_watch_in(vcpu->halt_epfd, irqfd);
	return ret;
}
