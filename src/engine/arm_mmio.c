/* SPDX-License-Identifier: MIT */
/*
 * arm_mmio.c - guest MMIO to the GIC's frames on an arm64 VM: the distributor (64 KiB), each vCPU's
 * redistributor (128 KiB, in the order of the redistributor regions) and every ITS (128 KiB). KVM
 * registers these on its MMIO bus at the first KVM_RUN; here the vCPU loop asks first, before MSI-X tables
 * and guest RAM.
 *
 * Threads: the vCPU's. The frame addresses are fixed once the first-run checks passed
 * (arm->resources_ok, after which address attributes are refused) so they are read without a lock.
 */
#include "engine/arm_vm.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

enum virq_arm_frame { VIRQ_FRAME_NONE, VIRQ_FRAME_DIST, VIRQ_FRAME_RDIST, VIRQ_FRAME_ITS };

struct virq_arm_hit {
	enum virq_arm_frame frame;
	uint64_t offset;
	unsigned rdist;              /* vCPU whose redistributor, for VIRQ_FRAME_RDIST */
	struct virq_its *its;        /* for VIRQ_FRAME_ITS */
};

static bool virq_arm_in(uint64_t addr, unsigned size, uint64_t base, uint64_t len)
{
	return base != VIRQ_ARM_ADDR_UNDEF && addr >= base && addr - base < len && size <= len - (addr - base);
}

static struct virq_arm_hit virq_arm_decode(struct virq_vm *vm, uint64_t addr, unsigned size)
{
	struct virq_arm_vm *arm = vm->arm;
	struct virq_arm_hit hit = { .frame = VIRQ_FRAME_NONE };

	if (!arm || !atomic_load_explicit(&arm->resources_ok, memory_order_acquire))
		return hit;
	if (virq_arm_in(addr, size, arm->dist_base, KVM_VGIC_V3_DIST_SIZE)) {
		hit.frame = VIRQ_FRAME_DIST;
		hit.offset = addr - arm->dist_base;
		return hit;
	}
	unsigned first = 0, nr_vcpus = arm->gic.nr_vcpus;
	for (unsigned r = 0; r < arm->nr_rdist; r++) {
		const struct virq_arm_rdist_region *rg = &arm->rdist[r];
		unsigned count = rg->count ? rg->count : nr_vcpus;
		if (virq_arm_in(addr, size, rg->base, (uint64_t)count * KVM_VGIC_V3_REDIST_SIZE)) {
			unsigned idx = first + (unsigned)((addr - rg->base) / KVM_VGIC_V3_REDIST_SIZE);
			if (idx >= nr_vcpus)
				return hit; /* a frame no vCPU uses: not on the bus */
			hit.frame = VIRQ_FRAME_RDIST;
			hit.rdist = idx;
			hit.offset = (addr - rg->base) % KVM_VGIC_V3_REDIST_SIZE;
			return hit;
		}
		first += count;
	}
	unsigned nr_its = atomic_load_explicit(&arm->nr_its, memory_order_acquire);
	for (unsigned i = 0; i < nr_its; i++) {
		struct virq_arm_its *its = arm->its[i];
		uint64_t base = atomic_load_explicit(&its->base, memory_order_acquire);
		if (atomic_load_explicit(&its->ready, memory_order_acquire) &&
		    virq_arm_in(addr, size, base, KVM_VGIC_V3_ITS_SIZE)) {
			hit.frame = VIRQ_FRAME_ITS;
			hit.its = &its->its;
			hit.offset = addr - base;
			return hit;
		}
	}
	return hit;
}

bool virq_arm_mmio_write(struct virq_vcpu *vcpu, uint64_t addr, unsigned size, uint64_t value)
{
	struct virq_arm_hit hit = virq_arm_decode(vcpu->vm, addr, size);
	struct virq_gic *gic = &vcpu->vm->arm->gic;

	switch (hit.frame) {
	case VIRQ_FRAME_DIST:
		virq_gic_dist_write(gic, hit.offset, size, value);
		return true;
	case VIRQ_FRAME_RDIST:
		virq_gic_redist_write(gic, hit.rdist, hit.offset, size, value);
		virq_arm_bypass_refresh(vcpu->vm, false); /* EnableLPIs: direct LPI injection follows */
		return true;
	case VIRQ_FRAME_ITS:
		/* A CWRITER or CTLR write drains the command queue here, synchronously (KVM). */
		virq_its_mmio_write(hit.its, hit.offset, size, value);
		/* Mappings may have changed: irqfds injecting straight into LPIs are re-resolved before the
		 * guest's next op (a no-op unless something is paired and the ITS changed). */
		virq_arm_bypass_refresh(vcpu->vm, false);
		return true;
	case VIRQ_FRAME_NONE:
		break;
	}
	return false;
}

bool virq_arm_mmio_read(struct virq_vcpu *vcpu, uint64_t addr, unsigned size, uint64_t *value)
{
	struct virq_arm_hit hit = virq_arm_decode(vcpu->vm, addr, size);
	struct virq_gic *gic = &vcpu->vm->arm->gic;

	switch (hit.frame) {
	case VIRQ_FRAME_DIST:
		*value = virq_gic_dist_read(gic, hit.offset, size);
		return true;
	case VIRQ_FRAME_RDIST:
		*value = virq_gic_redist_read(gic, hit.rdist, hit.offset, size);
		return true;
	case VIRQ_FRAME_ITS:
		*value = virq_its_mmio_read(hit.its, hit.offset, size);
		return true;
	case VIRQ_FRAME_NONE:
		break;
	}
	return false;
}
