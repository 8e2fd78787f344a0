/* SPDX-License-Identifier: MIT */
/*
 * host_test.h - what the host simulation's tests share: building a function, opening its VFIO
 * descriptor, SET_IRQS with a payload, region access helpers and eventfd counters. Header-only.
 */
#ifndef VIRQ_TESTS_HOST_TEST_H
#define VIRQ_TESTS_HOST_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "virq/host.h"
#include "virq/kvm.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define CFG(off) (VIRQ_VFIO_REGION_OFFSET(VFIO_PCI_CONFIG_REGION_INDEX) + (off))
#define BAR(n, off) (VIRQ_VFIO_REGION_OFFSET(n) + (off))

/* A NIC-like function: 8 causes, 8 MSI-X vectors (table at BAR0 0x2000, PBA at 0x3000), 4 MSI, INTA#. */
static inline struct virq_pci_function_desc host_test_desc(void)
{
	return (struct virq_pci_function_desc){
		.name = "nic0", .requester_id = 0x0100, .vendor_id = 0x1af4, .device_id = 0x1041,
		.causes = 8, .msix_vectors = 8, .msix_table_bar = 0, .msix_table_offset = 0x2000,
		.msix_pba_bar = 0, .msix_pba_offset = 0x3000, .msi_vectors = 4, .intx_pin = 1,
	};
}

static inline struct virq_pci_function *host_test_fn(const struct virq_pci_function_desc *d)
{
	struct virq_pci_function *fn = NULL;
	assert_int_equal(virq_pci_function_create(d, &fn), 0);
	assert_non_null(fn);
	return fn;
}

/* SET_IRQS through virq_ioctl: returns its result; errno on failure. */
static inline int host_set_irqs(int dev, uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
				const void *data, size_t data_size)
{
	size_t sz = sizeof(struct vfio_irq_set) + data_size;
	struct vfio_irq_set *s = calloc(1, sz);
	s->argsz = (uint32_t)sz;
	s->flags = flags;
	s->index = index;
	s->start = start;
	s->count = count;
	if (data_size)
		memcpy(s->data, data, data_size);
	int ret = virq_ioctl(dev, VFIO_DEVICE_SET_IRQS, s);
	int saved = errno;
	free(s);
	errno = saved;
	return ret;
}

static inline int host_set_eventfds(int dev, uint32_t index, uint32_t start, uint32_t count, const int32_t *fds)
{
	return host_set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, index, start, count,
			     fds, count * sizeof(int32_t));
}

static inline int host_disable_index(int dev, uint32_t index)
{
	return host_set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, index, 0, 0, NULL, 0);
}

static inline int host_action_none(int dev, uint32_t action, uint32_t index)
{
	return host_set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | action, index, 0, 1, NULL, 0);
}

static inline uint64_t host_rd(int dev, uint64_t off, size_t size)
{
	uint64_t v = 0;
	assert_int_equal(virq_vfio_region_read(dev, &v, size, off), (ssize_t)size);
	return v;
}

static inline void host_wr(int dev, uint64_t off, size_t size, uint64_t v)
{
	assert_int_equal(virq_vfio_region_write(dev, &v, size, off), (ssize_t)size);
}

/* The eventfd's counter, drained (0 if nothing was signalled). */
static inline uint64_t host_efd_take(int efd)
{
	uint64_t v = 0;
	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static inline int host_efd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* Wait up to @ms for the eventfd to become readable. */
static inline bool host_efd_wait(int efd, int ms)
{
	struct pollfd p = {.fd = efd, .events = POLLIN};
	return poll(&p, 1, ms) == 1;
}

static inline struct virq_pci_cause_stats host_stats(struct virq_pci_function *fn, unsigned cause)
{
	struct virq_pci_cause_stats st;
	assert_int_equal(virq_pci_function_cause_stats(fn, cause, &st), 0);
	return st;
}

#endif
