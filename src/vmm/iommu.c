/* SPDX-License-Identifier: MIT */
/*
 * iommu.c - the IOMMU behind delivery POSTED and REMAPPED (x86), and their use of the kvm-vfio device,
 * wired the way a host with VT-d interrupt remapping and QEMU wire an assigned device for KVM:
 *
 *   - The host puts the function behind an IOMMU before vfio-pci hands it out (virq_iommu_attach refuses
 *     a function whose VFIO descriptor is open), so every MSI-X message it sends is remappable and goes
 *     through an IRTE. One IOMMU serves every such device of the VM; it is made with the first one and
 *     sized for all of them (a power of two, as the IRTA size field encodes it).
 *   - QEMU creates one kvm-vfio device per VM and adds every VFIO device it assigns (KVM_DEV_VFIO_FILE_ADD):
 *     that is how KVM learns the file, and here how the seed-000 attributes can name it. The device and
 *     its attributes live in kvm_vfio.c, shared with arm64's FORWARDED INTx lines.
 *   - Pairing needs nothing more: each vector's trigger eventfd is both VFIO's trigger (a bypass producer)
 *     and an irqfd (a bypass consumer), so the engine pairs them and its policy decides posted or
 *     remapped on every route change. POSTED leaves that decision alone; REMAPPED overrides it for every
 *     vector with KVM_DEV_VFIO_DEVICE_UNPOST_IRQ, which kvm_vfio.c issues before any irqfd exists, so a
 *     REMAPPED vector is never posted, not even between the irqfd's pairing and the override.
 *
 * Teardown is the reverse, in two halves around the VFIO descriptors (vmm.c): the irqfds go with the
 * MSI-X teardown (each producer back to remapped), then the kvm-vfio device (its overrides and the
 * duplicate of each VFIO descriptor it tracks), then the VFIO descriptors and the functions (destroying a
 * function detaches it), and the IOMMU last, when no IRTE is in use.
 *
 * Nothing here counts deliveries: a posted message never signals the trigger eventfd, and every VMM
 * counter is taken from the device (raises, acks) or the guest (handler runs), so both paths balance the
 * same way. The IOMMU's own counts go into the report (vmm_iommu_report).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm_internal.h"

/* IRTEs for every vector of every device that will be attached: a power of two, at least 2. */
static unsigned vmm_iommu_entries(const struct virq_vmm *vmm)
{
	unsigned vectors = 0, entries = 2;

	for (unsigned d = 0; d < vmm->ndevices; d++)
		if (vmm_delivery_bypass(vmm->dev[d].cfg.delivery))
			vectors += vmm->dev[d].cfg.msix_vectors;
	while (entries < vectors)
		entries <<= 1;
	return entries;
}

int vmm_iommu_attach(struct vmm_device *dev, char *err, size_t err_len)
{
	struct virq_vmm *vmm = dev->vmm;
	int ret;

	if (!vmm_delivery_bypass(dev->cfg.delivery))
		return 0;
	if (vmm->arm) { /* vmm_check refuses it first; this keeps the IOMMU off arm64 whoever calls */
		snprintf(err, err_len, "device %s: delivery %s needs VT-d posted interrupts: x86_64 only", dev->cfg.name,
			 virq_vmm_delivery_name(dev->cfg.delivery));
		return -EINVAL;
	}
	if (!vmm->iommu && (ret = virq_iommu_create(vmm_iommu_entries(vmm), &vmm->iommu)) < 0) {
		snprintf(err, err_len, "device %s: creating the IOMMU (%u entries): %s", dev->cfg.name,
			 vmm_iommu_entries(vmm), strerror(-ret));
		return ret;
	}
	if ((ret = virq_iommu_attach(vmm->iommu, dev->fn)) < 0) {
		snprintf(err, err_len, "device %s: attaching it to the IOMMU: %s", dev->cfg.name, strerror(-ret));
		return ret;
	}
	dev->behind_iommu = true;
	return 0;
}

/*
 * After every attached function is destroyed (which detaches it): no IRTE of this IOMMU is in use. If a
 * function could not be destroyed (still open), the IOMMU refuses with -EBUSY and is left allocated: a
 * leak, but the function still points at it.
 */
void vmm_iommu_release(struct virq_vmm *vmm)
{
	if (vmm->iommu && virq_iommu_destroy(vmm->iommu) == 0)
		vmm->iommu = NULL;
}

void vmm_iommu_report(struct virq_vmm *vmm, struct virq_vmm_report *r)
{
	struct virq_iommu_stats st;

	r->iommu = vmm->iommu != NULL;
	if (!r->iommu || virq_iommu_stats(vmm->iommu, &st) < 0)
		return;
	r->iommu_posted = st.posted;
	r->iommu_remapped = st.remapped;
	r->iommu_dropped = st.dropped + st.unclaimed;
}
