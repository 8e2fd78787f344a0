/* SPDX-License-Identifier: MIT */
/*
 * test_pci_config.c - the function's config space as a VFIO user sees it: header, capability chain,
 * BAR sizing, interrupt pin/line, MSI and MSI-X capabilities, the virtualized INTx-disable bit and the
 * live interrupt-status bit; plus descriptor validation and region info.
 */
#include "host_test.h"

#include <linux/pci_regs.h>

static void test_header_and_caps(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn);
	assert_true(dev >= 0);

	assert_int_equal(host_rd(dev, CFG(PCI_VENDOR_ID), 2), 0x1af4);
	assert_int_equal(host_rd(dev, CFG(PCI_DEVICE_ID), 2), 0x1041);
	assert_true(host_rd(dev, CFG(PCI_STATUS), 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(host_rd(dev, CFG(PCI_INTERRUPT_PIN), 1), 1);
	host_wr(dev, CFG(PCI_INTERRUPT_LINE), 1, 11);
	assert_int_equal(host_rd(dev, CFG(PCI_INTERRUPT_LINE), 1), 11);
	host_wr(dev, CFG(PCI_INTERRUPT_PIN), 1, 3); /* read-only */
	assert_int_equal(host_rd(dev, CFG(PCI_INTERRUPT_PIN), 1), 1);

	/* Walk the chain: MSI (4 vectors, 64-bit), then MSI-X (8 entries, table/PBA BIR + offset). */
	unsigned pos = (unsigned)host_rd(dev, CFG(PCI_CAPABILITY_LIST), 1);
	bool msi = false, msix = false;
	for (int guard = 0; pos && guard < 48; guard++) {
		unsigned id = (unsigned)host_rd(dev, CFG(pos), 1);
		if (id == PCI_CAP_ID_MSI) {
			uint16_t flags = (uint16_t)host_rd(dev, CFG(pos + PCI_MSI_FLAGS), 2);
			assert_int_equal((flags & PCI_MSI_FLAGS_QMASK) >> 1, 2); /* log2(4) */
			assert_true(flags & PCI_MSI_FLAGS_64BIT);
			msi = true;
		} else if (id == PCI_CAP_ID_MSIX) {
			assert_int_equal(host_rd(dev, CFG(pos + PCI_MSIX_FLAGS), 2) & PCI_MSIX_FLAGS_QSIZE, 7);
			assert_int_equal(host_rd(dev, CFG(pos + PCI_MSIX_TABLE), 4), 0x2000 | 0);
			assert_int_equal(host_rd(dev, CFG(pos + PCI_MSIX_PBA), 4), 0x3000 | 0);
			msix = true;
		}
		pos = (unsigned)host_rd(dev, CFG(pos + PCI_CAP_LIST_NEXT), 1);
	}
	assert_true(msi && msix);
	assert_int_equal(virq_close(dev), 0);
	assert_int_equal(virq_pci_function_destroy(fn), 0);
}

static void test_bar_sizing(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	d.msix_pba_bar = 2;
	d.msix_pba_offset = 0x5000; /* BAR2 must then be 32 KiB */
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn);

	host_wr(dev, CFG(PCI_BASE_ADDRESS_0), 4, 0xffffffff);
	assert_int_equal(host_rd(dev, CFG(PCI_BASE_ADDRESS_0), 4), 0xffffc000); /* 16 KiB: table at 0x2000 */
	host_wr(dev, CFG(PCI_BASE_ADDRESS_2), 4, 0xffffffff);
	assert_int_equal(host_rd(dev, CFG(PCI_BASE_ADDRESS_2), 4), 0xffff8000);
	host_wr(dev, CFG(PCI_BASE_ADDRESS_1), 4, 0xffffffff);
	assert_int_equal(host_rd(dev, CFG(PCI_BASE_ADDRESS_1), 4), 0); /* no BAR1 */
	host_wr(dev, CFG(PCI_BASE_ADDRESS_0), 4, 0xfe000000);
	assert_int_equal(host_rd(dev, CFG(PCI_BASE_ADDRESS_0), 4), 0xfe000000);

	struct vfio_region_info ri = {.argsz = sizeof(ri), .index = VFIO_PCI_BAR2_REGION_INDEX};
	assert_int_equal(virq_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, 0x8000);
	assert_int_equal(ri.offset, VIRQ_VFIO_REGION_OFFSET(2));
	ri.index = VFIO_PCI_BAR1_REGION_INDEX;
	assert_int_equal(virq_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, 0);
	assert_int_equal(ri.flags, 0);
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	assert_int_equal(virq_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	assert_int_equal(ri.size, 256);
	assert_int_equal(ri.flags, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE);
	ri.index = VFIO_PCI_VGA_REGION_INDEX;
	assert_int_equal(virq_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), -1);
	assert_int_equal(errno, EINVAL);

	/* Config accesses past the end fail as vfio-pci's do, with EFAULT. */
	uint32_t v;
	assert_int_equal(virq_vfio_region_read(dev, &v, 4, CFG(254)), -1);
	assert_int_equal(errno, EFAULT);
	assert_int_equal(virq_vfio_region_read(dev, &v, 4, CFG(256)), -1);
	assert_int_equal(errno, EFAULT);
	virq_close(dev);
	virq_pci_function_destroy(fn);
}

/* INTx disable (command bit 10) is the user's: set, the pin does not fire; cleared, it fires. */
static void test_intx_disable_and_status(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct virq_pci_function *fn = host_test_fn(&d);
	int dev = virq_vfio_device_open(fn), efd = host_efd();
	int32_t fd = efd;

	assert_false(host_rd(dev, CFG(PCI_STATUS), 2) & PCI_STATUS_INTERRUPT);
	host_wr(dev, CFG(PCI_COMMAND), 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(host_rd(dev, CFG(PCI_COMMAND), 2), PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd), 0);

	assert_int_equal(virq_pci_function_raise(fn, 2), 0);
	assert_true(host_rd(dev, CFG(PCI_STATUS), 2) & PCI_STATUS_INTERRUPT); /* the function wants service */
	assert_int_equal(host_efd_take(efd), 0);                                /* but the pin is disabled */

	host_wr(dev, CFG(PCI_COMMAND), 2, PCI_COMMAND_MEMORY);
	assert_int_equal(host_efd_take(efd), 1);
	assert_int_equal(host_rd(dev, CFG(PCI_COMMAND), 2), PCI_COMMAND_MEMORY); /* host's masking is hidden */

	host_wr(dev, BAR(0, VIRQ_PCI_REG_ACK), 8, ~0ull);
	assert_false(host_rd(dev, CFG(PCI_STATUS), 2) & PCI_STATUS_INTERRUPT);

	/* With MSI-X enabled, the function no longer signals by pin: status bit 3 stays clear. */
	assert_int_equal(host_disable_index(dev, VFIO_PCI_INTX_IRQ_INDEX), 0);
	assert_int_equal(host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &fd), 0);
	virq_pci_function_raise(fn, 0);
	assert_false(host_rd(dev, CFG(PCI_STATUS), 2) & PCI_STATUS_INTERRUPT);
	/* The user's MSI-X enable bit is virtual: the host's enabling does not show. */
	assert_false(host_rd(dev, CFG(0x70 + PCI_MSIX_FLAGS), 2) & PCI_MSIX_FLAGS_ENABLE);
	virq_close(dev);
	close(efd);
	virq_pci_function_destroy(fn);
}

static void test_bad_descriptors(void **state)
{
	(void)state;
	struct virq_pci_function *fn = NULL;
	struct virq_pci_function_desc d = host_test_desc();

	d.causes = 0;
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.causes = 65;
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.msix_table_offset = 0x800; /* over the registers */
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.msix_pba_offset = 0x2040; /* inside the table */
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.msix_table_offset = 0x2004;
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.msi_vectors = 3;
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.msix_vectors = 2049;
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.msix_vectors = d.msi_vectors = d.intx_pin = 0;
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	d = host_test_desc();
	d.intx_pin = 5;
	assert_int_equal(virq_pci_function_create(&d, &fn), -EINVAL);
	assert_null(fn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_and_caps),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_intx_disable_and_status),
		cmocka_unit_test(test_bad_descriptors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
