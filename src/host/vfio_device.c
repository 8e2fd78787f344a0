/* SPDX-License-Identifier: MIT */
/*
 * vfio_device.c - the VFIO device descriptor over a simulated function: a handle in virq's handle table
 * that answers vfio-pci's device ioctls (GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, SET_IRQS, RESET) and
 * region reads and writes at index << 40, as pread/pwrite on a vfio-pci device fd.
 *
 * Several descriptors may be open on one function (as several VFIO_GROUP_GET_DEVICE_FD calls share one
 * vfio-pci device); the first open prepares the function and the last release disables every interrupt.
 * Release runs when the last reference goes, so an ioctl still running on another thread when the
 * descriptor is closed finishes before the interrupts are torn down, as the kernel's file reference
 * guarantees.
 */
#define _GNU_SOURCE
#include "handle/handle.h"
#include "host/pci_function.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stddef.h>
#include <stdlib.h>

#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
#define REGION_SHIFT 40
#define REGION_POS_MASK ((1ull << REGION_SHIFT) - 1)

struct virq_vfio_device {
	struct virq_pci_function *fn; /* [I] */
};

static long get_info(struct virq_pci_function *fn, struct vfio_device_info *info)
{
	(void)fn;
	if (info->argsz < offsetofend(struct vfio_device_info, num_irqs))
		return -EINVAL;
	info->flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
	info->num_regions = VFIO_PCI_NUM_REGIONS;
	info->num_irqs = VFIO_PCI_NUM_IRQS;
	return 0;
}

static long get_region_info(struct virq_pci_function *fn, struct vfio_region_info *info)
{
	if (info->argsz < offsetofend(struct vfio_region_info, offset) || info->index >= VFIO_PCI_NUM_REGIONS)
		return -EINVAL;
	info->offset = VIRQ_VFIO_REGION_OFFSET(info->index);
	info->flags = 0;
	info->size = 0;
	switch (info->index) {
	case VFIO_PCI_CONFIG_REGION_INDEX:
		info->size = VIRQ_PCI_CFG_SIZE;
		info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		break;
	case VFIO_PCI_ROM_REGION_INDEX:
		break; /* no option ROM */
	case VFIO_PCI_VGA_REGION_INDEX:
		return -EINVAL; /* not a VGA device */
	default:
		info->size = fn->bar_size[info->index];
		if (info->size) /* no MMAP: regions are reached through read/write only */
			info->flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	}
	return 0;
}

static long get_irq_info(struct virq_pci_function *fn, struct vfio_irq_info *info)
{
	if (info->argsz < offsetofend(struct vfio_irq_info, count) || info->index >= VFIO_PCI_NUM_IRQS ||
	    info->index == VFIO_PCI_ERR_IRQ_INDEX) /* ERR exists on PCI Express functions only */
		return -EINVAL;
	info->flags = VFIO_IRQ_INFO_EVENTFD;
	if (info->index == VFIO_PCI_INTX_IRQ_INDEX)
		info->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED;
	else
		info->flags |= VFIO_IRQ_INFO_NORESIZE;
	info->count = virq_vfio_irq_count(fn, info->index);
	return 0;
}

static long vfio_ioctl(void *object, unsigned long request, unsigned long arg)
{
	struct virq_pci_function *fn = ((struct virq_vfio_device *)object)->fn;
	void *p = (void *)(uintptr_t)arg;

	switch (request) {
	case VFIO_DEVICE_GET_INFO:
		return p ? get_info(fn, p) : -EFAULT;
	case VFIO_DEVICE_GET_REGION_INFO:
		return p ? get_region_info(fn, p) : -EFAULT;
	case VFIO_DEVICE_GET_IRQ_INFO:
		return p ? get_irq_info(fn, p) : -EFAULT;
	case VFIO_DEVICE_SET_IRQS:
		return virq_vfio_set_irqs(fn, arg);
	case VIRQ_FWD_LINE_GET: /* virq-internal: the kvm-vfio device finds a line to forward */
		return p ? virq_vfio_fwd_line_get(fn, p) : -EFAULT;
	case VFIO_DEVICE_RESET:
		pthread_mutex_lock(&fn->igate);
		pthread_mutex_lock(&fn->lock);
		virq_pci_function_reset_locked(fn);
		pthread_mutex_unlock(&fn->lock);
		pthread_mutex_unlock(&fn->igate);
		return 0;
	default:
		return -ENOTTY;
	}
}

static void vfio_release(void *object)
{
	struct virq_vfio_device *dev = object;
	struct virq_pci_function *fn = dev->fn;

	pthread_mutex_lock(&fn->igate);
	if (--fn->open_count == 0)
		virq_vfio_irqs_release(fn);
	pthread_mutex_unlock(&fn->igate);
	free(dev);
}

static const struct virq_handle_ops virq_vfio_handle = {
	.name = "virq-vfio-device",
	.ioctl = vfio_ioctl,
	.release = vfio_release,
};

int virq_vfio_device_open(struct virq_pci_function *fn)
{
	struct virq_vfio_device *dev;
	int fd;

	if (!fn)
		return -EINVAL;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->fn = fn;
	pthread_mutex_lock(&fn->igate);
	if (fn->open_count == 0) {
		/* vfio_pci_core_enable: the physical INTx-disable is cleared, vconfig is read afresh. */
		pthread_mutex_lock(&fn->lock);
		virq_pci_set_intx_disable_locked(fn, false);
		virq_pci_config_vreset_locked(fn);
		pthread_mutex_unlock(&fn->lock);
	}
	fd = virq_handle_create(&virq_vfio_handle, dev);
	if (fd >= 0)
		fn->open_count++;
	pthread_mutex_unlock(&fn->igate);
	if (fd < 0)
		free(dev);
	return fd;
}

/* ---- regions ---- */

/* vfio_config_do_rw: the whole access must fit (else EFAULT); it is cut into aligned 4/2/1 chunks. */
static ssize_t config_rw(struct virq_pci_function *fn, uint8_t *buf, size_t count, uint64_t pos, bool write)
{
	bool intx_changed = false;

	if (pos >= VIRQ_PCI_CFG_SIZE || count > VIRQ_PCI_CFG_SIZE - pos)
		return -EFAULT;
	if (write)
		pthread_mutex_lock(&fn->igate); /* a write may mask or unmask INTx */
	pthread_mutex_lock(&fn->lock);
	for (size_t done = 0; done < count;) {
		unsigned off = (unsigned)(pos + done), n = 1;
		if (count - done >= 4 && !(off % 4))
			n = 4;
		else if (count - done >= 2 && !(off % 2))
			n = 2;
		if (write) {
			uint32_t v = 0;
			for (unsigned i = 0; i < n; i++)
				v |= (uint32_t)buf[done + i] << (8 * i);
			intx_changed |= virq_pci_config_write_locked(fn, off, n, v, true);
		} else {
			uint32_t v = virq_pci_config_read_locked(fn, off, n, true);
			for (unsigned i = 0; i < n; i++)
				buf[done + i] = (uint8_t)(v >> (8 * i));
		}
		done += n;
	}
	bool disabled = virq_pci_config_read_locked(fn, PCI_COMMAND, 2, true) & PCI_COMMAND_INTX_DISABLE;
	pthread_mutex_unlock(&fn->lock);
	if (write) {
		if (intx_changed)
			virq_vfio_intx_virq_disable(fn, disabled);
		pthread_mutex_unlock(&fn->igate);
	}
	return (ssize_t)count;
}

/* vfio_pci_bar_rw: starts inside the BAR (else EINVAL), is cut short at its end, in aligned chunks. */
static ssize_t bar_rw(struct virq_pci_function *fn, unsigned bar, uint8_t *buf, size_t count, uint64_t pos,
		      bool write)
{
	uint64_t size = fn->bar_size[bar];
	size_t done = 0;

	if (!size || pos >= size)
		return -EINVAL;
	if (count > size - pos)
		count = (size_t)(size - pos);
	while (done < count) {
		uint64_t off = pos + done, v = 0;
		unsigned n = 8;
		while (n > 1 && (off % n || count - done < n))
			n /= 2;
		int ret;
		if (write) {
			for (unsigned i = 0; i < n; i++)
				v |= (uint64_t)buf[done + i] << (8 * i);
			ret = virq_pci_bar_write(fn, bar, off, n, v);
		} else {
			ret = virq_pci_bar_read(fn, bar, off, n, &v);
			for (unsigned i = 0; !ret && i < n; i++)
				buf[done + i] = (uint8_t)(v >> (8 * i));
		}
		if (ret)
			return done ? (ssize_t)done : ret;
		done += n;
	}
	return (ssize_t)done;
}

static ssize_t region_rw(int device_fd, void *buf, size_t count, uint64_t offset, bool write)
{
	struct virq_handle *h;
	ssize_t ret = virq_handle_get(device_fd, &virq_vfio_handle, &h);

	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	struct virq_pci_function *fn = ((struct virq_vfio_device *)virq_handle_object(h))->fn;
	uint64_t index = offset >> REGION_SHIFT, pos = offset & REGION_POS_MASK;

	if (!buf && count)
		ret = -EFAULT;
	else if (index == VFIO_PCI_CONFIG_REGION_INDEX)
		ret = config_rw(fn, buf, count, pos, write);
	else if (index <= VFIO_PCI_BAR5_REGION_INDEX)
		ret = bar_rw(fn, (unsigned)index, buf, count, pos, write);
	else
		ret = -EINVAL; /* no ROM, not VGA, no device-specific regions */
	virq_handle_put(h);
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}

ssize_t virq_vfio_region_read(int device_fd, void *buf, size_t count, uint64_t offset)
{
	return region_rw(device_fd, buf, count, offset, false);
}

ssize_t virq_vfio_region_write(int device_fd, const void *buf, size_t count, uint64_t offset)
{
	return region_rw(device_fd, (void *)(uintptr_t)buf, count, offset, true);
}
