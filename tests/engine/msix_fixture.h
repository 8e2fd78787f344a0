/* SPDX-License-Identifier: MIT */
/*
 * msix_fixture.h - what the MSI-X table tests share: a VM whose vCPU 0 runs a program, with device DEV's
 * table (at TABLE, entries masked as after reset) and PBA (at PBA, another BAR) registered through the
 * KVM-compatible front, and the steps "run to the next routing-update exit" and "point GSI at an MSI".
 *
 * Guest-physical layout the programs use: entry n of the table at 0xd1000000 + 16n (address low, high,
 * data, vector control); the PBA at 0xd2000000; reports at FX_REPORT_ADDR (0xd0000000).
 */
#ifndef VIRQ_TESTS_MSIX_FIXTURE_H
#define VIRQ_TESTS_MSIX_FIXTURE_H

#include <virq/vcpu.h>
#include <virq/vm.h>

#include "kvm_fixture.h"

#define TABLE 0xd1000000ull
#define PBA 0xd2000000ull
#define DEV 7u
#define MSIX_MAX 80u
#define TYPE_TABLE (KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV | KVM_MSIX_MMIO_TYPE_BASE_TABLE)
#define TYPE_PBA (KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV | KVM_MSIX_MMIO_TYPE_BASE_PBA)

struct msix_fx {
	struct fx_guest g;
	struct virq_vm *vm;
	unsigned nr;
	uint32_t table[MSIX_MAX * 4]; /* the VMM's copies (base_va) */
	uint64_t pba[(MSIX_MAX + 63) / 64];
};

static inline struct kvm_msix_mmio_user msix_user(uint32_t dev, uint16_t type, uint16_t nr, uint64_t base, void *va)
{
	struct kvm_msix_mmio_user u = { .dev_id = dev, .type = type, .max_entries_nr = nr, .base_addr = base,
					.base_va = (uintptr_t)va };
	return u;
}

/* KVM_REGISTER_MSIX_MMIO; returns the ioctl's result. */
static inline int msix_register(int vm, uint32_t dev, uint16_t type, uint16_t nr, uint64_t base, void *va)
{
	struct kvm_msix_mmio_user u = msix_user(dev, type, nr, base, va);
	return virq_ioctl(vm, KVM_REGISTER_MSIX_MMIO, &u);
}

static inline int msix_unregister(int vm, uint32_t dev, uint16_t type)
{
	struct kvm_msix_mmio_user u = msix_user(dev, type, 0, 0, NULL);
	return virq_ioctl(vm, KVM_UNREGISTER_MSIX_MMIO, &u);
}

/* A VM, vCPU 0 loaded with @program, and DEV's @nr-entry table and PBA registered, every entry masked. */
static inline void msix_open(struct msix_fx *f, unsigned nr, const char *program)
{
	memset(f, 0, sizeof(*f));
	fx_guest_open(&f->g, 0, true, program);
	f->vm = virq_vm_of_fd(f->g.vm);
	assert_non_null(f->vm);
	f->nr = nr;
	for (unsigned i = 0; i < nr; i++)
		f->table[4 * i + 3] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	assert_int_equal(msix_register(f->g.vm, DEV, TYPE_TABLE, (uint16_t)nr, TABLE, f->table), 0);
	assert_int_equal(msix_register(f->g.vm, DEV, TYPE_PBA, (uint16_t)nr, PBA, f->pba), 0);
}

static inline void msix_close(struct msix_fx *f)
{
	fx_guest_close(&f->g);
}

/* Point @gsi at an MSI to physical APIC 0 with @address_lo / @data (the only route of the table). */
static inline void msix_route(struct msix_fx *f, uint32_t gsi, uint32_t address_lo, uint32_t data)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI };
	e.u.msi.address_lo = address_lo;
	e.u.msi.data = data;
	assert_int_equal(fx_set_routing(f->g.vm, &e, 1), 0);
}

/* KVM_RUN to a KVM_EXIT_MSIX_ROUTING_UPDATE that must carry exactly these values. */
static inline void msix_expect_update(struct msix_fx *f, uint32_t entry, uint32_t address_lo, uint32_t address_hi,
				      uint32_t data, uint32_t flags)
{
	assert_int_equal(virq_ioctl(f->g.vcpu, KVM_RUN, 0), 0);
	assert_int_equal(f->g.run->exit_reason, KVM_EXIT_MSIX_ROUTING_UPDATE);
	const struct kvm_msix_routing_update *u = kvm_run_msix_routing_update(f->g.run);
	assert_int_equal(u->dev_id, DEV);
	assert_int_equal(u->entry, entry);
	assert_int_equal(u->address_lo, address_lo);
	assert_int_equal(u->address_hi, address_hi);
	assert_int_equal(u->data, data);
	assert_int_equal(u->flags, flags);
}

/* KVM_RUN to the next report, which may be 8 bytes wide; returns its value. */
static inline uint64_t msix_report(struct msix_fx *f)
{
	uint64_t value = 0;

	assert_int_equal(virq_ioctl(f->g.vcpu, KVM_RUN, 0), 0);
	assert_int_equal(f->g.run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(f->g.run->mmio.phys_addr, FX_REPORT_ADDR);
	assert_true(f->g.run->mmio.is_write);
	memcpy(&value, f->g.run->mmio.data, f->g.run->mmio.len);
	return value;
}

static inline struct virq_gsi_counts msix_gsi_counts(struct msix_fx *f, uint32_t gsi)
{
	struct virq_gsi_counts c;
	assert_int_equal(virq_vm_gsi_counts(f->vm, gsi, &c), 0);
	return c;
}

static inline struct virq_vector_counts msix_vector_counts(struct msix_fx *f, uint8_t vector)
{
	struct virq_vector_counts c;
	assert_int_equal(virq_vcpu_vector_counts(virq_vcpu_of_fd(f->g.vcpu), vector, &c), 0);
	return c;
}

/* The device's pending bits as virq_vm_msix_mmio_save() writes them to the PBA's copy. */
static inline uint64_t msix_saved_pba(struct msix_fx *f, unsigned word)
{
	assert_int_equal(virq_vm_msix_mmio_save(f->vm, DEV), 0);
	return f->pba[word];
}

#endif /* VIRQ_TESTS_MSIX_FIXTURE_H */
