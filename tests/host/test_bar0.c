/* SPDX-License-Identifier: MIT */
/*
 * test_bar0.c - the BAR 0 registers through the VFIO region (STATUS, ACK, DOORBELL, CAUSES; access
 * sizes), the hidden MSI-X table, BAR bounds, the raise observer and the per-cause statistics.
 */
#include "host_test.h"

struct observed {
	unsigned count, last;
	uint64_t last_ns;
};

static void observe(void *ctx, enum virq_pci_event event, unsigned cause, uint64_t raise_ns)
{
	struct observed *o = ctx;
	assert_true(event == VIRQ_PCI_EVENT_RAISE || event == VIRQ_PCI_EVENT_RAISE_COALESCED); /* no INTx here */
	o->count++;
	o->last = cause;
	o->last_ns = raise_ns;
}

static void test_registers(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	d.causes = 40;
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn);
	struct observed o = {0};
	virq_pci_function_observe(fn, observe, &o);

	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_CAUSES), 4), 40);
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_CAUSES), 8), 40);
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8), 0);

	host_wr(dev, BAR(0, VIRQ_PCI_REG_DOORBELL), 4, 3);
	host_wr(dev, BAR(0, VIRQ_PCI_REG_DOORBELL), 8, 35);
	host_wr(dev, BAR(0, VIRQ_PCI_REG_DOORBELL), 4, 40); /* no such cause: ignored */
	assert_int_equal(o.count, 2);
	assert_int_equal(o.last, 35);
	assert_true(o.last_ns > 0);
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8), (1ull << 3) | (1ull << 35));
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 4), 1u << 3);
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS + 4), 4), 1u << 3);

	/* ACK is write-1-to-clear, in either half. */
	host_wr(dev, BAR(0, VIRQ_PCI_REG_ACK + 4), 4, 1u << 3);
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8), 1ull << 3);
	host_wr(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8, 0); /* read-only */
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8), 1ull << 3);
	host_wr(dev, BAR(0, VIRQ_PCI_REG_ACK), 8, 1ull << 3);
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8), 0);

	/* Registers take 4- and 8-byte accesses only. */
	uint64_t v = 0;
	assert_int_equal(virq_vfio_region_read(dev, &v, 2, BAR(0, VIRQ_PCI_REG_STATUS)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(virq_vfio_region_write(dev, &v, 1, BAR(0, VIRQ_PCI_REG_ACK)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(virq_vfio_region_read(dev, &v, 4, BAR(0, 2)), -1); /* misaligned: 2+2 */
	assert_int_equal(errno, EINVAL);
	/* A 16-byte read is two 8-byte ones. */
	uint64_t two[2];
	virq_pci_function_raise(fn, 1);
	assert_int_equal(virq_vfio_region_read(dev, two, 16, BAR(0, VIRQ_PCI_REG_STATUS)), 16);
	assert_int_equal(two[0], 2);

	/* The MSI-X table is hidden from the user, as vfio-pci hides it; the BAR ends at 16 KiB. */
	assert_int_equal(host_rd(dev, BAR(0, 0x2000), 4), 0xffffffff);
	host_wr(dev, BAR(0, 0x200c), 4, 0);
	assert_int_equal(host_rd(dev, BAR(0, 0x200c), 4), 0xffffffff);
	assert_int_equal(virq_vfio_region_read(dev, &v, 8, BAR(0, 0x4000)), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(virq_vfio_region_read(dev, &v, 8, BAR(0, 0x3ffc)), 4); /* cut at the end */
	assert_int_equal(virq_vfio_region_read(dev, &v, 4, BAR(1, 0)), -1);    /* no BAR1 */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(virq_vfio_region_read(dev, &v, 4, VIRQ_VFIO_REGION_OFFSET(6)), -1); /* no ROM */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(virq_vfio_region_read(dev, &v, 4, VIRQ_VFIO_REGION_OFFSET(12)), -1);
	assert_int_equal(errno, EINVAL);
	virq_close(dev);
	virq_pci_function_destroy(fn);
}

static void test_stats(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn), efd = host_efd();
	int32_t fd = efd;

	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &fd), 0);
	for (int round = 0; round < 5; round++) {
		virq_pci_function_raise(fn, 0);
		virq_pci_function_raise(fn, 0); /* coalesced */
		virq_pci_function_raise(fn, 1); /* vector 1 not enabled: held (first), then coalesced */
		usleep(1000);
		host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8);
		host_wr(dev, BAR(0, VIRQ_PCI_REG_ACK), 8, 3);
	}
	struct virq_pci_cause_stats s0 = host_stats(fn, 0), s1 = host_stats(fn, 1);
	assert_int_equal(s0.raised, 10);
	assert_int_equal(s0.coalesced, 5);
	assert_int_equal(s0.messages, 5);
	assert_int_equal(s0.acked, 5);
	assert_int_equal(s0.held, 0);
	assert_false(s0.status);
	assert_int_equal(host_efd_take(efd), 5);
	assert_true(s0.latency_p50_ns >= 500000); /* we waited 1 ms before reading STATUS */
	assert_true(s0.latency_p99_ns >= s0.latency_p50_ns);
	assert_true(s0.latency_max_ns >= 900000);
	assert_int_equal(s1.raised, 5);
	assert_int_equal(s1.held, 1);
	assert_int_equal(s1.coalesced, 4);
	assert_int_equal(s1.acked, 5);
	assert_int_equal(s1.raised, s1.coalesced + s1.messages + s1.held + s1.discarded);

	/* VFIO_DEVICE_RESET forgets the held message. */
	virq_pci_function_raise(fn, 2);
	assert_int_equal(virq_ioctl(dev, VFIO_DEVICE_RESET), 0);
	s1 = host_stats(fn, 1);
	assert_int_equal(s1.held, 0);
	assert_int_equal(s1.discarded, 1);
	assert_false(host_stats(fn, 2).status);
	assert_int_equal(host_rd(dev, BAR(0, VIRQ_PCI_REG_STATUS), 8), 0);

	struct virq_pci_cause_stats bad;
	assert_int_equal(virq_pci_function_cause_stats(fn, 8, &bad), -EINVAL);
	assert_int_equal(virq_pci_function_raise(fn, 8), -EINVAL);
	virq_close(dev);
	close(efd);
	virq_pci_function_destroy(fn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_stats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
