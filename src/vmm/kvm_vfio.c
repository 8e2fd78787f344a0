/* SPDX-License-Identifier: MIT */
/*
 * kvm_vfio.c - the VM's kvm-vfio device (KVM_CREATE_DEVICE with KVM_DEV_TYPE_VFIO), one per VM and shared
 * by every use, as QEMU keeps one and adds every VFIO device it assigns to it (KVM_DEV_VFIO_FILE_ADD):
 *
 *   - x86, delivery POSTED and REMAPPED (iommu.c): the file is added so the engine's irq bypass can name
 *     it; REMAPPED then overrides the policy with KVM_DEV_VFIO_DEVICE_UNPOST_IRQ for every vector (seed
 *     000), before any irqfd exists, so a REMAPPED vector is never posted, not even for a moment.
 *   - arm64, delivery FORWARDED (intx.c): the file is added and the device's INTx line forwarded to its
 *     SPI with KVM_DEV_VFIO_DEVICE_FORWARD_IRQ (seed 001, docs/forwarding.md), gsi = the SPI number
 *     (INTID - 32), which is the line's GSI under the VMM's default routes (GSI n = irqchip pin n). This
 *     runs before VFIO_DEVICE_SET_IRQS sets the INTx trigger: with signalling off the line cannot be
 *     active, so the EAGAIN rule never applies, and the first interrupt is already a hardware-mapped one.
 *
 * The device is made by the first device that needs it, in config order, before any irqfd or VFIO
 * trigger exists (virq_vmm_create). Teardown (vmm.c): each forwarded line is unforwarded first
 * (vmm_kvm_vfio_unforward, from the INTx teardown, which completes a line the guest left active), then
 * the irqfds go, then the device is released here (its release drops every override and forward still
 * set, and the duplicate it holds of each VFIO descriptor), then the VFIO descriptors and the functions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm_internal.h"

static int vmm_kvm_vfio_attr(int kvm_vfio, uint32_t group, uint64_t attr, const void *arg)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)arg };
	return virq_ioctl(kvm_vfio, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

/* The VM's kvm-vfio device, made on first use. */
static int vmm_kvm_vfio_device(struct virq_vmm *vmm)
{
	struct kvm_create_device cd = { .type = KVM_DEV_TYPE_VFIO };

	if (vmm->kvm_vfio >= 0)
		return vmm->kvm_vfio;
	if (virq_ioctl(vmm->vm, KVM_CREATE_DEVICE, &cd) < 0)
		return -errno;
	return vmm->kvm_vfio = (int)cd.fd;
}

/* UNPOST_IRQ for every MSI-X vector of @dev, vector k on its GSI (seed 000's per-vector override). */
static int vmm_kvm_vfio_unpost(struct vmm_device *dev)
{
	unsigned n = dev->cfg.msix_vectors;
	size_t argsz = sizeof(struct kvm_vfio_dev_irq) + n * sizeof(uint32_t);
	struct kvm_vfio_dev_irq *irq = calloc(1, argsz);

	if (!irq)
		return -ENOMEM;
	irq->argsz = (uint32_t)argsz;
	irq->fd = (uint32_t)dev->vfio;
	irq->index = VFIO_PCI_MSIX_IRQ_INDEX;
	irq->start = 0;
	irq->count = n;
	for (unsigned k = 0; k < n; k++)
		irq->gsi[k] = dev->vec[k].gsi;
	int ret = vmm_kvm_vfio_attr(dev->vmm->kvm_vfio, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_UNPOST_IRQ, irq);
	free(irq);
	return ret;
}

/* FORWARD_IRQ / UNFORWARD_IRQ of @dev's INTx line (index 0, subindex 0) to SPI number dev->intx_gsi. */
static int vmm_kvm_vfio_forward_attr(struct vmm_device *dev, uint64_t attr)
{
	struct kvm_arch_forwarded_irq f = {
		.fd = (uint32_t)dev->vfio,
		.index = VFIO_PCI_INTX_IRQ_INDEX,
		.subindex = 0,
		.gsi = dev->intx_gsi,
	};
	return vmm_kvm_vfio_attr(dev->vmm->kvm_vfio, KVM_DEV_VFIO_DEVICE, attr, &f);
}

int vmm_kvm_vfio_add(struct vmm_device *dev, char *err, size_t err_len)
{
	struct virq_vmm *vmm = dev->vmm;
	bool forward = dev->cfg.delivery == VIRQ_VMM_DELIVERY_FORWARDED;
	const char *step = "creating the kvm-vfio device";
	int32_t fd = dev->vfio;
	int ret;

	if (!dev->behind_iommu && !forward)
		return 0;
	if (forward && !vmm->arm) { /* vmm_check refuses it first; this keeps it off x86 whoever calls */
		snprintf(err, err_len, "device %s: delivery forwarded needs an Arm GIC (hardware-mapped SPIs): "
			 "arm64 only (use resample on x86_64)", dev->cfg.name);
		return -EINVAL;
	}
	ret = vmm_kvm_vfio_device(vmm);
	if (ret >= 0) {
		step = "KVM_DEV_VFIO_FILE_ADD";
		ret = vmm_kvm_vfio_attr(vmm->kvm_vfio, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &fd);
		dev->kvm_vfio_added = ret == 0;
	}
	if (ret == 0 && dev->cfg.delivery == VIRQ_VMM_DELIVERY_REMAPPED) {
		step = "KVM_DEV_VFIO_DEVICE_UNPOST_IRQ";
		ret = vmm_kvm_vfio_unpost(dev);
	}
	char what[64] = "";
	if (ret == 0 && forward) {
		/* Signalling is off (no SET_IRQS trigger yet), so the line is idle: EAGAIN cannot happen. */
		step = "KVM_DEV_VFIO_DEVICE_FORWARD_IRQ";
		snprintf(what, sizeof(what), " (INTx to SPI number %u, INTID %u)", dev->intx_gsi,
			 VMM_ARM_SPI_BASE + dev->intx_gsi);
		ret = vmm_kvm_vfio_forward_attr(dev, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ);
		dev->intx_forwarded = ret == 0;
	}
	if (ret < 0)
		snprintf(err, err_len, "device %s: %s%s: %s", dev->cfg.name, step, what, strerror(-ret));
	return ret < 0 ? ret : 0;
}

/*
 * Unforward @dev's INTx line (before its irqfd goes): unforwarding works at any time, and a line the guest
 * left active is completed by it (the host unmasks it, or fires it again if the device still asserts).
 */
int vmm_kvm_vfio_unforward(struct vmm_device *dev)
{
	if (!dev->intx_forwarded || dev->vmm->kvm_vfio < 0)
		return 0;
	int ret = vmm_kvm_vfio_forward_attr(dev, KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ);
	dev->intx_forwarded = false; /* on a failure the release below unforwards it anyway */
	return ret;
}

/*
 * Release the kvm-vfio device: its overrides and forwards end and the VFIO descriptors it holds are
 * closed. The irqfds must be gone already (vmm_msix_teardown, vmm_intx_teardown), so no pairing
 * re-decides against a device going away.
 */
void vmm_kvm_vfio_release(struct virq_vmm *vmm)
{
	if (vmm->kvm_vfio >= 0)
		virq_close(vmm->kvm_vfio);
	vmm->kvm_vfio = -1;
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		vmm->dev[d].kvm_vfio_added = false;
		vmm->dev[d].intx_forwarded = false;
	}
}
