/* SPDX-License-Identifier: MIT */
/*
 * test_vfio_errno.c - every error vfio-pci (Linux 6.1) gives for a bad device ioctl, SET_IRQS above all:
 * the generic header check (EINVAL), the index/action dispatch (ENOTTY), and each handler's own checks.
 */
#include "host_test.h"

#include <fcntl.h>

struct fixture {
	struct virq_pci_function *fn;
	int dev, efd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virq_pci_function_desc d = host_test_desc();
	f->fn = host_test_fn(&d);
	f->dev = virq_vfio_device_open(f->fn);
	f->efd = host_efd();
	*state = f;
	return f->dev >= 0 ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virq_close(f->dev);
	close(f->efd);
	assert_int_equal(virq_pci_function_destroy(f->fn), 0);
	free(f);
	return 0;
}

#define EXPECT_ERR(call, err)                     \
	do {                                      \
		errno = 0;                        \
		assert_int_equal((call), -1);     \
		assert_int_equal(errno, (err));   \
	} while (0)

static int raw_set_irqs(int dev, uint32_t argsz, uint32_t flags, uint32_t index, uint32_t start, uint32_t count)
{
	union {
		struct vfio_irq_set s;
		uint8_t bytes[sizeof(struct vfio_irq_set) + 16];
	} a;
	memset(a.bytes, 0xff, sizeof(a.bytes)); /* every eventfd in the payload is -1 */
	a.s = (struct vfio_irq_set){.argsz = argsz, .flags = flags, .index = index, .start = start, .count = count};
	return virq_ioctl(dev, VFIO_DEVICE_SET_IRQS, &a);
}

static void test_header_checks(void **state)
{
	struct fixture *f = *state;
	const uint32_t EV = VFIO_IRQ_SET_DATA_EVENTFD, TRIG = VFIO_IRQ_SET_ACTION_TRIGGER;
	uint32_t full = sizeof(struct vfio_irq_set) + 16;

	EXPECT_ERR(raw_set_irqs(f->dev, sizeof(struct vfio_irq_set) - 1, EV | TRIG, 2, 0, 1), EINVAL);
	EXPECT_ERR(raw_set_irqs(f->dev, full, TRIG, 2, 0, 1), EINVAL);                        /* no data type */
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | VFIO_IRQ_SET_DATA_BOOL | TRIG, 2, 0, 1), EINVAL);
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG | (1u << 6), 2, 0, 1), EINVAL);       /* unknown bit */
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG, VFIO_PCI_NUM_IRQS, 0, 1), EINVAL);
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG, VFIO_PCI_ERR_IRQ_INDEX, 0, 1), EINVAL); /* not PCIe */
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG, 2, 8, 1), EINVAL);                   /* start beyond */
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG, 2, 6, 3), EINVAL);                   /* end beyond */
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG, 2, 1, UINT32_MAX), EINVAL);          /* overflow */
	EXPECT_ERR(raw_set_irqs(f->dev, sizeof(struct vfio_irq_set) + 8, EV | TRIG, 2, 0, 3), EINVAL); /* short */
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG, VFIO_PCI_INTX_IRQ_INDEX, 0, 2), EINVAL);
	/* The action is dispatched after the header check: none or several have no handler -> ENOTTY. */
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV, 2, 0, 1), ENOTTY);
	EXPECT_ERR(raw_set_irqs(f->dev, full, EV | TRIG | VFIO_IRQ_SET_ACTION_MASK, 2, 0, 1), ENOTTY);
	EXPECT_ERR(virq_ioctl(f->dev, VFIO_DEVICE_SET_IRQS, NULL), EFAULT);
	EXPECT_ERR(virq_ioctl(f->dev, VFIO_DEVICE_GET_IRQ_INFO + 0x40, NULL), ENOTTY);
}

static void test_handler_checks(void **state)
{
	struct fixture *f = *state;
	int32_t fd = f->efd;

	/* MSI/MSI-X have no MASK/UNMASK in vfio-pci. */
	EXPECT_ERR(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_MASK, VFIO_PCI_MSIX_IRQ_INDEX), ENOTTY);
	EXPECT_ERR(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_MSI_IRQ_INDEX), ENOTTY);
	/* Loopback, mask or unmask on an index that is not enabled. */
	EXPECT_ERR(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_MSIX_IRQ_INDEX), EINVAL);
	EXPECT_ERR(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX), EINVAL);
	EXPECT_ERR(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX), EINVAL);
	EXPECT_ERR(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_MASK, VFIO_PCI_INTX_IRQ_INDEX), EINVAL);
	/* Disabling an index that is not enabled. */
	EXPECT_ERR(host_disable_index(f->dev, VFIO_PCI_INTX_IRQ_INDEX), EINVAL);
	EXPECT_ERR(host_disable_index(f->dev, VFIO_PCI_MSIX_IRQ_INDEX), EINVAL);
	/* Enabling with no vectors at all: pci_alloc_irq_vectors(1, 0) -> ERANGE. */
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL), ERANGE);

	/* Bad eventfds: a closed descriptor is EBADF, a descriptor that is not an eventfd EINVAL. */
	int closed = dup(f->efd);
	close(closed);
	int32_t bad = closed;
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &bad), EBADF);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	bad = devnull;
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &bad), EINVAL);
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &bad), EINVAL);
	bad = f->dev; /* a virq handle is not an eventfd either */
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &bad), EINVAL);
	close(devnull);

	/* Only one interrupt type at a time (vfio-pci's irq_type check). */
	assert_int_equal(host_set_eventfds(f->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &fd), 0);
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_MSI_IRQ_INDEX, 0, 1, &fd), EINVAL);
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd), EINVAL);
	EXPECT_ERR(host_disable_index(f->dev, VFIO_PCI_MSI_IRQ_INDEX), EINVAL);
	assert_int_equal(host_disable_index(f->dev, VFIO_PCI_MSIX_IRQ_INDEX), 0);

	assert_int_equal(host_set_eventfds(f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd), 0);
	EXPECT_ERR(host_set_eventfds(f->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &fd), EINVAL);
	/* INTx: MASK with an eventfd is not implemented; a second unmask eventfd is EBUSY. */
	EXPECT_ERR(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_MASK,
				 VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4), ENOTTY);
	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
				       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4), 0);
	EXPECT_ERR(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
				 VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4), EBUSY);
	int32_t none = -1;
	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
				       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &none, 4), 0);
	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
				       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4), 0);
	assert_int_equal(host_disable_index(f->dev, VFIO_PCI_INTX_IRQ_INDEX), 0);

	/* REQ: a single eventfd; DATA_NONE with count 0 and no trigger falls through to EINVAL. */
	EXPECT_ERR(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				 VFIO_PCI_REQ_IRQ_INDEX, 0, 0, NULL, 0), EINVAL);
	assert_int_equal(host_set_eventfds(f->dev, VFIO_PCI_REQ_IRQ_INDEX, 0, 1, &fd), 0);
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_REQ_IRQ_INDEX), 0);
	assert_int_equal(host_efd_take(f->efd), 1);
	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				       VFIO_PCI_REQ_IRQ_INDEX, 0, 0, NULL, 0), 0);
	EXPECT_ERR(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_REQ_IRQ_INDEX), ENOTTY);
}

static void test_info_and_descriptors(void **state)
{
	struct fixture *f = *state;
	struct vfio_device_info di = {.argsz = sizeof(di)};
	assert_int_equal(virq_ioctl(f->dev, VFIO_DEVICE_GET_INFO, &di), 0);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(di.num_regions, VFIO_PCI_NUM_REGIONS);
	assert_int_equal(di.num_irqs, VFIO_PCI_NUM_IRQS);
	di.argsz = 8;
	EXPECT_ERR(virq_ioctl(f->dev, VFIO_DEVICE_GET_INFO, &di), EINVAL);

	struct vfio_irq_info ii = {.argsz = sizeof(ii), .index = VFIO_PCI_INTX_IRQ_INDEX};
	assert_int_equal(virq_ioctl(f->dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED);
	ii.index = VFIO_PCI_MSIX_IRQ_INDEX;
	assert_int_equal(virq_ioctl(f->dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 8);
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	ii.index = VFIO_PCI_MSI_IRQ_INDEX;
	assert_int_equal(virq_ioctl(f->dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	assert_int_equal(ii.count, 4);
	ii.index = VFIO_PCI_ERR_IRQ_INDEX;
	EXPECT_ERR(virq_ioctl(f->dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), EINVAL);
	ii.index = VFIO_PCI_NUM_IRQS;
	EXPECT_ERR(virq_ioctl(f->dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), EINVAL);
	struct vfio_region_info ri = {.argsz = sizeof(ri), .index = VFIO_PCI_NUM_REGIONS};
	EXPECT_ERR(virq_ioctl(f->dev, VFIO_DEVICE_GET_REGION_INFO, &ri), EINVAL);

	/* Region access on descriptors that are not a VFIO device. */
	uint32_t v;
	EXPECT_ERR(virq_vfio_region_read(f->efd, &v, 4, CFG(0)), ENOTTY);
	int sys = virq_open();
	EXPECT_ERR(virq_vfio_region_read(sys, &v, 4, CFG(0)), ENOTTY);
	virq_close(sys);
	int gone = virq_vfio_device_open(f->fn);
	virq_close(gone);
	EXPECT_ERR(virq_vfio_region_read(gone, &v, 4, CFG(0)), EBADF);
	EXPECT_ERR(virq_ioctl(gone, VFIO_DEVICE_GET_INFO, &di), EBADF);
	/* A function with an open descriptor cannot go. */
	assert_int_equal(virq_pci_function_destroy(f->fn), -EBUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_info_and_descriptors, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
