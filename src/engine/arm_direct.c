/* SPDX-License-Identifier: MIT */
/*
 * arm_direct.c - MSIs straight to the LPI (GICv4-like direct injection, issue 6 item 7; docs/forwarding.md
 * "MSIs straight to the LPI"): the arm64 VM's side of an irqfd's bypass consumer (irqfd_bypass.h).
 *
 * Linux on a GICv4 host maps the host LPI of a VFIO MSI to a vLPI when the irqfd on its trigger eventfd
 * has an MSI route; the device's message then sets the vLPI pending with no host handler. Here the
 * "hardware" is the GIC model: the engine resolves the irqfd's MSI route (KVM_MSI_VALID_DEVID, DeviceID,
 * EventID = data) through the vITS without injecting (virq_its_translate, KVM's set_forwarding checks),
 * and the VFIO vector's raise latches the LPI itself (virq_its_inject_direct), on the device's thread,
 * after the host dropped its lock: no eventfd write, no watcher, no translation per message. What KVM
 * mirrors into the vLPI afterwards (INV/INVALL properties, MOVI/MOVALL/MAPC retargets, INT/CLEAR) needs
 * nothing here: target, priority, enable and the pending latch live in the LPI object, which both paths
 * share. What changes the translation itself bumps the ITS's epoch first (its.h): a message still aimed
 * at the old translation is refused and the producer writes its eventfd instead, so it is translated
 * afresh by the irqfd exactly as without bypass; the engine then re-resolves (virq_arm_bypass_refresh,
 * called by every entry point that can change an ITS or EnableLPIs).
 *
 * Locks: resolve runs under the consumer's lock and takes its->lock -> gic->lock (virq_its_translate);
 * inject takes gic->lock only (plus an RCU read section for the MSI-X table check); refresh takes
 * vm->irqfd_lock and must be called with no model lock held (vm->lock may be held).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/arm_vm.h"
#include "engine/irqfd_bypass.h"
#include "engine/msix_mmio.h"
#include "engine/probes.h"
#include "engine/vm.h"

#define VIRQ_SAY(d, ...) snprintf((d)->reason, sizeof((d)->reason), __VA_ARGS__)

/* The resolution of one route (docs/forwarding.md lists every reason). */
void virq_arm_bypass_resolve(void *ctx, uint32_t gsi, const struct virq_bypass_route *route,
			     struct virq_bypass_decision *d, struct virq_bypass_lpi *t)
{
	struct virq_vm *vm = ctx;
	uint64_t doorbell = (uint64_t)route->address_hi << 32 | route->address_lo;
	uint32_t devid = route->devid, eventid = route->data;
	struct virq_its_xlate x;

	memset(d, 0, sizeof(*d));
	d->mode = VIRQ_BYPASS_SOFTWARE;
	if (!atomic_load(&vm->arm->direct_lpi)) {
		VIRQ_SAY(d, "software: direct LPI injection off (KVM_CAP_VIRQ_ARM_DIRECT_LPI)");
		return;
	}
	if (route->nr_entries == 0) {
		VIRQ_SAY(d, "software: GSI %u has no route", gsi);
		return;
	}
	if (route->nr_entries > 1) {
		VIRQ_SAY(d, "software: GSI %u has %u routes", gsi, route->nr_entries);
		return;
	}
	if (route->type != KVM_IRQ_ROUTING_MSI) {
		VIRQ_SAY(d, "software: GSI %u routes to an SPI, not an MSI", gsi);
		return;
	}
	if (!(route->flags & KVM_MSI_VALID_DEVID)) {
		VIRQ_SAY(d, "software: MSI route without a DeviceID (KVM_MSI_VALID_DEVID)");
		return;
	}
	if (!virq_arm_gic(vm)) {
		VIRQ_SAY(d, "software: vGIC not initialised");
		return;
	}
	struct virq_arm_its *its = virq_arm_its_at(vm->arm, doorbell);
	if (!its) {
		VIRQ_SAY(d, "software: doorbell 0x%llx in no ITS frame", (unsigned long long)doorbell);
		return;
	}
	if (!atomic_load_explicit(&its->ready, memory_order_acquire)) {
		VIRQ_SAY(d, "software: ITS not initialised");
		return;
	}
	switch (virq_its_translate(&its->its, devid, eventid, &x)) {
	case VIRQ_ITS_XLATE_DISABLED:
		VIRQ_SAY(d, "software: ITS disabled");
		return;
	case VIRQ_ITS_XLATE_NO_DEVICE:
		VIRQ_SAY(d, "software: device not mapped (DeviceID 0x%x)", devid);
		return;
	case VIRQ_ITS_XLATE_NO_EVENT:
		VIRQ_SAY(d, "software: event not mapped (DeviceID 0x%x EventID %u)", devid, eventid);
		return;
	case VIRQ_ITS_XLATE_NO_COLLECTION:
		VIRQ_SAY(d, "software: collection %u not mapped (DeviceID 0x%x EventID %u -> LPI %u)", x.icid, devid,
			 eventid, x.intid);
		return;
	case VIRQ_ITS_XLATE_LPIS_OFF:
		VIRQ_SAY(d, "software: LPIs disabled on vCPU %d (DeviceID 0x%x EventID %u -> LPI %u)", x.vcpu, devid,
			 eventid, x.intid);
		return;
	case VIRQ_ITS_XLATE_OK:
		break;
	}
	d->mode = VIRQ_BYPASS_DIRECT_LPI;
	d->vcpu = (unsigned)x.vcpu;
	d->devid = devid;
	d->eventid = eventid;
	d->intid = x.intid;
	VIRQ_SAY(d, "direct: DeviceID 0x%x EventID %u -> LPI %u on vCPU %d", devid, eventid, x.intid, x.vcpu);
	t->its = &its->its;
	t->intid = x.intid;
	t->gen = x.epoch;
}

/*
 * One message, on the producer's thread. Counted on the GSI as the irqfd path counts an assert (raised,
 * then delivered: the LPI is latched, once however many messages it merges), never in irqfd_signals.
 * Refused (the producer writes its eventfd, and the irqfd path counts it): a stale epoch, and a GSI the
 * engine's MSI-X table holds right now (masked entry, ...), whose pending bit only that path sets.
 */
int virq_arm_bypass_inject(void *ctx, uint32_t gsi, const struct virq_bypass_lpi *t, uint64_t raise_ns)
{
	struct virq_vm *vm = ctx;

	if (virq_msix_gsi_held(vm, gsi))
		return -EAGAIN;
	int r = virq_its_inject_direct(t->its, t->intid, t->gen, raise_ns);
	if (r != 1)
		return r < 0 ? r : -EAGAIN;
	VIRQ_PROBE(raise, gsi, 1, VIRQ_IRQ_SOURCE_USERSPACE);
	VIRQ_PROBE(inject, 0, t->intid, 0);
	if (gsi < KVM_MAX_IRQ_ROUTES) {
		virq_count(&vm->gsi_stats[gsi].raised);
		virq_vm_count_outcome(vm, gsi, r);
	}
	return 0;
}

void virq_arm_bypass_refresh(struct virq_vm *vm, bool force)
{
	struct virq_arm_vm *arm = vm->arm;
	struct virq_gic *gic = arm ? virq_arm_gic(vm) : NULL;

	/* Nothing paired: nothing to re-resolve (a pairing resolves afresh). */
	if (!gic || atomic_load(&vm->bypass_paired) == 0)
		return;
	if (!force && virq_gic_lpi_changes(gic) == atomic_load(&arm->bypass_seen))
		return;
	virq_irqfd_bypass_lpis_changed(vm, virq_gic_lpi_changes(gic));
}
