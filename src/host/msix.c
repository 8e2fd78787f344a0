/* SPDX-License-Identifier: MIT */
/*
 * msix.c - the function's *physical* MSI-X table and PBA, as the PCI spec lays them out in a BAR.
 *
 * The table belongs to the host: vfio-pci programs an entry (address, data, vector control) when
 * VFIO_DEVICE_SET_IRQS gives its vector a trigger, and masks it again when the trigger goes. A raise whose
 * vector is masked sets the vector's PBA bit instead of sending; unmasking sends that held message once.
 * A VFIO user never sees the table (vfio-pci hides it: reads return all ones, writes are dropped; the
 * guest's table is emulated elsewhere), but it can read the PBA, which passes through.
 *
 * Behind an IOMMU (irte.c) the message the host writes is in remappable format (a handle naming the
 * vector's IRTE) instead of a LAPIC address and vector; the entry is read back at every send, so a
 * message rewritten behind the host's back (virq_msix_entry_write) is what the IOMMU sees.
 *
 * The PBA bits are the vectors' @pba flags (struct virq_pci_vector), so a PBA read is always the
 * device's current view.
 */
#include "host/pci_function.h"

#include <errno.h>
#include <linux/pci_regs.h>
#include <stdlib.h>
#include <string.h>

#define MSIX_ENTRY_SIZE 16
#define HOST_MSI_ADDRESS 0xfee00000u /* where a host x86 LAPIC takes MSI writes; a placeholder */

int virq_msix_init(struct virq_pci_function *fn)
{
	unsigned n = fn->desc.msix_vectors;

	if (!n)
		return 0;
	fn->msix_table = calloc(n, MSIX_ENTRY_SIZE);
	if (!fn->msix_table)
		return -ENOMEM;
	virq_msix_mask_all_locked(fn);
	return 0;
}

static uint8_t *entry(const struct virq_pci_function *fn, unsigned v)
{
	return fn->msix_table + (size_t)v * MSIX_ENTRY_SIZE;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

bool virq_msix_entry_masked_locked(const struct virq_pci_function *fn, unsigned v)
{
	return v >= fn->desc.msix_vectors || (get32(entry(fn, v) + PCI_MSIX_ENTRY_VECTOR_CTRL) & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* What Linux's MSI-X code does for vfio-pci: write the message, then (un)mask the entry. */
void virq_msix_host_program_locked(struct virq_pci_function *fn, unsigned v, bool unmask)
{
	uint8_t *e = entry(fn, v);

	if (unmask) {
		uint32_t addr = HOST_MSI_ADDRESS, data = v;
		if (fn->iommu) /* intel_irq_remapping: program the IRTE, send a remappable message */
			virq_iommu_host_program_locked(fn, v, &addr, &data);
		put32(e + PCI_MSIX_ENTRY_LOWER_ADDR, addr);
		put32(e + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
		put32(e + PCI_MSIX_ENTRY_DATA, data);
	}
	put32(e + PCI_MSIX_ENTRY_VECTOR_CTRL, unmask ? 0 : PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* The reset state of every entry, and what pci_free_irq_vectors() leaves: masked. */
void virq_msix_mask_all_locked(struct virq_pci_function *fn)
{
	for (unsigned v = 0; v < fn->desc.msix_vectors; v++)
		put32(entry(fn, v) + PCI_MSIX_ENTRY_VECTOR_CTRL, PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

uint32_t virq_msix_pba_bytes(const struct virq_pci_function *fn)
{
	return (fn->desc.msix_vectors + 63) / 64 * 8;
}

int virq_msix_region(const struct virq_pci_function *fn, unsigned bar, uint64_t off)
{
	const struct virq_pci_function_desc *d = &fn->desc;

	if (!d->msix_vectors)
		return 0;
	if (bar == d->msix_table_bar && off >= d->msix_table_offset &&
	    off < d->msix_table_offset + (uint64_t)d->msix_vectors * MSIX_ENTRY_SIZE)
		return 1;
	if (bar == d->msix_pba_bar && off >= d->msix_pba_offset && off < d->msix_pba_offset + virq_msix_pba_bytes(fn))
		return 2;
	return 0;
}

uint64_t virq_msix_pba_read_locked(const struct virq_pci_function *fn, uint64_t pba_off, unsigned size)
{
	uint64_t val = 0;

	for (unsigned i = 0; i < size; i++) {
		uint64_t byte = pba_off + i;
		uint8_t b = 0;
		for (unsigned bit = 0; bit < 8; bit++) {
			uint64_t v = byte * 8 + bit;
			if (v < fn->desc.msix_vectors && fn->vec[v].pba)
				b |= (uint8_t)(1u << bit);
		}
		val |= (uint64_t)b << (8 * i);
	}
	return val;
}

int virq_msix_entry_read(struct virq_pci_function *fn, unsigned v, uint32_t out[4])
{
	if (v >= fn->desc.msix_vectors)
		return -EINVAL;
	pthread_mutex_lock(&fn->lock);
	for (unsigned i = 0; i < 4; i++)
		out[i] = get32(entry(fn, v) + 4 * i);
	pthread_mutex_unlock(&fn->lock);
	return 0;
}

int virq_msix_entry_write(struct virq_pci_function *fn, unsigned v, const uint32_t in[4])
{
	if (v >= fn->desc.msix_vectors)
		return -EINVAL;
	pthread_mutex_lock(&fn->lock);
	for (unsigned i = 0; i < 4; i++)
		put32(entry(fn, v) + 4 * i, in[i]);
	pthread_mutex_unlock(&fn->lock);
	return 0;
}

void virq_msix_entry_message_locked(const struct virq_pci_function *fn, unsigned v, uint32_t *addr, uint32_t *data)
{
	*addr = get32(entry(fn, v) + PCI_MSIX_ENTRY_LOWER_ADDR);
	*data = get32(entry(fn, v) + PCI_MSIX_ENTRY_DATA);
}
