/* SPDX-License-Identifier: MIT */
/*
 * explain.c - how one device source reaches the guest, hop by hop, for `virq explain`: table entry ->
 * GSI -> route -> irqfd -> delivery mode -> target vCPU and vector, each read from where it really lives
 * (the engine's copy of the MSI-X table when the table is registered with it), with the reason for the
 * mode in words. For irqfds the mode and the reason are the engine's irq-bypass decision
 * (virq_vm_irqfd_bypass): posted, remapped, direct (arm64 on a GICv4 host: the device's message latches
 * the LPI itself), or software when nothing can bypass the eventfd. For an INTx line the host says
 * whether it is forwarded (arm64: a hardware-mapped SPI) and how it was completed.
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

/* @reason without its leading "@mode: " (the engine's reasons start with the path they chose). */
static const char *explain_reason(const char *reason, const char *mode)
{
	size_t n = strlen(mode);
	return !strncmp(reason, mode, n) && !strncmp(reason + n, ": ", 2) ? reason + n + 2 : reason;
}

/*
 * arm64: every irqfd is a bypass consumer, paired with the VFIO vector that shares its eventfd. On a
 * GICv4 host (gic_v4) the engine resolves the vector's route through the ITS, and while it translates to
 * a deliverable LPI the device's message latches that LPI itself ("direct"); otherwise, or on a GICv3
 * host (the engine's reason is then "direct LPI injection off"), the host signals the trigger eventfd and
 * the engine's irqfd injects through the ITS ("software"). The target is the engine's own answer for
 * "direct", the VMM's record of the guest's MAPTI and MOVIs otherwise.
 */
static void explain_arm_irqfd(struct vmm_device *dev, const struct virq_irqfd_bypass_state *st,
			      struct virq_vmm_explanation *out)
{
	static const char software_path[] = "the host signals the trigger eventfd and the engine's irqfd injects "
					    "through the ITS";

	out->paired = st->path == VIRQ_IRQFD_PATH_DIRECT_LPI || !strncmp(st->reason, "software: ", 10);
	out->direct_injected = st->direct_injected;
	out->direct_fallbacks = st->direct_fallbacks;
	if (st->path == VIRQ_IRQFD_PATH_DIRECT_LPI) {
		out->mode = "direct";
		snprintf(out->why, sizeof(out->why), "%s (the device's message latches the LPI itself: no eventfd, no "
			 "engine thread)", explain_reason(st->reason, "direct"));
		out->devid = st->devid;
		out->eventid = st->eventid;
		out->intid = st->intid;
		out->target_vcpu = (int)st->vcpu;
		return;
	}
	out->mode = "software";
	if (!out->paired)
		snprintf(out->why, sizeof(out->why), "%s: the engine's irqfd injects through the ITS", st->reason);
	else if (!dev->vmm->cfg.gic_v4)
		snprintf(out->why, sizeof(out->why), "%s: a GICv3 host, so %s",
			 explain_reason(st->reason, "software"), software_path);
	else
		snprintf(out->why, sizeof(out->why), "%s: %s", explain_reason(st->reason, "software"), software_path);
}

/*
 * Delivery through an irqfd (IRQFD, POSTED, REMAPPED): the path the engine's irq bypass decided for the
 * vector's trigger eventfd, with the policy's reason. A device the VMM did not put behind its IOMMU is
 * still paired (every VFIO vector is a producer) but cannot post, and without an IOMMU nothing is
 * remapped either: its interrupts take the software path, eventfd then irqfd. The trigger and the GSI
 * are immutable, so no lock is needed; the engine answers under its own.
 */
static void explain_irqfd_path(struct vmm_device *dev, unsigned k, struct virq_vmm_explanation *out)
{
	struct virq_vm *engine = dev->vmm->engine;
	struct virq_irqfd_bypass_state st;
	struct virq_gsi_counts counts;

	if (dev->behind_iommu) {
		int index = virq_iommu_vector_index(dev->fn, k);
		out->irte_index = index < 0 ? -1 : index;
	}
	if (virq_vm_gsi_counts(engine, dev->vec[k].gsi, &counts) == 0)
		out->irqfd_signals = counts.irqfd_signals;
	int ret = virq_vm_irqfd_bypass(engine, dev->vec[k].trigger, &st);
	if (ret == -ENOENT) {
		/* The irqfd is away while the entry is masked (table in the VMM), and with it the pairing. */
		out->mode = dev->behind_iommu ? "remapped" : "software";
		snprintf(out->why, sizeof(out->why),
			 "no irqfd while the entry is masked: %s the trigger eventfd, which the VMM reads into the "
			 "virtual pending bit", dev->behind_iommu ? "the IOMMU's host IRQ signals" : "the host signals");
		return;
	}
	if (ret < 0) {
		out->mode = "software";
		snprintf(out->why, sizeof(out->why), "the engine cannot tell the irqfd's path: %s", strerror(-ret));
		return;
	}
	out->bypass_posts = st.posts;
	out->bypass_remaps = st.remaps;
	if (dev->vmm->arm) {
		explain_arm_irqfd(dev, &st, out);
		return;
	}
	if (st.path == VIRQ_IRQFD_PATH_POSTED) {
		out->mode = "posted";
		snprintf(out->why, sizeof(out->why), "%s (the IOMMU writes vCPU %u's posted-interrupt descriptor: "
			 "no eventfd, no engine thread)", explain_reason(st.reason, "posted"), st.vcpu);
		out->target_vcpu = (int)st.vcpu;
		out->guest_vector = st.vector;
	} else if (st.path == VIRQ_IRQFD_PATH_REMAPPED && dev->behind_iommu) {
		out->mode = "remapped";
		snprintf(out->why, sizeof(out->why), "%s (the IOMMU's host IRQ signals the trigger eventfd and the "
			 "engine injects from the irqfd)", explain_reason(st.reason, "remapped"));
	} else if (st.path == VIRQ_IRQFD_PATH_REMAPPED) {
		out->mode = "software";
		snprintf(out->why, sizeof(out->why),
			 "no IOMMU for this device (delivery %s), so nothing can post it: the host signals the "
			 "trigger eventfd and the engine injects from the irqfd",
			 virq_vmm_delivery_name(dev->cfg.delivery));
	} else {
		/* Not paired: MSI-X not enabled yet (no VFIO trigger). */
		out->mode = "software";
		snprintf(out->why, sizeof(out->why), "%s: the engine injects from the irqfd", st.reason);
	}
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
	out->irte_index = -1;
	if (dev->cfg.delivery == VIRQ_VMM_DELIVERY_USERSPACE) {
		out->mode = "userspace";
		snprintf(out->why, sizeof(out->why),
			 "the scenario asks for it: the VMM reads the trigger and injects with KVM_SIGNAL_MSI");
	} else {
		explain_irqfd_path(dev, k, out);
	}
	const char *why_held = !out->msix_enabled ? "MSI-X is disabled"
			       : out->function_masked ? "the function is masked" : "the entry is masked";
	/* A held vector is never posted: the engine remaps it while its table holds it (the reason says
	 * so), and with the table in the VMM its irqfd, and with it the pairing, is gone. */
	if (held)
		snprintf(out->why + strlen(out->why), sizeof(out->why) - strlen(out->why), "; held now: %s", why_held);
}

/*
 * INTx: the host line's own view (forwarded or not, completions by the guest, VFIO unmasks) comes from
 * the host (virq_vfio_intx_stats), so explain says what the line really did, not what the VMM asked for.
 */
static void explain_intx(struct vmm_device *dev, struct virq_vmm_explanation *out)
{
	struct virq_vfio_intx_stats st;

	out->intx = true;
	out->intx_pin = dev->cfg.intx_pin;
	out->gsi = dev->intx_gsi;
	out->irqfd = out->resample = dev->intx_trigger >= 0;
	out->irte_index = -1; /* INTx is never remapped here */
	out->mode = "software";
	if (dev->fn && virq_vfio_intx_stats(dev->fn, &st) == 0) {
		out->line_stats = true;
		out->forwarded = st.forwarded;
		out->line_signals = st.signals;
		out->line_completions = st.fwd_completions;
		out->line_refires = st.fwd_refires;
		out->line_unmasks = st.unmasks;
	}
	if (dev->vmm->arm && out->forwarded) {
		out->mode = "forwarded";
		snprintf(out->why, sizeof(out->why),
			 "hardware-mapped SPI %u: the guest's deactivation completes the host line directly, no "
			 "resamplefd round trip (the kvm-vfio device forwards the INTx line to SPI number %u)",
			 VMM_ARM_SPI_BASE + dev->intx_gsi, dev->intx_gsi);
	} else if (dev->vmm->arm && dev->cfg.delivery == VIRQ_VMM_DELIVERY_FORWARDED) {
		snprintf(out->why, sizeof(out->why),
			 "delivery forwarded, but the line is not forwarded now: the resampling irqfd asserts SPI "
			 "%u; the guest's deactivation de-asserts it and VFIO unmasks the line",
			 VMM_ARM_SPI_BASE + dev->intx_gsi);
	} else if (dev->vmm->arm) {
		snprintf(out->why, sizeof(out->why),
			 "level INTx: the resampling irqfd asserts SPI %u; the guest's deactivation de-asserts it "
			 "and VFIO unmasks the line", VMM_ARM_SPI_BASE + dev->intx_gsi);
	} else {
		snprintf(out->why, sizeof(out->why),
			 "level INTx: the resampling irqfd asserts IOAPIC pin %u; the guest's EOI de-asserts it and "
			 "VFIO unmasks the line", dev->intx_gsi);
	}
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
