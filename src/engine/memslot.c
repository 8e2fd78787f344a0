/* SPDX-License-Identifier: MIT */
/*
 * memslot.c - guest memory slots (KVM_SET_USER_MEMORY_REGION), as far as the guest's mem_write and
 * tables in guest memory need them: create, move, change flags, delete, with KVM's validation.
 *
 * The slot array is immutable once published and replaced whole under vm->lock; the vCPU reads it under
 * RCU. Omitted: dirty logging (the flag is accepted and has no effect).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/rcu.h"
#include "engine/vm.h"

#define VIRQ_PAGE_SIZE 4096ull
/* KVM's access_ok() on the host range: x86-64 user addresses end at TASK_SIZE_MAX (47 bits). */
#define VIRQ_USER_ADDR_END ((1ull << 47) - VIRQ_PAGE_SIZE)
/* KVM_MEM_MAX_NR_PAGES: a slot's page count fits in 31 bits. */
#define VIRQ_MEM_MAX_NR_PAGES ((1ull << 31) - 1)

struct virq_memslot {
	uint32_t id;                       /* address space << 16 | slot, as in the uAPI */
	uint32_t flags;
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct virq_memslots {
	unsigned nr;
	struct virq_memslot slots[];
};

struct virq_memslots *virq_memslots_empty(void)
{
	return calloc(1, sizeof(struct virq_memslots));
}

void virq_memslots_free(struct virq_memslots *slots)
{
	free(slots);
}

static int virq_memslot_check(const struct kvm_userspace_memory_region *r)
{
	uint32_t as_id = r->slot >> 16, id = r->slot & 0xffff;

	if (r->flags & ~(uint32_t)(KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY))
		return -EINVAL;
	if ((r->memory_size | r->guest_phys_addr | r->userspace_addr) & (VIRQ_PAGE_SIZE - 1))
		return -EINVAL;
	/* KVM refuses a host range outside user space (so later guest accesses cannot touch it). */
	if (r->userspace_addr > VIRQ_USER_ADDR_END || r->memory_size > VIRQ_USER_ADDR_END - r->userspace_addr)
		return -EINVAL;
	if (as_id >= VIRQ_NR_ADDRESS_SPACES || id >= VIRQ_MAX_MEMSLOTS)
		return -EINVAL;
	if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr)
		return -EINVAL;
	if (r->memory_size / VIRQ_PAGE_SIZE > VIRQ_MEM_MAX_NR_PAGES)
		return -EINVAL;
	return 0;
}

static int virq_memslot_find(const struct virq_memslots *slots, uint32_t id)
{
	for (unsigned i = 0; i < slots->nr; i++)
		if (slots->slots[i].id == id)
			return (int)i;
	return -1;
}

/* Validate @r against the current slots; on success builds the next array in *@out. */
static int virq_memslots_next(const struct virq_memslots *cur, const struct kvm_userspace_memory_region *r,
			      struct virq_memslots **out)
{
	int idx = virq_memslot_find(cur, r->slot);
	const struct virq_memslot *old = idx >= 0 ? &cur->slots[idx] : NULL;

	if (r->memory_size == 0 && !old)
		return -EINVAL; /* deleting a slot that does not exist */
	/* A live slot may move or change dirty logging, not change size, backing or read-only-ness. */
	if (old && r->memory_size && (r->memory_size != old->size || r->userspace_addr != (uintptr_t)old->hva ||
				      ((r->flags ^ old->flags) & KVM_MEM_READONLY)))
		return -EINVAL;
	for (unsigned i = 0; r->memory_size && i < cur->nr; i++) {
		const struct virq_memslot *s = &cur->slots[i];
		if (s == old || (s->id >> 16) != (r->slot >> 16))
			continue;
		if (r->guest_phys_addr < s->gpa + s->size && s->gpa < r->guest_phys_addr + r->memory_size)
			return -EEXIST;
	}

	struct virq_memslots *next = calloc(1, sizeof(*next) + (cur->nr + 1) * sizeof(next->slots[0]));
	if (!next)
		return -ENOMEM;
	for (unsigned i = 0; i < cur->nr; i++)
		if (&cur->slots[i] != old)
			next->slots[next->nr++] = cur->slots[i];
	if (r->memory_size)
		next->slots[next->nr++] = (struct virq_memslot){
			.id = r->slot, .flags = r->flags, .gpa = r->guest_phys_addr, .size = r->memory_size,
			.hva = (uint8_t *)(uintptr_t)r->userspace_addr,
		};
	*out = next;
	return 0;
}

int virq_vm_set_memory_region(struct virq_vm *vm, const struct kvm_userspace_memory_region *region)
{
	struct virq_memslots *next, *cur;
	int ret = virq_memslot_check(region);

	/* arm64 has one address space (no SMM): KVM refuses any other as_id. */
	if (ret == 0 && vm->arm && (region->slot >> 16) != 0)
		ret = -EINVAL;
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&vm->lock);
	cur = atomic_load_explicit(&vm->memslots, memory_order_relaxed);
	ret = virq_memslots_next(cur, region, &next);
	if (ret == 0) {
		virq_rcu_assign(vm->memslots, next);
		virq_rcu_synchronize();
		virq_memslots_free(cur);
	}
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

/* The host address backing [gpa, gpa+len) in address space 0, or NULL. Caller in RCU. */
static uint8_t *virq_memslots_hva(const struct virq_memslots *slots, uint64_t gpa, unsigned len, bool write)
{
	for (unsigned i = 0; i < slots->nr; i++) {
		const struct virq_memslot *s = &slots->slots[i];
		if ((s->id >> 16) != 0 || gpa < s->gpa || gpa - s->gpa >= s->size || len > s->size - (gpa - s->gpa))
			continue;
		if (write && (s->flags & KVM_MEM_READONLY))
			return NULL; /* KVM turns writes to read-only memory into MMIO exits */
		return s->hva + (gpa - s->gpa);
	}
	return NULL;
}

static int virq_vm_access_guest(struct virq_vm *vm, uint64_t gpa, void *data, unsigned len, bool write)
{
	int ret = -EFAULT;

	virq_rcu_read_lock();
	uint8_t *hva = virq_memslots_hva(virq_rcu_deref(vm->memslots), gpa, len, write);
	if (hva) {
		if (write)
			memcpy(hva, data, len);
		else
			memcpy(data, hva, len);
		ret = 0;
	}
	virq_rcu_read_unlock();
	return ret;
}

int virq_vm_write_guest(struct virq_vm *vm, uint64_t gpa, const void *data, unsigned len)
{
	return virq_vm_access_guest(vm, gpa, (void *)data, len, true);
}

int virq_vm_read_guest(struct virq_vm *vm, uint64_t gpa, void *data, unsigned len)
{
	return virq_vm_access_guest(vm, gpa, data, len, false);
}
