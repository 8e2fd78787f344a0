/* SPDX-License-Identifier: MIT */
/*
 * msix_mmio.c - MSI-X tables and PBAs emulated inside the engine (seed 002, KVM_REGISTER_MSIX_MMIO).
 *
 * Why: without it every guest access to an assigned device's table exits to the VMM, and a driver that
 * masks a vector in its handler pays a round trip each time. Here the table is handled inside KVM_RUN and
 * the vCPU exits (KVM_EXIT_MSIX_ROUTING_UPDATE) only when an entry's address or data change, because only
 * then must the VMM's GSI route follow. Xen's msixtbl is the model, including its bug history: an unmask
 * that follows a table update must take effect exactly once.
 *
 * Where the state lives: in an engine-owned copy (atomic 32-bit words per entry, a pending bitmap), not
 * in base_va. The mask bit is read and pending bits are set by whichever thread delivers (poller, a halted
 * vCPU, a KVM_IRQ_LINE caller) while vCPUs write the table; those accesses must be atomic and must not
 * depend on memory another VMM thread may scribble on at any time (the seed's warning). base_va, the
 * VMM's copy, is read at registration and by virq_vm_msix_mmio_restore(), written by
 * virq_vm_msix_mmio_save() and at unregistration: always by a call the VMM makes, on its own thread.
 * Restore is refused while a vCPU runs (the guest could be programming the very entries it overwrites).
 *
 * Delivery: the VMM binds each entry to the GSI that carries it (virq_vm_msix_mmio_bind); irq.c sends
 * every assert of a bound GSI through virq_msix_raise(). An entry delivers while it is unmasked, the
 * function is enabled and not function-masked, and it is not "held": held means the guest changed its
 * address or data and the VMM has not yet updated the route (KVM_SET_GSI_ROUTING changes the GSI's route
 * or makes it equal to the entry, or the VMM re-binds to confirm). Otherwise the assert sets the pending
 * bit. Whatever makes an entry deliverable again (unmask, control change, route update, bind, restore)
 * replays its pending bit; the bit is cleared with one atomic fetch-and, so exactly one thread delivers it.
 *
 * The lost-wake-up race between a raiser that finds the entry masked and a vCPU that unmasks it is closed
 * Dekker-style with seq_cst: the raiser sets the pending bit, then re-reads the entry state; the unmasker
 * stores the mask bit, then reads the pending bit; one of them sees the other. A route update needs no
 * such dance: routing.c calls virq_msix_routing_changed() after the grace period, when no raiser can
 * still hold the old table.
 *
 * A guest write that changes address or data also waits one grace period before the exit returns, so a
 * delivery that decided on the old state has reached the LAPIC before the guest's write completes: after
 * it, nothing reaches the vector the guest no longer programmed.
 *
 * Locking: vm->msix_lock serialises registration and bindings (writers of vm->msix and vm->msix_gsi);
 * dev->lock serialises writes of one device's entries (guest writes, restore, the route-update check).
 * The vCPU path finds a window under RCU (a sorted array, binary search) and takes dev->lock only for
 * writes, briefly. Raisers take no lock.
 */
#include "engine/msix_mmio.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdlib.h>
#include <string.h>

#include "engine/rcu.h"
#include "engine/routing.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

#define VIRQ_MSIX_CTRL 3                           /* word index of Vector Control */
#define VIRQ_MSIX_CONTROL_BITS (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)
#define VIRQ_MSIX_DEV_TYPES KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV
#define VIRQ_MSIX_MMIO_TYPES (KVM_MSIX_MMIO_TYPE_BASE_TABLE | KVM_MSIX_MMIO_TYPE_BASE_PBA)

_Static_assert(sizeof(struct kvm_msix_routing_update) <= sizeof(((struct kvm_run *)0)->padding),
	       "the routing-update payload fits kvm_run's exit union");

/* Bits the guest can write in each word; the rest read as 0. Message Address bits 1:0 are DWORD
 * alignment (the spec says software writes 0); Vector Control has only the mask bit. */
static const uint32_t virq_msix_word_bits[PCI_MSIX_ENTRY_SIZE / 4] = {
	0xfffffffcu, 0xffffffffu, 0xffffffffu, PCI_MSIX_ENTRY_CTRL_MASKBIT,
};

struct virq_msix_dev;

struct virq_msix_entry {
	_Atomic uint32_t word[PCI_MSIX_ENTRY_SIZE / 4]; /* [A] address lo/hi, data, control; written under
							  * dev->lock */
	_Atomic uint32_t gsi;           /* [A] bound GSI or VIRQ_MSIX_NO_GSI; written under vm->msix_lock */
	_Atomic bool held;              /* [A] address/data changed, route not yet updated; [L:dev->lock] */
	bool snap_valid;                /* [L:dev->lock] the bound GSI had an MSI route when held was set */
	uint32_t snap[3];               /* [L:dev->lock] that route: address lo/hi, data */
	_Atomic uint64_t raise_ns;      /* [A] raise time of the event in the pending bit */
	struct virq_msix_dev *dev;      /* [I] */
	uint32_t index;                 /* [I] */
};

/* One registered window: a device's table or its PBA. */
struct virq_msix_region {
	uint64_t base, len;             /* [I] guest-physical */
	bool pba;                       /* [I] */
	void *va;                       /* [I] the VMM's copy (base_va) */
	struct virq_msix_dev *dev;      /* [I] */
};

struct virq_msix_dev {
	uint32_t id;                    /* [I] dev_id */
	uint32_t nr;                    /* [I] entries */
	pthread_mutex_t lock;           /* writes of the entries' words, held and snap */
	_Atomic uint16_t control;       /* [A] Message Control: ENABLE, MASKALL */
	struct virq_msix_region *table, *pba; /* [L:vm->msix_lock] */
	_Atomic uint64_t *pending;      /* [A] nr bits */
	struct {
		_Atomic uint64_t reads, writes, ignored, mask_changes, routing_exits, pended, replayed;
	} counts;                       /* [A] relaxed */
	struct virq_msix_entry entries[];
};

/* The registered windows, sorted by base, never overlapping. Immutable once published. */
struct virq_msix_set {
	unsigned nr;
	struct virq_msix_region *r[];
};

static unsigned virq_msix_pba_words(uint32_t nr)
{
	return (nr + 63) / 64;
}

static uint64_t virq_msix_bit(const struct virq_msix_entry *e)
{
	return 1ull << (e->index % 64);
}

static _Atomic uint64_t *virq_msix_pending_word(const struct virq_msix_entry *e)
{
	return &e->dev->pending[e->index / 64];
}

/* ---- lookups ---------------------------------------------------------------------------------------- */

/* The window containing @addr. Caller in RCU. */
static struct virq_msix_region *virq_msix_find(struct virq_vm *vm, uint64_t addr)
{
	const struct virq_msix_set *set = virq_rcu_deref(vm->msix);
	unsigned lo = 0, hi = set ? set->nr : 0;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (set->r[mid]->base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	struct virq_msix_region *r = set->r[lo - 1];
	return addr - r->base < r->len ? r : NULL;
}

/* The device @dev_id. Caller holds vm->msix_lock. */
static struct virq_msix_dev *virq_msix_dev_locked(struct virq_vm *vm, uint32_t dev_id)
{
	const struct virq_msix_set *set = atomic_load_explicit(&vm->msix, memory_order_relaxed);

	for (unsigned i = 0; set && i < set->nr; i++)
		if (set->r[i]->dev->id == dev_id)
			return set->r[i]->dev;
	return NULL;
}

/* The MSI route of @gsi in @rt (a GSI has at most one), into @route. */
static bool virq_msix_route_of(const struct virq_routing *rt, uint32_t gsi, uint32_t route[3])
{
	if (!rt || gsi >= rt->nr_gsi)
		return false;
	for (uint32_t i = rt->first[gsi]; i != VIRQ_ROUTE_NONE; i = rt->routes[i].next) {
		const struct virq_route *r = &rt->routes[i];
		if (r->type == KVM_IRQ_ROUTING_MSI) {
			route[0] = r->msi.address_lo;
			route[1] = r->msi.address_hi;
			route[2] = r->msi.data;
			return true;
		}
	}
	return false;
}

static bool virq_msix_route_equals_entry(const uint32_t route[3], const struct virq_msix_entry *e)
{
	for (unsigned w = 0; w < 3; w++)
		if (route[w] != atomic_load_explicit(&e->word[w], memory_order_relaxed))
			return false;
	return true;
}

/* ---- delivery ---------------------------------------------------------------------------------------- */

/* Why @e cannot deliver now, or NULL when it can. seq_cst loads: the second half of the Dekker pairs
 * described at the top. */
static const char *virq_msix_why_held(const struct virq_msix_entry *e)
{
	if (atomic_load(&e->word[VIRQ_MSIX_CTRL]) & PCI_MSIX_ENTRY_CTRL_MASKBIT)
		return "MSI-X entry masked";
	if (atomic_load(&e->held))
		return "MSI-X entry reprogrammed, route not yet updated";
	uint16_t control = atomic_load(&e->dev->control);
	if (!(control & PCI_MSIX_FLAGS_ENABLE))
		return "MSI-X disabled";
	if (control & PCI_MSIX_FLAGS_MASKALL)
		return "MSI-X function masked";
	return NULL;
}

static bool virq_msix_deliverable(const struct virq_msix_entry *e)
{
	return virq_msix_why_held(e) == NULL;
}

const char *virq_msix_gsi_held(struct virq_vm *vm, uint32_t gsi)
{
	const char *why = NULL;

	if (gsi >= KVM_MAX_IRQ_ROUTES)
		return NULL;
	virq_rcu_read_lock();
	const struct virq_msix_entry *e = virq_rcu_deref(vm->msix_gsi[gsi]);
	if (e)
		why = virq_msix_why_held(e);
	virq_rcu_read_unlock();
	return why;
}

/*
 * Whether an entry holds its interrupts changed: a vector posted by the IOMMU would bypass the mask and
 * the pending bit, so its irqfd is re-decided (remapped while held, posted again once released). Free
 * when no irqfd of the VM is paired with a host producer. Outside RCU read-side sections: the
 * re-decision takes vm->irqfd_lock. @gsi VIRQ_MSIX_NO_GSI (unbound): nothing to do.
 */
static void virq_msix_bypass_recheck(struct virq_vm *vm, uint32_t gsi)
{
	if (gsi != VIRQ_MSIX_NO_GSI && atomic_load(&vm->bypass_paired) != 0)
		virq_irqfd_bypass_gsi_changed(vm, gsi);
}

/* The same for changes that touch many entries (function mask, restore, unregistration, routes). */
static void virq_msix_bypass_recheck_all(struct virq_vm *vm)
{
	if (atomic_load(&vm->bypass_paired) != 0)
		virq_irqfd_bypass_update_all(vm, false);
}

static int virq_msix_fan_out(struct virq_vm *vm, const struct virq_routing *rt, uint32_t gsi, uint64_t raise_ns)
{
	return virq_routing_set_gsi(vm, rt, VIRQ_IRQ_SOURCE_USERSPACE, gsi, true, raise_ns);
}

int virq_msix_raise(struct virq_vm *vm, struct virq_msix_entry *e, const struct virq_routing *rt, uint32_t gsi,
		    uint64_t raise_ns, bool *held)
{
	_Atomic uint64_t *word = virq_msix_pending_word(e);
	uint64_t bit = virq_msix_bit(e);

	if (virq_msix_deliverable(e))
		return virq_msix_fan_out(vm, rt, gsi, raise_ns);
	if (atomic_fetch_or(word, bit) & bit)
		return 0; /* merged into the event already pending: coalesced */
	atomic_store_explicit(&e->raise_ns, raise_ns, memory_order_relaxed);
	/* An unmask between the check above and the bit may have looked at the bit before it was set. */
	if (virq_msix_deliverable(e) && (atomic_fetch_and(word, ~bit) & bit))
		return virq_msix_fan_out(vm, rt, gsi, raise_ns);
	atomic_fetch_add_explicit(&e->dev->counts.pended, 1, memory_order_relaxed);
	*held = true;
	return 0;
}

/* Deliver @e's pending event if it is deliverable now; whoever clears the bit delivers. Any thread. */
static void virq_msix_replay(struct virq_vm *vm, struct virq_msix_entry *e)
{
	_Atomic uint64_t *word = virq_msix_pending_word(e);
	uint64_t bit = virq_msix_bit(e);

	if (!(atomic_load(word) & bit) || !virq_msix_deliverable(e))
		return;
	virq_rcu_read_lock();
	uint32_t gsi = atomic_load(&e->gsi);
	if (gsi != VIRQ_MSIX_NO_GSI && (atomic_fetch_and(word, ~bit) & bit)) {
		uint64_t raise_ns = atomic_load_explicit(&e->raise_ns, memory_order_relaxed);
		virq_vm_count_outcome(vm, gsi, virq_msix_fan_out(vm, virq_rcu_deref(vm->routing), gsi, raise_ns));
		atomic_fetch_add_explicit(&e->dev->counts.replayed, 1, memory_order_relaxed);
	}
	virq_rcu_read_unlock();
}

static void virq_msix_replay_dev(struct virq_vm *vm, struct virq_msix_dev *dev)
{
	for (uint32_t i = 0; i < dev->nr; i++)
		virq_msix_replay(vm, &dev->entries[i]);
}

/*
 * The guest changed @e's address or data. Unless the bound GSI's route already says what the entry now
 * says, hold the entry until the route changes; the route at the first change is what "changes" is
 * measured against. Caller holds dev->lock and is in RCU.
 */
static void virq_msix_hold_locked(struct virq_vm *vm, struct virq_msix_entry *e)
{
	uint32_t route[3];
	bool valid = virq_msix_route_of(virq_rcu_deref(vm->routing), atomic_load(&e->gsi), route);

	if (valid && virq_msix_route_equals_entry(route, e)) {
		atomic_store(&e->held, false);
		return;
	}
	if (atomic_load_explicit(&e->held, memory_order_relaxed))
		return;
	e->snap_valid = valid;
	memcpy(e->snap, route, sizeof(e->snap));
	atomic_store(&e->held, true);
}

void virq_msix_routing_changed(struct virq_vm *vm)
{
	bool released = false;

	virq_rcu_read_lock();
	const struct virq_msix_set *set = virq_rcu_deref(vm->msix);
	const struct virq_routing *rt = virq_rcu_deref(vm->routing);
	for (unsigned i = 0; set && i < set->nr; i++) {
		struct virq_msix_dev *dev = set->r[i]->dev;
		if (set->r[i]->pba)
			continue; /* a device's entries are visited through its table (held needs guest writes) */
		for (uint32_t n = 0; n < dev->nr; n++) {
			struct virq_msix_entry *e = &dev->entries[n];
			uint32_t route[3] = { 0 };
			if (!atomic_load(&e->held))
				continue;
			pthread_mutex_lock(&dev->lock);
			bool valid = virq_msix_route_of(rt, atomic_load(&e->gsi), route);
			if (valid != e->snap_valid || (valid && memcmp(route, e->snap, sizeof(route)) != 0) ||
			    (valid && virq_msix_route_equals_entry(route, e))) {
				atomic_store(&e->held, false);
				released = true;
			}
			pthread_mutex_unlock(&dev->lock);
		}
		virq_msix_replay_dev(vm, dev);
	}
	virq_rcu_read_unlock();
	if (released)
		virq_msix_bypass_recheck_all(vm);
}

/* ---- guest accesses ---------------------------------------------------------------------------------- */

/* PCI: aligned DWORD or aligned QWORD accesses only (docs/msix-mmio.md: the rest are ignored). */
static bool virq_msix_access_ok(uint64_t off, unsigned size)
{
	return (size == 4 || size == 8) && off % size == 0;
}

enum virq_msix_access virq_msix_mmio_read(struct virq_vm *vm, uint64_t addr, unsigned size, uint64_t *value)
{
	virq_rcu_read_lock();
	struct virq_msix_region *r = virq_msix_find(vm, addr);
	if (!r) {
		virq_rcu_read_unlock();
		return VIRQ_MSIX_UNCLAIMED;
	}
	struct virq_msix_dev *dev = r->dev;
	uint64_t off = addr - r->base;
	atomic_fetch_add_explicit(&dev->counts.reads, 1, memory_order_relaxed);
	if (!virq_msix_access_ok(off, size)) {
		/* An unsupported access reads as a master abort would: all ones. */
		*value = size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
		atomic_fetch_add_explicit(&dev->counts.ignored, 1, memory_order_relaxed);
	} else if (r->pba) {
		uint64_t q = atomic_load_explicit(&dev->pending[off / 8], memory_order_relaxed);
		*value = size == 8 ? q : (uint32_t)(q >> (8 * (off % 8)));
	} else {
		const struct virq_msix_entry *e = &dev->entries[off / PCI_MSIX_ENTRY_SIZE];
		unsigned w = (unsigned)(off % PCI_MSIX_ENTRY_SIZE) / 4;
		*value = atomic_load_explicit(&e->word[w], memory_order_relaxed);
		if (size == 8)
			*value |= (uint64_t)atomic_load_explicit(&e->word[w + 1], memory_order_relaxed) << 32;
	}
	virq_rcu_read_unlock();
	return VIRQ_MSIX_HANDLED;
}

/* Store the guest's words into @e. Returns whether address or data changed; *toggled if the mask bit
 * changed, *unmasked if it went from 1 to 0. Caller holds dev->lock. */
static bool virq_msix_store_locked(struct virq_msix_entry *e, unsigned first, unsigned size, uint64_t value,
				   bool *toggled, bool *unmasked)
{
	bool changed = false;

	for (unsigned k = 0; k < size / 4; k++) {
		unsigned w = first + k;
		uint32_t v = (uint32_t)(value >> (32 * k)) & virq_msix_word_bits[w];
		/* seq_cst: an unmask is the first half of the Dekker pair with virq_msix_raise(). */
		uint32_t old = atomic_exchange(&e->word[w], v);
		if (w != VIRQ_MSIX_CTRL) {
			changed |= old != v;
		} else if ((old ^ v) & PCI_MSIX_ENTRY_CTRL_MASKBIT) {
			atomic_fetch_add_explicit(&e->dev->counts.mask_changes, 1, memory_order_relaxed);
			*toggled = true;
			*unmasked = !(v & PCI_MSIX_ENTRY_CTRL_MASKBIT);
		}
	}
	return changed;
}

enum virq_msix_access virq_msix_mmio_write(struct virq_vm *vm, uint64_t addr, unsigned size, uint64_t value,
					   struct kvm_msix_routing_update *update)
{
	enum virq_msix_access ret = VIRQ_MSIX_HANDLED;
	bool changed, toggled = false, unmasked = false;

	virq_rcu_read_lock();
	struct virq_msix_region *r = virq_msix_find(vm, addr);
	if (!r) {
		virq_rcu_read_unlock();
		return VIRQ_MSIX_UNCLAIMED;
	}
	struct virq_msix_dev *dev = r->dev;
	uint64_t off = addr - r->base;
	atomic_fetch_add_explicit(&dev->counts.writes, 1, memory_order_relaxed);
	if (r->pba || !virq_msix_access_ok(off, size)) {
		/* The PBA is read-only; unsupported sizes and alignments are dropped. */
		atomic_fetch_add_explicit(&dev->counts.ignored, 1, memory_order_relaxed);
		virq_rcu_read_unlock();
		return VIRQ_MSIX_HANDLED;
	}
	struct virq_msix_entry *e = &dev->entries[off / PCI_MSIX_ENTRY_SIZE];
	pthread_mutex_lock(&dev->lock);
	changed = virq_msix_store_locked(e, (unsigned)(off % PCI_MSIX_ENTRY_SIZE) / 4, size, value, &toggled,
					 &unmasked);
	if (changed)
		virq_msix_hold_locked(vm, e);
	bool unbound = atomic_load(&e->gsi) == VIRQ_MSIX_NO_GSI;
	if (changed || (unmasked && unbound)) {
		*update = (struct kvm_msix_routing_update){
			.dev_id = dev->id,
			.entry = e->index,
			.address_lo = atomic_load_explicit(&e->word[0], memory_order_relaxed),
			.address_hi = atomic_load_explicit(&e->word[1], memory_order_relaxed),
			.data = atomic_load_explicit(&e->word[2], memory_order_relaxed),
			.flags = (changed ? KVM_MSIX_ROUTING_UPDATE_ADDRESS_DATA : 0) |
				 (unmasked && unbound ? KVM_MSIX_ROUTING_UPDATE_UNBOUND_UNMASK : 0),
		};
		atomic_fetch_add_explicit(&dev->counts.routing_exits, 1, memory_order_relaxed);
		ret = VIRQ_MSIX_EXIT;
	}
	uint32_t gsi = atomic_load(&e->gsi);
	pthread_mutex_unlock(&dev->lock);
	virq_msix_replay(vm, e);
	virq_rcu_read_unlock();
	/* Before the guest's write completes: a masked or reprogrammed vector stops being posted... */
	if (changed || toggled)
		virq_msix_bypass_recheck(vm, gsi);
	/* ...and deliveries that decided on the old address/data have finished. */
	if (changed)
		virq_rcu_synchronize();
	return ret;
}

/* ---- registration ------------------------------------------------------------------------------------ */

/* flags, reserved and type, common to register and unregister. */
static int virq_msix_check_user(const struct kvm_msix_mmio_user *u, bool *pba)
{
	if (u->flags)
		return -EINVAL;
	for (unsigned i = 0; i < sizeof(u->reserved) / sizeof(u->reserved[0]); i++)
		if (u->reserved[i])
			return -EINVAL;
	if ((u->type & ~(VIRQ_MSIX_DEV_TYPES | VIRQ_MSIX_MMIO_TYPES)) ||
	    (u->type & VIRQ_MSIX_DEV_TYPES) != KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV)
		return -EINVAL;
	uint16_t mmio = u->type & VIRQ_MSIX_MMIO_TYPES;
	if (mmio != KVM_MSIX_MMIO_TYPE_BASE_TABLE && mmio != KVM_MSIX_MMIO_TYPE_BASE_PBA)
		return -EINVAL;
	*pba = mmio == KVM_MSIX_MMIO_TYPE_BASE_PBA;
	return 0;
}

static bool virq_msix_overlaps(uint64_t base, uint64_t len, uint64_t other, uint64_t other_len)
{
	return base < other + other_len && other < base + len;
}

/* Geometry of the window @u describes (its length in *len); -EINVAL/-EFAULT/-EEXIST as documented. */
static int virq_msix_check_window(const struct kvm_msix_mmio_user *u, bool pba, uint64_t *len)
{
	uint64_t align = pba ? 8 : PCI_MSIX_ENTRY_SIZE;

	if (u->max_entries_nr == 0 || u->max_entries_nr > VIRQ_MSIX_MAX_ENTRIES)
		return -EINVAL;
	*len = pba ? virq_msix_pba_words(u->max_entries_nr) * 8ull : u->max_entries_nr * (uint64_t)PCI_MSIX_ENTRY_SIZE;
	if (u->base_addr % align || u->base_addr + (*len - 1) < u->base_addr)
		return -EINVAL;
	if (!u->base_va)
		return -EFAULT;
	/* The engine's own windows are claimed first on the MMIO path: a table there would never be seen. */
	if (virq_msix_overlaps(u->base_addr, *len, VIRQ_LAPIC_BASE, VIRQ_LAPIC_SIZE) ||
	    virq_msix_overlaps(u->base_addr, *len, VIRQ_IOAPIC_BASE, VIRQ_IOAPIC_SIZE))
		return -EEXIST;
	return 0;
}

/*
 * Publish a copy of the window set with @add inserted (in base order) and @remove left out, wait for the
 * readers of the old one, free it. Caller holds vm->msix_lock. Returns 0 or -ENOMEM (nothing changed).
 */
static int virq_msix_set_replace_locked(struct virq_vm *vm, struct virq_msix_region *add,
					const struct virq_msix_region *remove)
{
	struct virq_msix_set *old = atomic_load_explicit(&vm->msix, memory_order_relaxed);
	unsigned nr = old ? old->nr : 0;
	struct virq_msix_set *set = malloc(sizeof(*set) + (nr + 1) * sizeof(set->r[0]));

	if (!set)
		return -ENOMEM;
	set->nr = 0;
	for (unsigned i = 0; i < nr; i++) {
		if (add && add->base < old->r[i]->base) {
			set->r[set->nr++] = add;
			add = NULL;
		}
		if (old->r[i] != remove)
			set->r[set->nr++] = old->r[i];
	}
	if (add)
		set->r[set->nr++] = add;
	virq_rcu_assign(vm->msix, set);
	virq_rcu_synchronize();
	free(old);
	return 0;
}

/* base_va -> engine. Table words keep only their defined bits; PBA bits beyond nr are dropped. The copy's
 * pending bits replace the engine's (@replace, restore) or are added to them (registration of a PBA to a
 * live device, whose raisers may have set bits already). */
static void virq_msix_load_locked(struct virq_msix_dev *dev, const struct virq_msix_region *r, bool replace)
{
	const unsigned char *va = r->va;

	if (r->pba) {
		for (unsigned q = 0; q < virq_msix_pba_words(dev->nr); q++) {
			uint64_t bits;
			memcpy(&bits, va + 8 * q, sizeof(bits));
			if (dev->nr - 64 * q < 64)
				bits &= (1ull << (dev->nr - 64 * q)) - 1;
			if (replace)
				atomic_store(&dev->pending[q], bits);
			else
				atomic_fetch_or(&dev->pending[q], bits);
		}
		return;
	}
	for (uint32_t i = 0; i < dev->nr; i++) {
		struct virq_msix_entry *e = &dev->entries[i];
		for (unsigned w = 0; w < PCI_MSIX_ENTRY_SIZE / 4; w++) {
			uint32_t v;
			memcpy(&v, va + i * PCI_MSIX_ENTRY_SIZE + w * 4, sizeof(v));
			atomic_store(&e->word[w], v & virq_msix_word_bits[w]);
		}
		atomic_store(&e->held, false);
	}
}

/* engine -> base_va. */
static void virq_msix_store_va(const struct virq_msix_dev *dev, const struct virq_msix_region *r)
{
	unsigned char *va = r->va;

	if (r->pba) {
		for (unsigned q = 0; q < virq_msix_pba_words(dev->nr); q++) {
			uint64_t bits = atomic_load(&dev->pending[q]);
			memcpy(va + 8 * q, &bits, sizeof(bits));
		}
		return;
	}
	for (uint32_t i = 0; i < dev->nr; i++) {
		for (unsigned w = 0; w < PCI_MSIX_ENTRY_SIZE / 4; w++) {
			uint32_t v = atomic_load(&dev->entries[i].word[w]);
			memcpy(va + i * PCI_MSIX_ENTRY_SIZE + w * 4, &v, sizeof(v));
		}
	}
}

static void virq_msix_dev_free(struct virq_msix_dev *dev)
{
	pthread_mutex_destroy(&dev->lock);
	free(dev->pending);
	free(dev);
}

static struct virq_msix_dev *virq_msix_dev_alloc(uint32_t id, uint32_t nr)
{
	struct virq_msix_dev *dev = calloc(1, sizeof(*dev) + nr * sizeof(dev->entries[0]));

	if (!dev)
		return NULL;
	dev->pending = calloc(virq_msix_pba_words(nr), sizeof(dev->pending[0]));
	if (!dev->pending) {
		free(dev);
		return NULL;
	}
	dev->id = id;
	dev->nr = nr;
	pthread_mutex_init(&dev->lock, NULL);
	atomic_init(&dev->control, PCI_MSIX_FLAGS_ENABLE);
	for (uint32_t i = 0; i < nr; i++) {
		dev->entries[i].dev = dev;
		dev->entries[i].index = i;
		atomic_init(&dev->entries[i].gsi, VIRQ_MSIX_NO_GSI);
	}
	return dev;
}

/* Checks that need the current set. Caller holds vm->msix_lock. */
static int virq_msix_check_set_locked(struct virq_vm *vm, const struct kvm_msix_mmio_user *u, bool pba,
				      uint64_t len, struct virq_msix_dev **dev)
{
	const struct virq_msix_set *set = atomic_load_explicit(&vm->msix, memory_order_relaxed);

	*dev = virq_msix_dev_locked(vm, u->dev_id);
	if (*dev && (pba ? (*dev)->pba : (*dev)->table))
		return -EEXIST;
	if (*dev && (*dev)->nr != u->max_entries_nr)
		return -EINVAL;
	for (unsigned i = 0; set && i < set->nr; i++)
		if (virq_msix_overlaps(u->base_addr, len, set->r[i]->base, set->r[i]->len))
			return -EEXIST;
	if (set && set->nr >= VIRQ_MSIX_MAX_REGIONS)
		return -ENOSPC;
	return 0;
}

int virq_vm_register_msix_mmio(struct virq_vm *vm, const struct kvm_msix_mmio_user *u)
{
	struct virq_msix_region *r = NULL;
	struct virq_msix_dev *dev, *created = NULL;
	uint64_t len;
	bool pba;
	int ret = virq_msix_check_user(u, &pba);

	if (ret == 0)
		ret = virq_msix_check_window(u, pba, &len);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&vm->msix_lock);
	ret = virq_msix_check_set_locked(vm, u, pba, len, &dev);
	if (ret < 0)
		goto out_unlock;
	ret = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto out_unlock;
	if (!dev)
		dev = created = virq_msix_dev_alloc(u->dev_id, u->max_entries_nr);
	if (!dev)
		goto out_unlock;
	*r = (struct virq_msix_region){ .base = u->base_addr, .len = len, .pba = pba,
					.va = (void *)(uintptr_t)u->base_va, .dev = dev };
	pthread_mutex_lock(&dev->lock);
	virq_msix_load_locked(dev, r, false);
	pthread_mutex_unlock(&dev->lock);
	ret = virq_msix_set_replace_locked(vm, r, NULL);
	if (ret < 0)
		goto out_unlock;
	if (pba)
		dev->pba = r;
	else
		dev->table = r;
	r = NULL;
	created = NULL;
	/* A restored state may have bound entries pending and unmasked (a re-registered window). */
	virq_msix_replay_dev(vm, dev);
out_unlock:
	pthread_mutex_unlock(&vm->msix_lock);
	free(r);
	if (created)
		virq_msix_dev_free(created);
	return ret;
}

/* Drop every GSI binding of @dev and wait until no raiser can see one. Caller holds vm->msix_lock. */
static void virq_msix_unbind_all_locked(struct virq_vm *vm, struct virq_msix_dev *dev)
{
	for (uint32_t i = 0; i < dev->nr; i++) {
		uint32_t gsi = atomic_exchange(&dev->entries[i].gsi, VIRQ_MSIX_NO_GSI);
		if (gsi != VIRQ_MSIX_NO_GSI)
			virq_rcu_assign(vm->msix_gsi[gsi], NULL);
	}
	virq_rcu_synchronize();
}

int virq_vm_unregister_msix_mmio(struct virq_vm *vm, const struct kvm_msix_mmio_user *u)
{
	bool pba;
	int ret = virq_msix_check_user(u, &pba);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&vm->msix_lock);
	struct virq_msix_dev *dev = virq_msix_dev_locked(vm, u->dev_id);
	struct virq_msix_region *r = dev ? (pba ? dev->pba : dev->table) : NULL;
	ret = r ? virq_msix_set_replace_locked(vm, NULL, r) : -ENXIO;
	if (ret < 0)
		goto out_unlock;
	/* No vCPU sees the window any more: hand its final state to the VMM. */
	virq_msix_store_va(dev, r);
	if (pba)
		dev->pba = NULL;
	else
		dev->table = NULL;
	free(r);
	if (!dev->table && !dev->pba) {
		virq_msix_unbind_all_locked(vm, dev);
		virq_msix_dev_free(dev);
		virq_msix_bypass_recheck_all(vm); /* its GSIs are no longer held by any table */
	}
out_unlock:
	pthread_mutex_unlock(&vm->msix_lock);
	return ret;
}

/* ---- the VMM's calls ---------------------------------------------------------------------------------- */

int virq_vm_msix_mmio_bind(struct virq_vm *vm, uint32_t dev_id, uint32_t entry, uint32_t gsi)
{
	int ret = 0;

	if (gsi != VIRQ_MSIX_NO_GSI && gsi >= KVM_MAX_IRQ_ROUTES)
		return -EINVAL;
	pthread_mutex_lock(&vm->msix_lock);
	struct virq_msix_dev *dev = virq_msix_dev_locked(vm, dev_id);
	if (!dev) {
		ret = -ENXIO;
		goto out_unlock;
	}
	if (entry >= dev->nr) {
		ret = -EINVAL;
		goto out_unlock;
	}
	struct virq_msix_entry *e = &dev->entries[entry];
	struct virq_msix_entry *other =
		gsi == VIRQ_MSIX_NO_GSI ? NULL : atomic_load_explicit(&vm->msix_gsi[gsi], memory_order_relaxed);
	if (other && other != e) {
		ret = -EBUSY;
		goto out_unlock;
	}
	uint32_t old = atomic_exchange(&e->gsi, gsi);
	if (old != VIRQ_MSIX_NO_GSI && old != gsi)
		virq_rcu_assign(vm->msix_gsi[old], NULL);
	if (gsi != VIRQ_MSIX_NO_GSI)
		virq_rcu_assign(vm->msix_gsi[gsi], e);
	/* Binding is the VMM saying "this GSI's route is the entry's": the hold ends. */
	pthread_mutex_lock(&dev->lock);
	atomic_store(&e->held, false);
	pthread_mutex_unlock(&dev->lock);
	/* Every raise that may have missed the new binding ends before the call returns. */
	virq_rcu_synchronize();
	virq_msix_replay(vm, e);
	if (old != gsi)
		virq_msix_bypass_recheck(vm, old);
	virq_msix_bypass_recheck(vm, gsi);
out_unlock:
	pthread_mutex_unlock(&vm->msix_lock);
	return ret;
}

int virq_vm_msix_mmio_set_control(struct virq_vm *vm, uint32_t dev_id, uint16_t msg_ctrl)
{
	pthread_mutex_lock(&vm->msix_lock);
	struct virq_msix_dev *dev = virq_msix_dev_locked(vm, dev_id);
	if (dev) {
		/* seq_cst: first half of the Dekker pair, as an unmask of one entry. */
		atomic_store(&dev->control, msg_ctrl & VIRQ_MSIX_CONTROL_BITS);
		virq_msix_replay_dev(vm, dev);
		virq_msix_bypass_recheck_all(vm);
	}
	pthread_mutex_unlock(&vm->msix_lock);
	return dev ? 0 : -ENXIO;
}

static bool virq_vm_any_vcpu_running(struct virq_vm *vm)
{
	for (unsigned id = 0; id < VIRQ_MAX_VCPUS; id++) {
		struct virq_vcpu *vcpu = virq_vm_vcpu(vm, id);
		if (vcpu && atomic_load(&vcpu->in_run))
			return true;
	}
	return false;
}

int virq_vm_msix_mmio_save(struct virq_vm *vm, uint32_t dev_id)
{
	pthread_mutex_lock(&vm->msix_lock);
	struct virq_msix_dev *dev = virq_msix_dev_locked(vm, dev_id);
	if (dev && dev->table)
		virq_msix_store_va(dev, dev->table);
	if (dev && dev->pba)
		virq_msix_store_va(dev, dev->pba);
	pthread_mutex_unlock(&vm->msix_lock);
	return dev ? 0 : -ENXIO;
}

int virq_vm_msix_mmio_restore(struct virq_vm *vm, uint32_t dev_id)
{
	int ret = 0;

	pthread_mutex_lock(&vm->msix_lock);
	struct virq_msix_dev *dev = virq_msix_dev_locked(vm, dev_id);
	if (!dev) {
		ret = -ENXIO;
	} else if (virq_vm_any_vcpu_running(vm)) {
		ret = -EBUSY;
	} else {
		/* dev->lock also keeps a vCPU that enters KVM_RUN just now from interleaving its writes. */
		pthread_mutex_lock(&dev->lock);
		if (dev->table)
			virq_msix_load_locked(dev, dev->table, true);
		if (dev->pba)
			virq_msix_load_locked(dev, dev->pba, true);
		pthread_mutex_unlock(&dev->lock);
		virq_msix_replay_dev(vm, dev);
		virq_msix_bypass_recheck_all(vm);
	}
	pthread_mutex_unlock(&vm->msix_lock);
	return ret;
}

int virq_vm_msix_mmio_counts(struct virq_vm *vm, uint32_t dev_id, struct virq_msix_counts *out)
{
	pthread_mutex_lock(&vm->msix_lock);
	struct virq_msix_dev *dev = virq_msix_dev_locked(vm, dev_id);
	if (dev) {
		out->reads = virq_counter_read(&dev->counts.reads);
		out->writes = virq_counter_read(&dev->counts.writes);
		out->ignored = virq_counter_read(&dev->counts.ignored);
		out->mask_changes = virq_counter_read(&dev->counts.mask_changes);
		out->routing_exits = virq_counter_read(&dev->counts.routing_exits);
		out->pended = virq_counter_read(&dev->counts.pended);
		out->replayed = virq_counter_read(&dev->counts.replayed);
	}
	pthread_mutex_unlock(&vm->msix_lock);
	return dev ? 0 : -ENXIO;
}

void virq_msix_free_all(struct virq_vm *vm)
{
	struct virq_msix_set *set = atomic_load_explicit(&vm->msix, memory_order_relaxed);

	for (unsigned i = 0; set && i < set->nr; i++) {
		struct virq_msix_region *r = set->r[i];
		struct virq_msix_dev *dev = r->dev;
		/* Free a device with the last of its windows. */
		if (r->pba)
			dev->pba = NULL;
		else
			dev->table = NULL;
		if (!dev->table && !dev->pba)
			virq_msix_dev_free(dev);
		free(r);
	}
	free(set);
}
