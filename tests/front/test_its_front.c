/* SPDX-License-Identifier: MIT */
/*
 * test_its_front.c - the ITS end to end through the KVM-compatible front (issue 4's "done when"): guests
 * that program the GIC and the ITS themselves and receive LPIs from KVM_SIGNAL_MSI with a DeviceID and from
 * irqfds on MSI routes; DISCARD, MOVI and MAPD V=0 changing the deliveries as the architecture says; save,
 * destroy and restore into a fresh VM; a level SPI through a resampling irqfd in EOImode 0 and 1; SPIs and
 * PPIs from KVM_IRQ_LINE and an irqfd; EBUSY while a vCPU runs; and the example of docs/guest.md's Arm
 * section, verbatim.
 */
#include "arm_fixture.h"

#define READY 0x600d

static uint32_t lpi_of(uint32_t dev, uint32_t event)
{
	return ARM_LPI_BASE + dev * 32 + event;
}

/* ---- docs/guest.md, "Arm": one device, one event, its LPI ----------------------------------------- */

static const char doc_example[] =
	"intid 8195:                                   ; LPI 8195, already acknowledged on entry\n"
	"    mmio_write 0xd0000000, 4, r15             ; report it (r15 = the INTID the vector read)\n"
	"    eoir r15                                  ; priority drop (an LPI has no active state)\n"
	"    eret\n"
	"main:\n"
	"    igrpen1 1                                 ; ICC_IGRPEN1_EL1: Group 1 interrupts on\n"
	"    pmr 0xff                                  ; ICC_PMR_EL1: every priority passes\n"
	"    mmio_write 0x08000000, 4, 0x12            ; GICD_CTLR: EnableGrp1 | ARE\n"
	"    mem_write 0x40000003, 1, 0xa1             ; LPI 8195's property byte: priority 0xa0, enabled\n"
	"    mmio_write 0x080a0070, 8, 0x4000000f      ; GICR_PROPBASER: table at 0x40000000, 16 ID bits\n"
	"    mmio_write 0x080a0078, 8, 0x4000000040100000 ; GICR_PENDBASER: 0x40100000, PTZ\n"
	"    mmio_write 0x080a0000, 4, 1               ; GICR_CTLR.EnableLPIs\n"
	"    mmio_write 0x08080100, 8, 0x8000000040200000 ; GITS_BASER0: device table, valid\n"
	"    mmio_write 0x08080108, 8, 0x8000000040300000 ; GITS_BASER1: collection table, valid\n"
	"    mmio_write 0x08080080, 8, 0x8000000040400000 ; GITS_CBASER: a 4 KiB queue, valid\n"
	"    mmio_write 0x08080000, 4, 1               ; GITS_CTLR.Enable\n"
	"    mem_write 0x40400000, 8, 0x0000000500000008 ; MAPD DeviceID 5\n"
	"    mem_write 0x40400008, 8, 4                ;      5 EventID bits\n"
	"    mem_write 0x40400010, 8, 0x8000000040500000 ;    ITT at 0x40500000, valid\n"
	"    mem_write 0x40400018, 8, 0\n"
	"    mem_write 0x40400020, 8, 0x09             ; MAPC\n"
	"    mem_write 0x40400028, 8, 0\n"
	"    mem_write 0x40400030, 8, 0x8000000000000000 ; collection 0 -> vCPU 0, valid\n"
	"    mem_write 0x40400038, 8, 0\n"
	"    mem_write 0x40400040, 8, 0x000000050000000a ; MAPTI DeviceID 5\n"
	"    mem_write 0x40400048, 8, 0x0000200300000003 ;       EventID 3 -> LPI 0x2003 = 8195\n"
	"    mem_write 0x40400050, 8, 0                ;       collection 0\n"
	"    mem_write 0x40400058, 8, 0\n"
	"    mmio_write 0x08080088, 8, 0x60            ; GITS_CWRITER: the ITS runs the 3 commands\n"
	"    mmio_write 0xd0000000, 4, 0x600d          ; tell the VMM: ready\n"
	"    sti                                       ; unmask IRQs (PSTATE.I)\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

static void test_docs_arm_example(void **state)
{
	(void)state;
	struct arm_vm a;
	arm_vm_open(&a, 1, true, NULL);
	assert_int_equal(virq_guest_load(a.vcpu[0], doc_example), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	assert_int_equal(arm_signal_msi(a.vm, 5, 3), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 8195);
	/* An unmapped event is blocked (0); the flag-less MSI of a cached translation still lands (KVM). */
	assert_int_equal(arm_signal_msi(a.vm, 5, 4), 0);
	struct kvm_msi msi = { .address_lo = (uint32_t)ARM_DOORBELL, .data = 3, .devid = 5 };
	assert_int_equal(virq_ioctl(a.vm, KVM_SIGNAL_MSI, &msi), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 8195);
	struct virq_intid_counts c;
	assert_int_equal(virq_vcpu_intid_counts(virq_vcpu_of_fd(a.vcpu[0]), 8195, &c), 0);
	assert_int_equal(c.handled, 2);
	assert_true(c.latency_p50_ns > 0);
	arm_vm_close(&a);
}

/* ---- 64 devices x 32 events over 2 collections ------------------------------------------------------ */

#define NDEV 64
#define NEV 32

static char *mapping_program(unsigned nr_vcpus, unsigned ndev, unsigned nev, bool with_its_setup)
{
	struct arm_text t = { 0 };

	arm_emit(&t, ARM_HANDLER_QUIET "main:\n");
	arm_emit_cpuif(&t);
	arm_emit_redist_setup(&t, nr_vcpus, ndev * 32); /* LPIs 8192 + 32 d + e */
	if (with_its_setup) {
		arm_emit_its_setup(&t);
		for (unsigned d = 0; d < ndev; d++)
			arm_cmd_mapd(&t, d, ARM_ITT(d), 5, true);
		arm_cmd_mapc(&t, 0, 0);
		arm_cmd_mapc(&t, 1, nr_vcpus > 1 ? 1 : 0);
		for (unsigned d = 0; d < ndev; d++)
			for (unsigned e = 0; e < nev; e++)
				arm_cmd_mapti(&t, d, e, lpi_of(d, e), (uint16_t)((d + e) % 2));
		arm_emit_cwriter(&t);
	}
	arm_emit_report(&t, READY);
	arm_emit(&t, "    sti\n");
	arm_emit_idle(&t);
	return t.buf;
}

/* Opens the CPU interface, reports, then idles with IRQs unmasked (static text: not to be freed). */
static const char *ready_program(void)
{
	return ARM_HANDLER_QUIET "main:\n    igrpen1 1\n    pmr 0xff\n    mmio_write 0xd0000000, 4, 0x600d\n"
				 "    sti\nidle:\n    hlt\n    jmp idle\n";
}

static char *idle_program(void)
{
	struct arm_text t = { 0 };
	arm_emit(&t, ARM_HANDLER_QUIET "main:\n");
	arm_emit_cpuif(&t);
	arm_emit(&t, "    sti\n");
	arm_emit_idle(&t);
	return t.buf;
}

/* Every (d, e) handled @count times on vCPU (d + e) % 2 and never on the other. */
static void expect_all_on_their_vcpus(const struct arm_vm *a, unsigned ndev, unsigned nev, uint64_t count)
{
	for (unsigned d = 0; d < ndev; d++) {
		for (unsigned e = 0; e < nev; e++) {
			unsigned v = (d + e) % 2;
			assert_true(arm_wait_handled(a->vcpu[v], lpi_of(d, e), count));
			assert_int_equal(arm_intid_handled(a->vcpu[v], lpi_of(d, e)), count);
			assert_int_equal(arm_intid_handled(a->vcpu[1 - v], lpi_of(d, e)), 0);
		}
	}
}

static void test_64_devices_32_events_2_collections(void **state)
{
	(void)state;
	struct arm_vm a;
	struct arm_vcpu_thread vt[2] = { 0 };
	arm_vm_open(&a, 2, true, NULL);
	char *p0 = mapping_program(2, NDEV, NEV, true), *p1 = idle_program();
	assert_int_equal(virq_guest_load(a.vcpu[0], p0), 0);
	assert_int_equal(virq_guest_load(a.vcpu[1], p1), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	arm_vcpu_start(&vt[0], a.vcpu[0]);
	arm_vcpu_start(&vt[1], a.vcpu[1]);

	/* KVM_SIGNAL_MSI with DeviceID: every event once. */
	for (unsigned d = 0; d < NDEV; d++)
		for (unsigned e = 0; e < NEV; e++)
			assert_int_equal(arm_signal_msi(a.vm, d, e), 1);
	expect_all_on_their_vcpus(&a, NDEV, NEV, 1);

	/* irqfds: one per device on GSI d, re-routed to each event in turn. */
	int efd[NDEV];
	for (unsigned d = 0; d < NDEV; d++) {
		efd[d] = fx_new_eventfd();
		assert_int_equal(fx_irqfd(a.vm, efd[d], d, 0, 0), 0);
	}
	struct kvm_irq_routing_entry routes[NDEV];
	for (unsigned e = 0; e < NEV; e++) {
		for (unsigned d = 0; d < NDEV; d++)
			routes[d] = arm_msi_entry(d, d, e);
		assert_int_equal(fx_set_routing(a.vm, routes, NDEV), 0);
		for (unsigned d = 0; d < NDEV; d++)
			fx_signal_efd(efd[d]);
		for (unsigned d = 0; d < NDEV; d++) {
			unsigned v = (d + e) % 2;
			assert_true(arm_wait_handled(a.vcpu[v], lpi_of(d, e), 2));
		}
	}
	expect_all_on_their_vcpus(&a, NDEV, NEV, 2);

	arm_vcpu_stop(&vt[0]);
	arm_vcpu_stop(&vt[1]);
	for (unsigned d = 0; d < NDEV; d++) {
		assert_int_equal(fx_irqfd(a.vm, efd[d], d, KVM_IRQFD_FLAG_DEASSIGN, 0), 0);
		close(efd[d]);
	}
	free(p0);
	free(p1);
	arm_vm_close(&a);
}

/* ---- DISCARD, MOVI, MAPD V=0 ------------------------------------------------------------------------ */

/* One vCPU reporting every INTID it takes; devices 1 and 2 with events 0, 1 and 0; then @after commands
 * between reports 0x600e.. . Returns the program. */
static char *report_program(unsigned nr_vcpus, void (*after)(struct arm_text *))
{
	struct arm_text t = { 0 };

	arm_emit(&t, ARM_HANDLER_REPORT "main:\n");
	arm_emit_cpuif(&t);
	arm_emit_gic_setup(&t, nr_vcpus, 128);
	arm_cmd_mapd(&t, 1, ARM_ITT(1), 5, true);
	arm_cmd_mapd(&t, 2, ARM_ITT(2), 5, true);
	arm_cmd_mapc(&t, 0, 0);
	arm_cmd_mapc(&t, 1, nr_vcpus > 1 ? 1 : 0);
	arm_cmd_mapti(&t, 1, 0, lpi_of(1, 0), 0);
	arm_cmd_mapti(&t, 1, 1, lpi_of(1, 1), 0);
	arm_cmd_mapti(&t, 2, 0, lpi_of(2, 0), 0);
	arm_emit_cwriter(&t);
	arm_emit(&t, "    sti\n");
	arm_emit_report(&t, READY);
	after(&t);
	arm_emit_idle(&t);
	return t.buf;
}

static void discard_1_0(struct arm_text *t)
{
	arm_cmd_discard(t, 1, 0);
	arm_emit_cwriter(t);
	arm_emit_report(t, 0x600e);
	/* A DISCARDed event may be mapped again: to another LPI now. */
	arm_cmd_mapti(t, 1, 0, lpi_of(1, 5), 0);
	arm_emit_cwriter(t);
	arm_emit_report(t, 0x600f);
}

static void test_discard_blocks_the_event_only(void **state)
{
	(void)state;
	struct arm_vm a;
	arm_vm_open(&a, 1, true, NULL);
	char *p = report_program(1, discard_1_0);
	assert_int_equal(virq_guest_load(a.vcpu[0], p), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	assert_int_equal(arm_signal_msi(a.vm, 1, 0), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(1, 0));
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600e); /* DISCARD done */
	assert_int_equal(arm_signal_msi(a.vm, 1, 0), 0);       /* blocked: no translation */
	assert_int_equal(arm_signal_msi(a.vm, 1, 1), 1);       /* the device's other event still works */
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(1, 1));
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600f); /* re-mapped to LPI (1, 5) */
	assert_int_equal(arm_signal_msi(a.vm, 1, 0), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(1, 5));
	assert_int_equal(arm_intid_handled(a.vcpu[0], lpi_of(1, 0)), 1);
	free(p);
	arm_vm_close(&a);
}

static void movi_there_and_back(struct arm_text *t)
{
	arm_cmd_movi(t, 1, 0, 1);
	arm_emit_cwriter(t);
	arm_emit_report(t, 0x600e);
	arm_cmd_movi(t, 1, 0, 0);
	arm_emit_cwriter(t);
	arm_emit_report(t, 0x600f);
}

static void test_movi_moves_the_lpi_to_the_new_collection(void **state)
{
	(void)state;
	struct arm_vm a;
	struct arm_vcpu_thread vt1 = { 0 };
	arm_vm_open(&a, 2, true, NULL);
	char *p0 = report_program(2, movi_there_and_back), *p1 = idle_program();
	assert_int_equal(virq_guest_load(a.vcpu[0], p0), 0);
	assert_int_equal(virq_guest_load(a.vcpu[1], p1), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	arm_vcpu_start(&vt1, a.vcpu[1]);
	assert_int_equal(arm_signal_msi(a.vm, 1, 0), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(1, 0)); /* collection 0: vCPU 0 */
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600e);       /* MOVI to collection 1 */
	assert_int_equal(arm_signal_msi(a.vm, 1, 0), 1);
	assert_true(arm_wait_handled(a.vcpu[1], lpi_of(1, 0), 1));
	assert_int_equal(arm_intid_handled(a.vcpu[0], lpi_of(1, 0)), 1);
	/* The other events of the device stay where their collection is. */
	assert_int_equal(arm_signal_msi(a.vm, 1, 1), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(1, 1)); /* taken before the next op */
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600f);       /* MOVI back */
	assert_int_equal(arm_signal_msi(a.vm, 1, 0), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(1, 0));
	assert_int_equal(arm_intid_handled(a.vcpu[1], lpi_of(1, 0)), 1);
	arm_vcpu_stop(&vt1);
	free(p0);
	free(p1);
	arm_vm_close(&a);
}

static void unmap_device_1(struct arm_text *t)
{
	arm_cmd_mapd(t, 1, 0, 1, false);
	arm_emit_cwriter(t);
	arm_emit_report(t, 0x600e);
	arm_cmd_mapd(t, 1, ARM_ITT(1), 5, true); /* mapped again, but with no events */
	arm_emit_cwriter(t);
	arm_emit_report(t, 0x600f);
}

static void test_mapd_unmap_blocks_every_event_of_the_device(void **state)
{
	(void)state;
	struct arm_vm a;
	arm_vm_open(&a, 1, true, NULL);
	char *p = report_program(1, unmap_device_1);
	assert_int_equal(virq_guest_load(a.vcpu[0], p), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	/* A cached translation first, so that the unmap must invalidate it. */
	assert_int_equal(arm_signal_msi(a.vm, 1, 1), 1);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(1, 1));
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600e); /* MAPD V=0 */
	assert_int_equal(arm_signal_msi(a.vm, 1, 0), 0);
	assert_int_equal(arm_signal_msi(a.vm, 1, 1), 0);
	assert_int_equal(arm_signal_msi(a.vm, 2, 0), 1);       /* another device is untouched */
	assert_int_equal(fx_run_to_report(a.vcpu[0]), lpi_of(2, 0));
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600f); /* MAPD V=1 again: no ITEs */
	assert_int_equal(arm_signal_msi(a.vm, 1, 1), 0);
	free(p);
	arm_vm_close(&a);
}

/* ---- save, destroy, restore ------------------------------------------------------------------------- */

#define SR_DEV 8
#define SR_EV 8

/* What the VMM saves of the distributor and each redistributor (DIST_REGS / REDIST_REGS). */
struct gic_regs {
	uint32_t gicd_ctlr;
	uint32_t rd[2][5];  /* PROPBASER lo/hi, PENDBASER lo/hi, CTLR */
	uint64_t icc[2][2]; /* PMR, IGRPEN1 */
};

static const uint64_t icc_regs[2] = { ARM_ICC_PMR, ARM_ICC_IGRPEN1 };

static const uint32_t rd_offsets[5] = { 0x70, 0x74, 0x78, 0x7c, 0x00 };

static int gic_reg(int gic, uint32_t group, uint64_t attr, uint32_t *value, bool restore)
{
	return restore ? arm_set_attr(gic, group, attr, value) : arm_get_attr(gic, group, attr, value);
}

static void gic_regs_access(int gic, struct gic_regs *r, bool restore)
{
	assert_int_equal(gic_reg(gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0, &r->gicd_ctlr, restore), 0);
	for (uint64_t v = 0; v < 2; v++) {
		for (int i = 0; i < 5; i++) /* EnableLPIs (CTLR) last, after the tables */
			assert_int_equal(gic_reg(gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, v << 32 | rd_offsets[i],
						 &r->rd[v][i], restore), 0);
		for (int i = 0; i < 2; i++) {
			struct kvm_device_attr a = { .group = KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS,
						     .attr = v << 32 | icc_regs[i],
						     .addr = (uint64_t)(uintptr_t)&r->icc[v][i] };
			assert_int_equal(virq_ioctl(gic, restore ? KVM_SET_DEVICE_ATTR : KVM_GET_DEVICE_ATTR, &a), 0);
		}
	}
}

struct its_regs {
	uint64_t iidr, cbaser, creadr, cwriter, baser0, baser1, ctlr;
};

static void its_regs_get(int its, struct its_regs *r)
{
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x04, &r->iidr), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &r->cbaser), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x90, &r->creadr), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x88, &r->cwriter), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x100, &r->baser0), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x108, &r->baser1), 0);
	assert_int_equal(arm_get_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x00, &r->ctlr), 0);
}

/* QEMU's order: IIDR, CBASER, CREADR, CWRITER, BASERs, RESTORE_TABLES, CTLR last. */
static void its_restore(int its, const struct its_regs *r)
{
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x04, &r->iidr), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &r->cbaser), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x90, &r->creadr), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x88, &r->cwriter), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x100, &r->baser0), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x108, &r->baser1), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL), 0);
	assert_int_equal(arm_set_attr(its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x00, &r->ctlr), 0);
}

static void test_save_destroy_restore_into_a_fresh_vm(void **state)
{
	(void)state;
	void *ram = mmap(NULL, ARM_RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ram != MAP_FAILED);
	struct arm_vm a;
	struct arm_vcpu_thread vt[2] = { 0 };
	struct its_regs regs;
	struct gic_regs gregs;

	/* VM A maps everything and latches one MSI; then its tables (and that pending bit) go to guest RAM
	 * and it is destroyed. */
	arm_vm_open(&a, 2, true, ram);
	char *pa = mapping_program(2, SR_DEV, SR_EV, true), *idle = idle_program();
	assert_int_equal(virq_guest_load(a.vcpu[0], pa), 0);
	assert_int_equal(virq_guest_load(a.vcpu[1], ready_program()), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	assert_int_equal(fx_run_to_report(a.vcpu[1]), READY); /* vCPU 1 opened its CPU interface */
	assert_int_equal(arm_signal_msi(a.vm, 3, 5), 1); /* taken by vCPU 0 at its next run (never) */
	assert_int_equal(arm_set_attr(a.its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_SAVE_TABLES, NULL), 0);
	assert_int_equal(arm_set_attr(a.gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL),
			 0);
	its_regs_get(a.its, &regs);
	assert_true(regs.ctlr & 1);
	gic_regs_access(a.gic, &gregs, false);
	assert_true(gregs.rd[1][4] & 1); /* EnableLPIs */
	assert_true(gregs.icc[1][0] == 0xf8 && gregs.icc[1][1] == 1); /* PMR, IGRPEN1 as the guest set them */
	arm_vm_close(&a);

	/* VM B on the same RAM: the VMM restores the distributor, the redistributors and CPU interfaces,
	 * then the ITS, in the order arm-vgic-its.rst asks for; the guest programs nothing at all. */
	arm_vm_open(&a, 2, true, ram);
	gic_regs_access(a.gic, &gregs, true);
	its_restore(a.its, &regs);
	struct arm_text tb = { 0 };
	arm_emit(&tb, ARM_HANDLER_QUIET "main:\n");
	arm_emit_report(&tb, READY);
	arm_emit(&tb, "    sti\n");
	arm_emit_idle(&tb);
	char *pb = tb.buf;
	assert_int_equal(virq_guest_load(a.vcpu[0], pb), 0);
	assert_int_equal(virq_guest_load(a.vcpu[1], idle), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	arm_vcpu_start(&vt[0], a.vcpu[0]);
	arm_vcpu_start(&vt[1], a.vcpu[1]);
	for (unsigned d = 0; d < SR_DEV; d++)
		for (unsigned e = 0; e < SR_EV; e++)
			assert_int_equal(arm_signal_msi(a.vm, d, e), 1);
	/* (3, 5) came back pending from vCPU 0's pending table as well: one or two handler runs. */
	for (unsigned d = 0; d < SR_DEV; d++) {
		for (unsigned e = 0; e < SR_EV; e++) {
			unsigned v = (d + e) % 2;
			assert_true(arm_wait_handled(a.vcpu[v], lpi_of(d, e), 1));
			assert_int_equal(arm_intid_handled(a.vcpu[1 - v], lpi_of(d, e)), 0);
		}
	}
	arm_vcpu_stop(&vt[0]);
	arm_vcpu_stop(&vt[1]);
	free(pa);
	free(pb);
	free(idle);
	arm_vm_close(&a);
	munmap(ram, ARM_RAM_SIZE);
}

/* ---- a level SPI through a resampling irqfd --------------------------------------------------------- */

static char *spi_program(bool eoimode1)
{
	struct arm_text t = { 0 };

	arm_emit(&t, "intid 72:\n    mmio_write 0x%x, 4, r15\n    eoir r15\n", FX_REPORT_ADDR);
	arm_emit_report(&t, 0xe01);
	if (eoimode1) {
		arm_emit(&t, "    dir r15\n");
		arm_emit_report(&t, 0xd1);
	}
	arm_emit(&t, "    eret\nmain:\n");
	arm_emit_cpuif(&t);
	if (eoimode1)
		arm_emit(&t, "    eoimode 1\n");
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x12\n", (unsigned long long)ARM_GICD);
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0\n", (unsigned long long)(ARM_GICD + 0xc10));     /* 64-79 level */
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0xa0a0a0a0\n", (unsigned long long)(ARM_GICD + 0x448));
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x100\n", (unsigned long long)(ARM_GICD + 0x108)); /* 72 on */
	arm_emit(&t, "    sti\n");
	arm_emit_report(&t, READY);
	arm_emit_idle(&t);
	return t.buf;
}

static void check_spi_resample(bool eoimode1)
{
	struct arm_vm a;
	arm_vm_open(&a, 1, false, NULL);
	char *p = spi_program(eoimode1);
	assert_int_equal(virq_guest_load(a.vcpu[0], p), 0);
	int trigger = fx_new_eventfd(), resample = fx_new_eventfd();
	/* The default route of GSI 40 is irqchip 0 pin 40: SPI INTID 72. */
	assert_int_equal(fx_irqfd(a.vm, trigger, 40, KVM_IRQFD_FLAG_RESAMPLE, resample), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);
	arm_signal_irqfd_sync(a.vm, trigger, 40);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 72);
	assert_false(fx_readable_within(resample, 0));
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0xe01); /* after EOIR */
	if (eoimode1) {
		/* EOImode 1: the priority drop does not deactivate; DIR does, and that resamples. */
		assert_false(fx_readable_within(resample, 0));
		assert_int_equal(fx_run_to_report(a.vcpu[0]), 0xd1);
	}
	assert_true(fx_readable_within(resample, 5000));
	assert_int_equal(fx_drain_efd(resample), 1);
	/* The resampler lowered the line: nothing pending any more; a new assert comes through again. */
	arm_signal_irqfd_sync(a.vm, trigger, 40);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 72);
	assert_int_equal(fx_irqfd(a.vm, trigger, 40, KVM_IRQFD_FLAG_DEASSIGN, 0), 0);
	close(trigger);
	close(resample);
	free(p);
	arm_vm_close(&a);
}

static void test_level_spi_resample_eoimode0(void **state)
{
	(void)state;
	check_spi_resample(false);
}

static void test_level_spi_resample_eoimode1(void **state)
{
	(void)state;
	check_spi_resample(true);
}

/* SPIs and PPIs: KVM_IRQ_LINE's arm64 encoding, and a plain irqfd on the default route of an edge SPI. */
static void test_spi_and_ppi_lines_and_an_spi_irqfd(void **state)
{
	(void)state;
	struct arm_vm a;
	struct arm_text t = { 0 };
	const uint64_t sgi_frame = ARM_GICR + 0x10000;

	arm_vm_open(&a, 1, false, NULL);
	arm_emit(&t, ARM_HANDLER_REPORT "main:\n");
	arm_emit_cpuif(&t);
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x12\n", (unsigned long long)ARM_GICD);
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0xa0a0a0a0\n", (unsigned long long)(ARM_GICD + 0x428)); /* 40-43 */
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x100\n", (unsigned long long)(ARM_GICD + 0x104));     /* 40 on */
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0xa0a0a0a0\n", (unsigned long long)(sgi_frame + 0x414)); /* 20-23 */
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x100000\n", (unsigned long long)(sgi_frame + 0x100));  /* 20 on */
	arm_emit(&t, "    sti\n");
	arm_emit_report(&t, READY);
	arm_emit_idle(&t);
	assert_int_equal(virq_guest_load(a.vcpu[0], t.buf), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), READY);

	struct kvm_irq_level line = { .irq = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | 40, .level = 1 };
	assert_int_equal(virq_ioctl(a.vm, KVM_IRQ_LINE, &line), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 40);
	line.level = 0;
	assert_int_equal(virq_ioctl(a.vm, KVM_IRQ_LINE, &line), 0);

	/* A PPI is level: the VMM lowers it before the guest's EOI, or it would fire again. */
	line = (struct kvm_irq_level){ .irq = KVM_ARM_IRQ_TYPE_PPI << KVM_ARM_IRQ_TYPE_SHIFT | 20, .level = 1 };
	assert_int_equal(virq_ioctl(a.vm, KVM_IRQ_LINE, &line), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 20);
	line.level = 0;
	assert_int_equal(virq_ioctl(a.vm, KVM_IRQ_LINE, &line), 0);

	/* GSI 8's default route is irqchip 0 pin 8: INTID 40. A plain irqfd pulses it. */
	int efd = fx_new_eventfd();
	assert_int_equal(fx_irqfd(a.vm, efd, 8, 0, 0), 0);
	arm_signal_irqfd_sync(a.vm, efd, 8);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 40);
	assert_int_equal(arm_intid_handled(a.vcpu[0], 40), 2);
	assert_int_equal(arm_intid_handled(a.vcpu[0], 20), 1);
	assert_int_equal(fx_irqfd(a.vm, efd, 8, KVM_IRQFD_FLAG_DEASSIGN, 0), 0);
	close(efd);
	free(t.buf);
	arm_vm_close(&a);
}

/* Userspace ITS and table access needs every vCPU out of KVM_RUN (KVM's kvm_trylock_all_vcpus). */
static void test_its_ioctls_busy_while_a_vcpu_runs(void **state)
{
	(void)state;
	struct arm_vm a;
	struct arm_vcpu_thread vt = { 0 };
	uint64_t v;
	arm_vm_open(&a, 1, true, NULL);
	char *p = idle_program();
	assert_int_equal(virq_guest_load(a.vcpu[0], p), 0);
	arm_vcpu_start(&vt, a.vcpu[0]);
	/* KVM_RUN holds the vCPU until it is stopped; wait until a load fails for that reason (bounded: a
	 * vCPU thread that left KVM_RUN early must fail the test, not hang it). */
	int tries = 0;
	while (virq_guest_load(a.vcpu[0], p) == 0 && ++tries < 10000)
		usleep(1000);
	assert_true(tries < 10000);
	assert_int_equal(errno, EBUSY);
	assert_fails(arm_get_attr(a.its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &v), EBUSY);
	assert_fails(arm_set_attr(a.its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_SAVE_TABLES, NULL), EBUSY);
	assert_fails(arm_set_attr(a.its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL), EBUSY);
	assert_fails(arm_set_attr(a.its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_CTRL_RESET, NULL), EBUSY);
	assert_fails(arm_set_attr(a.gic, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL), EBUSY);
	uint32_t r32;
	assert_fails(arm_get_attr(a.gic, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0x0, &r32), EBUSY);
	assert_fails(arm_get_attr(a.gic, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, 0x70, &r32), EBUSY);
	/* What needs no idle vCPU still works: the ITS's CTRL_INIT, its address, has_attr. */
	assert_int_equal(arm_set_attr(a.its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL), 0);
	assert_int_equal(arm_get_attr(a.its, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &v), 0);
	arm_vcpu_stop(&vt);
	assert_int_equal(arm_get_attr(a.its, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, 0x80, &v), 0);
	assert_int_equal(arm_set_attr(a.its, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_SAVE_TABLES, NULL), 0);
	free(p);
	arm_vm_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docs_arm_example),
		cmocka_unit_test(test_64_devices_32_events_2_collections),
		cmocka_unit_test(test_discard_blocks_the_event_only),
		cmocka_unit_test(test_movi_moves_the_lpi_to_the_new_collection),
		cmocka_unit_test(test_mapd_unmap_blocks_every_event_of_the_device),
		cmocka_unit_test(test_save_destroy_restore_into_a_fresh_vm),
		cmocka_unit_test(test_level_spi_resample_eoimode0),
		cmocka_unit_test(test_level_spi_resample_eoimode1),
		cmocka_unit_test(test_spi_and_ppi_lines_and_an_spi_irqfd),
		cmocka_unit_test(test_its_ioctls_busy_while_a_vcpu_runs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
