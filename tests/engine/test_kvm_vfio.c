/* SPDX-License-Identifier: MIT */
/*
 * test_kvm_vfio.c - the kvm-vfio device's attributes (src/engine/kvm_vfio.c) against a fake host whose
 * "VFIO devices" are descriptors it made: FILE_ADD/FILE_DEL with Linux's errno (EFAULT, EBADF, EINVAL,
 * EEXIST also through a dup, ENOENT), ENXIO for unknown groups and attributes (before EFAULT), HAS and
 * GET answers; FORWARD_IRQ/UNFORWARD_IRQ with EEXIST/ENOENT/EINVAL and the EAGAIN rule (signalling set
 * and the interrupt active), unforward at any time; POST_IRQ/UNPOST_IRQ argument checks, overrides per
 * GSI and their notifications; unwired group-2 attributes are ENXIO; release unforwards and detaches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "engine/kvm_vfio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bypass/irqbypass.h"

struct fake_host {
	int vfio[2];                    /* two "VFIO devices" */
	int other;                      /* an open non-VFIO descriptor */
	int closed;                     /* a number that is not open */
	struct virq_kvm_vfio_irq_state irq[4][4]; /* [index][subindex], index < 4 exists */
	bool held;
	int forwarded[4][4];            /* +1 after a forward, 0 after unforward */
	uint32_t fwd_gsi[4][4];
	int set_kvm_balance;
	unsigned changed[8], nr_changed;
	struct virq_kvm_vfio dev;
};

static int host_file_check(void *ctx, int fd)
{
	struct fake_host *h = ctx;
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	for (unsigned i = 0; i < 2; i++)
		if (virq_bypass_same_file(fd, h->vfio[i]) == 0)
			return 0;
	return -EINVAL;
}

static void host_set_kvm(void *ctx, int fd, bool attached)
{
	struct fake_host *h = ctx;
	(void)fd;
	h->set_kvm_balance += attached ? 1 : -1;
}

static int host_irq_lock(void *ctx, int fd, uint32_t index, uint32_t subindex, uint32_t gsi, bool forward,
			 struct virq_kvm_vfio_irq_state *st)
{
	struct fake_host *h = ctx;
	(void)fd, (void)gsi, (void)forward;
	assert_false(h->held);
	if (index >= 4 || subindex >= 4)
		return -EINVAL;
	h->held = true;
	*st = h->irq[index][subindex];
	return 0;
}

static void host_irq_unlock(void *ctx, int fd, uint32_t index, uint32_t subindex, int change, uint32_t gsi,
			    struct virq_kvm_vfio_irq_state *st)
{
	struct fake_host *h = ctx;
	(void)fd, (void)st;
	assert_true(h->held);
	h->held = false;
	if (change > 0) {
		h->forwarded[index][subindex] = 1;
		h->fwd_gsi[index][subindex] = gsi;
	} else if (change < 0) {
		h->forwarded[index][subindex] = 0;
	}
}

static void host_override_changed(void *ctx, uint32_t gsi)
{
	struct fake_host *h = ctx;
	if (h->nr_changed < 8)
		h->changed[h->nr_changed++] = gsi;
}

static const struct virq_kvm_vfio_ops full_ops = {
	.file_check = host_file_check, .set_kvm = host_set_kvm,
	.irq_lock = host_irq_lock, .irq_unlock = host_irq_unlock, .override_changed = host_override_changed,
};
static const struct virq_kvm_vfio_ops files_only_ops = {.file_check = host_file_check};

static struct fake_host *host_new(const struct virq_kvm_vfio_ops *ops)
{
	struct fake_host *h = calloc(1, sizeof(*h));
	h->vfio[0] = eventfd(0, EFD_CLOEXEC);
	h->vfio[1] = eventfd(0, EFD_CLOEXEC);
	h->other = eventfd(0, EFD_CLOEXEC);
	h->closed = 1000; /* far above what the tests open (a freed low number would be reused by dup) */
	assert_true(fcntl(h->closed, F_GETFD) < 0);
	assert_int_equal(virq_kvm_vfio_init(&h->dev, ops, h), 0);
	return h;
}

static int setup(void **state)
{
	*state = host_new(&full_ops);
	return 0;
}

static int teardown(void **state)
{
	struct fake_host *h = *state;
	virq_kvm_vfio_destroy(&h->dev);
	close(h->vfio[0]);
	close(h->vfio[1]);
	close(h->other);
	free(h);
	return 0;
}

static int file_attr(struct fake_host *h, uint64_t attr, int32_t fd)
{
	return virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_FILE, attr, &fd);
}

static void test_file_add_del(void **state)
{
	struct fake_host *h = *state;
	int dup_fd = dup(h->vfio[0]);

	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, NULL), -EFAULT);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, h->closed), -EBADF);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, -1), -EBADF);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, h->other), -EINVAL);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, h->vfio[0]), 0);
	assert_int_equal(h->set_kvm_balance, 1);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, h->vfio[0]), -EEXIST);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, dup_fd), -EEXIST); /* same file, other number */
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, h->vfio[1]), 0);

	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_DEL, NULL), -EFAULT);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_DEL, h->closed), -EBADF);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_DEL, h->other), -ENOENT); /* not tracked, not EINVAL */
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_DEL, dup_fd), 0);       /* found by identity */
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_DEL, h->vfio[0]), -ENOENT);
	assert_int_equal(h->set_kvm_balance, 1);
	/* The device keeps its own reference: the caller closing its number changes nothing. */
	close(dup_fd);
	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, h->vfio[0]), 0);
	assert_int_equal(h->set_kvm_balance, 2);
}

static void test_unknown_groups_attrs(void **state)
{
	struct fake_host *h = *state;
	int32_t fd = h->vfio[0];

	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, 7, 1, &fd), -ENXIO);
	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, 0, 1, &fd), -ENXIO);
	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_FILE, 3, &fd), -ENXIO); /* SPAPR_TCE */
	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_FILE, 0, &fd), -ENXIO);
	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_DEVICE, 5, &fd), -ENXIO);
	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_FILE, 9, NULL), -ENXIO); /* before EFAULT */

	assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD), 0);
	assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_DEL), 0);
	assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, KVM_DEV_VFIO_FILE, 3), -ENXIO);
	for (uint64_t a = 1; a <= 4; a++)
		assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, KVM_DEV_VFIO_DEVICE, a), 0);
	assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, KVM_DEV_VFIO_DEVICE, 0), -ENXIO);
	assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, KVM_DEV_VFIO_DEVICE, 5), -ENXIO);
	assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, 3, 1), -ENXIO);
	assert_int_equal(virq_kvm_vfio_get_attr(&h->dev, KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_FILE_ADD, &fd), -EPERM);
	assert_int_equal(KVM_DEV_VFIO_FILE, KVM_DEV_VFIO_GROUP); /* the alias */
}

static void test_group2_unwired_is_enxio(void **state)
{
	(void)state;
	struct fake_host *h = host_new(&files_only_ops);
	struct kvm_arch_forwarded_irq f = {.fd = (uint32_t)h->vfio[0], .gsi = 1};

	for (uint64_t a = 1; a <= 4; a++) {
		assert_int_equal(virq_kvm_vfio_has_attr(&h->dev, KVM_DEV_VFIO_DEVICE, a), -ENXIO);
		assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_DEVICE, a, &f), -ENXIO);
	}
	struct virq_kvm_vfio_ops bad = {.file_check = host_file_check, .irq_lock = host_irq_lock};
	struct virq_kvm_vfio dev;
	assert_int_equal(virq_kvm_vfio_init(&dev, &bad, h), -EINVAL); /* irq_lock without irq_unlock */
	assert_int_equal(virq_kvm_vfio_init(&dev, NULL, h), -EINVAL);
	void *hp = h;
	teardown(&hp);
}

static int fwd(struct fake_host *h, bool on, int fd, uint32_t index, uint32_t subindex, uint32_t gsi)
{
	struct kvm_arch_forwarded_irq f = {.fd = (uint32_t)fd, .index = index, .subindex = subindex, .gsi = gsi};
	return virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_DEVICE,
				      on ? KVM_DEV_VFIO_DEVICE_FORWARD_IRQ : KVM_DEV_VFIO_DEVICE_UNFORWARD_IRQ, &f);
}

static void test_forward_unforward(void **state)
{
	struct fake_host *h = *state;
	uint32_t gsi = 0;

	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_FORWARD_IRQ, NULL),
			 -EFAULT);
	assert_int_equal(fwd(h, true, h->closed, 0, 0, 5), -EBADF);
	assert_int_equal(fwd(h, true, h->other, 0, 0, 5), -EINVAL);
	assert_int_equal(fwd(h, true, h->vfio[0], 9, 0, 5), -EINVAL);     /* no such IRQ */
	assert_int_equal(fwd(h, true, h->vfio[0], 0, 0, 4096), -EINVAL);  /* gsi beyond KVM_MAX_IRQ_ROUTES */
	assert_false(h->held);

	assert_int_equal(fwd(h, true, h->vfio[0], 0, 1, 5), 0);
	assert_int_equal(h->forwarded[0][1], 1);
	assert_int_equal(h->fwd_gsi[0][1], 5);
	assert_true(virq_kvm_vfio_forwarded(&h->dev, h->vfio[0], 0, 1, &gsi));
	assert_int_equal(gsi, 5);
	assert_false(virq_kvm_vfio_forwarded(&h->dev, h->vfio[1], 0, 1, NULL));
	assert_int_equal(fwd(h, true, h->vfio[0], 0, 1, 6), -EEXIST);
	assert_int_equal(fwd(h, true, h->vfio[1], 0, 1, 6), 0); /* another device's same index */

	assert_int_equal(fwd(h, false, h->vfio[0], 0, 2, 0), -ENOENT);
	assert_int_equal(fwd(h, false, h->other, 0, 1, 0), -EINVAL);
	assert_int_equal(fwd(h, false, h->vfio[0], 0, 1, 0), 0);
	assert_int_equal(h->forwarded[0][1], 0);
	assert_int_equal(fwd(h, false, h->vfio[0], 0, 1, 0), -ENOENT);
	assert_false(h->held);
}

/* Seed 000's later text (ARCHITECTURE.md 2, row 001): forwarding while VFIO signalling is active fails
 * with EAGAIN only if the interrupt is active at that moment; unforwarding works at any time. */
static void test_forward_eagain_rule(void **state)
{
	struct fake_host *h = *state;

	h->irq[1][0] = (struct virq_kvm_vfio_irq_state){.signalling = true, .active = true};
	assert_int_equal(fwd(h, true, h->vfio[0], 1, 0, 7), -EAGAIN);
	assert_int_equal(h->forwarded[1][0], 0);
	assert_false(virq_kvm_vfio_forwarded(&h->dev, h->vfio[0], 1, 0, NULL));
	assert_false(h->held);

	h->irq[1][0].active = false; /* signalling on, not active now: allowed */
	assert_int_equal(fwd(h, true, h->vfio[0], 1, 0, 7), 0);
	h->irq[1][0].active = true; /* unforward while active: allowed */
	assert_int_equal(fwd(h, false, h->vfio[0], 1, 0, 0), 0);
	assert_int_equal(h->forwarded[1][0], 0);

	h->irq[2][0] = (struct virq_kvm_vfio_irq_state){.signalling = false, .active = true};
	assert_int_equal(fwd(h, true, h->vfio[0], 2, 0, 8), 0); /* signalling off: no EAGAIN (seed 001) */
}

static int post(struct fake_host *h, bool on, uint32_t argsz, int fd, uint32_t start, uint32_t count,
		const uint32_t *gsis, unsigned nr)
{
	uint32_t buf[32] = {0};
	struct kvm_vfio_dev_irq *d = (struct kvm_vfio_dev_irq *)buf;
	d->argsz = argsz;
	d->fd = (uint32_t)fd;
	d->index = 2;
	d->start = start;
	d->count = count;
	for (unsigned i = 0; i < nr; i++)
		d->gsi[i] = gsis[i];
	return virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_DEVICE,
				      on ? KVM_DEV_VFIO_DEVICE_POST_IRQ : KVM_DEV_VFIO_DEVICE_UNPOST_IRQ, d);
}

static void test_post_unpost(void **state)
{
	struct fake_host *h = *state;
	const uint32_t two[2] = {30, 31}, bad[2] = {30, 4096};
	const uint32_t sz2 = sizeof(struct kvm_vfio_dev_irq) + 8;

	assert_int_equal(virq_kvm_vfio_set_attr(&h->dev, KVM_DEV_VFIO_DEVICE, KVM_DEV_VFIO_DEVICE_POST_IRQ, NULL),
			 -EFAULT);
	assert_int_equal(post(h, true, 12, h->vfio[0], 0, 2, two, 2), -EINVAL);        /* argsz < header */
	assert_int_equal(post(h, true, sz2 - 4, h->vfio[0], 0, 2, two, 2), -EINVAL);   /* argsz < count */
	assert_int_equal(post(h, true, sz2, h->vfio[0], 0, 0, two, 2), -EINVAL);       /* count 0 */
	assert_int_equal(post(h, true, UINT32_MAX, h->vfio[0], 0, VIRQ_KVM_VFIO_MAX_IRQS + 1, two, 2), -EINVAL);
	assert_int_equal(post(h, true, sz2, h->vfio[0], UINT32_MAX, 2, two, 2), -EINVAL); /* start overflow */
	assert_int_equal(post(h, true, sz2, h->vfio[0], 0, 2, bad, 2), -EINVAL);       /* gsi too big */
	assert_int_equal(post(h, true, sz2, h->closed, 0, 2, two, 2), -EBADF);
	assert_int_equal(post(h, true, sz2, h->other, 0, 2, two, 2), -EINVAL);
	assert_int_equal(h->nr_changed, 0); /* nothing changed by a failure */
	assert_int_equal(virq_kvm_vfio_override(&h->dev, 30), VIRQ_BYPASS_AUTO);

	assert_int_equal(post(h, true, sz2, h->vfio[0], 4, 2, two, 2), 0);
	assert_int_equal(virq_kvm_vfio_override(&h->dev, 30), VIRQ_BYPASS_FORCE_POST);
	assert_int_equal(virq_kvm_vfio_override(&h->dev, 31), VIRQ_BYPASS_FORCE_POST);
	assert_int_equal(virq_kvm_vfio_override(&h->dev, 32), VIRQ_BYPASS_AUTO);
	assert_int_equal(h->nr_changed, 2);
	assert_int_equal(h->changed[0], 30);
	assert_int_equal(h->changed[1], 31);

	assert_int_equal(post(h, false, sz2 - 4, h->vfio[0], 4, 1, two, 1), 0); /* UNPOST vector 4 -> gsi 30 */
	assert_int_equal(virq_kvm_vfio_override(&h->dev, 30), VIRQ_BYPASS_FORCE_REMAP);
	assert_int_equal(virq_kvm_vfio_override(&h->dev, 31), VIRQ_BYPASS_FORCE_POST);
	assert_int_equal(h->nr_changed, 3);
}

static void test_release_unforwards_and_detaches(void **state)
{
	(void)state;
	struct fake_host *h = host_new(&full_ops);
	const uint32_t one[1] = {40};

	assert_int_equal(file_attr(h, KVM_DEV_VFIO_FILE_ADD, h->vfio[0]), 0);
	assert_int_equal(fwd(h, true, h->vfio[0], 3, 3, 9), 0);
	assert_int_equal(post(h, true, sizeof(struct kvm_vfio_dev_irq) + 4, h->vfio[0], 0, 1, one, 1), 0);
	virq_kvm_vfio_destroy(&h->dev);
	assert_int_equal(h->forwarded[3][3], 0);
	assert_int_equal(h->set_kvm_balance, 0);
	assert_false(h->held);
	assert_int_equal(virq_kvm_vfio_init(&h->dev, &full_ops, h), 0); /* for teardown */
	void *hp = h;
	teardown(&hp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_add_del, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_groups_attrs, setup, teardown),
		cmocka_unit_test(test_group2_unwired_is_enxio),
		cmocka_unit_test_setup_teardown(test_forward_unforward, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_eagain_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_unpost, setup, teardown),
		cmocka_unit_test(test_release_unforwards_and_detaches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
