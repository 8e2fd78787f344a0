/* SPDX-License-Identifier: MIT */
/*
 * test_intx.c - level INTx through VFIO: the host handler automasks and signals once, further raises
 * only keep the line asserted, unmask (by ioctl or by the unmask eventfd) fires again while the line is
 * still asserted and not once it is clear; MASK, loopback, and disable.
 */
#include "host_test.h"

#include <linux/pci_regs.h>

struct fixture {
	struct virq_pci_function *fn;
	int dev, trig, unmask;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virq_pci_function_desc d = host_test_desc();
	f->fn = host_test_fn(&d);
	f->dev = virq_vfio_device_open(f->fn);
	f->trig = host_efd();
	f->unmask = host_efd();
	int32_t fd = f->trig;
	assert_int_equal(host_set_eventfds(f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	virq_close(f->dev);
	close(f->trig);
	close(f->unmask);
	virq_pci_function_destroy(f->fn);
	free(f);
	return 0;
}

static void ack_all(struct fixture *f)
{
	host_wr(f->dev, BAR(0, VIRQ_PCI_REG_ACK), 8, ~0ull);
}

static void test_automask_and_ioctl_unmask(void **state)
{
	struct fixture *f = *state;

	virq_pci_function_raise(f->fn, 0);
	virq_pci_function_raise(f->fn, 1); /* masked: only keeps the line asserted */
	virq_pci_function_raise(f->fn, 2);
	assert_int_equal(host_efd_take(f->trig), 1);
	assert_int_equal(host_stats(f->fn, 0).messages, 1);

	/* Unmask while still asserted: fires again, stays masked. */
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX), 0);
	assert_int_equal(host_efd_take(f->trig), 1);
	virq_pci_function_raise(f->fn, 3);
	assert_int_equal(host_efd_take(f->trig), 0);

	/* The guest services everything, then unmasks: nothing fires, the line is live again. */
	ack_all(f);
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX), 0);
	assert_int_equal(host_efd_take(f->trig), 0);
	virq_pci_function_raise(f->fn, 5);
	assert_int_equal(host_efd_take(f->trig), 1);

	/* DATA_BOOL false does nothing; true unmasks. */
	ack_all(f);
	uint8_t no = 0, yes = 1;
	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK,
				       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &no, 1), 0);
	virq_pci_function_raise(f->fn, 5);
	assert_int_equal(host_efd_take(f->trig), 0);
	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK,
				       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &yes, 1), 0);
	assert_int_equal(host_efd_take(f->trig), 1);

	/* MASK by ioctl holds back a new assertion until unmask. */
	ack_all(f);
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX), 0);
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_MASK, VFIO_PCI_INTX_IRQ_INDEX), 0);
	virq_pci_function_raise(f->fn, 7);
	assert_int_equal(host_efd_take(f->trig), 0);
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX), 0);
	assert_int_equal(host_efd_take(f->trig), 1);

	/* Loopback signals the trigger without touching the line. */
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_PCI_INTX_IRQ_INDEX), 0);
	assert_int_equal(host_efd_take(f->trig), 1);
}

static void test_unmask_eventfd(void **state)
{
	struct fixture *f = *state;
	int32_t fd = f->unmask;

	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
				       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4), 0);
	virq_pci_function_raise(f->fn, 0);
	assert_int_equal(host_efd_take(f->trig), 1);

	/* The resamplefd path: still asserted -> a write to the unmask eventfd fires the trigger again. */
	eventfd_write(f->unmask, 1);
	assert_true(host_efd_wait(f->trig, 2000));
	assert_int_equal(host_efd_take(f->trig), 1);

	/* Serviced, then unmasked by eventfd: nothing fires, and the next raise does. */
	ack_all(f);
	eventfd_write(f->unmask, 1);
	usleep(20000); /* the watcher drains it and unmasks */
	assert_int_equal(host_efd_take(f->trig), 0);
	virq_pci_function_raise(f->fn, 1);
	assert_true(host_efd_wait(f->trig, 2000));
	assert_int_equal(host_efd_take(f->trig), 1);

	/* Removing the unmask eventfd (fd -1): writes to it do nothing any more. */
	int32_t none = -1;
	assert_int_equal(host_set_irqs(f->dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
				       VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &none, 4), 0);
	eventfd_write(f->unmask, 1);
	usleep(20000);
	assert_int_equal(host_efd_take(f->unmask), 1); /* nobody drained it */
	assert_int_equal(host_efd_take(f->trig), 0);
}

static void test_disable_and_reenable(void **state)
{
	struct fixture *f = *state;

	virq_pci_function_raise(f->fn, 0);
	assert_int_equal(host_efd_take(f->trig), 1);
	assert_int_equal(host_disable_index(f->dev, VFIO_PCI_INTX_IRQ_INDEX), 0);
	virq_pci_function_raise(f->fn, 1);
	assert_int_equal(host_efd_take(f->trig), 0);

	/* Enabling with the line already asserted fires at once (a level line at request_irq). */
	int32_t fd = f->trig;
	assert_int_equal(host_set_eventfds(f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd), 0);
	assert_int_equal(host_efd_take(f->trig), 1);

	/* fd -1 removes the trigger (no handler): the line stays asserted, nothing is signalled. */
	ack_all(f);
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX), 0);
	int32_t none = -1;
	assert_int_equal(host_set_eventfds(f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &none), 0);
	virq_pci_function_raise(f->fn, 2);
	assert_int_equal(host_efd_take(f->trig), 0);
	assert_int_equal(host_set_eventfds(f->dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd), 0);
	assert_int_equal(host_efd_take(f->trig), 1);

	/* Close disables INTx: nothing more is signalled. */
	ack_all(f);
	assert_int_equal(host_action_none(f->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX), 0);
	virq_close(f->dev);
	virq_pci_function_raise(f->fn, 3);
	assert_int_equal(host_efd_take(f->trig), 0);
	f->dev = virq_vfio_device_open(f->fn);
	assert_true(f->dev >= 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_automask_and_ioctl_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmask_eventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disable_and_reenable, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
