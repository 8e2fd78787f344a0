/* SPDX-License-Identifier: MIT */
/*
 * pci_config.c - the function's 256-byte PCI config space (type 0 header, MSI and MSI-X capabilities),
 * in two views.
 *
 * The physical view is the device's: BAR sizing by writing ~0, the command register's INTx-disable bit
 * (which the host uses to mask the line, as vfio-pci does on PCI 2.3 devices), status bit 3 (the
 * function's interrupt status, independent of INTx-disable as the spec requires, so the host can check
 * it before unmasking) and the enable bits the host sets when VFIO enables MSI or MSI-X.
 *
 * The VFIO view (virt = true) is what a vfio-pci user sees: vfio-pci virtualizes the command register's
 * INTx-disable bit, the whole MSI capability and the MSI-X enable / function-mask bits (its vconfig), so
 * a user writing them changes only its own copy; interrupts are really set up by VFIO_DEVICE_SET_IRQS.
 * vmask marks those bits; every other bit passes through to the physical view.
 */
#include "host/pci_function.h"

#include <linux/pci_regs.h>
#include <string.h>

static void put16(uint8_t *p, unsigned off, uint16_t v)
{
	p[off] = (uint8_t)v;
	p[off + 1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, unsigned off, uint32_t v)
{
	put16(p, off, (uint16_t)v);
	put16(p, off + 2, (uint16_t)(v >> 16));
}

static uint16_t get16(const uint8_t *p, unsigned off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static unsigned ilog2u(unsigned v)
{
	return v ? 31u - (unsigned)__builtin_clz(v) : 0;
}

void virq_pci_config_init(struct virq_pci_function *fn)
{
	const struct virq_pci_function_desc *d = &fn->desc;
	uint8_t *c = fn->cfg, *w = fn->wmask, *v = fn->vmask;
	uint8_t *next = &c[PCI_CAPABILITY_LIST];

	memset(c, 0, VIRQ_PCI_CFG_SIZE);
	memset(w, 0, VIRQ_PCI_CFG_SIZE);
	memset(v, 0, VIRQ_PCI_CFG_SIZE);
	put16(c, PCI_VENDOR_ID, d->vendor_id);
	put16(c, PCI_DEVICE_ID, d->device_id);
	c[PCI_REVISION_ID] = 1;
	put16(c, PCI_CLASS_DEVICE, 0x0280); /* network controller, other */
	c[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL;
	put16(c, PCI_SUBSYSTEM_VENDOR_ID, d->vendor_id);
	put16(c, PCI_SUBSYSTEM_ID, d->device_id);
	c[PCI_INTERRUPT_PIN] = (uint8_t)d->intx_pin;

	put16(w, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
				      PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	v[PCI_COMMAND + 1] = PCI_COMMAND_INTX_DISABLE >> 8;
	w[PCI_INTERRUPT_LINE] = 0xff;
	/* 32-bit non-prefetchable memory BARs: the address bits above the size are writable. */
	for (unsigned i = 0; i < VIRQ_PCI_NUM_BARS; i++)
		if (fn->bar_size[i])
			put32(w, PCI_BASE_ADDRESS_0 + 4 * i, ~(fn->bar_size[i] - 1) & PCI_BASE_ADDRESS_MEM_MASK);

	if (d->msi_vectors) {
		unsigned o = VIRQ_PCI_MSI_CAP;
		*next = (uint8_t)o;
		c[o + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSI;
		put16(c, o + PCI_MSI_FLAGS, (uint16_t)(PCI_MSI_FLAGS_64BIT | ilog2u(d->msi_vectors) << 1));
		put16(w, o + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
		put32(w, o + PCI_MSI_ADDRESS_LO, 0xfffffffc);
		put32(w, o + PCI_MSI_ADDRESS_HI, 0xffffffff);
		put16(w, o + PCI_MSI_DATA_64, 0xffff);
		memset(v + o + PCI_MSI_FLAGS, 0xff, PCI_MSI_DATA_64 + 2 - PCI_MSI_FLAGS);
		next = &c[o + PCI_CAP_LIST_NEXT];
	}
	if (d->msix_vectors) {
		unsigned o = VIRQ_PCI_MSIX_CAP;
		*next = (uint8_t)o;
		c[o + PCI_CAP_LIST_ID] = PCI_CAP_ID_MSIX;
		put16(c, o + PCI_MSIX_FLAGS, (uint16_t)(d->msix_vectors - 1));
		put32(c, o + PCI_MSIX_TABLE, d->msix_table_offset | d->msix_table_bar);
		put32(c, o + PCI_MSIX_PBA, d->msix_pba_offset | d->msix_pba_bar);
		put16(w, o + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
		v[o + PCI_MSIX_FLAGS + 1] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	}
	if (c[PCI_CAPABILITY_LIST])
		put16(c, PCI_STATUS, PCI_STATUS_CAP_LIST);
	virq_pci_config_vreset_locked(fn);
}

/* The user's view starts as the physical one (vfio-pci fills vconfig from the device at open). */
void virq_pci_config_vreset_locked(struct virq_pci_function *fn)
{
	memcpy(fn->vcfg, fn->cfg, VIRQ_PCI_CFG_SIZE);
	fn->vcfg[PCI_COMMAND + 1] &= (uint8_t)~(PCI_COMMAND_INTX_DISABLE >> 8);
	if (fn->desc.msix_vectors)
		fn->vcfg[VIRQ_PCI_MSIX_CAP + PCI_MSIX_FLAGS + 1] &=
			(uint8_t)~((PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8);
	if (fn->desc.msi_vectors)
		fn->vcfg[VIRQ_PCI_MSI_CAP + PCI_MSI_FLAGS] &= (uint8_t)~(PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
}

bool virq_pci_intx_disabled_locked(const struct virq_pci_function *fn)
{
	return get16(fn->cfg, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE;
}

void virq_pci_set_intx_disable_locked(struct virq_pci_function *fn, bool disable)
{
	uint16_t cmd = get16(fn->cfg, PCI_COMMAND) & (uint16_t)~PCI_COMMAND_INTX_DISABLE;
	put16(fn->cfg, PCI_COMMAND, (uint16_t)(cmd | (disable ? PCI_COMMAND_INTX_DISABLE : 0)));
}

bool virq_pci_msi_enabled_locked(const struct virq_pci_function *fn)
{
	return fn->desc.msi_vectors && (fn->cfg[VIRQ_PCI_MSI_CAP + PCI_MSI_FLAGS] & PCI_MSI_FLAGS_ENABLE);
}

bool virq_pci_msix_enabled_locked(const struct virq_pci_function *fn)
{
	return fn->desc.msix_vectors && (get16(fn->cfg, VIRQ_PCI_MSIX_CAP + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE);
}

/* Status bit 3: the function wants INTx service (a cause is pending and it signals by pin). */
bool virq_pci_intx_status_locked(const struct virq_pci_function *fn)
{
	return fn->desc.intx_pin && fn->status && !virq_pci_msi_enabled_locked(fn) &&
	       !virq_pci_msix_enabled_locked(fn);
}

void virq_pci_msi_set_enable_locked(struct virq_pci_function *fn, bool enable, unsigned nvec)
{
	unsigned o = VIRQ_PCI_MSI_CAP + PCI_MSI_FLAGS;
	uint16_t flags = get16(fn->cfg, o) & (uint16_t)~(PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);

	if (enable) /* multiple message enable = log2 of the vectors allocated, rounded up (msi_qmax) */
		flags |= (uint16_t)(PCI_MSI_FLAGS_ENABLE | ilog2u(nvec * 2 - 1) << 4);
	put16(fn->cfg, o, flags);
}

void virq_pci_msix_set_enable_locked(struct virq_pci_function *fn, bool enable)
{
	unsigned o = VIRQ_PCI_MSIX_CAP + PCI_MSIX_FLAGS;
	uint16_t flags = get16(fn->cfg, o) & (uint16_t)~(PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	put16(fn->cfg, o, (uint16_t)(flags | (enable ? PCI_MSIX_FLAGS_ENABLE : 0)));
}

static uint8_t config_byte(const struct virq_pci_function *fn, unsigned i, bool virt)
{
	uint8_t b = fn->cfg[i];

	if (i == PCI_STATUS) /* interrupt status is live device state, not a stored bit */
		b = (uint8_t)((b & ~PCI_STATUS_INTERRUPT) | (virq_pci_intx_status_locked(fn) ? PCI_STATUS_INTERRUPT : 0));
	if (virt)
		b = (uint8_t)((b & ~fn->vmask[i]) | (fn->vcfg[i] & fn->vmask[i]));
	return b;
}

uint32_t virq_pci_config_read_locked(struct virq_pci_function *fn, unsigned off, unsigned size, bool virt)
{
	uint32_t val = 0;

	for (unsigned i = 0; i < size && off + i < VIRQ_PCI_CFG_SIZE; i++)
		val |= (uint32_t)config_byte(fn, off + i, virt) << (8 * i);
	return val;
}

bool virq_pci_config_write_locked(struct virq_pci_function *fn, unsigned off, unsigned size, uint32_t val,
				  bool virt)
{
	bool was = fn->vcfg[PCI_COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8);

	for (unsigned i = 0; i < size && off + i < VIRQ_PCI_CFG_SIZE; i++) {
		unsigned at = off + i;
		uint8_t b = (uint8_t)(val >> (8 * i)), w = fn->wmask[at];
		uint8_t vbits = virt ? fn->vmask[at] & w : 0, pbits = (uint8_t)(w & ~vbits);

		fn->vcfg[at] = (uint8_t)((fn->vcfg[at] & ~vbits) | (b & vbits));
		fn->cfg[at] = (uint8_t)((fn->cfg[at] & ~pbits) | (b & pbits));
	}
	return virt && was != (bool)(fn->vcfg[PCI_COMMAND + 1] & (PCI_COMMAND_INTX_DISABLE >> 8));
}
