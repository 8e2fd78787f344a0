/* SPDX-License-Identifier: MIT */
/*
 * pci_function.c - a simulated PCI function: its causes and STATUS bits, the BAR 0 registers, raising a
 * cause and the interrupt that follows in the current mode (MSI-X vector, MSI vector, or INTx line), and
 * the per-cause statistics.
 *
 * The interrupt paths here stand in for both the device and the host kernel's handler: a raise that
 * finds an enabled MSI-X entry is the message, the host IRQ and vfio_msihandler at once, so it ends in one
 * eventfd write. That write happens after the lock is dropped; virq_pci_sync_signals() is the
 * synchronize_irq() that SET_IRQS and close use before they let go of an eventfd, so once they return no
 * raise still writes the old one. A vector an arm64 irqfd has paired for direct LPI injection (set_lpi,
 * vfio_irqs.c) makes the same message a call of its injection instead, at the same point and counted in
 * flight the same way (so set_lpi's sync waits it out too); the eventfd is written only if it refuses.
 */
#define _GNU_SOURCE
#include "host/pci_function.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t virq_pci_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- signalling outside the lock ---- */

struct virq_pci_signal virq_pci_signal_begin_locked(struct virq_pci_function *fn, int fd)
{
	struct virq_pci_signal sig = {.fd = fd, .slot = 0};

	if (fd >= 0) {
		sig.slot = (unsigned)(fn->signal_epoch & 1);
		/* Relaxed is enough: the syncer flips the epoch under the same lock, after this. */
		atomic_fetch_add_explicit(&fn->inflight[sig.slot], 1, memory_order_relaxed);
	}
	return sig;
}

struct virq_pci_signal virq_pci_signal_begin_direct_locked(struct virq_pci_function *fn, int fd,
							   const struct virq_pci_direct *direct)
{
	struct virq_pci_signal sig = virq_pci_signal_begin_locked(fn, fd);

	if (fd >= 0 && direct->on) /* a direct target exists only beside a trigger (its fallback) */
		sig.direct = *direct;
	return sig;
}

void virq_pci_signal_end(struct virq_pci_function *fn, struct virq_pci_signal sig)
{
	if (sig.fd < 0)
		return;
	/* Direct LPI injection, after the function's lock is dropped (as the IOMMU's posted notification);
	 * refused (a translation changed since it was resolved), the message takes the eventfd. */
	if (!sig.direct.on || sig.direct.lpi.inject(&sig.direct.lpi, sig.direct.raise_ns) != 0)
		virq_eventfd_signal(sig.fd);
	atomic_fetch_sub_explicit(&fn->inflight[sig.slot], 1, memory_order_release);
}

/*
 * Wait until every eventfd write (or direct injection) that began before this call has ended. New ones
 * count in the other slot, so a storm of raises cannot keep this waiting. Two syncs must never overlap
 * (the second would flip the slot the first still waits for); SET_IRQS's hold igate, a consumer's
 * set_lpi cannot, so sync_lock serializes them. Call with no lock of the function held.
 */
void virq_pci_sync_signals(struct virq_pci_function *fn)
{
	pthread_mutex_lock(&fn->sync_lock);
	pthread_mutex_lock(&fn->lock);
	unsigned slot = (unsigned)(fn->signal_epoch & 1);
	fn->signal_epoch++;
	pthread_mutex_unlock(&fn->lock);
	while (atomic_load_explicit(&fn->inflight[slot], memory_order_acquire))
		sched_yield();
	pthread_mutex_unlock(&fn->sync_lock);
}

/* ---- the interrupt paths ---- */

static uint64_t bit(unsigned cause)
{
	return 1ull << cause;
}

void virq_pci_intx_count_signal_locked(struct virq_pci_function *fn)
{
	fn->intx_stats.signals++;
	for (unsigned k = 0; k < fn->desc.causes; k++)
		if (fn->status & bit(k))
			fn->cause[k].messages++;
}

/* vfio_intx_handler with pci_check_and_mask_intx(): only a handler that has a trigger exists (6.1). */
int virq_pci_intx_handler_locked(struct virq_pci_function *fn)
{
	if (fn->irq_type != VFIO_PCI_INTX_IRQ_INDEX || fn->intx_trigger < 0 || fn->intx_masked)
		return -1;
	if (!virq_pci_intx_status_locked(fn) || virq_pci_intx_disabled_locked(fn))
		return -1; /* the line is not asserted */
	virq_pci_set_intx_disable_locked(fn, true);
	fn->intx_masked = true;
	fn->intx_active = true; /* until completed: unmasked, or deactivated by the guest when forwarded */
	virq_pci_intx_count_signal_locked(fn);
	return fn->intx_trigger;
}

/* The host IRQ of vector @w fires (vfio_msihandler): its trigger to signal, or its direct injection
 * with the trigger as the fallback (@direct filled). */
static int vector_irq_locked(struct virq_pci_function *fn, unsigned w, uint64_t raise_ns,
			     struct virq_pci_direct *direct)
{
	const struct virq_pci_vector *vec = &fn->vec[w];

	if (vec->trigger >= 0 && vec->direct)
		*direct = (struct virq_pci_direct){ .on = true, .lpi = vec->lpi, .raise_ns = raise_ns };
	return vec->trigger;
}

/*
 * Vector @v's message leaves the function. Without an IOMMU it is the host IRQ at once: the trigger to
 * signal. Behind one, a remappable MSI-X message is translated (irte.c): a remapped entry is the host
 * IRQ of the vector that owns the entry, a posted one fills @note instead, a fault drops it. A host IRQ
 * whose vector injects directly fills @direct.
 */
static int vector_send_locked(struct virq_pci_function *fn, unsigned v, bool msix, uint64_t raise_ns,
			      struct virq_iommu_note *note, struct virq_pci_direct *direct)
{
	uint32_t addr, data;

	if (!msix || !fn->iommu)
		return vector_irq_locked(fn, v, raise_ns, direct);
	virq_msix_entry_message_locked(fn, v, &addr, &data);
	int index = virq_iommu_translate_locked(fn, addr, data, note);
	return index < 0 ? -1 : vector_irq_locked(fn, (unsigned)index - fn->irte_base, raise_ns, direct);
}

/* A message for vector @v from @cause: sent (returns the trigger) or left waiting. */
static int vector_message_locked(struct virq_pci_function *fn, unsigned v, unsigned cause, bool msix,
				 struct virq_iommu_note *note, struct virq_pci_direct *direct)
{
	struct virq_pci_vector *vec = &fn->vec[v];
	struct virq_pci_cause *c = &fn->cause[cause];
	bool masked = msix ? virq_msix_entry_masked_locked(fn, v) : vec->trigger < 0;
	bool *pending = msix ? &vec->pba : &vec->msi_pending;

	if (!masked) {
		c->messages++;
		return vector_send_locked(fn, v, msix, c->raise_ns, note, direct);
	}
	if (*pending) {
		c->coalesced++; /* the waiting message covers this raise too */
		return -1;
	}
	*pending = true;
	*(msix ? &vec->pba_cause : &vec->msi_cause) = cause;
	c->held++;
	return -1;
}

static int deliver_locked(struct virq_pci_function *fn, unsigned cause, struct virq_iommu_note *note,
			  struct virq_pci_direct *direct)
{
	if (virq_pci_msix_enabled_locked(fn))
		return vector_message_locked(fn, cause % fn->desc.msix_vectors, cause, true, note, direct);
	if (virq_pci_msi_enabled_locked(fn) && fn->num_ctx)
		return vector_message_locked(fn, cause % fn->num_ctx, cause, false, note, direct);
	if (!fn->desc.intx_pin) {
		fn->cause[cause].discarded++; /* no interrupt enabled can carry it; STATUS still shows it */
		return -1;
	}
	return virq_pci_intx_handler_locked(fn);
}

int virq_pci_vector_release_locked(struct virq_pci_function *fn, unsigned v, struct virq_iommu_note *note,
				   struct virq_pci_direct *direct)
{
	struct virq_pci_vector *vec = &fn->vec[v];
	bool msix = virq_pci_msix_enabled_locked(fn);
	bool *pending = msix ? &vec->pba : &vec->msi_pending;
	unsigned cause = msix ? vec->pba_cause : vec->msi_cause;

	if (!*pending || vec->trigger < 0 || (msix && virq_msix_entry_masked_locked(fn, v)))
		return -1;
	*pending = false;
	fn->cause[cause].held--;
	fn->cause[cause].messages++;
	return vector_send_locked(fn, v, msix, fn->cause[cause].raise_ns, note, direct);
}

void virq_pci_discard_pending_locked(struct virq_pci_function *fn, bool pba)
{
	for (unsigned v = 0; v < fn->nvec; v++) {
		struct virq_pci_vector *vec = &fn->vec[v];
		if (vec->msi_pending) {
			vec->msi_pending = false;
			fn->cause[vec->msi_cause].held--;
			fn->cause[vec->msi_cause].discarded++;
		}
		if (pba && vec->pba) {
			vec->pba = false;
			fn->cause[vec->pba_cause].held--;
			fn->cause[vec->pba_cause].discarded++;
		}
	}
}

/* A function-level reset: the device forgets its causes and waiting messages; config is restored. */
void virq_pci_function_reset_locked(struct virq_pci_function *fn)
{
	fn->status = 0;
	virq_pci_discard_pending_locked(fn, true);
}

int virq_pci_function_raise(struct virq_pci_function *fn, unsigned cause)
{
	struct virq_pci_signal sig = {.fd = -1};
	enum virq_pci_event event = VIRQ_PCI_EVENT_RAISE;
	struct virq_iommu_note note = {0};
	struct virq_pci_direct direct = {0};
	virq_pci_observer *observer;
	void *observer_ctx;

	if (cause >= fn->desc.causes)
		return -EINVAL;
	uint64_t now = virq_pci_now_ns();
	pthread_mutex_lock(&fn->lock);
	struct virq_pci_cause *c = &fn->cause[cause];
	c->raised++;
	if (fn->status & bit(cause)) {
		c->coalesced++;
		event = VIRQ_PCI_EVENT_RAISE_COALESCED;
	} else {
		fn->status |= bit(cause);
		c->raise_ns = now;
		c->seen = false;
		sig = virq_pci_signal_begin_direct_locked(fn, deliver_locked(fn, cause, &note, &direct), &direct);
	}
	observer = fn->observer;
	observer_ctx = fn->observer_ctx;
	pthread_mutex_unlock(&fn->lock);
	if (observer)
		observer(observer_ctx, event, cause, now);
	virq_pci_signal_end(fn, sig);
	virq_iommu_note_send(&note);
	return 0;
}

void virq_pci_notify(struct virq_pci_function *fn, enum virq_pci_event event, unsigned cause)
{
	pthread_mutex_lock(&fn->lock);
	virq_pci_observer *observer = fn->observer;
	void *ctx = fn->observer_ctx;
	pthread_mutex_unlock(&fn->lock);
	if (observer)
		observer(ctx, event, cause, virq_pci_now_ns());
}

void virq_pci_function_observe(struct virq_pci_function *fn, virq_pci_observer *observer, void *ctx)
{
	pthread_mutex_lock(&fn->lock);
	fn->observer = observer;
	fn->observer_ctx = ctx;
	pthread_mutex_unlock(&fn->lock);
}

int virq_pci_function_cause_stats(struct virq_pci_function *fn, unsigned cause, struct virq_pci_cause_stats *out)
{
	if (cause >= fn->desc.causes || !out)
		return -EINVAL;
	pthread_mutex_lock(&fn->lock);
	const struct virq_pci_cause *c = &fn->cause[cause];
	*out = (struct virq_pci_cause_stats){
		.raised = c->raised,
		.coalesced = c->coalesced,
		.acked = c->acked,
		.messages = c->messages,
		.held = c->held,
		.discarded = c->discarded,
		.status = fn->status & bit(cause),
		.latency_p50_ns = virq_latency_percentile(&c->lat, 500),
		.latency_p99_ns = virq_latency_percentile(&c->lat, 990),
		.latency_max_ns = atomic_load_explicit(&c->lat.max_ns, memory_order_relaxed),
	};
	pthread_mutex_unlock(&fn->lock);
	return 0;
}

/* ---- BAR access (the VFIO user's view: the MSI-X table is hidden, as vfio-pci hides it) ---- */

static uint64_t half_mask(uint64_t off, unsigned size)
{
	return size == 8 ? ~0ull : 0xffffffffull << (off & 4 ? 32 : 0);
}

static uint64_t reg_read_locked(struct virq_pci_function *fn, uint64_t off, unsigned size)
{
	uint64_t v = 0, mask = half_mask(off, size);

	switch (off & ~7ull) {
	case VIRQ_PCI_REG_STATUS:
		v = fn->status;
		uint64_t fresh = v & mask;
		if (fresh) {
			uint64_t now = virq_pci_now_ns();
			for (unsigned k = 0; k < fn->desc.causes; k++) {
				struct virq_pci_cause *c = &fn->cause[k];
				if ((fresh & bit(k)) && !c->seen) {
					c->seen = true;
					virq_latency_record(&c->lat, now - c->raise_ns);
				}
			}
		}
		break;
	case VIRQ_PCI_REG_CAUSES:
		v = fn->desc.causes;
		break;
	}
	return (v & mask) >> (off & 4 && size == 4 ? 32 : 0);
}

int virq_pci_bar_read(struct virq_pci_function *fn, unsigned bar, uint64_t off, unsigned size, uint64_t *val)
{
	int region = virq_msix_region(fn, bar, off);

	if (bar == 0 && off < VIRQ_PCI_REGS_SIZE && size != 4 && size != 8)
		return -EINVAL; /* the registers take 4- and 8-byte accesses only */
	pthread_mutex_lock(&fn->lock);
	if (bar == 0 && off < VIRQ_PCI_REGS_SIZE)
		*val = reg_read_locked(fn, off, size);
	else if (region == 1)
		*val = size == 8 ? ~0ull : (1ull << (8 * size)) - 1;
	else if (region == 2)
		*val = virq_msix_pba_read_locked(fn, off - fn->desc.msix_pba_offset, size);
	else
		*val = 0;
	pthread_mutex_unlock(&fn->lock);
	return 0;
}

int virq_pci_bar_write(struct virq_pci_function *fn, unsigned bar, uint64_t off, unsigned size, uint64_t val)
{
	if (bar != 0 || off >= VIRQ_PCI_REGS_SIZE)
		return 0; /* MSI-X table writes are dropped (vfio-pci), the PBA and holes are read-only */
	if (size != 4 && size != 8)
		return -EINVAL;
	uint64_t bits = size == 8 ? val : (val & 0xffffffffull) << (off & 4 ? 32 : 0);

	switch (off & ~7ull) {
	case VIRQ_PCI_REG_ACK:
		pthread_mutex_lock(&fn->lock);
		uint64_t cleared = fn->status & bits;
		for (unsigned k = 0; k < fn->desc.causes; k++)
			if (cleared & bit(k))
				fn->cause[k].acked++;
		fn->status &= ~cleared;
		pthread_mutex_unlock(&fn->lock);
		break;
	case VIRQ_PCI_REG_DOORBELL:
		if (!(off & 4) && val < fn->desc.causes) /* a cause number in the low dword */
			virq_pci_function_raise(fn, (unsigned)val);
		break;
	}
	return 0;
}

/* ---- create / destroy ---- */

static uint32_t round_pow2(uint64_t v)
{
	uint64_t p = 0x1000;
	while (p < v)
		p <<= 1;
	return (uint32_t)p;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static int bar_sizes(const struct virq_pci_function_desc *d, uint32_t size[VIRQ_PCI_NUM_BARS])
{
	uint64_t need[VIRQ_PCI_NUM_BARS] = {VIRQ_PCI_REGS_SIZE};

	if (d->msix_vectors) {
		uint64_t tlen = (uint64_t)d->msix_vectors * 16, plen = (d->msix_vectors + 63) / 64 * 8;
		if (d->msix_table_bar >= VIRQ_PCI_NUM_BARS || d->msix_pba_bar >= VIRQ_PCI_NUM_BARS ||
		    (d->msix_table_offset & 7) || (d->msix_pba_offset & 7))
			return -EINVAL;
		if ((d->msix_table_bar == 0 && ranges_overlap(d->msix_table_offset, tlen, 0, VIRQ_PCI_REGS_SIZE)) ||
		    (d->msix_pba_bar == 0 && ranges_overlap(d->msix_pba_offset, plen, 0, VIRQ_PCI_REGS_SIZE)) ||
		    (d->msix_table_bar == d->msix_pba_bar &&
		     ranges_overlap(d->msix_table_offset, tlen, d->msix_pba_offset, plen)))
			return -EINVAL;
		uint64_t tend = d->msix_table_offset + tlen, pend = d->msix_pba_offset + plen;
		if (need[d->msix_table_bar] < tend)
			need[d->msix_table_bar] = tend;
		if (need[d->msix_pba_bar] < pend)
			need[d->msix_pba_bar] = pend;
	}
	for (unsigned i = 0; i < VIRQ_PCI_NUM_BARS; i++) {
		if (need[i] > (1ull << 30))
			return -EINVAL;
		size[i] = need[i] ? round_pow2(need[i]) : 0;
	}
	return 0;
}

static int check_desc(const struct virq_pci_function_desc *d)
{
	unsigned m = d->msi_vectors;

	if (d->causes < 1 || d->causes > VIRQ_PCI_MAX_CAUSES || d->msix_vectors > 2048 || d->intx_pin > 4 ||
	    (m & (m - 1)) || m > 32 || (!d->msix_vectors && !m && !d->intx_pin))
		return -EINVAL;
	return 0;
}

static void function_free(struct virq_pci_function *fn)
{
	free(fn->cause);
	free(fn->vec);
	free(fn->msix_table);
	free(fn->name);
	free(fn);
}

int virq_pci_function_create(const struct virq_pci_function_desc *desc, struct virq_pci_function **out)
{
	struct virq_pci_function *fn;
	int ret;

	if (!desc || !out || check_desc(desc))
		return -EINVAL;
	fn = calloc(1, sizeof(*fn));
	if (!fn)
		return -ENOMEM;
	ret = bar_sizes(desc, fn->bar_size);
	if (ret) {
		free(fn);
		return ret;
	}
	fn->desc = *desc;
	fn->nvec = desc->msix_vectors > desc->msi_vectors ? desc->msix_vectors : desc->msi_vectors;
	fn->name = strdup(desc->name ? desc->name : "pci");
	fn->cause = calloc(desc->causes, sizeof(*fn->cause));
	fn->vec = calloc(fn->nvec ? fn->nvec : 1, sizeof(*fn->vec));
	if (!fn->name || !fn->cause || !fn->vec || virq_msix_init(fn)) {
		function_free(fn);
		return -ENOMEM;
	}
	fn->desc.name = fn->name;
	for (unsigned v = 0; v < fn->nvec; v++) {
		fn->vec[v].fn = fn;
		fn->vec[v].index = v;
		fn->vec[v].trigger = -1;
	}
	fn->irq_type = VIRQ_IRQ_NONE;
	fn->intx_trigger = fn->err_trigger = fn->req_trigger = fn->unmask_efd = -1;
	fn->watch_epfd = fn->watch_stop = -1;
	virq_pci_config_init(fn);
	pthread_mutex_init(&fn->igate, NULL);
	pthread_mutex_init(&fn->lock, NULL);
	pthread_mutex_init(&fn->sync_lock, NULL);
	pthread_mutex_init(&fn->traffic_lock, NULL);
	*out = fn;
	return 0;
}

int virq_pci_function_destroy(struct virq_pci_function *fn)
{
	if (!fn)
		return -EINVAL;
	pthread_mutex_lock(&fn->igate);
	bool busy = fn->open_count > 0;
	pthread_mutex_unlock(&fn->igate);
	if (busy)
		return -EBUSY;
	virq_pci_function_traffic_stop(fn);
	pthread_mutex_lock(&fn->igate);
	virq_virqfd_stop(fn); /* normally already stopped by the last close */
	pthread_mutex_unlock(&fn->igate);
	virq_iommu_function_gone(fn);
	pthread_mutex_destroy(&fn->igate);
	pthread_mutex_destroy(&fn->lock);
	pthread_mutex_destroy(&fn->sync_lock);
	pthread_mutex_destroy(&fn->traffic_lock);
	function_free(fn);
	return 0;
}
