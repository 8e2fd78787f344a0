/* SPDX-License-Identifier: MIT */
/*
 * msix.c - the MSI-X capability, table and PBA as the guest sees them, emulated by the VMM the way QEMU's
 * vfio-pci does, and the GSI routes and irqfds that follow them.
 *
 * Every vector has one VFIO trigger eventfd for its whole life. While the guest has the vector unmasked
 * (and delivery is IRQFD, POSTED or REMAPPED) that eventfd is an irqfd on the vector's MSI route, so the
 * engine delivers without us. While it is masked, the irqfd is taken away and our watcher reads the
 * eventfd instead: a message that arrives then sets the virtual PBA bit, and the unmask delivers it once
 * with KVM_SIGNAL_MSI. Behind the IOMMU (POSTED), taking the irqfd away also ends its pairing with the
 * VFIO vector, so a masked vector's messages come back to the eventfd rather than being posted: what
 * QEMU's vfio_msix_vector_release arranges by switching VFIO's trigger to its own eventfd. The route is
 * rewritten only when the entry's address or data really changed, and before the irqfd comes back, so an
 * unmask after a retarget takes effect exactly once and on the new vCPU.
 *
 * With the table in the engine (seed 002, the default for irqfd delivery) the engine owns entries, masks
 * and pending bits: every trigger is an irqfd for good, each entry is bound to its GSI, and the VMM only
 * hears of the table when the guest changes an entry's address or data (KVM_EXIT_MSIX_ROUTING_UPDATE),
 * which it answers with the new route. The VMM's own copy of the entries then only mirrors the routes.
 *
 * On arm64 every message also carries the device's DeviceID (its requester ID, KVM_MSI_VALID_DEVID), and
 * where it lands is the guest's ITS mapping, not the address: the VMM learns the target from the guest
 * actions it requests (MOVI), not from the entry.
 *
 * Locking: dev->lock guards the emulated entries and each vector's binding; vmm->routes_lock the routing
 * table (lock order: dev->lock, then routes_lock). The watcher calls vmm_msix_trigger_fired() under
 * dev->lock too, so a message is either seen by the watcher (PBA) or by the irqfd, never by both.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <virq/vm.h>

#include "vmm/vmm_internal.h"

/*
 * Vector @k's control word and pending bit as they are now. With the table in the engine they are the
 * engine's: one save brings both into our copies. Caller holds dev->lock.
 */
static void vmm_msix_state(struct vmm_device *dev, unsigned k, uint32_t *ctrl, bool *pending)
{
	if (!dev->table_in_engine) {
		*ctrl = dev->vec[k].ctrl;
		*pending = dev->vec[k].pending;
		return;
	}
	uint64_t word = 0;
	*ctrl = VMM_MSIX_CTRL_MASKBIT;
	if (virq_vm_msix_mmio_save(dev->vmm->engine, dev->cfg.requester_id) == 0) {
		memcpy(ctrl, (uint8_t *)dev->table_copy + k * VMM_MSIX_ENTRY_SIZE + 12, 4);
		memcpy(&word, (uint64_t *)dev->pba_copy + k / 64, sizeof(word));
	}
	*pending = word >> (k % 64) & 1;
}

static bool vmm_msix_ctrl_masks(const struct vmm_device *dev, uint32_t ctrl)
{
	return (ctrl & VMM_MSIX_CTRL_MASKBIT) || (dev->msix_flags & VMM_MSIX_FLAGS_MASKALL) ||
	       !(dev->msix_flags & VMM_MSIX_FLAGS_ENABLE);
}

/* Effective mask: the entry's bit, the function mask, or MSI-X not enabled. Caller holds dev->lock. */
bool vmm_msix_masked(struct vmm_device *dev, unsigned k)
{
	uint32_t ctrl;
	bool pending;

	vmm_msix_state(dev, k, &ctrl, &pending);
	return vmm_msix_ctrl_masks(dev, ctrl);
}

static int vmm_signal_msi(struct vmm_device *dev, unsigned k)
{
	bool arm = dev->vmm->arm;
	struct kvm_msi msi = {
		.address_lo = dev->vec[k].addr_lo,
		.address_hi = dev->vec[k].addr_hi,
		.data = dev->vec[k].data,
		.flags = arm ? KVM_MSI_VALID_DEVID : 0,
		.devid = arm ? dev->cfg.requester_id : 0,
	};
	return virq_ioctl(dev->vmm->vm, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

int vmm_routes_commit(struct virq_vmm *vmm)
{
	size_t max = 24 + (size_t)vmm->ndevices * VIRQ_VMM_MAX_VECTORS;
	struct kvm_irq_routing *rt = calloc(1, sizeof(*rt) + max * sizeof(rt->entries[0]));
	unsigned n = 0;
	int ret = 0;

	if (!rt)
		return -ENOMEM;
	/* GSI n = IOAPIC pin n on x86; on arm64 irqchip 0 (the vGIC) pin n, SPI 32 + n, as KVM's default. */
	for (unsigned pin = 0; pin < 24; pin++, n++) {
		rt->entries[n].gsi = pin;
		rt->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		rt->entries[n].u.irqchip.irqchip = vmm->arm ? 0 : KVM_IRQCHIP_IOAPIC;
		rt->entries[n].u.irqchip.pin = pin;
	}
	for (unsigned d = 0; d < vmm->ndevices; d++) {
		for (unsigned k = 0; k < vmm->dev[d].cfg.msix_vectors; k++) {
			struct vmm_msix_vector *v = &vmm->dev[d].vec[k];
			if (!v->route_valid)
				continue;
			rt->entries[n].gsi = v->gsi;
			rt->entries[n].type = KVM_IRQ_ROUTING_MSI;
			rt->entries[n].u.msi.address_lo = v->route_addr_lo;
			rt->entries[n].u.msi.address_hi = v->route_addr_hi;
			rt->entries[n].u.msi.data = v->route_data;
			if (vmm->arm) {
				rt->entries[n].flags = KVM_MSI_VALID_DEVID;
				rt->entries[n].u.msi.devid = vmm->dev[d].cfg.requester_id;
			}
			n++;
		}
	}
	rt->nr = n;
	if (virq_ioctl(vmm->vm, KVM_SET_GSI_ROUTING, rt) < 0)
		ret = -errno;
	free(rt);
	return ret;
}

/*
 * Record where vector @k now goes, for the stale check (device_mmio.c): the odd sequence around the
 * change says "either vCPU is right" while it is being made. Caller holds dev->lock.
 */
static void vmm_msix_publish_target(struct vmm_msix_vector *v, int vcpu, uint64_t now)
{
	atomic_store(&v->target_vcpu, vcpu);
	atomic_store(&v->route_changed_ns, now);
}

/* Where vector @k lands: x86, the entry's destination APIC ID; arm64, the guest's ITS mapping. */
static int vmm_msix_dest(const struct vmm_device *dev, unsigned k)
{
	const struct vmm_msix_vector *v = &dev->vec[k];
	return dev->vmm->arm ? atomic_load(&v->its_vcpu) : (int)((v->addr_lo >> 12) & 0xff);
}

/* Userspace delivery has no route: its target is the entry's, from the moment it is unmasked. */
static void vmm_msix_note_target(struct vmm_device *dev, unsigned k)
{
	struct vmm_msix_vector *v = &dev->vec[k];

	if (atomic_load(&v->target_vcpu) == vmm_msix_dest(dev, k))
		return;
	atomic_fetch_add(&v->route_seq, 1);
	vmm_msix_publish_target(v, vmm_msix_dest(dev, k), vmm_now_ns());
	atomic_fetch_add(&v->route_seq, 1);
}

/*
 * Point vector @k's route at what the guest programmed, if that changed. Returns 1 if it rewrote the
 * route, 0 if the route already matched, or -errno. Caller holds dev->lock.
 */
static int vmm_msix_update_route(struct vmm_device *dev, unsigned k)
{
	struct virq_vmm *vmm = dev->vmm;
	struct vmm_msix_vector *v = &dev->vec[k];
	int ret = 0;

	pthread_mutex_lock(&vmm->routes_lock);
	if (!v->route_valid || v->route_addr_lo != v->addr_lo || v->route_addr_hi != v->addr_hi ||
	    v->route_data != v->data) {
		bool was_valid = v->route_valid;
		uint32_t old_addr = v->route_addr_lo, old_addr_hi = v->route_addr_hi, old_data = v->route_data;

		v->route_valid = true;
		v->route_addr_lo = v->addr_lo;
		v->route_addr_hi = v->addr_hi;
		v->route_data = v->data;
		/*
		 * While the commit runs, an interrupt may land on either vCPU (the engine even replays held
		 * ones inside it): the odd sequence tells the stale check not to judge those.
		 */
		atomic_fetch_add(&v->route_seq, 1);
		ret = vmm_routes_commit(vmm);
		if (ret < 0) {
			v->route_valid = was_valid;
			v->route_addr_lo = old_addr;
			v->route_addr_hi = old_addr_hi;
			v->route_data = old_data;
		} else {
			uint64_t now = vmm_now_ns();
			vmm_msix_publish_target(v, vmm_msix_dest(dev, k), now);
			vmm_emit(vmm, VIRQ_VMM_EVENT_ROUTE, now, dev->index, k, vmm_msix_dest(dev, k));
			ret = 1;
		}
		atomic_fetch_add(&v->route_seq, 1);
	}
	pthread_mutex_unlock(&vmm->routes_lock);
	return ret;
}

/* Caller holds dev->lock. */
static int vmm_irqfd(struct vmm_device *dev, unsigned k, bool assign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)dev->vec[k].trigger,
		.gsi = dev->vec[k].gsi,
		.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
	};
	uint64_t counts[2] = { 0, 0 };

	/* A GICv4 host: the irqfd's direct-injection counts go with it; the report keeps them. */
	if (!assign && dev->vmm->arm && dev->vmm->cfg.gic_v4)
		vmm_arm_irqfd_direct_counts(dev, k, counts);
	if (virq_ioctl(dev->vmm->vm, KVM_IRQFD, &irqfd) < 0)
		return -errno;
	dev->vec[k].direct_retired[0] += counts[0];
	dev->vec[k].direct_retired[1] += counts[1];
	return 0;
}

/*
 * Bring vector @k's plumbing in line with its entry: bound as an irqfd exactly when delivery is through
 * irqfds and the vector is unmasked; a pending message delivered once when it is unmasked. Caller holds
 * dev->lock.
 */
static int vmm_msix_sync(struct vmm_device *dev, unsigned k)
{
	struct vmm_msix_vector *v = &dev->vec[k];
	bool masked = vmm_msix_masked(dev, k);
	bool want_bound = vmm_delivery_irqfd(dev->cfg.delivery) && !masked;
	int ret = 0;

	if (!masked && vmm_delivery_irqfd(dev->cfg.delivery))
		ret = vmm_msix_update_route(dev, k);
	else if (!masked)
		vmm_msix_note_target(dev, k); /* userspace: the entry itself is the route */
	if (ret > 0)
		ret = 0;
	/* Each move of the trigger is undone if its second half fails: it is always read by someone. */
	if (ret == 0 && want_bound && !v->irqfd_bound) {
		ret = vmm_unwatch(dev->vmm, v->trigger);
		if (ret == 0 && (ret = vmm_irqfd(dev, k, true)) < 0)
			vmm_watch(dev->vmm, v->trigger, VMM_COOKIE(dev->index, k));
		if (ret == 0)
			v->irqfd_bound = true;
	} else if (ret == 0 && !want_bound && v->irqfd_bound) {
		ret = vmm_irqfd(dev, k, false);
		if (ret == 0 && (ret = vmm_watch(dev->vmm, v->trigger, VMM_COOKIE(dev->index, k))) < 0)
			vmm_irqfd(dev, k, true);
		if (ret == 0)
			v->irqfd_bound = false;
	}
	if (ret == 0 && !masked && v->pending) {
		v->pending = false;
		ret = vmm_signal_msi(dev, k);
	}
	return ret;
}

/*
 * Is the guest holding vector @k back on purpose: masked, with the message it sent waiting in a pending
 * bit? Both read at one moment (one lock, one save).
 */
bool vmm_msix_held(struct vmm_device *dev, unsigned k)
{
	uint32_t ctrl;
	bool pending;

	pthread_mutex_lock(&dev->lock);
	vmm_msix_state(dev, k, &ctrl, &pending);
	bool held = pending && vmm_msix_ctrl_masks(dev, ctrl);
	pthread_mutex_unlock(&dev->lock);
	return held;
}

void vmm_msix_trigger_fired(struct vmm_device *dev, unsigned k)
{
	pthread_mutex_lock(&dev->lock);
	if (vmm_msix_masked(dev, k))
		dev->vec[k].pending = true;
	else
		vmm_signal_msi(dev, k); /* USERSPACE delivery, or a message read just before the irqfd came back */
	pthread_mutex_unlock(&dev->lock);
}

/* VFIO: give the host every vector's trigger (enable) or take MSI-X away (disable). */
static int vmm_msix_vfio(struct vmm_device *dev, bool enable)
{
	unsigned n = enable ? dev->cfg.msix_vectors : 0;
	size_t argsz = sizeof(struct vfio_irq_set) + n * sizeof(int32_t);
	struct vfio_irq_set *set = calloc(1, argsz);
	int ret = 0;

	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)argsz;
	set->flags = VFIO_IRQ_SET_ACTION_TRIGGER | (enable ? VFIO_IRQ_SET_DATA_EVENTFD : VFIO_IRQ_SET_DATA_NONE);
	set->index = VFIO_PCI_MSIX_IRQ_INDEX;
	set->start = 0;
	set->count = n;
	for (unsigned k = 0; k < n; k++)
		((int32_t *)set->data)[k] = dev->vec[k].trigger;
	if (virq_ioctl(dev->vfio, VFIO_DEVICE_SET_IRQS, set) < 0)
		ret = -errno;
	free(set);
	return ret;
}

int vmm_msix_write_flags(struct vmm_device *dev, uint16_t flags)
{
	int ret = 0;

	flags &= VMM_MSIX_FLAGS_ENABLE | VMM_MSIX_FLAGS_MASKALL;
	pthread_mutex_lock(&dev->lock);
	bool was_enabled = dev->msix_flags & VMM_MSIX_FLAGS_ENABLE;
	bool enable = flags & VMM_MSIX_FLAGS_ENABLE;
	if (enable != was_enabled)
		ret = vmm_msix_vfio(dev, enable);
	if (ret == 0 && dev->table_in_engine) {
		ret = virq_vm_msix_mmio_set_control(dev->vmm->engine, dev->cfg.requester_id, flags);
		if (ret == 0)
			dev->msix_flags = flags;
	} else if (ret == 0) {
		dev->msix_flags = flags;
		for (unsigned k = 0; k < dev->cfg.msix_vectors && ret == 0; k++)
			ret = vmm_msix_sync(dev, k);
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

/* One aligned dword of entry @k (field 0-3). Returns 0 or -errno. Caller holds dev->lock. */
static int vmm_msix_entry_write(struct vmm_device *dev, unsigned k, unsigned field, uint32_t value)
{
	struct vmm_msix_vector *v = &dev->vec[k];
	uint32_t *fields[] = { &v->addr_lo, &v->addr_hi, &v->data, &v->ctrl };

	if (field == 3)
		value &= VMM_MSIX_CTRL_MASKBIT; /* the rest of Vector Control is reserved */
	if (*fields[field] == value)
		return 0; /* only real transitions act */
	*fields[field] = value;
	/* A masked entry's new address or data takes effect at unmask; an unmasked one's right away. */
	return vmm_msix_sync(dev, k);
}

static uint32_t vmm_msix_entry_read(struct vmm_device *dev, unsigned k, unsigned field)
{
	struct vmm_msix_vector *v = &dev->vec[k];
	uint32_t fields[] = { v->addr_lo, v->addr_hi, v->data, v->ctrl };
	return fields[field];
}

/*
 * A guest access at @gpa: 1 if it hit the table or PBA (handled here), 0 if it belongs to the device,
 * -errno if acting on it failed (the vCPU stops with that). The PCI spec allows aligned dword and qword
 * accesses; anything else is ignored (reads as ones).
 */
int vmm_msix_table_access(struct vmm_device *dev, uint64_t gpa, uint8_t *data, unsigned len, bool write)
{
	int ret = 1;

	unsigned n = dev->cfg.msix_vectors;
	uint64_t table_end = dev->table_gpa + (uint64_t)n * VMM_MSIX_ENTRY_SIZE;
	uint64_t pba_end = dev->pba_gpa + ((n + 63) / 64) * 8;
	bool in_table = n && gpa >= dev->table_gpa && gpa < table_end;
	bool in_pba = n && gpa >= dev->pba_gpa && gpa < pba_end;

	if (!in_table && !in_pba)
		return 0;
	if ((len != 4 && len != 8) || gpa % len) {
		if (!write)
			memset(data, 0xff, len);
		return 1;
	}
	pthread_mutex_lock(&dev->lock);
	if (in_pba) {
		if (!write) {
			uint64_t bits = 0;
			unsigned first = (unsigned)(gpa - dev->pba_gpa) * 8;
			for (unsigned b = 0; b < len * 8 && first + b < n; b++)
				bits |= (uint64_t)dev->vec[first + b].pending << b;
			memcpy(data, &bits, len);
		}
	} else {
		unsigned k = (unsigned)((gpa - dev->table_gpa) / VMM_MSIX_ENTRY_SIZE);
		unsigned field = (unsigned)((gpa - dev->table_gpa) % VMM_MSIX_ENTRY_SIZE) / 4;
		for (unsigned i = 0; i < len / 4 && ret > 0; i++) {
			uint32_t dword;
			if (write) {
				memcpy(&dword, data + 4 * i, 4);
				int r = vmm_msix_entry_write(dev, k, field + i, dword);
				ret = r < 0 ? r : 1;
			} else {
				dword = vmm_msix_entry_read(dev, k, field + i);
				memcpy(data + 4 * i, &dword, 4);
			}
		}
	}
	pthread_mutex_unlock(&dev->lock);
	return ret;
}

int vmm_msix_routing_update(struct vmm_device *dev, const struct kvm_msix_routing_update *update)
{
	unsigned k = update->entry;
	int ret;

	if (k >= dev->cfg.msix_vectors || !(update->flags & KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA))
		return -EINVAL; /* every entry is bound, so an unbound unmask cannot happen */
	pthread_mutex_lock(&dev->lock);
	dev->vec[k].addr_lo = update->address_lo;
	dev->vec[k].addr_hi = update->address_hi;
	dev->vec[k].data = update->data;
	ret = vmm_msix_update_route(dev, k);
	/* The entry went back to what the route already says: confirm it, or the engine keeps holding. */
	if (ret == 0)
		ret = virq_vm_msix_mmio_bind(dev->vmm->engine, dev->cfg.requester_id, k, dev->vec[k].gsi);
	pthread_mutex_unlock(&dev->lock);
	return ret < 0 ? ret : 0;
}

static int vmm_msix_window(struct vmm_device *dev, unsigned long request, uint16_t type, uint64_t gpa,
			   void *copy)
{
	struct kvm_msix_mmio_user u = {
		.dev_id = dev->cfg.requester_id,
		.type = KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV | type,
		.max_entries_nr = (uint16_t)dev->cfg.msix_vectors,
		.base_addr = gpa,
		.base_va = (uint64_t)(uintptr_t)copy,
	};
	return virq_ioctl(dev->vmm->vm, request, &u) < 0 ? -errno : 0;
}

/* Hand the table and PBA to the engine and make every trigger an irqfd on its GSI for good. */
static int vmm_msix_engine_init(struct vmm_device *dev)
{
	unsigned n = dev->cfg.msix_vectors;
	int ret;

	dev->table_copy = calloc(n, VMM_MSIX_ENTRY_SIZE);
	dev->pba_copy = calloc((n + 63) / 64, sizeof(uint64_t));
	if (!dev->table_copy || !dev->pba_copy)
		return -ENOMEM;
	for (unsigned k = 0; k < n; k++) {
		uint32_t masked = VMM_MSIX_CTRL_MASKBIT; /* as after reset */
		memcpy((uint8_t *)dev->table_copy + k * VMM_MSIX_ENTRY_SIZE + 12, &masked, 4);
	}
	ret = vmm_msix_window(dev, KVM_REGISTER_MSIX_MMIO, KVM_MSIX_MMIO_TYPE_BASE_TABLE, dev->table_gpa,
			      dev->table_copy);
	if (ret == 0)
		ret = vmm_msix_window(dev, KVM_REGISTER_MSIX_MMIO, KVM_MSIX_MMIO_TYPE_BASE_PBA, dev->pba_gpa,
				      dev->pba_copy);
	for (unsigned k = 0; k < n && ret == 0; k++) {
		ret = virq_vm_msix_mmio_bind(dev->vmm->engine, dev->cfg.requester_id, k, dev->vec[k].gsi);
		if (ret == 0)
			ret = vmm_irqfd(dev, k, true);
		dev->vec[k].irqfd_bound = ret == 0;
	}
	dev->table_in_engine = ret == 0;
	return ret;
}

int vmm_msix_init(struct vmm_device *dev, char *err, size_t err_len)
{
	struct virq_vmm *vmm = dev->vmm;
	bool engine = !vmm->cfg.msix_table_in_vmm && vmm_delivery_irqfd(dev->cfg.delivery);
	int ret = 0;

	for (unsigned k = 0; k < dev->cfg.msix_vectors && ret == 0; k++) {
		struct vmm_msix_vector *v = &dev->vec[k];
		v->ctrl = VMM_MSIX_CTRL_MASKBIT; /* vectors come out of reset masked */
		atomic_init(&v->target_vcpu, -1);
		atomic_init(&v->its_vcpu, (int)dev->cfg.affinity[k]); /* where the guest's MAPTI puts it */
		v->trigger = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ret = v->trigger < 0 ? -errno : engine ? 0 : vmm_watch(vmm, v->trigger, VMM_COOKIE(dev->index, k));
	}
	if (ret == 0 && engine)
		ret = vmm_msix_engine_init(dev);
	if (ret < 0)
		snprintf(err, err_len, "device %s: MSI-X: %s", dev->cfg.name, strerror(-ret));
	return ret;
}

void vmm_msix_teardown(struct vmm_device *dev)
{
	pthread_mutex_lock(&dev->lock);
	if (dev->table_in_engine) {
		vmm_msix_window(dev, KVM_UNREGISTER_MSIX_MMIO, KVM_MSIX_MMIO_TYPE_BASE_TABLE, 0, NULL);
		vmm_msix_window(dev, KVM_UNREGISTER_MSIX_MMIO, KVM_MSIX_MMIO_TYPE_BASE_PBA, 0, NULL);
		dev->table_in_engine = false;
	}
	if (dev->msix_flags & VMM_MSIX_FLAGS_ENABLE)
		vmm_msix_vfio(dev, false);
	for (unsigned k = 0; k < dev->cfg.msix_vectors; k++) {
		struct vmm_msix_vector *v = &dev->vec[k];
		if (v->irqfd_bound)
			vmm_irqfd(dev, k, false);
		else if (v->trigger >= 0)
			vmm_unwatch(dev->vmm, v->trigger);
		v->irqfd_bound = false;
		if (v->trigger >= 0)
			close(v->trigger);
		v->trigger = -1;
	}
	pthread_mutex_unlock(&dev->lock);
	free(dev->table_copy);
	free(dev->pba_copy);
	dev->table_copy = dev->pba_copy = NULL;
}
