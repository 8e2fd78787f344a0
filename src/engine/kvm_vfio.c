/* SPDX-License-Identifier: MIT */
/*
 * kvm_vfio.c - the kvm-vfio device's attributes (rules and errno in kvm_vfio.h).
 *
 * Group 1 follows virt/kvm/vfio.c: a tracked file is kept by a duplicate descriptor (Linux holds a file
 * reference), and "already tracked" compares open files with kcmp (virq_bypass_same_file), never
 * numbers. Group 2 is the seeds'. Every attribute validates everything before it changes anything (no
 * partial state on failure, ARCHITECTURE.md 7).
 */
#define _GNU_SOURCE
#include "engine/kvm_vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bypass/irqbypass.h"

#ifndef KVM_MAX_IRQ_ROUTES
#define KVM_MAX_IRQ_ROUTES 4096
#endif

struct virq_kvm_vfio_file {
	int fd;                          /* our dup */
	struct virq_kvm_vfio_file *next;
};

struct virq_kvm_vfio_fwd {
	int fd;                          /* our dup of the device */
	uint32_t index, subindex, gsi;
	struct virq_kvm_vfio_fwd *next;
};

struct virq_kvm_vfio_ovr {
	uint32_t gsi, index, subindex;   /* keyed by gsi; index/subindex for `virq explain` */
	enum virq_bypass_override ovr;
	struct virq_kvm_vfio_ovr *next;
};

int virq_kvm_vfio_init(struct virq_kvm_vfio *dev, const struct virq_kvm_vfio_ops *ops, void *ctx)
{
	int r;

	memset(dev, 0, sizeof(*dev));
	if (!ops || !ops->file_check || !ops->irq_lock != !ops->irq_unlock)
		return -EINVAL;
	r = pthread_mutex_init(&dev->lock, NULL);
	if (r)
		return -r;
	dev->ops = ops;
	dev->ctx = ctx;
	return 0;
}

void virq_kvm_vfio_destroy(struct virq_kvm_vfio *dev)
{
	pthread_mutex_lock(&dev->lock);
	while (dev->fwds) {
		struct virq_kvm_vfio_fwd *f = dev->fwds;
		struct virq_kvm_vfio_irq_state st = { 0 };
		dev->fwds = f->next;
		/* Unforwarding works at any time; release must not leave a host line forwarded. */
		if (dev->ops->irq_lock(dev->ctx, f->fd, f->index, f->subindex, f->gsi, false, &st) == 0)
			dev->ops->irq_unlock(dev->ctx, f->fd, f->index, f->subindex, -1, f->gsi, &st);
		close(f->fd);
		free(f);
	}
	while (dev->files) {
		struct virq_kvm_vfio_file *f = dev->files;
		dev->files = f->next;
		if (dev->ops->set_kvm)
			dev->ops->set_kvm(dev->ctx, f->fd, false);
		close(f->fd);
		free(f);
	}
	while (dev->ovrs) {
		struct virq_kvm_vfio_ovr *o = dev->ovrs;
		dev->ovrs = o->next;
		free(o);
	}
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_destroy(&dev->lock);
}

static bool virq_kvm_vfio_same(int a, int b)
{
	return virq_bypass_same_file(a, b) == 0;
}

/* A duplicate that outlives the caller's number; -errno (EMFILE ...) on failure. */
static int virq_kvm_vfio_dup(int fd)
{
	int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return d < 0 ? -errno : d;
}

/* ---- group 1: KVM_DEV_VFIO_FILE ---- */

static struct virq_kvm_vfio_file **virq_kvm_vfio_find_file(struct virq_kvm_vfio *dev, int fd)
{
	struct virq_kvm_vfio_file **link = &dev->files;
	while (*link && !virq_kvm_vfio_same(fd, (*link)->fd))
		link = &(*link)->next;
	return link;
}

static int virq_kvm_vfio_file_add(struct virq_kvm_vfio *dev, int fd)
{
	struct virq_kvm_vfio_file *f;
	int r = dev->ops->file_check(dev->ctx, fd);

	if (r)
		return r;
	pthread_mutex_lock(&dev->lock);
	if (*virq_kvm_vfio_find_file(dev, fd)) {
		r = -EEXIST;
	} else if (!(f = malloc(sizeof(*f)))) {
		r = -ENOMEM;
	} else if ((f->fd = virq_kvm_vfio_dup(fd)) < 0) {
		r = f->fd;
		free(f);
	} else {
		f->next = dev->files;
		dev->files = f;
		if (dev->ops->set_kvm)
			dev->ops->set_kvm(dev->ctx, fd, true);
	}
	pthread_mutex_unlock(&dev->lock);
	return r;
}

static int virq_kvm_vfio_file_del(struct virq_kvm_vfio *dev, int fd)
{
	struct virq_kvm_vfio_file **link, *f;
	int r = 0;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	pthread_mutex_lock(&dev->lock);
	link = virq_kvm_vfio_find_file(dev, fd);
	if (!(f = *link)) {
		r = -ENOENT;
	} else {
		*link = f->next;
		if (dev->ops->set_kvm)
			dev->ops->set_kvm(dev->ctx, fd, false);
		close(f->fd);
		free(f);
	}
	pthread_mutex_unlock(&dev->lock);
	return r;
}

/* ---- group 2: FORWARD_IRQ / UNFORWARD_IRQ (seed 001, with 000's later rule) ---- */

static struct virq_kvm_vfio_fwd **virq_kvm_vfio_find_fwd(struct virq_kvm_vfio *dev, int fd, uint32_t index,
							 uint32_t subindex)
{
	struct virq_kvm_vfio_fwd **link = &dev->fwds;
	while (*link && !((*link)->index == index && (*link)->subindex == subindex &&
			  virq_kvm_vfio_same(fd, (*link)->fd)))
		link = &(*link)->next;
	return link;
}

static int virq_kvm_vfio_forward(struct virq_kvm_vfio *dev, const struct kvm_arch_forwarded_irq *arg, bool on)
{
	struct kvm_arch_forwarded_irq a = *arg;
	struct virq_kvm_vfio_fwd **link, *f = NULL;
	struct virq_kvm_vfio_irq_state st = { 0 }; /* what the callback does not fill reads as "no" */
	int fd = (int)a.fd, r;

	if ((r = dev->ops->file_check(dev->ctx, fd)))
		return r;
	if (a.gsi >= KVM_MAX_IRQ_ROUTES)
		return -EINVAL;
	if (on) { /* everything that can fail is done before the host IRQ is held */
		if (!(f = malloc(sizeof(*f))))
			return -ENOMEM;
		if ((f->fd = virq_kvm_vfio_dup(fd)) < 0) {
			r = f->fd;
			free(f);
			return r;
		}
		f->index = a.index;
		f->subindex = a.subindex;
		f->gsi = a.gsi;
	}
	pthread_mutex_lock(&dev->lock);
	link = virq_kvm_vfio_find_fwd(dev, fd, a.index, a.subindex);
	if (on && *link)
		r = -EEXIST;
	else if (!on && !*link)
		r = -ENOENT;
	else if ((r = dev->ops->irq_lock(dev->ctx, fd, a.index, a.subindex, on ? a.gsi : (*link)->gsi, on,
					 &st)) == 0) {
		if (on && st.signalling && st.active) {
			/* Seed 000's later text: forwarding an IRQ that is active right now would leave the host
			 * line's completion to a guest that never saw it; the caller retries. */
			r = -EAGAIN;
			dev->ops->irq_unlock(dev->ctx, fd, a.index, a.subindex, 0, a.gsi, &st);
		} else if (on) {
			dev->ops->irq_unlock(dev->ctx, fd, a.index, a.subindex, 1, a.gsi, &st);
			f->next = dev->fwds;
			dev->fwds = f;
			f = NULL;
		} else {
			struct virq_kvm_vfio_fwd *old = *link;
			dev->ops->irq_unlock(dev->ctx, fd, a.index, a.subindex, -1, old->gsi, &st);
			*link = old->next;
			f = old; /* freed below */
		}
	}
	pthread_mutex_unlock(&dev->lock);
	if (f) {
		close(f->fd);
		free(f);
	}
	return r;
}

bool virq_kvm_vfio_forwarded(struct virq_kvm_vfio *dev, int fd, uint32_t index, uint32_t subindex, uint32_t *gsi)
{
	struct virq_kvm_vfio_fwd *f;

	pthread_mutex_lock(&dev->lock);
	f = *virq_kvm_vfio_find_fwd(dev, fd, index, subindex);
	if (f && gsi)
		*gsi = f->gsi;
	pthread_mutex_unlock(&dev->lock);
	return f != NULL;
}

/* ---- group 2: POST_IRQ / UNPOST_IRQ (seed 000) as per-vector overrides ---- */

static struct virq_kvm_vfio_ovr *virq_kvm_vfio_find_ovr(struct virq_kvm_vfio *dev, uint32_t gsi)
{
	struct virq_kvm_vfio_ovr *o = dev->ovrs;
	while (o && o->gsi != gsi)
		o = o->next;
	return o;
}

static void virq_kvm_vfio_free_ovrs(struct virq_kvm_vfio_ovr *o)
{
	while (o) {
		struct virq_kvm_vfio_ovr *next = o->next;
		free(o);
		o = next;
	}
}

static int virq_kvm_vfio_post(struct virq_kvm_vfio *dev, const struct kvm_vfio_dev_irq *arg,
			      enum virq_bypass_override ovr)
{
	const size_t minsz = sizeof(struct kvm_vfio_dev_irq);
	struct kvm_vfio_dev_irq h;
	struct virq_kvm_vfio_ovr *spare = NULL;
	int r;

	memcpy(&h, arg, minsz);
	if (h.argsz < minsz || h.count == 0 || h.count > VIRQ_KVM_VFIO_MAX_IRQS ||
	    (uint64_t)h.argsz < minsz + (uint64_t)h.count * sizeof(uint32_t) || h.start > UINT32_MAX - h.count)
		return -EINVAL;
	for (uint32_t i = 0; i < h.count; i++)
		if (arg->gsi[i] >= KVM_MAX_IRQ_ROUTES)
			return -EINVAL;
	if ((r = dev->ops->file_check(dev->ctx, (int)h.fd)))
		return r;
	/* One spare node per vector, taken before anything changes, so ENOMEM changes nothing. */
	for (uint32_t i = 0; i < h.count; i++) {
		struct virq_kvm_vfio_ovr *o = malloc(sizeof(*o));
		if (!o) {
			virq_kvm_vfio_free_ovrs(spare);
			return -ENOMEM;
		}
		o->next = spare;
		spare = o;
	}
	pthread_mutex_lock(&dev->lock);
	for (uint32_t i = 0; i < h.count; i++) {
		struct virq_kvm_vfio_ovr *o = virq_kvm_vfio_find_ovr(dev, arg->gsi[i]);
		if (!o) {
			o = spare;
			spare = o->next;
			o->gsi = arg->gsi[i];
			o->next = dev->ovrs;
			dev->ovrs = o;
		}
		o->index = h.index;
		o->subindex = h.start + i;
		o->ovr = ovr;
	}
	pthread_mutex_unlock(&dev->lock);
	virq_kvm_vfio_free_ovrs(spare);
	/* Outside the lock (order in kvm_vfio.h); the receivers read the override back, so two racing
	 * calls on one GSI both end with the later value applied. */
	for (uint32_t i = 0; i < h.count; i++)
		dev->ops->override_changed(dev->ctx, arg->gsi[i]);
	return 0;
}

enum virq_bypass_override virq_kvm_vfio_override(struct virq_kvm_vfio *dev, uint32_t gsi)
{
	enum virq_bypass_override ovr;

	pthread_mutex_lock(&dev->lock);
	struct virq_kvm_vfio_ovr *o = virq_kvm_vfio_find_ovr(dev, gsi);
	ovr = o ? o->ovr : VIRQ_BYPASS_AUTO;
	pthread_mutex_unlock(&dev->lock);
	return ovr;
}

/* ---- attribute dispatch ---- */

int virq_kvm_vfio_has_attr(const struct virq_kvm_vfio *dev, uint32_t group, uint64_t attr)
{
	switch (group) {
	case KVM_DEV_VFIO_FILE:
		/* GROUP_SET_SPAPR_TCE (3) exists only on powerpc: ENXIO on x86, as Linux. */
		return attr == KVM_DEV_VFIO_FILE_ADD || attr == KVM_DEV_VFIO_FILE_DEL ? 0 : -ENXIO;
	case KVM_DEV_VFIO_DEVICE:
		switch (attr) {
		case KVM_DEV_VFIO_DEVICE_FORWARD_IRQ:
		case KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ:
			return dev->ops->irq_lock ? 0 : -ENXIO;
		case KVM_DEV_VFIO_DEVICE_POST_IRQ:
		case KVM_DEV_VFIO_DEVICE_UNPOST_IRQ:
			return dev->ops->override_changed ? 0 : -ENXIO;
		}
		return -ENXIO;
	default:
		return -ENXIO;
	}
}

int virq_kvm_vfio_get_attr(const struct virq_kvm_vfio *dev, uint32_t group, uint64_t attr, void *addr)
{
	(void)dev, (void)group, (void)attr, (void)addr;
	return -EPERM;
}

int virq_kvm_vfio_set_attr(struct virq_kvm_vfio *dev, uint32_t group, uint64_t attr, const void *addr)
{
	int32_t fd;

	/* Linux checks the group and attribute before touching the argument: ENXIO beats EFAULT. */
	if (virq_kvm_vfio_has_attr(dev, group, attr))
		return -ENXIO;
	if (!addr)
		return -EFAULT;
	if (group == KVM_DEV_VFIO_FILE) {
		memcpy(&fd, addr, sizeof(fd));
		return attr == KVM_DEV_VFIO_FILE_ADD ? virq_kvm_vfio_file_add(dev, fd) : virq_kvm_vfio_file_del(dev, fd);
	}
	switch (attr) {
	case KVM_DEV_VFIO_DEVICE_FORWARD_IRQ:
	case KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ:
		return virq_kvm_vfio_forward(dev, addr, attr == KVM_DEV_VFIO_DEVICE_FORWARD_IRQ);
	default:
		return virq_kvm_vfio_post(dev, addr, attr == KVM_DEV_VFIO_DEVICE_POST_IRQ ? VIRQ_BYPASS_FORCE_POST
										  : VIRQ_BYPASS_FORCE_REMAP);
	}
}
