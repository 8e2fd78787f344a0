/* SPDX-License-Identifier: MIT */
/*
 * test_errno_routing.c - KVM_IRQ_LINE(_STATUS), KVM_SET_GSI_ROUTING and KVM_SIGNAL_MSI through the
 * KVM-compatible front: every errno of reference kvm-x86.md 1.4-1.6, the status and count values KVM
 * returns, and that a refused call leaves the routing table as it was.
 *
 * virq has no 8259 PIC (ARCHITECTURE.md 7): PIC routes are accepted and validated as KVM does and deliver
 * nothing, as a PIC masking every line would (result -1). KVM's fresh PIC has IMR 0, so KVM reports 1 for a
 * first assert of GSI 0-15 on a fresh VM; virq reports -1 from both chips. Tests that depend on it say so.
 *
 * Every test opens its own handles and closes all of them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <virq/kvm.h>

#include "kvm_fixture.h"

/*
 * A vCPU whose LAPIC the guest has software-enabled (it starts disabled, SVR 0xff): the guest writes SVR,
 * then reports through an unclaimed MMIO write, which returns KVM_RUN to us. The vCPU then sits outside
 * KVM_RUN with an enabled LAPIC, so deliveries to it count 1 each.
 */
static int create_enabled_vcpu(int vm, unsigned id)
{
	static const char guest[] = "main:\n"
				    "    mmio_write 0xfee000f0, 4, 0x1ff\n"
				    "    mmio_write 0xd0000000, 4, 0x600d\n"
				    "    hlt\n";
	int vcpu = fx_create_guest_vcpu(vm, id, id != 0, guest);
	fx_run_to_report(vcpu);
	return vcpu;
}

/* Program IOAPIC redirection entry @pin with KVM_SET_IRQCHIP (what a guest's IOWIN writes would do). */
static void program_ioapic_pin(int vm, unsigned pin, uint8_t vector, bool level, bool masked, uint8_t dest)
{
	struct kvm_irqchip chip;
	memset(&chip, 0, sizeof(chip));
	chip.chip_id = KVM_IRQCHIP_IOAPIC;
	assert_int_equal(virq_ioctl(vm, KVM_GET_IRQCHIP, &chip), 0);
	chip.chip.ioapic.redirtbl[pin].bits = 0;
	chip.chip.ioapic.redirtbl[pin].fields.vector = vector;
	chip.chip.ioapic.redirtbl[pin].fields.trig_mode = level;
	chip.chip.ioapic.redirtbl[pin].fields.mask = masked;
	chip.chip.ioapic.redirtbl[pin].fields.dest_id = dest;
	assert_int_equal(virq_ioctl(vm, KVM_SET_IRQCHIP, &chip), 0);
}

/* ---- KVM_IRQ_LINE / KVM_IRQ_LINE_STATUS --------------------------------------------------------------- */

static void test_irq_line_without_irqchip_is_enxio(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_NO_HALT_POLL);
	struct kvm_irq_level line = { .irq = 4, .level = 1 };
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE, &line), ENXIO);
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE_STATUS, &line), ENXIO);
	line.level = 0;
	assert_fails(virq_ioctl(vm, KVM_IRQ_LINE_STATUS, &line), ENXIO);
	assert_int_equal(line.irq, 4); /* nothing written back */
	CLOSE_ALL(sys, vm);
}

static void test_irq_line_does_not_write_status_back(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	struct kvm_irq_level line = { .irq = 20, .level = 0 };
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE, &line), 0);
	assert_int_equal(line.irq, 20); /* only _STATUS writes the union back */
	assert_int_equal(fx_line_status(vm, 20, 0), 1);
	CLOSE_ALL(sys, vm);
}

/* Fresh VM: every IOAPIC pin masked. */
static void test_irq_line_status_on_fresh_vm(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);

	/* Masked IOAPIC pin: -1. virq difference: GSI 0-15 also go to the PIC, which KVM leaves unmasked
	 * (status 1); virq's absent PIC answers -1, so the sum is -1 too. */
	for (uint32_t gsi = 0; gsi < 24; gsi++) {
		assert_int_equal(fx_line_status(vm, gsi, 1), -1);
		assert_int_equal(fx_line_status(vm, gsi, 0), 1); /* de-assert is 1 (IOAPIC) */
	}
	/* Unrouted GSIs are not an error: -1, whatever the level. Polarity is ignored: any non-zero
	 * level asserts. */
	static const uint32_t unrouted[] = { 24, 100, 4095, 4096, 0xffffffffu };
	for (size_t i = 0; i < sizeof(unrouted) / sizeof(unrouted[0]); i++) {
		assert_int_equal(fx_line_status(vm, unrouted[i], 1), -1);
		assert_int_equal(fx_line_status(vm, unrouted[i], 0), -1);
		assert_int_equal(fx_line_status(vm, unrouted[i], 0x80000000u), -1);
	}
	CLOSE_ALL(sys, vm);
}

/* Edge pin: an assert while the pin's IRR bit is still set (line never lowered) is coalesced (0). */
static void test_irq_line_status_edge_assert_with_irr_set_is_coalesced(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);

	/* Masked edge pin 20: the first assert is ignored (-1) and latches IRR, the second coalesces. */
	assert_int_equal(fx_line_status(vm, 20, 1), -1);
	assert_int_equal(fx_line_status(vm, 20, 1), 0);
	assert_int_equal(fx_line_status(vm, 20, 7), 0);
	assert_int_equal(fx_line_status(vm, 20, 0), 1);
	assert_int_equal(fx_line_status(vm, 20, 1), -1);
	/* The same through GSI 5, whose PIC half adds nothing (virq: -1; KVM: PIC result). */
	assert_int_equal(fx_line_status(vm, 5, 1), -1);
	assert_int_equal(fx_line_status(vm, 5, 1), 0);
	CLOSE_ALL(sys, vm);
}

static void test_irq_line_status_counts_deliveries(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = fx_create_vcpu(vm, 0);

	/* Unmasked edge pin toward APIC 0, whose LAPIC is still software-disabled: KVM's LAPIC ignores
	 * the message, so the status is 0 (delivered to nobody, but not masked). */
	program_ioapic_pin(vm, 20, 0x40, false, false, 0);
	assert_int_equal(fx_line_status(vm, 20, 1), 0);
	assert_int_equal(fx_line_status(vm, 20, 0), 1);
	/* A destination with no vCPU: KVM's APIC-map fast path delivers to nobody, status 0. */
	program_ioapic_pin(vm, 21, 0x41, false, false, 9);
	assert_int_equal(fx_line_status(vm, 21, 1), 0);
	assert_int_equal(fx_line_status(vm, 21, 0), 1);
	assert_int_equal(virq_close(vcpu), 0);

	/* Once the guest software-enables its LAPIC, an edge reaches one vCPU: 1. */
	int sys2 = fx_open_sys();
	int vm2 = fx_create_vm(sys2, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu2 = create_enabled_vcpu(vm2, 0);
	program_ioapic_pin(vm2, 20, 0x40, false, false, 0);
	assert_int_equal(fx_line_status(vm2, 20, 1), 1);
	assert_int_equal(fx_line_status(vm2, 20, 1), 0); /* line still high: coalesced */
	assert_int_equal(fx_line_status(vm2, 20, 0), 1);
	assert_int_equal(fx_line_status(vm2, 20, 1), 1); /* LAPIC no longer reports coalescing */
	assert_int_equal(fx_line_status(vm2, 20, 0), 1);

	/* Level pin: delivered once, then remote IRR blocks it (-1) until the guest's EOI. */
	program_ioapic_pin(vm2, 22, 0x42, true, false, 0);
	assert_int_equal(fx_line_status(vm2, 22, 1), 1);
	assert_int_equal(fx_line_status(vm2, 22, 1), -1);
	assert_int_equal(fx_line_status(vm2, 22, 0), 1);
	assert_int_equal(fx_line_status(vm2, 22, 1), -1);

	/* Masked pin with an enabled LAPIC behind it: still -1. */
	program_ioapic_pin(vm2, 23, 0x43, false, true, 0);
	assert_int_equal(fx_line_status(vm2, 23, 1), -1);
	CLOSE_ALL(sys, vm, sys2, vm2, vcpu2);
}

/* ---- KVM_SET_GSI_ROUTING -------------------------------------------------------------------------------- */

static void test_set_gsi_routing_without_irqchip_is_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_NO_HALT_POLL);
	struct kvm_irq_routing_entry e = fx_msi_entry(1, 0, 0x40);
	assert_fails(fx_set_routing(vm, &e, 1), EINVAL);
	assert_fails(fx_set_routing(vm, NULL, 0), EINVAL);
	CLOSE_ALL(sys, vm);
}

static void test_set_gsi_routing_header_errors(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);

	/* nr above KVM_MAX_IRQ_ROUTES: refused before the entries are read (KVM copies them after). */
	struct kvm_irq_routing header = { .nr = KVM_MAX_IRQ_ROUTES + 1 };
	assert_fails(virq_ioctl(vm, KVM_SET_GSI_ROUTING, &header), EINVAL);
	header.nr = 0xffffffffu;
	assert_fails(virq_ioctl(vm, KVM_SET_GSI_ROUTING, &header), EINVAL);
	/* Header flags must be 0. */
	header.nr = 0;
	header.flags = 1;
	assert_fails(virq_ioctl(vm, KVM_SET_GSI_ROUTING, &header), EINVAL);
	header.flags = 0x80000000u;
	assert_fails(virq_ioctl(vm, KVM_SET_GSI_ROUTING, &header), EINVAL);

	/* Exactly KVM_MAX_IRQ_ROUTES entries are fine. */
	struct kvm_irq_routing *r = fx_routing_alloc(KVM_MAX_IRQ_ROUTES);
	for (uint32_t i = 0; i < KVM_MAX_IRQ_ROUTES; i++)
		r->entries[i] = fx_msi_entry(i, 0, 0x40);
	assert_int_equal(virq_ioctl(vm, KVM_SET_GSI_ROUTING, r), 0);
	free(r);
	CLOSE_ALL(sys, vm);
}

struct routing_case {
	const char *what;
	uint32_t nr;
	struct kvm_irq_routing_entry e[3];
	int err; /* 0: accepted */
};

static struct kvm_irq_routing_entry with_flags(struct kvm_irq_routing_entry e, uint32_t flags)
{
	e.flags = flags;
	return e;
}

static struct kvm_irq_routing_entry with_type(uint32_t gsi, uint32_t type)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = type };
	return e;
}

static void test_set_gsi_routing_validates_every_entry(void **state)
{
	(void)state;
	const struct routing_case cases[] = {
		{ "gsi 4096", 1, { fx_msi_entry(KVM_MAX_IRQ_ROUTES, 0, 0x40) }, EINVAL },
		{ "gsi 0xffffffff", 1, { fx_irqchip_entry(0xffffffffu, KVM_IRQCHIP_IOAPIC, 0) }, EINVAL },
		{ "gsi 4096 after a good entry", 2, { fx_msi_entry(1, 0, 0x40), fx_msi_entry(4096, 0, 0x41) }, EINVAL },
		{ "gsi 4095", 1, { fx_msi_entry(4095, 0, 0x40) }, 0 },
		{ "irqchip entry flags", 1, { with_flags(fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 1), 1) }, EINVAL },
		{ "irqchip entry with the devid flag", 1,
		  { with_flags(fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 1), KVM_MSI_VALID_DEVID) }, EINVAL },
		{ "msi entry with the devid flag", 1, { with_flags(fx_msi_entry(1, 0, 0x40), KVM_MSI_VALID_DEVID) }, 0 },
		{ "msi entry unknown flag", 1, { with_flags(fx_msi_entry(1, 0, 0x40), 2) }, EINVAL },
		{ "msi entry devid and unknown flag", 1, { with_flags(fx_msi_entry(1, 0, 0x40), 3) }, EINVAL },
		{ "two msi on one gsi", 2, { fx_msi_entry(1, 0, 0x40), fx_msi_entry(1, 0, 0x41) }, EINVAL },
		{ "msi then irqchip on one gsi", 2, { fx_msi_entry(1, 0, 0x40), fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 1) }, EINVAL },
		{ "irqchip then msi on one gsi", 2, { fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 1), fx_msi_entry(1, 0, 0x40) }, EINVAL },
		{ "same irqchip twice on one gsi", 2,
		  { fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 1), fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 2) }, EINVAL },
		{ "same pic twice on one gsi", 2,
		  { fx_irqchip_entry(1, KVM_IRQCHIP_PIC_MASTER, 1), fx_irqchip_entry(1, KVM_IRQCHIP_PIC_MASTER, 1) }, EINVAL },
		{ "ioapic and pic on one gsi", 2,
		  { fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 1), fx_irqchip_entry(1, KVM_IRQCHIP_PIC_MASTER, 1) }, 0 },
		{ "all three chips on one gsi", 3,
		  { fx_irqchip_entry(9, KVM_IRQCHIP_PIC_MASTER, 1), fx_irqchip_entry(9, KVM_IRQCHIP_PIC_SLAVE, 1),
		    fx_irqchip_entry(9, KVM_IRQCHIP_IOAPIC, 9) }, 0 },
		{ "two gsis on one pin", 2,
		  { fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 3), fx_irqchip_entry(2, KVM_IRQCHIP_IOAPIC, 3) }, 0 },
		{ "pic master pin 8", 1, { fx_irqchip_entry(1, KVM_IRQCHIP_PIC_MASTER, 8) }, EINVAL },
		{ "pic slave pin 8", 1, { fx_irqchip_entry(1, KVM_IRQCHIP_PIC_SLAVE, 8) }, EINVAL },
		{ "pic slave pin 7", 1, { fx_irqchip_entry(1, KVM_IRQCHIP_PIC_SLAVE, 7) }, 0 },
		{ "ioapic pin 24", 1, { fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 24) }, EINVAL },
		{ "ioapic pin 0xffffffff", 1, { fx_irqchip_entry(1, KVM_IRQCHIP_IOAPIC, 0xffffffffu) }, EINVAL },
		{ "ioapic pin 23 from gsi 4000", 1, { fx_irqchip_entry(4000, KVM_IRQCHIP_IOAPIC, 23) }, 0 },
		{ "irqchip 3", 1, { fx_irqchip_entry(1, 3, 0) }, EINVAL },
		{ "irqchip 0xffffffff", 1, { fx_irqchip_entry(1, 0xffffffffu, 0) }, EINVAL },
		{ "type 0", 1, { with_type(1, 0) }, EINVAL },
		{ "type s390 adapter", 1, { with_type(1, KVM_IRQ_ROUTING_S390_ADAPTER) }, EINVAL },
		{ "type xen evtchn (no Xen)", 1, { with_type(1, KVM_IRQ_ROUTING_XEN_EVTCHN) }, EINVAL },
		{ "unknown type", 1, { with_type(1, 99) }, EINVAL },
		{ "type hv sint (accepted as KVM does)", 1, { with_type(1, KVM_IRQ_ROUTING_HV_SINT) }, 0 },
		{ "bad entry after good ones", 3,
		  { fx_msi_entry(1, 0, 0x40), fx_irqchip_entry(2, KVM_IRQCHIP_IOAPIC, 2), fx_irqchip_entry(3, KVM_IRQCHIP_IOAPIC, 24) },
		  EINVAL },
		{ "nr 0", 0, { { 0 } }, 0 },
	};
	int sys = fx_open_sys();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
		errno = 0;
		int ret = fx_set_routing(vm, cases[i].e, cases[i].nr);
		int want_ret = cases[i].err ? -1 : 0;
		if (ret != want_ret || (cases[i].err && errno != cases[i].err))
			fail_msg("%s: got %d errno %d, want %d errno %d", cases[i].what, ret, errno, want_ret,
				 cases[i].err);
		/* A refused table changes nothing: the default route of GSI 20 (IOAPIC pin 20) is still in
		 * force, and a de-assert through it reports 1. An accepted one replaced it: -1, unrouted. */
		if (fx_line_status(vm, 20, 0) != (cases[i].err ? 1 : -1))
			fail_msg("%s: GSI 20 routing after the call is wrong", cases[i].what);
		assert_int_equal(virq_close(vm), 0);
	}
	assert_int_equal(virq_close(sys), 0);
}

/* nr = 0 is legal and removes the default routes. */
static void test_set_gsi_routing_empty_table_removes_default_routes(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	assert_int_equal(fx_line_status(vm, 3, 0), 1);
	assert_int_equal(fx_set_routing(vm, NULL, 0), 0);
	for (uint32_t gsi = 0; gsi < 24; gsi++)
		assert_int_equal(fx_line_status(vm, gsi, 0), -1);
	CLOSE_ALL(sys, vm);
}

/* A refused KVM_SET_GSI_ROUTING leaves the previous table in force, delivery included. */
static void test_set_gsi_routing_failure_keeps_old_table(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = create_enabled_vcpu(vm, 0);

	struct kvm_irq_routing_entry good[] = { fx_msi_entry(30, 0, 0x40), fx_irqchip_entry(31, KVM_IRQCHIP_IOAPIC, 5) };
	assert_int_equal(fx_set_routing(vm, good, 2), 0);
	assert_int_equal(fx_line_status(vm, 30, 1), 1); /* the MSI reached vCPU 0 */
	assert_int_equal(fx_line_status(vm, 30, 0), -1); /* an MSI route does nothing on de-assert */
	assert_int_equal(fx_line_status(vm, 20, 0), -1); /* the defaults are gone */

	/* Each of these would route GSI 30 elsewhere and GSI 20 back, but fails on a later entry. */
	struct kvm_irq_routing_entry bad1[] = { fx_irqchip_entry(30, KVM_IRQCHIP_IOAPIC, 4),
						fx_irqchip_entry(20, KVM_IRQCHIP_IOAPIC, 20),
						fx_irqchip_entry(21, KVM_IRQCHIP_IOAPIC, 24) };
	struct kvm_irq_routing_entry bad2[] = { fx_irqchip_entry(20, KVM_IRQCHIP_IOAPIC, 20), fx_msi_entry(30, 0, 0x50),
						fx_msi_entry(30, 0, 0x51) };
	struct kvm_irq_routing_entry bad3[] = { fx_irqchip_entry(20, KVM_IRQCHIP_IOAPIC, 20),
						with_flags(fx_msi_entry(30, 0, 0x50), 4) };
	assert_fails(fx_set_routing(vm, bad1, 3), EINVAL);
	assert_fails(fx_set_routing(vm, bad2, 3), EINVAL);
	assert_fails(fx_set_routing(vm, bad3, 2), EINVAL);
	struct kvm_irq_routing too_many = { .nr = KVM_MAX_IRQ_ROUTES + 1 };
	assert_fails(virq_ioctl(vm, KVM_SET_GSI_ROUTING, &too_many), EINVAL);

	assert_int_equal(fx_line_status(vm, 30, 1), 1);  /* still the MSI */
	assert_int_equal(fx_line_status(vm, 30, 0), -1);
	assert_int_equal(fx_line_status(vm, 31, 0), 1);  /* still IOAPIC pin 5 */
	assert_int_equal(fx_line_status(vm, 20, 0), -1); /* still unrouted */
	CLOSE_ALL(sys, vm, vcpu);
}

/* ---- KVM_SIGNAL_MSI ----------------------------------------------------------------------------------- */

static void test_signal_msi_without_irqchip_is_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_NO_HALT_POLL);
	int vcpu = fx_create_vcpu(vm, 0);
	assert_fails(fx_signal_msi(vm, 0, 0x40), EINVAL); /* EINVAL, not KVM_IRQ_LINE's ENXIO */
	CLOSE_ALL(sys, vm, vcpu);
}

static void test_signal_msi_unknown_flags_are_einval(void **state)
{
	(void)state;
	int sys = fx_open_sys();
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int vcpu = create_enabled_vcpu(vm, 0);
	static const uint32_t bad_flags[] = { 2, 3, 0x80000000u, 0xffffffffu };
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		struct kvm_msi msi = { .address_lo = MSI_ADDR(0), .data = 0x40, .flags = bad_flags[i] };
		assert_fails(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), EINVAL);
	}
	/* x86 accepts the devid flag and ignores devid. */
	struct kvm_msi msi = { .address_lo = MSI_ADDR(0), .data = 0x40, .flags = KVM_MSI_VALID_DEVID,
			       .devid = 0x1234 };
	assert_int_equal(virq_ioctl(vm, KVM_SIGNAL_MSI, &msi), 1);
	CLOSE_ALL(sys, vm, vcpu);
}

static void test_signal_msi_returns_number_of_vcpus_that_accepted(void **state)
{
	(void)state;
	int sys = fx_open_sys();

	/* No vCPU at all: KVM's slow path matches nobody and returns -1 raw, which surfaces as EPERM. */
	int empty = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	assert_fails(fx_signal_msi(empty, 0, 0x40), EPERM);
	assert_fails(fx_signal_msi(empty, 0xff, 0x40), EPERM);

	/* A vCPU whose LAPIC is software-disabled ignores it: 0. */
	int vm = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int cold = fx_create_vcpu(vm, 0);
	assert_int_equal(fx_signal_msi(vm, 0, 0x40), 0);
	assert_int_equal(fx_signal_msi(vm, 0xff, 0x40), 0); /* broadcast, all disabled */
	/* A physical destination no vCPU has: KVM's APIC-map fast path delivers to nobody, 0. */
	assert_int_equal(fx_signal_msi(vm, 7, 0x40), 0);

	/* Enabled LAPICs: one per accepting vCPU. */
	int vm2 = fx_create_vm(sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	int a = create_enabled_vcpu(vm2, 0);
	int b = create_enabled_vcpu(vm2, 1);
	assert_int_equal(fx_signal_msi(vm2, 0, 0x40), 1);
	assert_int_equal(fx_signal_msi(vm2, 1, 0x40), 1);
	assert_int_equal(fx_signal_msi(vm2, 0, 0x40), 1); /* already pending: KVM no longer reports 0 */
	assert_int_equal(fx_signal_msi(vm2, 0xff, 0x41), 2); /* physical broadcast */
	assert_int_equal(fx_signal_msi(vm2, 9, 0x40), 0);
	/* Lowest priority (DM 1) goes to exactly one vCPU. */
	struct kvm_msi lowest = { .address_lo = MSI_ADDR(0xff), .data = 0x100 | 0x42 };
	assert_int_equal(virq_ioctl(vm2, KVM_SIGNAL_MSI, &lowest), 2); /* phys broadcast + lowest = fixed */
	lowest.address_lo = MSI_ADDR(1);
	assert_int_equal(virq_ioctl(vm2, KVM_SIGNAL_MSI, &lowest), 1);
	/* address bits 31:20 (0xfee) are not checked; without X2APIC_API address_hi is ignored. */
	struct kvm_msi odd = { .address_lo = 1u << 12, .address_hi = 0xabcdef00u, .data = 0x43 };
	assert_int_equal(virq_ioctl(vm2, KVM_SIGNAL_MSI, &odd), 1);
	CLOSE_ALL(sys, empty, vm, cold, vm2, a, b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irq_line_without_irqchip_is_enxio),
		cmocka_unit_test(test_irq_line_does_not_write_status_back),
		cmocka_unit_test(test_irq_line_status_on_fresh_vm),
		cmocka_unit_test(test_irq_line_status_edge_assert_with_irr_set_is_coalesced),
		cmocka_unit_test(test_irq_line_status_counts_deliveries),
		cmocka_unit_test(test_set_gsi_routing_without_irqchip_is_einval),
		cmocka_unit_test(test_set_gsi_routing_header_errors),
		cmocka_unit_test(test_set_gsi_routing_validates_every_entry),
		cmocka_unit_test(test_set_gsi_routing_empty_table_removes_default_routes),
		cmocka_unit_test(test_set_gsi_routing_failure_keeps_old_table),
		cmocka_unit_test(test_signal_msi_without_irqchip_is_einval),
		cmocka_unit_test(test_signal_msi_unknown_flags_are_einval),
		cmocka_unit_test(test_signal_msi_returns_number_of_vcpus_that_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
