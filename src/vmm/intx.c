/* SPDX-License-Identifier: MIT */
/*
 * intx.c - a device's level INTx line, wired as QEMU wires vfio-pci INTx to KVM (seed 004):
 *
 *   VFIO INTx trigger eventfd  --KVM_IRQFD(RESAMPLE)-->  GSI (IOAPIC pin, level)
 *   guest EOI -> engine de-asserts the GSI -> resamplefd  ==  VFIO's INTx unmask eventfd
 *
 * VFIO masks the host line when it fires (automask) and unmasks it when the resamplefd is written, so a
 * device that still asserts fires again, and one the driver acked stays quiet. The VMM is not on this
 * path at all once it is wired.
 *
 * FORWARDED (arm64, seed 001) is the same wiring, and the line is forwarded to its SPI before the trigger
 * is set (kvm_vfio.c): the SPI is hardware-mapped, so the guest's deactivation completes the host line
 * itself (unmasked, or fired again if still asserted), the SPI is never resampled, and the resamplefd and
 * the unmask eventfd stay idle; they take over again only if the line is unforwarded. That is what QEMU
 * would do with the seed: keep its INTx wiring and add the forward. The host's counts of the line go into
 * the report (vmm_intx_report) and `virq explain`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/vmm_internal.h"

static int vmm_intx_set(struct vmm_device *dev, uint32_t action, int fd)
{
	/* struct vfio_irq_set ends in a flexible array: one eventfd follows it. */
	union {
		struct vfio_irq_set set;
		uint8_t bytes[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
	} req = { .set = {
		.argsz = sizeof(req),
		.flags = action | VFIO_IRQ_SET_DATA_EVENTFD,
		.index = VFIO_PCI_INTX_IRQ_INDEX,
		.start = 0,
		.count = 1,
	} };
	int32_t fd32 = fd;

	memcpy(req.set.data, &fd32, sizeof(fd32));
	return virq_ioctl(dev->vfio, VFIO_DEVICE_SET_IRQS, &req) < 0 ? -errno : 0;
}

int vmm_intx_init(struct vmm_device *dev, char *err, size_t err_len)
{
	const char *step = "eventfd";
	int ret;

	dev->intx_trigger = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	dev->intx_unmask = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dev->intx_trigger < 0 || dev->intx_unmask < 0) {
		ret = -errno;
		goto fail;
	}
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)dev->intx_trigger,
		.gsi = dev->intx_gsi,
		.flags = KVM_IRQFD_FLAG_RESAMPLE,
		.resamplefd = (uint32_t)dev->intx_unmask,
	};
	step = "KVM_IRQFD (resample)";
	if (virq_ioctl(dev->vmm->vm, KVM_IRQFD, &irqfd) < 0) {
		ret = -errno;
		goto fail;
	}
	step = "VFIO INTx trigger";
	ret = vmm_intx_set(dev, VFIO_IRQ_SET_ACTION_TRIGGER, dev->intx_trigger);
	if (ret == 0) {
		step = "VFIO INTx unmask eventfd";
		ret = vmm_intx_set(dev, VFIO_IRQ_SET_ACTION_UNMASK, dev->intx_unmask);
	}
	if (ret == 0)
		return 0;
fail:
	snprintf(err, err_len, "device %s: INTx: %s: %s", dev->cfg.name, step, strerror(-ret));
	return ret;
}

void vmm_intx_teardown(struct vmm_device *dev)
{
	/* Unforward first, while the irqfd is still there: a line the guest left active is completed now. */
	vmm_kvm_vfio_unforward(dev);
	if (dev->intx_trigger >= 0) {
		struct kvm_irqfd irqfd = {
			.fd = (uint32_t)dev->intx_trigger,
			.gsi = dev->intx_gsi,
			.flags = KVM_IRQFD_FLAG_DEASSIGN,
		};
		virq_ioctl(dev->vmm->vm, KVM_IRQFD, &irqfd);
		close(dev->intx_trigger);
	}
	if (dev->intx_unmask >= 0)
		close(dev->intx_unmask);
	dev->intx_trigger = dev->intx_unmask = -1;
}

/* The host's counts of every FORWARDED device's line, summed (the report's forwarding fields). */
void vmm_intx_report(struct virq_vmm *vmm, struct virq_vmm_report *r)
{
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		struct vmm_device *dev = &vmm->dev[d];
		struct virq_vfio_intx_stats st;
		if (dev->cfg.delivery != VIRQ_VMM_DELIVERY_FORWARDED)
			continue;
		r->forwarding = true;
		if (!dev->fn || virq_vfio_intx_stats(dev->fn, &st) < 0)
			continue;
		r->fwd_completions += st.fwd_completions;
		r->fwd_refires += st.fwd_refires;
		r->fwd_unmasks += st.unmasks;
	}
}
