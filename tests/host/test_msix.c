/* SPDX-License-Identifier: MIT */
/*
 * test_msix.c - MSI-X and MSI delivery: per-vector trigger eventfds, the physical table's mask bits, PBA
 * bits and held messages sent exactly once when the host enables the vector, 6.1's fixed vector count,
 * loopback, MSI's vector = cause modulo the vectors enabled, and everything disabled on close.
 */
#include "host_test.h"
#include "host/pci_function.h"

#include <linux/pci_regs.h>

static bool entry_masked(struct virq_pci_function *fn, unsigned v)
{
	uint32_t e[4];
	assert_int_equal(virq_msix_entry_read(fn, v, e), 0);
	return e[3] & PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

static void test_per_vector_delivery(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn);
	int efd[8];
	int32_t fds[8];
	for (int i = 0; i < 8; i++)
		fds[i] = efd[i] = host_efd();

	for (unsigned v = 0; v < 8; v++)
		assert_true(entry_masked(fn, v)); /* reset state */
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 8, fds), 0);
	for (unsigned v = 0; v < 8; v++)
		assert_false(entry_masked(fn, v));
	for (unsigned k = 0; k < 8; k++)
		for (unsigned n = 0; n <= k; n++) {
			virq_pci_function_raise(fn, k);
			host_wr(dev, BAR(0, VIRQ_PCI_REG_ACK), 8, 1ull << k);
		}
	for (unsigned k = 0; k < 8; k++) {
		assert_int_equal(host_efd_take(efd[k]), k + 1);
		assert_int_equal(host_stats(fn, k).messages, k + 1);
	}
	/* A raise that finds its bit set is coalesced in the device: no message. */
	virq_pci_function_raise(fn, 4);
	virq_pci_function_raise(fn, 4);
	assert_int_equal(host_efd_take(efd[4]), 1);
	assert_int_equal(host_stats(fn, 4).coalesced, 1);

	/* Loopback: DATA_NONE / DATA_BOOL trigger the vectors' eventfds directly. */
	assert_int_equal(host_set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				       VFIO_PCI_MSIX_IRQ_INDEX, 2, 2, NULL, 0), 0);
	uint8_t b[3] = {1, 0, 1};
	assert_int_equal(host_set_irqs(dev, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
				       VFIO_PCI_MSIX_IRQ_INDEX, 5, 3, b, 3), 0);
	assert_int_equal(host_efd_take(efd[2]) + host_efd_take(efd[3]), 2);
	assert_int_equal(host_efd_take(efd[5]) + host_efd_take(efd[6]) * 10 + host_efd_take(efd[7]) * 100, 101);

	/* fd -1 disables one vector: its entry is masked again and its raises are held. */
	int32_t off = -1;
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 6, 1, &off), 0);
	assert_true(entry_masked(fn, 6));
	virq_pci_function_raise(fn, 6);
	assert_int_equal(host_efd_take(efd[6]), 0);
	assert_int_equal(host_stats(fn, 6).held, 1);

	/* Close disables every vector: the table is masked, nothing is signalled any more. */
	assert_int_equal(virq_close(dev), 0);
	for (unsigned v = 0; v < 8; v++)
		assert_true(entry_masked(fn, v));
	host_efd_take(efd[4]);
	virq_pci_function_raise(fn, 0);
	virq_pci_function_raise(fn, 4);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(host_efd_take(efd[i]), 0);
		close(efd[i]);
	}
	virq_pci_function_destroy(fn);
}

/* Held messages wait in the PBA and go out exactly once when the host enables the vector. */
static void test_held_until_enabled(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn);
	int e0 = host_efd(), e3 = host_efd();
	int32_t fds[4] = {e0, -1, -1, e3};

	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, fds), 0);
	virq_pci_function_raise(fn, 3);
	virq_pci_function_raise(fn, 5);
	assert_int_equal(host_rd(dev, BAR(0, 0x3000), 8), (1u << 3) | (1u << 5)); /* the PBA, through VFIO */
	assert_int_equal(host_stats(fn, 3).held, 1);
	assert_true(entry_masked(fn, 3));

	/* 6.1: vectors beyond those allocated at enable are EINVAL; re-enable with more (what QEMU does). */
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 3, 1, &fds[3]), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(host_disable_index(dev, VFIO_PCI_MSIX_IRQ_INDEX), 0);
	assert_int_equal(host_rd(dev, BAR(0, 0x3000), 8), (1u << 3) | (1u << 5)); /* the PBA is device state */
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 4, fds), 0);
	assert_int_equal(host_efd_take(e3), 1);
	assert_int_equal(host_rd(dev, BAR(0, 0x3000), 8), 1u << 5);
	struct virq_pci_cause_stats s = host_stats(fn, 3);
	assert_int_equal(s.held, 0);
	assert_int_equal(s.messages, 1);

	/* Setting the same vector again sends nothing more. */
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 3, 1, &fds[3]), 0);
	assert_int_equal(host_efd_take(e3), 0);
	assert_int_equal(host_efd_take(e0), 0);
	virq_close(dev);
	close(e0);
	close(e3);
	virq_pci_function_destroy(fn);
}

static void test_msi(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn);
	int e0 = host_efd(), e1 = host_efd();
	int32_t fds[2] = {e0, e1};

	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSI_IRQ_INDEX, 0, 2, fds), 0);
	for (unsigned k = 0; k < 8; k++)
		virq_pci_function_raise(fn, k); /* vector k % 2 */
	assert_int_equal(host_efd_take(e0), 4);
	assert_int_equal(host_efd_take(e1), 4);

	/* Vector 1 without a trigger: its message waits in the host IRQ and follows the trigger. */
	int32_t off = -1;
	host_wr(dev, BAR(0, VIRQ_PCI_REG_ACK), 8, 0xff);
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSI_IRQ_INDEX, 1, 1, &off), 0);
	virq_pci_function_raise(fn, 1);
	assert_int_equal(host_stats(fn, 1).held, 1);
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSI_IRQ_INDEX, 1, 1, &fds[1]), 0);
	assert_int_equal(host_efd_take(e1), 1);
	/* Disabled MSI throws a waiting message away (counted as discarded). */
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSI_IRQ_INDEX, 1, 1, &off), 0);
	virq_pci_function_raise(fn, 3);
	assert_int_equal(host_disable_index(dev, VFIO_PCI_MSI_IRQ_INDEX), 0);
	struct virq_pci_cause_stats s = host_stats(fn, 3);
	assert_int_equal(s.held, 0);
	assert_int_equal(s.discarded, 1);
	assert_int_equal(s.raised, s.coalesced + s.messages + s.held + s.discarded);
	virq_close(dev);
	close(e0);
	close(e1);
	virq_pci_function_destroy(fn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_per_vector_delivery),
		cmocka_unit_test(test_held_until_enabled),
		cmocka_unit_test(test_msi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
