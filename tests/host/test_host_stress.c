/* SPDX-License-Identifier: MIT */
/*
 * test_host_stress.c - SET_IRQS trigger and unmask changes, resets and close, hammered against a storm
 * of raises on another thread: the CVE-2024-26813 class of race (a handler writing an eventfd that
 * SET_IRQS is releasing). Nothing may be lost or written twice:
 *   MSI-X: every raise is coalesced, sent, held or discarded, and each vector's eventfd counter equals
 *          the messages its cause sent (no write to a released trigger, none missing);
 *   INTx:  once the hammering stops, a guest that only acts on trigger signals services every raise.
 */
#include "host_test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#define CAUSES 8

static atomic_bool stop;

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct msix_rig {
	struct virq_pci_function *fn;
	int efd[CAUSES];
};

/* The guest: opens its own descriptor, reads STATUS and acks what it saw. */
static void *msix_guest(void *arg)
{
	struct msix_rig *r = arg;
	while (!atomic_load(&stop)) {
		int dev = virq_vfio_device_open(r->fn);
		if (dev < 0)
			continue;
		for (int i = 0; i < 20; i++) {
			uint64_t st = 0;
			if (virq_vfio_region_read(dev, &st, 8, BAR(0, VIRQ_PCI_REG_STATUS)) == 8 && st)
				virq_vfio_region_write(dev, &st, 8, BAR(0, VIRQ_PCI_REG_ACK));
		}
		virq_close(dev);
	}
	return NULL;
}

static void test_msix_hammer(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	d.intx_pin = 0; /* so that every raise is accounted for, with MSI-X on or off */
	struct msix_rig r = {.fn = host_test_fn(&d)};
	int32_t fds[CAUSES];
	for (int i = 0; i < CAUSES; i++)
		fds[i] = r.efd[i] = host_efd();

	atomic_store(&stop, false);
	struct virq_traffic storm = {.pattern = VIRQ_TRAFFIC_STORM};
	assert_int_equal(virq_pci_function_traffic_start(r.fn, &storm), 0);
	pthread_t guest;
	pthread_create(&guest, NULL, msix_guest, &r);

	uint64_t seed = 0x1234, end = now_ms() + 400;
	for (int it = 0; it < 1500 || now_ms() < end; it++) {
		int dev = virq_vfio_device_open(r.fn);
		assert_true(dev >= 0);
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		unsigned n = 1 + (unsigned)(seed >> 60) % CAUSES;
		int32_t some[CAUSES];
		for (unsigned v = 0; v < n; v++)
			some[v] = (seed >> (20 + v)) & 1 ? fds[v] : -1;
		host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, n, some);
		for (unsigned v = 0; v < n; v++) /* flip vectors on and off under the storm */
			host_set_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, v, 1, (seed >> (30 + v)) & 1 ? &fds[v] : &some[v]);
		if ((seed >> 40) % 16 == 0)
			virq_ioctl(dev, VFIO_DEVICE_RESET);
		if ((seed >> 44) & 1)
			host_disable_index(dev, VFIO_PCI_MSIX_IRQ_INDEX);
		virq_close(dev); /* otherwise the last close disables it (if the guest holds none open) */
		sched_yield();   /* two cores: let the storm run between rounds */
	}
	atomic_store(&stop, true);
	virq_pci_function_traffic_stop(r.fn);
	pthread_join(guest, NULL);

	uint64_t raised = 0;
	for (unsigned k = 0; k < CAUSES; k++) {
		struct virq_pci_cause_stats s = host_stats(r.fn, k);
		raised += s.raised;
		assert_int_equal(s.raised, s.coalesced + s.messages + s.held + s.discarded);
		assert_int_equal(host_efd_take(r.efd[k]), s.messages);
		close(r.efd[k]);
	}
	print_message("msix hammer: %llu raises\n", (unsigned long long)raised);
	assert_true(raised > 50);
	assert_int_equal(virq_pci_function_destroy(r.fn), 0);
}

struct intx_rig {
	struct virq_pci_function *fn;
	int dev, trig, unmask;
	atomic_ullong signals;
};

/* The guest: acts only on trigger signals; services STATUS, then unmasks by eventfd or ioctl. */
static void *intx_guest(void *arg)
{
	struct intx_rig *r = arg;
	unsigned n = 0;
	while (!atomic_load(&stop)) {
		if (!host_efd_wait(r->trig, 5))
			continue;
		atomic_fetch_add(&r->signals, host_efd_take(r->trig));
		uint64_t st = 0;
		virq_vfio_region_read(r->dev, &st, 8, BAR(0, VIRQ_PCI_REG_STATUS));
		virq_vfio_region_write(r->dev, &st, 8, BAR(0, VIRQ_PCI_REG_ACK));
		if (n++ & 1)
			eventfd_write(r->unmask, 1);
		else
			host_action_none(r->dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX);
	}
	return NULL;
}

static void set_unmask_fd(int dev, int32_t fd)
{
	host_set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX, 0, 1,
		      &fd, 4);
}

static void test_intx_hammer(void **state)
{
	(void)state;
	struct virq_pci_function_desc d = host_test_desc();
	struct intx_rig r = {.fn = host_test_fn(&d)};
	r.dev = virq_vfio_device_open(r.fn);
	r.trig = host_efd();
	r.unmask = host_efd();
	int32_t trig = r.trig;
	assert_int_equal(host_set_eventfds(r.dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &trig), 0);
	set_unmask_fd(r.dev, r.unmask);

	atomic_store(&stop, false);
	struct virq_traffic storm = {.pattern = VIRQ_TRAFFIC_STORM};
	assert_int_equal(virq_pci_function_traffic_start(r.fn, &storm), 0);
	pthread_t guest;
	pthread_create(&guest, NULL, intx_guest, &r);

	uint64_t end = now_ms() + 400;
	for (int it = 0; it < 1500 || now_ms() < end; it++) {
		set_unmask_fd(r.dev, -1);
		set_unmask_fd(r.dev, r.unmask);
		host_set_eventfds(r.dev, VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &trig); /* replace with the same eventfd */
		if (it % 7 == 0)
			host_action_none(r.dev, VFIO_IRQ_SET_ACTION_MASK, VFIO_PCI_INTX_IRQ_INDEX);
		if (it % 5 == 0)
			host_action_none(r.dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX);
		if (it % 101 == 0) { /* a second descriptor comes and goes: not the last close */
			int other = virq_vfio_device_open(r.fn);
			virq_close(other);
		}
		sched_yield();
	}
	virq_pci_function_traffic_stop(r.fn);
	/* The hammering is over; one unmask rescues an unmask eventfd write that a removal swallowed. */
	host_action_none(r.dev, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_PCI_INTX_IRQ_INDEX);
	uint64_t status = ~0ull;
	for (int i = 0; i < 400 && status; i++) {
		usleep(5000);
		status = host_rd(r.dev, BAR(0, VIRQ_PCI_REG_STATUS), 8);
	}
	atomic_store(&stop, true);
	pthread_join(guest, NULL);
	assert_int_equal(status, 0);
	uint64_t raised = 0;
	for (unsigned k = 0; k < CAUSES; k++) {
		struct virq_pci_cause_stats s = host_stats(r.fn, k);
		raised += s.raised;
		assert_int_equal(s.acked, s.raised - s.coalesced);
	}
	print_message("intx hammer: %llu raises, %llu signals\n", (unsigned long long)raised,
		      (unsigned long long)atomic_load(&r.signals));
	assert_true(atomic_load(&r.signals) > 0);
	virq_close(r.dev);
	/* After close nothing signals the trigger. */
	host_efd_take(r.trig);
	virq_pci_function_raise(r.fn, 0);
	assert_int_equal(host_efd_take(r.trig), 0);
	close(r.trig);
	close(r.unmask);
	assert_int_equal(virq_pci_function_destroy(r.fn), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_msix_hammer),
		cmocka_unit_test(test_intx_hammer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
