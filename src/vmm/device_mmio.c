/* SPDX-License-Identifier: MIT */
/*
 * device_mmio.c - what a vCPU thread does with KVM_EXIT_MMIO: the guest's accesses to PCI configuration
 * space (ECAM), to device BARs (the MSI-X table and PBA stay here, everything else goes to the device
 * through its VFIO regions), and to the VMM's mailbox.
 *
 * This is also where the VMM sees the drivers work: a STATUS read opens a handler run on that vCPU and
 * the ACK that follows names the cause it serviced, which is how handler runs are counted per vCPU and a
 * run on a vCPU the vector no longer targets is caught.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include "vmm/vmm_internal.h"

struct vmm_device *vmm_device_by_rid(struct virq_vmm *vmm, unsigned rid)
{
	for (unsigned d = 0; d < vmm->ndevices; d++)
		if (vmm->dev[d].cfg.requester_id == rid)
			return &vmm->dev[d];
	return NULL;
}

static int vmm_vfio_access(struct vmm_device *dev, unsigned region, uint64_t offset, uint8_t *data,
			   unsigned len, bool write)
{
	uint64_t at = VIRQ_VFIO_REGION_OFFSET(region) + offset;
	ssize_t n = write ? virq_vfio_region_write(dev->vfio, data, len, at)
			  : virq_vfio_region_read(dev->vfio, data, len, at);
	return n == (ssize_t)len ? 0 : -EIO;
}

static int vmm_config_access(struct virq_vmm *vmm, uint64_t gpa, uint8_t *data, unsigned len, bool write)
{
	struct vmm_device *dev = vmm_device_by_rid(vmm, (unsigned)((gpa - VMM_ECAM_BASE) >> 12));
	unsigned offset = (unsigned)(gpa & 0xfff);

	if (!dev) {
		if (!write)
			memset(data, 0xff, len); /* no function there: config reads return all ones */
		return 0;
	}
	/*
	 * Message Control of MSI-X is ours, whatever the access that overlaps it (QEMU's msix_write_config):
	 * enabling MSI-X is a VFIO request, not a register write. The capability's other bytes are read-only.
	 */
	unsigned flags_at = dev->msix_cap + 2;
	if (dev->msix_cap && offset < flags_at + 2 && offset + len > flags_at) {
		uint8_t bytes[2];
		uint16_t flags;
		int ret = 0;
		pthread_mutex_lock(&dev->lock);
		flags = (uint16_t)(dev->msix_flags | (dev->cfg.msix_vectors - 1));
		pthread_mutex_unlock(&dev->lock);
		memcpy(bytes, &flags, 2);
		if (!write)
			ret = vmm_vfio_access(dev, VFIO_PCI_CONFIG_REGION_INDEX, offset, data, len, false);
		for (unsigned i = 0; i < len && ret == 0; i++) {
			unsigned at = offset + i;
			if (at < flags_at || at >= flags_at + 2)
				continue;
			if (write)
				bytes[at - flags_at] = data[i];
			else
				data[i] = bytes[at - flags_at];
		}
		if (write && ret == 0) {
			memcpy(&flags, bytes, 2);
			ret = vmm_msix_write_flags(dev, flags);
		}
		return ret;
	}
	return vmm_vfio_access(dev, VFIO_PCI_CONFIG_REGION_INDEX, offset, data, len, write);
}

/* The driver read STATUS: a handler run begins on this vCPU. INTx has one cause, so it is counted now. */
static void vmm_status_read(struct vmm_vcpu *vcpu, struct vmm_device *dev)
{
	uint64_t now = vmm_now_ns();

	vcpu->reading_device = (int)dev->index;
	vcpu->read_ns = now;
	if (dev->cfg.msix_vectors)
		return;
	atomic_fetch_add(&dev->intx_handler_runs, 1);
	atomic_fetch_add(&dev->intx_per_vcpu[vcpu->id], 1);
	vmm_emit(vcpu->vmm, VIRQ_VMM_EVENT_HANDLER, now, dev->index, 0, (int)vcpu->id);
}

/*
 * The driver is acking @bits: for an MSI-X device each bit is the vector whose handler is running. Called
 * before the write reaches the device, so a raise that follows the ack at once records its own time.
 */
static void vmm_ack_write(struct vmm_vcpu *vcpu, struct vmm_device *dev, uint64_t bits)
{
	uint64_t now = vmm_now_ns();

	if (!dev->cfg.msix_vectors) {
		atomic_store(&dev->intx_waiting_since_ns, 0);
		vmm_emit(vcpu->vmm, VIRQ_VMM_EVENT_ACK, now, dev->index, 0, (int)vcpu->id);
		return;
	}
	for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
		struct vmm_msix_vector *v = &dev->vec[k];
		if (!(bits & (1ull << k)))
			continue;
		uint64_t since = atomic_exchange(&v->waiting_since_ns, 0);
		atomic_fetch_add(&v->handler_runs, 1);
		atomic_fetch_add(&v->per_vcpu[vcpu->id], 1);
		/*
		 * Raised after its route moved away from this vCPU, yet delivered here: stale. Not judged while
		 * a route change is being committed, when either vCPU is right.
		 */
		unsigned seq = atomic_load(&v->route_seq);
		if (!(seq & 1) && atomic_load(&v->target_vcpu) != (int)vcpu->id && since &&
		    since > atomic_load(&v->route_changed_ns) && seq == atomic_load(&v->route_seq))
			atomic_fetch_add(&v->stale, 1);
		uint64_t began = vcpu->reading_device == (int)dev->index ? vcpu->read_ns : now;
		vmm_emit(vcpu->vmm, VIRQ_VMM_EVENT_HANDLER, began, dev->index, k, (int)vcpu->id);
		vmm_emit(vcpu->vmm, VIRQ_VMM_EVENT_ACK, now, dev->index, k, (int)vcpu->id);
	}
	vcpu->reading_device = -1;
}

static int vmm_bar_access(struct vmm_vcpu *vcpu, uint64_t gpa, uint8_t *data, unsigned len, bool write)
{
	struct virq_vmm *vmm = vcpu->vmm;
	unsigned d = (unsigned)((gpa - VMM_BAR_BASE) / VMM_DEVICE_WINDOW);
	unsigned bar = (unsigned)((gpa - VMM_BAR_BASE) % VMM_DEVICE_WINDOW / VMM_BAR_WINDOW);
	uint64_t offset = (gpa - VMM_BAR_BASE) % VMM_BAR_WINDOW;

	if (d >= vmm->ndevices || bar >= 6 || offset + len > vmm->dev[d].bar_size[bar])
		return -ENXIO;
	struct vmm_device *dev = &vmm->dev[d];
	int table = vmm_msix_table_access(dev, gpa, data, len, write);
	if (table != 0)
		return table < 0 ? table : 0;
	/* ACK is 8 bytes wide: a 4-byte write to its upper half acks causes 32-63. */
	if (bar == 0 && write && (offset == VIRQ_PCI_REG_ACK || (offset == VIRQ_PCI_REG_ACK + 4 && len == 4))) {
		uint64_t bits = 0;
		memcpy(&bits, data, len < 8 ? len : 8);
		vmm_ack_write(vcpu, dev, offset == VIRQ_PCI_REG_ACK ? bits : bits << 32);
	}
	int ret = vmm_vfio_access(dev, VFIO_PCI_BAR0_REGION_INDEX + bar, offset, data, len, write);
	if (ret == 0 && bar == 0 && offset == VIRQ_PCI_REG_STATUS && !write)
		vmm_status_read(vcpu, dev);
	return ret;
}

static int vmm_mailbox_access(struct vmm_vcpu *vcpu, uint64_t gpa, uint8_t *data, unsigned len, bool write)
{
	struct virq_vmm *vmm = vcpu->vmm;
	uint32_t value = 0;

	pthread_mutex_lock(&vmm->mailbox_lock);
	if (gpa == VMM_MAILBOX_READY && !write) {
		value = vcpu->id == 0; /* the boot vCPU programs the devices */
	} else if (gpa == VMM_MAILBOX_READY) {
		vmm->ready_vcpus++;
		pthread_cond_broadcast(&vmm->mailbox_cond);
	} else if (gpa == VMM_MAILBOX_ACTION && !write) {
		value = vmm->mailbox_action;
	} else if (gpa == VMM_MAILBOX_DONE && write) {
		memcpy(&value, data, len < 4 ? len : 4);
		if (value && value == vmm->mailbox_action) {
			vmm->mailbox_done = true;
			pthread_cond_broadcast(&vmm->mailbox_cond);
		}
		value = 0;
	}
	pthread_mutex_unlock(&vmm->mailbox_lock);
	if (!write) {
		memset(data, 0, len);
		memcpy(data, &value, len < 4 ? len : 4);
	}
	return 0;
}

int vmm_handle_mmio(struct vmm_vcpu *vcpu, struct kvm_run *run)
{
	uint64_t gpa = run->mmio.phys_addr;
	unsigned len = run->mmio.len;
	bool write = run->mmio.is_write;

	if (len == 0 || len > 8)
		return -EINVAL;
	if (gpa >= VMM_ECAM_BASE && gpa < VMM_ECAM_BASE + VMM_ECAM_SIZE)
		return vmm_config_access(vcpu->vmm, gpa, run->mmio.data, len, write);
	if (gpa >= VMM_BAR_BASE && gpa < VMM_BAR_BASE + VIRQ_VMM_MAX_DEVICES * VMM_DEVICE_WINDOW)
		return vmm_bar_access(vcpu, gpa, run->mmio.data, len, write);
	if (gpa >= VMM_MAILBOX_BASE && gpa < VMM_MAILBOX_BASE + VMM_MAILBOX_SIZE)
		return vmm_mailbox_access(vcpu, gpa, run->mmio.data, len, write);
	return -ENXIO;
}
