/* SPDX-License-Identifier: MIT */
/*
 * vfio_irqs.c - VFIO_DEVICE_SET_IRQS with vfio-pci's semantics (Linux 6.1, drivers/vfio/pci/
 * vfio_pci_intrs.c and vfio_main.c's vfio_set_irqs_validate_and_prepare), over a simulated function.
 *
 * The structure follows the kernel's so the errno of every bad request matches: the generic header check
 * (EINVAL), then a dispatch on index and action (ENOTTY for a combination vfio-pci has no handler for,
 * which includes MASK/UNMASK on MSI/MSI-X and more than one action bit), then the handler's own checks.
 * Where 6.1 leaves state half changed on a failure the newer kernel fixed (INTx: a bad eventfd dropped
 * the old trigger first), we take the newer order; see docs/host.md.
 *
 * Eventfds are duplicated when set (the kernel takes an eventfd_ctx reference), written outside the
 * function's lock, and closed only after virq_pci_sync_signals(): the persistent-handler rule of the
 * 2024 fixes (CVE-2024-26813): no raise, unmask or loopback can write an eventfd that SET_IRQS released.
 */
#define _GNU_SOURCE
#include "host/pci_function.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))

/* ---- eventfds ---- */

int virq_eventfd_dup(int user_fd)
{
	char path[48], link[32];
	int fd = fcntl(user_fd, F_DUPFD_CLOEXEC, 3);

	if (fd < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = '\0', strcmp(link, "anon_inode:[eventfd]") != 0)) {
		close(fd);
		return -EINVAL; /* eventfd_ctx_fdget() on a file that is not an eventfd */
	}
	return fd;
}

void virq_eventfd_signal(int fd)
{
	eventfd_write(fd, 1);
}

/* Forget an eventfd the host held: wait out writes in flight, then close it. */
static void eventfd_release(struct virq_pci_function *fn, int fd)
{
	if (fd < 0)
		return;
	virq_pci_sync_signals(fn);
	close(fd);
}

/* ---- INTx ---- */

static bool is_intx(const struct virq_pci_function *fn)
{
	return fn->irq_type == VFIO_PCI_INTX_IRQ_INDEX;
}

static bool is_irq_none(const struct virq_pci_function *fn)
{
	return fn->irq_type == VIRQ_IRQ_NONE;
}

/* vfio_pci_intx_mask: the host masks by setting the physical INTx-disable bit (PCI 2.3 masking). */
static void intx_mask_locked(struct virq_pci_function *fn)
{
	if (!is_intx(fn)) {
		virq_pci_set_intx_disable_locked(fn, true); /* the physical bit follows the virtual one */
	} else if (!fn->intx_masked) {
		virq_pci_set_intx_disable_locked(fn, true);
		fn->intx_masked = true;
	}
}

/* pci_check_and_unmask_intx: stay masked and resend if the function still wants service, else unmask
 * (the line is no longer active). Returns the trigger to signal or -1. */
static int intx_check_and_unmask_locked(struct virq_pci_function *fn)
{
	if (virq_pci_intx_status_locked(fn)) {
		/* Still asserted and masked: active again, whoever masked it first (the handler, the user's
		 * MASK, the command register). Forwarded, only an active line is completed by the guest's
		 * deactivation: an inactive masked line would stay masked for good. */
		fn->intx_active = true;
		if (fn->intx_trigger < 0)
			return -1;
		virq_pci_intx_count_signal_locked(fn);
		return fn->intx_trigger;
	}
	virq_pci_set_intx_disable_locked(fn, false);
	fn->intx_masked = false;
	fn->intx_active = false;
	return -1;
}

int virq_vfio_intx_unmask_locked(struct virq_pci_function *fn)
{
	if (!is_intx(fn)) {
		virq_pci_set_intx_disable_locked(fn, false);
		return -1;
	}
	fn->intx_stats.unmasks++;
	if (!fn->intx_masked || fn->virq_disabled)
		return -1;
	return intx_check_and_unmask_locked(fn);
}

static void intx_unmask(struct virq_pci_function *fn)
{
	pthread_mutex_lock(&fn->lock);
	struct virq_pci_signal sig = virq_pci_signal_begin_locked(fn, virq_vfio_intx_unmask_locked(fn));
	pthread_mutex_unlock(&fn->lock);
	virq_pci_signal_end(fn, sig);
	virq_pci_notify(fn, VIRQ_PCI_EVENT_INTX_UNMASK, 0);
}

void virq_vfio_intx_virq_disable(struct virq_pci_function *fn, bool disabled)
{
	pthread_mutex_lock(&fn->lock);
	bool changed = fn->virq_disabled != disabled;
	fn->virq_disabled = disabled;
	if (changed && disabled)
		intx_mask_locked(fn);
	pthread_mutex_unlock(&fn->lock);
	if (changed && !disabled)
		intx_unmask(fn);
}

/* Loopback: vfio_send_intx_eventfd, which signals only in INTx mode and not while the user disabled it. */
static void intx_send(struct virq_pci_function *fn)
{
	if (is_intx(fn) && !fn->virq_disabled && fn->intx_trigger >= 0)
		virq_eventfd_signal(fn->intx_trigger); /* igate held: the trigger cannot be released meanwhile */
}

static void intx_enable(struct virq_pci_function *fn)
{
	pthread_mutex_lock(&fn->lock);
	fn->irq_type = VFIO_PCI_INTX_IRQ_INDEX;
	fn->intx_masked = fn->virq_disabled;
	fn->intx_active = false;
	virq_pci_set_intx_disable_locked(fn, fn->intx_masked);
	pthread_mutex_unlock(&fn->lock);
}

/* Replace the trigger (the handler exists only with one); a line already asserted fires at once. */
static int intx_set_signal(struct virq_pci_function *fn, int user_fd)
{
	int fd = -1;

	if (user_fd >= 0) {
		fd = virq_eventfd_dup(user_fd);
		if (fd < 0)
			return fd;
	}
	pthread_mutex_lock(&fn->lock);
	int old = fn->intx_trigger;
	fn->intx_trigger = fd;
	struct virq_pci_signal sig = virq_pci_signal_begin_locked(fn, virq_pci_intx_handler_locked(fn));
	pthread_mutex_unlock(&fn->lock);
	virq_pci_signal_end(fn, sig);
	eventfd_release(fn, old);
	return 0;
}

static void intx_disable(struct virq_pci_function *fn)
{
	virq_virqfd_disable(fn);
	pthread_mutex_lock(&fn->lock);
	int old = fn->intx_trigger;
	fn->intx_trigger = -1;
	fn->intx_masked = false;
	fn->intx_active = false; /* the host IRQ is freed: nothing left to complete */
	fn->irq_type = VIRQ_IRQ_NONE;
	pthread_mutex_unlock(&fn->lock);
	eventfd_release(fn, old);
}

/* ---- INTx as a forwarded line (seed 001; src/bypass/forward.h, docs/forwarding.md) ----
 *
 * Forwarding changes one thing on the host: who completes the active line. Not forwarded, the VFIO user
 * does (UNMASK by ioctl or through the unmask eventfd that QEMU wires to KVM's resamplefd); forwarded,
 * the engine does when the guest deactivates the virtual interrupt, by calling complete() here, with no
 * eventfd in between. The firing path is the same either way: the handler masks the line (active) and
 * signals the trigger eventfd. The user's unmask keeps working while forwarded (it is only not needed).
 * Forwarding outlives INTx disable and re-enable: it is a property of the line, not of its signalling.
 */

static struct virq_pci_function *line_fn(struct virq_fwd_line *line)
{
	return (struct virq_pci_function *)((char *)line - offsetof(struct virq_pci_function, intx_line));
}

/* Complete the active line (deactivate the physical interrupt): returns the trigger to signal or -1. */
static int intx_complete_locked(struct virq_pci_function *fn)
{
	if (!fn->intx_active)
		return -1;
	if (fn->virq_disabled) {
		/* The user masked INTx in the command register: the interrupt is completed but the line stays
		 * masked; clearing the bit unmasks it and fires again if it is still asserted. */
		fn->intx_active = false;
		return -1;
	}
	return intx_check_and_unmask_locked(fn);
}

static void intx_line_lock(struct virq_fwd_line *line, struct virq_fwd_line_state *st)
{
	struct virq_pci_function *fn = line_fn(line);

	pthread_mutex_lock(&fn->lock);
	st->signalling = is_intx(fn) && fn->intx_trigger >= 0;
	st->active = fn->intx_active;
	st->forwarded = fn->intx_fwd;
	st->gen = fn->intx_fwd_gen;
}

static uint64_t intx_line_unlock(struct virq_fwd_line *line, int change)
{
	struct virq_pci_function *fn = line_fn(line);
	int fd = -1;

	if (change > 0) {
		fn->intx_fwd = true;
		fn->intx_fwd_gen++;
	} else if (change < 0) {
		fn->intx_fwd = false;
		fn->intx_fwd_gen++;
		if (fn->intx_active) {
			fn->intx_stats.unforward_completions++;
			fd = intx_complete_locked(fn); /* unforwarding works at any time: complete it */
		}
	}
	uint64_t gen = fn->intx_fwd_gen;
	struct virq_pci_signal sig = virq_pci_signal_begin_locked(fn, fd);
	pthread_mutex_unlock(&fn->lock);
	virq_pci_signal_end(fn, sig);
	return gen;
}

static void intx_line_complete(struct virq_fwd_line *line, uint64_t gen)
{
	struct virq_pci_function *fn = line_fn(line);
	int fd = -1;

	pthread_mutex_lock(&fn->lock);
	if (!fn->intx_fwd || fn->intx_fwd_gen != gen || !fn->intx_active) {
		fn->intx_stats.fwd_stale++;
	} else {
		fn->intx_stats.fwd_completions++;
		fd = intx_complete_locked(fn);
		if (fd >= 0)
			fn->intx_stats.fwd_refires++;
	}
	struct virq_pci_signal sig = virq_pci_signal_begin_locked(fn, fd);
	pthread_mutex_unlock(&fn->lock);
	virq_pci_signal_end(fn, sig);
}

static const struct virq_fwd_line_ops intx_line_ops = {
	.lock = intx_line_lock,
	.unlock = intx_line_unlock,
	.complete = intx_line_complete,
};

int virq_vfio_fwd_line_get(struct virq_pci_function *fn, struct virq_fwd_line_get *req)
{
	/* Only a level line with automask has an active state for the guest to complete: INTx. MSI and
	 * MSI-X are edge messages (their bypass is posting, or direct LPI injection). */
	if (req->index != VFIO_PCI_INTX_IRQ_INDEX || req->subindex != 0 || !fn->desc.intx_pin)
		return -EINVAL;
	pthread_mutex_lock(&fn->lock);
	if (!fn->intx_line.ops) /* written once: lock-free readers hold the line only after this */
		fn->intx_line.ops = &intx_line_ops;
	pthread_mutex_unlock(&fn->lock);
	req->line = &fn->intx_line;
	return 0;
}

int virq_vfio_intx_stats(struct virq_pci_function *fn, struct virq_vfio_intx_stats *out)
{
	if (!fn || !out)
		return -EINVAL;
	pthread_mutex_lock(&fn->lock);
	*out = fn->intx_stats;
	out->forwarded = fn->intx_fwd;
	out->active = fn->intx_active;
	out->masked = fn->intx_masked;
	pthread_mutex_unlock(&fn->lock);
	return 0;
}

static int set_intx_unmask(struct virq_pci_function *fn, unsigned start, unsigned count, uint32_t flags,
			   const void *data)
{
	if (!is_intx(fn) || start != 0 || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_NONE) {
		intx_unmask(fn);
	} else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (*(const uint8_t *)data)
			intx_unmask(fn);
	} else {
		int32_t fd = *(const int32_t *)data;
		if (fd >= 0)
			return virq_virqfd_enable(fn, fd);
		virq_virqfd_disable(fn);
	}
	return 0;
}

static int set_intx_mask(struct virq_pci_function *fn, unsigned start, unsigned count, uint32_t flags,
			 const void *data)
{
	if (!is_intx(fn) || start != 0 || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		return -ENOTTY; /* vfio-pci: "XXX implement me" */
	if ((flags & VFIO_IRQ_SET_DATA_NONE) || *(const uint8_t *)data) {
		pthread_mutex_lock(&fn->lock);
		intx_mask_locked(fn);
		pthread_mutex_unlock(&fn->lock);
	}
	return 0;
}

static int set_intx_trigger(struct virq_pci_function *fn, unsigned start, unsigned count, uint32_t flags,
			    const void *data)
{
	if (is_intx(fn) && !count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
		intx_disable(fn);
		return 0;
	}
	if (!(is_intx(fn) || is_irq_none(fn)) || start != 0 || count != 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		int32_t fd = *(const int32_t *)data;
		if (is_intx(fn))
			return intx_set_signal(fn, fd);
		intx_enable(fn);
		int ret = intx_set_signal(fn, fd);
		if (ret)
			intx_disable(fn);
		return ret;
	}
	if (!is_intx(fn))
		return -EINVAL;
	if ((flags & VFIO_IRQ_SET_DATA_NONE) || *(const uint8_t *)data)
		intx_send(fn);
	return 0;
}

/* ---- MSI / MSI-X ---- */

/*
 * The producer's one op (intel_ir_set_vcpu_affinity through irq_set_vcpu_affinity): post the vector to a
 * vCPU's descriptor, or back to remapped delivery. Only MSI-X behind an IOMMU can post; the IOMMU cannot
 * be attached or detached while a VFIO descriptor is open, which a producer implies.
 */
static int producer_set_vcpu_affinity(struct virq_bypass_producer *prod, const struct virq_bypass_vcpu_info *info)
{
	struct virq_pci_vector *vec = (struct virq_pci_vector *)((char *)prod - offsetof(struct virq_pci_vector, producer));
	struct virq_pci_function *fn = vec->fn;

	if (!fn->iommu || fn->irq_type != VFIO_PCI_MSIX_IRQ_INDEX)
		return -EOPNOTSUPP;
	return info ? virq_iommu_vector_post(fn, vec->index, info->pi_desc_addr, info->vector)
		    : virq_iommu_vector_remap(fn, vec->index);
}

/*
 * The producer's other op (arm64's direct LPI injection, GICv4-like; docs/forwarding.md): from now on
 * the vector's host IRQ calls @t->inject instead of writing the trigger (vector_irq_locked in
 * pci_function.c), or writes the trigger again (@t NULL). The switch happens under fn->lock; then every
 * message that began before it (an eventfd write or an injection through the old target) is waited
 * out, as Linux's vLPI mapping and an IRTE write wait out interrupts in flight, so the consumer may
 * drop what the old target named. Called from the consumer's ops (with the bypass manager's lock and
 * the consumer's held, possibly igate too), never from inside an injection.
 */
static int producer_set_lpi(struct virq_bypass_producer *prod, const struct virq_bypass_lpi *t)
{
	struct virq_pci_vector *vec = (struct virq_pci_vector *)((char *)prod - offsetof(struct virq_pci_vector, producer));
	struct virq_pci_function *fn = vec->fn;

	pthread_mutex_lock(&fn->lock);
	if (t && fn->irq_type != VFIO_PCI_MSIX_IRQ_INDEX && fn->irq_type != VFIO_PCI_MSI_IRQ_INDEX) {
		pthread_mutex_unlock(&fn->lock);
		return -EOPNOTSUPP;
	}
	vec->direct = t != NULL;
	if (t)
		vec->lpi = *t;
	pthread_mutex_unlock(&fn->lock);
	virq_pci_sync_signals(fn);
	return 0;
}

static const struct virq_bypass_producer_ops vfio_producer_ops = {
	.set_vcpu_affinity = producer_set_vcpu_affinity,
	.set_lpi = producer_set_lpi,
};

/*
 * Register vector @v as a producer for @eventfd, as vfio_msi_set_vector_signal does. A failure (another
 * producer on the same eventfd) only means no bypass for this vector, so it is not an error. igate held,
 * fn->lock not: the consumer's add_producer may call back into set_vcpu_affinity, which takes it.
 */
static void vector_produce(struct virq_pci_function *fn, unsigned v, int eventfd)
{
	struct virq_pci_vector *vec = &fn->vec[v];

	vec->producer.ops = &vfio_producer_ops;
	vec->producer.host_irq = v;
	vec->producing = virq_bypass_register_producer(&vec->producer, eventfd) == 0;
}

static void vector_clear(struct virq_pci_function *fn, unsigned v, bool msix)
{
	if (fn->vec[v].producing) { /* first, so the consumer returns the vector to remapped delivery */
		virq_bypass_unregister_producer(&fn->vec[v].producer);
		fn->vec[v].producing = false;
	}
	pthread_mutex_lock(&fn->lock);
	int old = fn->vec[v].trigger;
	fn->vec[v].trigger = -1;
	fn->vec[v].direct = false; /* already so: the consumer let go when the producer was unregistered */
	if (msix)
		virq_msix_host_program_locked(fn, v, false);
	pthread_mutex_unlock(&fn->lock);
	eventfd_release(fn, old);
}

/* vfio_msi_set_vector_signal (6.1): the old trigger goes first; a new one unmasks the vector, which
 * sends a message held while it was masked. */
static int msi_set_vector_signal(struct virq_pci_function *fn, unsigned v, int user_fd, bool msix)
{
	if (v >= fn->num_ctx)
		return -EINVAL;
	vector_clear(fn, v, msix);
	if (user_fd < 0)
		return 0;
	int fd = virq_eventfd_dup(user_fd);
	if (fd < 0)
		return fd;
	struct virq_iommu_note note = {0};
	struct virq_pci_direct direct = {0};
	pthread_mutex_lock(&fn->lock);
	fn->vec[v].trigger = fd;
	if (msix)
		virq_msix_host_program_locked(fn, v, true);
	int sfd = virq_pci_vector_release_locked(fn, v, &note, &direct);
	struct virq_pci_signal sig = virq_pci_signal_begin_direct_locked(fn, sfd, &direct);
	pthread_mutex_unlock(&fn->lock);
	virq_pci_signal_end(fn, sig);
	virq_iommu_note_send(&note);
	vector_produce(fn, v, fd);
	return 0;
}

static int msi_set_block(struct virq_pci_function *fn, unsigned start, unsigned count, const int32_t *fds,
			 bool msix)
{
	unsigned i;
	int ret = 0;

	if (start >= fn->num_ctx || start + count > fn->num_ctx)
		return -EINVAL; /* 6.1: no vectors beyond those allocated at enable */
	for (i = 0; i < count && !ret; i++)
		ret = msi_set_vector_signal(fn, start + i, fds ? fds[i] : -1, msix);
	if (ret)
		for (unsigned j = start; j < start + i; j++)
			msi_set_vector_signal(fn, j, -1, msix);
	return ret;
}

static void msi_enable(struct virq_pci_function *fn, unsigned nvec, bool msix)
{
	pthread_mutex_lock(&fn->lock);
	fn->num_ctx = nvec;
	fn->irq_type = msix ? VFIO_PCI_MSIX_IRQ_INDEX : VFIO_PCI_MSI_IRQ_INDEX;
	if (msix)
		virq_pci_msix_set_enable_locked(fn, true); /* every entry is masked until it gets a trigger */
	else
		virq_pci_msi_set_enable_locked(fn, true, nvec);
	pthread_mutex_unlock(&fn->lock);
}

static void msi_disable(struct virq_pci_function *fn, bool msix)
{
	for (unsigned v = 0; v < fn->num_ctx; v++)
		vector_clear(fn, v, msix);
	pthread_mutex_lock(&fn->lock);
	if (msix) {
		virq_msix_mask_all_locked(fn);
		virq_pci_msix_set_enable_locked(fn, false);
	} else {
		virq_pci_msi_set_enable_locked(fn, false, 0);
	}
	virq_pci_discard_pending_locked(fn, false); /* the host MSI IRQs are freed; the PBA stays */
	fn->num_ctx = 0;
	fn->irq_type = VIRQ_IRQ_NONE;
	pthread_mutex_unlock(&fn->lock);
}

static int set_msi_trigger(struct virq_pci_function *fn, unsigned index, unsigned start, unsigned count,
			   uint32_t flags, const void *data)
{
	bool msix = index == VFIO_PCI_MSIX_IRQ_INDEX;

	if (fn->irq_type == index && !count && (flags & VFIO_IRQ_SET_DATA_NONE)) {
		msi_disable(fn, msix);
		return 0;
	}
	if (!(fn->irq_type == index || is_irq_none(fn)))
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		if (fn->irq_type == index)
			return msi_set_block(fn, start, count, data, msix);
		if (start + count == 0)
			return -ERANGE; /* pci_alloc_irq_vectors(pdev, 1, 0, ...) */
		msi_enable(fn, start + count, msix);
		int ret = msi_set_block(fn, start, count, data, msix);
		if (ret)
			msi_disable(fn, msix);
		return ret;
	}
	if (fn->irq_type != index || start + count > fn->num_ctx)
		return -EINVAL;
	for (unsigned i = start; i < start + count; i++) {
		int fd = fn->vec[i].trigger; /* igate held: stable */
		if (fd >= 0 && ((flags & VFIO_IRQ_SET_DATA_NONE) || ((const uint8_t *)data)[i - start]))
			virq_eventfd_signal(fd);
	}
	return 0;
}

/* ---- ERR / REQ: a single eventfd each (vfio_pci_set_ctx_trigger_single) ---- */

static int set_trigger_single(struct virq_pci_function *fn, int *slot, unsigned start, unsigned count,
			      uint32_t flags, const void *data)
{
	int old = *slot, fd;

	if (start != 0 || count > 1)
		return -EINVAL;
	if (flags & VFIO_IRQ_SET_DATA_NONE) {
		if (old < 0)
			return -EINVAL; /* the kernel falls through to its final -EINVAL here */
		if (count) {
			virq_eventfd_signal(old);
			return 0;
		}
		fd = -1;
	} else if (flags & VFIO_IRQ_SET_DATA_BOOL) {
		if (!count)
			return -EINVAL;
		if (*(const uint8_t *)data && old >= 0)
			virq_eventfd_signal(old);
		return 0;
	} else {
		if (!count)
			return -EINVAL;
		int32_t user_fd = *(const int32_t *)data;
		if (user_fd < -1)
			return 0;
		fd = user_fd == -1 ? -1 : virq_eventfd_dup(user_fd);
		if (fd < -1)
			return fd;
	}
	pthread_mutex_lock(&fn->lock);
	*slot = fd;
	pthread_mutex_unlock(&fn->lock);
	if (old >= 0)
		close(old); /* only ever written by loopback under igate, which we hold */
	return 0;
}

/* ---- the ioctl ---- */

unsigned virq_vfio_irq_count(const struct virq_pci_function *fn, unsigned index)
{
	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		return fn->desc.intx_pin ? 1 : 0;
	case VFIO_PCI_MSI_IRQ_INDEX:
		return fn->desc.msi_vectors;
	case VFIO_PCI_MSIX_IRQ_INDEX:
		return fn->desc.msix_vectors;
	case VFIO_PCI_REQ_IRQ_INDEX:
		return 1;
	default: /* ERR: only PCI Express functions have it, and ours is conventional PCI */
		return 0;
	}
}

/* vfio_set_irqs_validate_and_prepare */
static int validate(const struct vfio_irq_set *hdr, unsigned num_irqs, size_t *data_size)
{
	size_t minsz = offsetofend(struct vfio_irq_set, count), size;

	if (hdr->argsz < minsz || hdr->index >= VFIO_PCI_NUM_IRQS || hdr->count >= UINT32_MAX - hdr->start ||
	    (hdr->flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)))
		return -EINVAL;
	*data_size = 0;
	if (hdr->start >= num_irqs || hdr->start + hdr->count > num_irqs)
		return -EINVAL;
	switch (hdr->flags & VFIO_IRQ_SET_DATA_TYPE_MASK) {
	case VFIO_IRQ_SET_DATA_NONE:
		size = 0;
		break;
	case VFIO_IRQ_SET_DATA_BOOL:
		size = sizeof(uint8_t);
		break;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		size = sizeof(int32_t);
		break;
	default:
		return -EINVAL;
	}
	if (size && hdr->argsz - minsz < hdr->count * size)
		return -EINVAL;
	*data_size = hdr->count * size;
	return 0;
}

static int dispatch(struct virq_pci_function *fn, const struct vfio_irq_set *hdr, const void *data)
{
	uint32_t action = hdr->flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
	unsigned index = hdr->index, start = hdr->start, count = hdr->count;

	switch (index) {
	case VFIO_PCI_INTX_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_MASK)
			return set_intx_mask(fn, start, count, hdr->flags, data);
		if (action == VFIO_IRQ_SET_ACTION_UNMASK)
			return set_intx_unmask(fn, start, count, hdr->flags, data);
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return set_intx_trigger(fn, start, count, hdr->flags, data);
		break;
	case VFIO_PCI_MSI_IRQ_INDEX:
	case VFIO_PCI_MSIX_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return set_msi_trigger(fn, index, start, count, hdr->flags, data);
		break; /* MASK/UNMASK: "XXX Need masking support exported" */
	case VFIO_PCI_REQ_IRQ_INDEX:
		if (action == VFIO_IRQ_SET_ACTION_TRIGGER)
			return set_trigger_single(fn, &fn->req_trigger, start, count, hdr->flags, data);
		break;
	}
	return -ENOTTY;
}

long virq_vfio_set_irqs(struct virq_pci_function *fn, unsigned long arg)
{
	const struct vfio_irq_set *user = (const struct vfio_irq_set *)(uintptr_t)arg;
	struct vfio_irq_set hdr;
	size_t data_size;
	void *data = NULL;
	int ret;

	if (!user)
		return -EFAULT;
	memcpy(&hdr, user, offsetofend(struct vfio_irq_set, count));
	ret = validate(&hdr, virq_vfio_irq_count(fn, hdr.index), &data_size);
	if (ret)
		return ret;
	if (data_size) { /* the kernel copies the payload in before acting (memdup_user) */
		data = malloc(data_size);
		if (!data)
			return -ENOMEM;
		memcpy(data, user->data, data_size);
	}
	pthread_mutex_lock(&fn->igate);
	ret = dispatch(fn, &hdr, data);
	pthread_mutex_unlock(&fn->igate);
	free(data);
	return ret;
}

/* vfio_pci_core_disable + close_device: the active index goes, then ERR/REQ and the virqfds. */
void virq_vfio_irqs_release(struct virq_pci_function *fn)
{
	if (is_intx(fn))
		intx_disable(fn);
	else if (!is_irq_none(fn))
		msi_disable(fn, fn->irq_type == VFIO_PCI_MSIX_IRQ_INDEX);
	virq_virqfd_stop(fn);
	pthread_mutex_lock(&fn->lock);
	int err = fn->err_trigger, req = fn->req_trigger;
	fn->err_trigger = fn->req_trigger = -1;
	fn->virq_disabled = false;
	pthread_mutex_unlock(&fn->lock);
	if (err >= 0)
		close(err);
	if (req >= 0)
		close(req);
}
