/* SPDX-License-Identifier: MIT */
/*
 * explain.c - how one device source reaches the guest, hop by hop, for `virq explain`: table entry ->
 * GSI -> route -> irqfd -> delivery mode -> target vCPU and vector, each read from where it really lives
 * (the engine's copy of the MSI-X table when the table is registered with it), with the reason for the
 * mode in words.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <virq/vm.h>

#include "vmm/vmm_internal.h"

/* The entry as the guest has it now. Caller holds dev->lock. */
static void explain_entry(struct vmm_device *dev, unsigned k, struct virq_vmm_explanation *out)
{
	const struct vmm_msix_vector *v = &dev->vec[k];
	uint32_t words[4] = { v->addr_lo, v->addr_hi, v->data, v->ctrl };

	if (dev->table_in_engine && virq_vm_msix_mmio_save(dev->vmm->engine, dev->cfg.requester_id) == 0)
		memcpy(words, (uint8_t *)dev->table_copy + k * VMM_MSIX_ENTRY_SIZE, sizeof(words));
	out->entry_addr_lo = words[0];
	out->entry_addr_hi = words[1];
	out->entry_data = words[2];
	out->entry_masked = words[3] & VMM_MSIX_CTRL_MASKBIT;
	out->function_masked = dev->msix_flags & VMM_MSIX_FLAGS_MASKALL;
	out->msix_enabled = dev->msix_flags & VMM_MSIX_FLAGS_ENABLE;
}

static void explain_msix(struct vmm_device *dev, unsigned k, struct virq_vmm_explanation *out)
{
	struct vmm_msix_vector *v = &dev->vec[k];

	pthread_mutex_lock(&dev->lock);
	explain_entry(dev, k, out);
	out->table_in_engine = dev->table_in_engine;
	out->gsi = v->gsi;
	out->irqfd = v->irqfd_bound;
	pthread_mutex_lock(&dev->vmm->routes_lock);
	out->route_valid = v->route_valid;
	out->route_addr_lo = v->route_addr_lo;
	out->route_data = v->route_data;
	pthread_mutex_unlock(&dev->vmm->routes_lock);
	pthread_mutex_unlock(&dev->lock);

	bool held = out->entry_masked || out->function_masked || !out->msix_enabled;
	if (dev->vmm->arm) {
		/* The entry names the ITS and the EventID; the guest's ITS mapping names the LPI and vCPU. */
		out->intid = v->lpi;
		out->target_vcpu = held ? -1 : atomic_load(&v->its_vcpu);
	} else {
		out->guest_vector = (uint8_t)out->entry_data;
		out->target_vcpu = held ? -1 : (int)((out->entry_addr_lo >> 12) & 0xff);
	}
	if (dev->cfg.delivery == VIRQ_VMM_DELIVERY_USERSPACE) {
		out->mode = "userspace";
		snprintf(out->why, sizeof(out->why),
			 "the scenario asks for it: the VMM reads the trigger and injects with KVM_SIGNAL_MSI");
	} else {
		out->mode = "software";
		snprintf(out->why, sizeof(out->why),
			 "no IOMMU is modelled for this device, so nothing can post it: the engine injects from "
			 "the irqfd");
	}
	if (held)
		snprintf(out->why + strlen(out->why), sizeof(out->why) - strlen(out->why),
			 "; held now: %s", !out->msix_enabled ? "MSI-X is disabled"
					   : out->function_masked ? "the function is masked" : "the entry is masked");
}

static void explain_intx(struct vmm_device *dev, struct virq_vmm_explanation *out)
{
	out->intx = true;
	out->intx_pin = dev->cfg.intx_pin;
	out->gsi = dev->intx_gsi;
	out->irqfd = out->resample = dev->intx_trigger >= 0;
	out->mode = "software";
	if (dev->vmm->arm)
		snprintf(out->why, sizeof(out->why),
			 "level INTx: the resampling irqfd asserts SPI %u; the guest's deactivation de-asserts it "
			 "and VFIO unmasks the line", VMM_ARM_SPI_BASE + dev->intx_gsi);
	else
		snprintf(out->why, sizeof(out->why),
			 "level INTx: the resampling irqfd asserts IOAPIC pin %u; the guest's EOI de-asserts it and "
			 "VFIO unmasks the line", dev->intx_gsi);
	out->target_vcpu = (int)dev->cfg.affinity[0]; /* as the generated driver programs the pin */
	out->guest_vector = dev->vmm->arm ? 0 : dev->intx_vector;
	out->intid = dev->vmm->arm ? VMM_ARM_SPI_BASE + dev->intx_gsi : 0;
}

int virq_vmm_explain(struct virq_vmm *vmm, unsigned device, unsigned source, struct virq_vmm_explanation *out)
{
	if (device >= vmm->ndevices)
		return -EINVAL;
	struct vmm_device *dev = &vmm->dev[device];
	if (source >= (dev->cfg.msix_vectors ? dev->cfg.msix_vectors : 1))
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->device = device;
	out->source = source;
	out->requester_id = dev->cfg.requester_id;
	if (dev->cfg.msix_vectors)
		explain_msix(dev, source, out);
	else
		explain_intx(dev, out);
	return 0;
}
