/* SPDX-License-Identifier: MIT */
/*
 * arm.c - what the reference VMM does differently for an arm64 VM, the way QEMU's virt board does it on
 * KVM: guest RAM for the tables the guest hands the GIC and the ITS, a vGICv3 (distributor, one
 * redistributor region) and one ITS made with KVM_CREATE_DEVICE and initialised once every vCPU exists;
 * the guest-action request as an edge SPI to vCPU 0 (x86 sends an IPI vector); and the VMM's view of
 * where a vector lands after the guest's ITS moved it (MOVI), which no MSI route says on arm64; and, on a
 * GICv4 host (gic_v4, enabled in vmm.c right after KVM_CREATE_VM), the whole run's count of messages the
 * devices latched straight into their LPIs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <virq/vm.h>

#include "vmm/vmm_internal.h"

static int arm_set_attr(int dev, uint32_t group, uint64_t attr, const void *value)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)value };
	return virq_ioctl(dev, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

static int arm_create_device(int vm, uint32_t type)
{
	struct kvm_create_device cd = { .type = type };
	return virq_ioctl(vm, KVM_CREATE_DEVICE, &cd) < 0 ? -errno : (int)cd.fd;
}

/* After the vCPUs: RAM, the vGICv3 and the ITS placed, then CTRL_INIT on both (KVM wants vCPUs first). */
int vmm_arm_vm_create(struct virq_vmm *vmm, char *err, size_t err_len)
{
	const uint64_t dist = VMM_ARM_GICD, redist = VMM_ARM_GICR, its = VMM_ARM_ITS;
	const char *step = "guest RAM";
	int ret;

	vmm->ram = mmap(NULL, VMM_ARM_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vmm->ram == MAP_FAILED) {
		vmm->ram = NULL;
		ret = -errno;
		goto fail;
	}
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = VMM_ARM_RAM,
		.memory_size = VMM_ARM_RAM_SIZE,
		.userspace_addr = (uint64_t)(uintptr_t)vmm->ram,
	};
	ret = virq_ioctl(vmm->vm, KVM_SET_USER_MEMORY_REGION, &region) < 0 ? -errno : 0;
	if (ret == 0) {
		step = "creating the vGICv3";
		ret = vmm->gic = arm_create_device(vmm->vm, KVM_DEV_TYPE_ARM_VGIC_V3);
	}
	if (ret >= 0) {
		step = "placing the distributor";
		ret = arm_set_attr(vmm->gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
	}
	if (ret == 0) {
		step = "placing the redistributors";
		ret = arm_set_attr(vmm->gic, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
	}
	if (ret == 0) {
		step = "creating the ITS";
		ret = vmm->its = arm_create_device(vmm->vm, KVM_DEV_TYPE_ARM_VGIC_ITS);
	}
	if (ret >= 0) {
		step = "placing the ITS";
		ret = arm_set_attr(vmm->its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its);
	}
	if (ret == 0) {
		step = "initialising the vGICv3";
		ret = arm_set_attr(vmm->gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	}
	if (ret == 0) {
		step = "initialising the ITS";
		ret = arm_set_attr(vmm->its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	}
	if (ret >= 0)
		return 0;
fail:
	snprintf(err, err_len, "arm64 VM: %s: %s", step, strerror(-ret));
	return ret;
}

void vmm_arm_vm_destroy(struct virq_vmm *vmm)
{
	if (vmm->its >= 0)
		virq_close(vmm->its);
	if (vmm->gic >= 0)
		virq_close(vmm->gic);
	vmm->its = vmm->gic = -1;
}

/* A rising edge on SPI VMM_ARM_ACTION_INTID (the guest configured it edge, routed to vCPU 0). */
int vmm_arm_request_action(struct virq_vmm *vmm)
{
	struct kvm_irq_level line = {
		.irq = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | VMM_ARM_ACTION_INTID,
		.level = 1,
	};
	if (virq_ioctl(vmm->vm, KVM_IRQ_LINE, &line) < 0)
		return -errno;
	line.level = 0;
	return virq_ioctl(vmm->vm, KVM_IRQ_LINE, &line) < 0 ? -errno : 0;
}

/* Where action @a (a retarget, or a generated rotation) sends vector @k, or -1 if it does not move it. */
static int arm_action_target(const struct virq_vmm *vmm, const struct virq_vmm_action *a, unsigned k)
{
	bool rotation = a >= vmm->actions + vmm->cfg.nactions;

	if (a->kind != VIRQ_VMM_ACTION_RETARGET)
		return -1;
	if (rotation)
		return (int)((vmm->dev[a->device].cfg.affinity[k] + a->vcpu) % vmm->cfg.vcpus);
	return k == a->vector ? (int)a->vcpu : -1;
}

/*
 * On arm64 a retarget is the guest's MOVI, which no route shows, so the VMM brackets the action itself:
 * before it (@done false) each vector it moves gets the odd sequence that says "either vCPU is right" to
 * the stale check; after it (@done true) the new vCPU is published and the sequence made even again.
 */
void vmm_arm_action_targets(struct virq_vmm *vmm, const struct virq_vmm_action *a, bool done)
{
	struct vmm_device *dev = &vmm->dev[a->device];
	uint64_t now = vmm_now_ns();

	for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
		struct vmm_msix_vector *v = &dev->vec[k];
		int vcpu = arm_action_target(vmm, a, k);
		if (vcpu < 0)
			continue;
		if (done) {
			atomic_store(&v->its_vcpu, vcpu);
			atomic_store(&v->target_vcpu, vcpu);
			atomic_store(&v->route_changed_ns, now);
			vmm_emit(vmm, VIRQ_VMM_EVENT_ROUTE, now, dev->index, k, vcpu);
		}
		atomic_fetch_add(&v->route_seq, 1);
	}
}

/*
 * Direct LPI injection (gic_v4): the engine counts per irqfd, and an irqfd the VMM removes (a masked
 * entry with the table in the VMM) takes its counts with it, so msix.c adds them to the vector's
 * retired counts at removal, under dev->lock as here.
 */
void vmm_arm_irqfd_direct_counts(struct vmm_device *dev, unsigned k, uint64_t counts[2])
{
	struct virq_irqfd_bypass_state st;

	counts[0] = counts[1] = 0;
	if (dev->vec[k].irqfd_bound && virq_vm_irqfd_bypass(dev->vmm->engine, dev->vec[k].trigger, &st) == 0) {
		counts[0] = st.direct_injected;
		counts[1] = st.direct_fallbacks;
	}
}

void vmm_arm_report(struct virq_vmm *vmm, struct virq_vmm_report *r)
{
	r->direct_lpi = vmm->arm && vmm->cfg.gic_v4;
	if (!r->direct_lpi)
		return;
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		if (!vmm_delivery_irqfd(dev->cfg.delivery))
			continue;
		pthread_mutex_lock(&dev->lock);
		for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
			uint64_t counts[2];
			vmm_arm_irqfd_direct_counts(dev, k, counts);
			r->direct_injected += dev->vec[k].direct_retired[0] + counts[0];
			r->direct_fallbacks += dev->vec[k].direct_retired[1] + counts[1];
		}
		pthread_mutex_unlock(&dev->lock);
	}
}
