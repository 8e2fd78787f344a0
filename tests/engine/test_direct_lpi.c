/* SPDX-License-Identifier: MIT */
/*
 * test_direct_lpi.c - MSIs straight to the LPI (GICv4-like direct injection, issue 6 item 7;
 * docs/forwarding.md "MSIs straight to the LPI") end to end, through the KVM-compatible front and the
 * public host API (and, for what the front cannot show, the engine's internals, as test_arm_fastpath.c
 * does: the ITS's epoch and counters, an LPI's pending latch, the re-resolution entry point): an arm64
 * VM with two vCPUs and an ITS that its guest programs itself (DeviceID 0x18, EventID 3 -> LPI 8195,
 * collection 1 -> vCPU 1), a PCI function whose MSI-X vector 0 has a VFIO trigger eventfd that is also an
 * irqfd on an MSI route with that DeviceID. The irqfd (a bypass consumer) pairs with the vector (the host's
 * producer) and the vector's raise latches the LPI itself:
 *   - the LPI handler runs with the trigger eventfd never signalled and the GSI's irqfd_signals 0, in
 *     both registration orders;
 *   - DISCARD: the next raise takes the eventfd and is dropped by the ITS, counted as the software path
 *     counts it; MAPTI again: direct again;
 *   - MOVI: the next raise lands on the new vCPU, still direct (the target lives in the LPI);
 *   - MAPD V=0: software, with the reason;
 *   - an LPI latched while the target's EnableLPIs goes off and on survives both mode changes;
 *   - a stale target (the ITS's epoch moved under it) falls back to the eventfd for that message: delivered
 *     once, not twice;
 *   - the reasons virq_vm_irqfd_bypass() gives;
 *   - a stress (1 s; 5 s with VIRQ_STRESS_LONG; also under ThreadSanitizer): the route flips between the
 *     MSI (direct) and an SPI (software) every millisecond while the guest runs DISCARD+MAPTI batches and
 *     MOVIs and the device raises: every message reaches exactly one handler, none is lost.
 */
#include "../front/arm_fixture.h"

#include <time.h>
#include <virq/host.h>

#include "engine/arm_vm.h"
#include "engine/vm.h"

#define DEVID 0x18u
#define EVENT 3u
#define EVENT_SHARED 4u /* the stress maps it to the same LPI, so DISCARD of EVENT keeps the LPI alive */
#define LPI 8195u
#define GSI 5u
#define SPI_PIN 40u     /* SPI INTID 72 */
#define SPI_INTID 72u
#define READY 0x600du
#define STEP 0x6000u    /* the guest's reports after each step: STEP + 1, + 2, ... */

/* ---- the rig -------------------------------------------------------------------------------------------- */

struct rig {
	struct arm_vm a;
	struct virq_pci_function *fn;
	int dev;        /* VFIO descriptor */
	int efd;        /* MSI-X vector 0's trigger, an irqfd on GSI */
	struct arm_vcpu_thread vt1;
	bool vt1_on;
};

static int set_irqs(int dev, uint32_t start, uint32_t count, const int32_t *fds)
{
	size_t sz = sizeof(struct vfio_irq_set) + count * sizeof(int32_t);
	struct vfio_irq_set *s = calloc(1, sz);
	assert_non_null(s);
	*s = (struct vfio_irq_set){ .argsz = (uint32_t)sz, .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
				    .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = start, .count = count };
	memcpy(s->data, fds, count * sizeof(int32_t));
	int ret = virq_ioctl(dev, VFIO_DEVICE_SET_IRQS, s);
	free(s);
	return ret;
}

static void route_msi(int vm, uint32_t event)
{
	struct kvm_irq_routing_entry e = arm_msi_entry(GSI, DEVID, event);
	assert_int_equal(fx_set_routing(vm, &e, 1), 0);
}

/* The guest's set-up: GIC, ITS, DeviceID 0x18 with EventID 3 -> LPI 8195 in collection 1 (vCPU 1), SPI 72
 * enabled; then READY, then @steps (each ending in a report), then idle. */
static char *guest0(void (*steps)(struct arm_text *))
{
	struct arm_text t = { 0 };

	arm_emit(&t, ARM_HANDLER_REPORT "main:\n");
	arm_emit_cpuif(&t);
	arm_emit_gic_setup(&t, 2, 64);
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0xa0a0a0a0\n", (unsigned long long)(ARM_GICD + 0x448)); /* 72..75 */
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x100\n", (unsigned long long)(ARM_GICD + 0x108));      /* 72 on */
	arm_cmd_mapd(&t, DEVID, ARM_ITT(1), 5, true);
	arm_cmd_mapc(&t, 0, 0);
	arm_cmd_mapc(&t, 1, 1);
	arm_cmd_mapti(&t, DEVID, EVENT, LPI, 1);
	arm_emit_cwriter(&t);
	arm_emit(&t, "    sti\n");
	arm_emit_report(&t, READY);
	if (steps)
		steps(&t);
	arm_emit_idle(&t);
	return t.buf;
}

#define GUEST1_MAIN "main:\n    igrpen1 1\n    pmr 0xff\n    sti\nidle:\n    hlt\n    jmp idle\n"
static const char guest1[] = ARM_HANDLER_QUIET GUEST1_MAIN;

static void rig_start_vcpu1(struct rig *r)
{
	arm_vcpu_start(&r->vt1, r->a.vcpu[1]);
	r->vt1_on = true;
}

/* KVM_ENABLE_CAP(KVM_CAP_VIRQ_ARM_DIRECT_LPI): 0 or -1 with errno. */
static int direct_lpi(int vm, uint64_t on)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_VIRQ_ARM_DIRECT_LPI, .args = { on } };
	return virq_ioctl(vm, KVM_ENABLE_CAP, &cap);
}

#define OFF_REASON "software: direct LPI injection off (KVM_CAP_VIRQ_ARM_DIRECT_LPI)"

/*
 * Up to READY, the route in place, then the irqfd and the VFIO trigger in the order asked for; paired
 * but software until the VMM turns direct injection on (it is off by default, as Linux's
 * kvm-arm.vgic_v4_enable); vCPU 1 runs in its thread if @run1.
 */
static void rig_open(struct rig *r, void (*steps)(struct arm_text *), bool consumer_first, bool run1)
{
	struct virq_pci_function_desc d = {
		.name = "nic0", .requester_id = 0x0018, .vendor_id = 0x1af4, .device_id = 0x1041, .causes = 4,
		.msix_vectors = 4, .msix_table_bar = 0, .msix_table_offset = 0x2000, .msix_pba_bar = 0,
		.msix_pba_offset = 0x3000,
	};

	memset(r, 0, sizeof(*r));
	arm_vm_open(&r->a, 2, true, NULL);
	char *p0 = guest0(steps);
	assert_int_equal(virq_guest_load(r->a.vcpu[0], p0), 0);
	assert_int_equal(virq_guest_load(r->a.vcpu[1], guest1), 0);
	free(p0);
	assert_int_equal(fx_run_to_report(r->a.vcpu[0]), READY);
	route_msi(r->a.vm, EVENT);

	assert_int_equal(virq_pci_function_create(&d, &r->fn), 0);
	r->dev = virq_vfio_device_open(r->fn);
	assert_true(r->dev >= 0);
	r->efd = fx_new_eventfd();
	int32_t fds[1] = { r->efd };
	if (consumer_first)
		assert_int_equal(fx_irqfd(r->a.vm, r->efd, GSI, 0, -1), 0);
	assert_int_equal(set_irqs(r->dev, 0, 1, fds), 0);
	if (!consumer_first)
		assert_int_equal(fx_irqfd(r->a.vm, r->efd, GSI, 0, -1), 0);
	struct virq_irqfd_bypass_state st;
	assert_int_equal(virq_vm_irqfd_bypass(virq_vm_of_fd(r->a.vm), r->efd, &st), 0);
	assert_int_equal(st.path, VIRQ_IRQFD_PATH_SOFTWARE);
	assert_string_equal(st.reason, OFF_REASON);
	assert_int_equal(direct_lpi(r->a.vm, 1), 0);
	if (run1)
		rig_start_vcpu1(r);
}

static void rig_close(struct rig *r)
{
	if (r->vt1_on)
		arm_vcpu_stop(&r->vt1);
	assert_int_equal(fx_irqfd(r->a.vm, r->efd, GSI, KVM_IRQFD_FLAG_DEASSIGN, -1), 0);
	assert_int_equal(virq_close(r->dev), 0);
	assert_int_equal(virq_pci_function_destroy(r->fn), 0);
	close(r->efd);
	arm_vm_close(&r->a);
}

static struct virq_vm *vm_of(const struct rig *r)
{
	struct virq_vm *vm = virq_vm_of_fd(r->a.vm);
	assert_non_null(vm);
	return vm;
}

static struct virq_its *its_of(const struct rig *r)
{
	struct virq_vm *vm = vm_of(r);
	assert_true(atomic_load(&vm->arm->nr_its) == 1);
	return &vm->arm->its[0]->its;
}

static struct virq_irqfd_bypass_state bypass(const struct rig *r)
{
	struct virq_irqfd_bypass_state st;
	assert_int_equal(virq_vm_irqfd_bypass(vm_of(r), r->efd, &st), 0);
	assert_int_equal(st.gsi, GSI);
	return st;
}

static struct virq_gsi_counts gsi_counts(const struct rig *r)
{
	struct virq_gsi_counts c;
	assert_int_equal(virq_vm_gsi_counts(vm_of(r), GSI, &c), 0);
	return c;
}

static struct virq_pci_cause_stats cause(const struct rig *r)
{
	struct virq_pci_cause_stats s;
	assert_int_equal(virq_pci_function_cause_stats(r->fn, 0, &s), 0);
	return s;
}

static void ack(const struct rig *r)
{
	uint64_t bit = 1;
	assert_int_equal(virq_vfio_region_write(r->dev, &bit, 8, VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK), 8);
}

static void expect_direct(const struct rig *r, unsigned vcpu)
{
	struct virq_irqfd_bypass_state st = bypass(r);
	char want[96];
	snprintf(want, sizeof(want), "direct: DeviceID 0x18 EventID 3 -> LPI 8195 on vCPU %u", vcpu);
	assert_int_equal(st.path, VIRQ_IRQFD_PATH_DIRECT_LPI);
	assert_string_equal(st.reason, want);
	assert_int_equal(st.devid, DEVID);
	assert_int_equal(st.eventid, EVENT);
	assert_int_equal(st.intid, LPI);
	assert_int_equal(st.vcpu, vcpu);
}

static void expect_software(const struct rig *r, const char *reason)
{
	struct virq_irqfd_bypass_state st = bypass(r);
	assert_int_equal(st.path, VIRQ_IRQFD_PATH_SOFTWARE);
	assert_string_equal(st.reason, reason);
}

/* Raise cause 0 (vector 0's message) and wait until the GSI counted its injection, whichever path. */
static void raise_sync(const struct rig *r)
{
	uint64_t raised = gsi_counts(r).raised;
	assert_int_equal(virq_pci_function_raise(r->fn, 0), 0);
	for (int i = 0; i < 100000 && gsi_counts(r).raised == raised; i++)
		usleep(100);
	assert_true(gsi_counts(r).raised > raised);
}

/* Raise, wait for vCPU @fd's handler to have run @count times for the LPI, acknowledge the device. */
static void raise_handled(const struct rig *r, int vcpu_fd, uint64_t count)
{
	assert_int_equal(virq_pci_function_raise(r->fn, 0), 0);
	assert_true(arm_wait_handled(vcpu_fd, LPI, count));
	assert_int_equal(arm_intid_handled(vcpu_fd, LPI), count);
	ack(r);
}

/* ---- direct delivery, both registration orders --------------------------------------------------------- */

static void check_direct_delivery(bool consumer_first)
{
	struct rig r;
	rig_open(&r, NULL, consumer_first, true);
	struct virq_its *its = its_of(&r);
	uint64_t its_direct0 = atomic_load(&its->stats.direct_injects);

	expect_direct(&r, 1);
	assert_int_equal(bypass(&r).posts, 1);
	for (uint64_t i = 1; i <= 20; i++)
		raise_handled(&r, r.a.vcpu[1], i);

	struct virq_gsi_counts c = gsi_counts(&r);
	struct virq_irqfd_bypass_state st = bypass(&r);
	assert_int_equal(c.irqfd_signals, 0); /* the eventfd never carried one */
	assert_int_equal(c.raised, 20);
	assert_int_equal(c.delivered, 20);
	assert_int_equal(st.direct_injected, 20);
	assert_int_equal(st.direct_fallbacks, 0);
	assert_false(fx_readable_within(r.efd, 0));
	assert_int_equal(cause(&r).messages, 20);
	assert_int_equal(atomic_load(&its->stats.direct_injects) - its_direct0, 20);
	assert_int_equal(arm_intid_handled(r.a.vcpu[0], LPI), 0);
	rig_close(&r);
}

static void test_direct_consumer_first(void **state)
{
	(void)state;
	check_direct_delivery(true);
}

/*
 * The switch: KVM_CHECK_EXTENSION says 1 on arm64 and 0 on x86; turned off, the paired irqfd is software
 * at once (the message goes through the eventfd and the irqfd), on again, direct; bad values and x86 VMs
 * are EINVAL.
 */
static void test_switch(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, NULL, true, true);
	assert_int_equal(virq_ioctl(r.a.vm, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_VIRQ_ARM_DIRECT_LPI), 1);
	assert_int_equal(direct_lpi(r.a.vm, 2), -1);
	assert_int_equal(errno, EINVAL);
	expect_direct(&r, 1);

	assert_int_equal(direct_lpi(r.a.vm, 0), 0);
	expect_software(&r, OFF_REASON);
	raise_handled(&r, r.a.vcpu[1], 1);
	assert_int_equal(gsi_counts(&r).irqfd_signals, 1);
	assert_int_equal(bypass(&r).direct_injected, 0);

	assert_int_equal(direct_lpi(r.a.vm, 1), 0);
	expect_direct(&r, 1);
	raise_handled(&r, r.a.vcpu[1], 2);
	assert_int_equal(gsi_counts(&r).irqfd_signals, 1);
	assert_int_equal(bypass(&r).direct_injected, 1);
	rig_close(&r);

	int sys = fx_open_sys();
	int x86 = fx_create_vm(sys, FX_IRQCHIP);
	assert_int_equal(virq_ioctl(x86, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_VIRQ_ARM_DIRECT_LPI), 0);
	assert_int_equal(direct_lpi(x86, 1), -1);
	assert_int_equal(errno, EINVAL);
	virq_close(x86);
	virq_close(sys);
}

static void test_direct_producer_first(void **state)
{
	(void)state;
	check_direct_delivery(false);
}

/* ---- DISCARD, MAPTI again ------------------------------------------------------------------------------- */

static void steps_discard_mapti(struct arm_text *t)
{
	arm_cmd_discard(t, DEVID, EVENT);
	arm_emit_cwriter(t);
	arm_emit_report(t, STEP + 1);
	arm_cmd_mapti(t, DEVID, EVENT, LPI, 1);
	arm_emit_cwriter(t);
	arm_emit_report(t, STEP + 2);
}

static void test_discard_then_raise_is_dropped_as_software(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, steps_discard_mapti, true, true);
	raise_handled(&r, r.a.vcpu[1], 1);

	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 1); /* DISCARD done */
	expect_software(&r, "software: event not mapped (DeviceID 0x18 EventID 3)");
	assert_int_equal(bypass(&r).remaps, 1);
	/* What the software path does with it: the irqfd takes the signal, the ITS blocks the MSI (result 0,
	 * which the GSI counts as coalesced, as for any irqfd on an unmapped event). */
	struct virq_gsi_counts c0 = gsi_counts(&r);
	raise_sync(&r);
	struct virq_gsi_counts c1 = gsi_counts(&r);
	assert_int_equal(c1.irqfd_signals - c0.irqfd_signals, 1);
	assert_int_equal(c1.raised - c0.raised, 1);
	assert_int_equal(c1.coalesced - c0.coalesced, 1);
	assert_int_equal(c1.delivered - c0.delivered, 0);
	assert_int_equal(arm_signal_msi(r.a.vm, DEVID, EVENT), 0); /* KVM_SIGNAL_MSI agrees: blocked */
	usleep(20000);
	assert_int_equal(arm_intid_handled(r.a.vcpu[1], LPI), 1);
	assert_int_equal(bypass(&r).direct_injected, 1);
	ack(&r);

	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 2); /* mapped again */
	expect_direct(&r, 1);
	raise_handled(&r, r.a.vcpu[1], 2);
	assert_int_equal(gsi_counts(&r).irqfd_signals, 1);
	assert_int_equal(bypass(&r).direct_injected, 2);
	rig_close(&r);
}

/* ---- MOVI ---------------------------------------------------------------------------------------------- */

static void steps_movi(struct arm_text *t)
{
	arm_cmd_movi(t, DEVID, EVENT, 0);
	arm_emit_cwriter(t);
	arm_emit_report(t, STEP + 1);
}

static void test_movi_lands_on_the_new_vcpu(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, steps_movi, true, true);
	raise_handled(&r, r.a.vcpu[1], 1);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 1); /* MOVI to collection 0: vCPU 0 */
	/* Still direct, through the same target: the producer was not even reprogrammed. */
	expect_direct(&r, 0);
	assert_int_equal(bypass(&r).posts, 1);
	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), LPI); /* vCPU 0's handler reports it */
	ack(&r);
	assert_int_equal(arm_intid_handled(r.a.vcpu[0], LPI), 1);
	assert_int_equal(arm_intid_handled(r.a.vcpu[1], LPI), 1);
	assert_int_equal(gsi_counts(&r).irqfd_signals, 0);
	assert_int_equal(bypass(&r).direct_injected, 2);
	rig_close(&r);
}

/* ---- MAPD V=0 -------------------------------------------------------------------------------------------- */

static void steps_unmap_device(struct arm_text *t)
{
	arm_cmd_mapd(t, DEVID, 0, 1, false);
	arm_emit_cwriter(t);
	arm_emit_report(t, STEP + 1);
}

static void test_mapd_unmap_falls_back(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, steps_unmap_device, true, true);
	raise_handled(&r, r.a.vcpu[1], 1);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 1);
	expect_software(&r, "software: device not mapped (DeviceID 0x18)");
	raise_sync(&r);
	usleep(20000);
	ack(&r);
	assert_int_equal(gsi_counts(&r).irqfd_signals, 1);
	assert_int_equal(arm_intid_handled(r.a.vcpu[1], LPI), 1);
	assert_int_equal(bypass(&r).direct_injected, 1);
	rig_close(&r);
}

/* ---- a pending latch across EnableLPIs off and on --------------------------------------------------------- */

static void steps_enable_lpis(struct arm_text *t)
{
	uint64_t rd1 = ARM_GICR + 0x20000;
	arm_emit(t, "    mmio_write 0x%llx, 4, 0\n", (unsigned long long)rd1); /* vCPU 1: EnableLPIs = 0 */
	arm_emit_report(t, STEP + 1);
	arm_emit(t, "    mmio_write 0x%llx, 4, 1\n", (unsigned long long)rd1); /* EnableLPIs = 1 (PTZ: no reload) */
	arm_emit_report(t, STEP + 2);
	arm_emit_cmd(t, 0x0c | (uint64_t)DEVID << 32, EVENT, 0, 0); /* INV (DeviceID 0x18, EventID 3) */
	arm_emit_cwriter(t);
	arm_emit_report(t, STEP + 3);
}

static void test_pending_latch_survives_enable_lpis_off(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, steps_enable_lpis, true, false); /* vCPU 1 does not run: the LPI stays latched */
	struct virq_gic *gic = &vm_of(&r)->arm->gic;

	assert_int_equal(virq_pci_function_raise(r.fn, 0), 0);
	ack(&r);
	assert_int_equal(bypass(&r).direct_injected, 1);
	assert_true(virq_gic_lpi_pending(gic, LPI));

	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 1); /* vCPU 1's EnableLPIs off */
	expect_software(&r, "software: LPIs disabled on vCPU 1 (DeviceID 0x18 EventID 3 -> LPI 8195)");
	assert_true(virq_gic_lpi_pending(gic, LPI)); /* the latch stays (KVM's vgic_flush_pending_lpis) */
	/* Meanwhile a message goes the software way and is refused there, as with KVM (EBUSY: ignored). */
	struct virq_gsi_counts c0 = gsi_counts(&r);
	raise_sync(&r);
	ack(&r);
	struct virq_gsi_counts c1 = gsi_counts(&r);
	assert_int_equal(c1.irqfd_signals - c0.irqfd_signals, 1);
	assert_int_equal(c1.ignored - c0.ignored, 1);

	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 2); /* EnableLPIs on again */
	expect_direct(&r, 1);
	assert_true(virq_gic_lpi_pending(gic, LPI));
	rig_start_vcpu1(&r);
	/* Latched but not queued (PTZ: nothing reloaded): it resurfaces at the next queue attempt, an INV. */
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 3);
	assert_true(arm_wait_handled(r.a.vcpu[1], LPI, 1));
	assert_false(virq_gic_lpi_pending(gic, LPI));
	raise_handled(&r, r.a.vcpu[1], 2);
	assert_int_equal(bypass(&r).direct_injected, 2);
	rig_close(&r);
}

/* ---- a stale target falls back to the eventfd ------------------------------------------------------------- */

static void test_stale_target_falls_back_once(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, NULL, true, true);
	struct virq_its *its = its_of(&r);
	raise_handled(&r, r.a.vcpu[1], 1);

	/* The translation's epoch moves under the producer's target, with nobody re-resolving (as between a
	 * DISCARD and the re-resolution that follows it): the message is refused and takes the eventfd, and
	 * the irqfd translates it afresh, which still succeeds here. One handler run, not two. */
	atomic_fetch_add(&its->epoch, 1);
	uint64_t stale0 = atomic_load(&its->stats.direct_stale);
	raise_handled(&r, r.a.vcpu[1], 2);
	usleep(20000);
	assert_int_equal(arm_intid_handled(r.a.vcpu[1], LPI), 2);
	struct virq_irqfd_bypass_state st = bypass(&r);
	assert_int_equal(st.direct_injected, 1);
	assert_int_equal(st.direct_fallbacks, 1);
	assert_int_equal(gsi_counts(&r).irqfd_signals, 1);
	assert_int_equal(atomic_load(&its->stats.direct_stale) - stale0, 1);

	/* Re-resolved (what the ITS's entry points do after a change): direct again, with the new epoch. */
	virq_arm_bypass_refresh(vm_of(&r), true);
	assert_int_equal(bypass(&r).posts, 2);
	raise_handled(&r, r.a.vcpu[1], 3);
	assert_int_equal(bypass(&r).direct_injected, 2);
	assert_int_equal(gsi_counts(&r).irqfd_signals, 1);
	rig_close(&r);
}

/* ---- reasons -------------------------------------------------------------------------------------------------- */

static void steps_its_off_on(struct arm_text *t)
{
	arm_emit(t, "    mmio_write 0x%llx, 4, 0\n", (unsigned long long)ARM_ITS); /* GITS_CTLR.Enable = 0 */
	arm_emit_report(t, STEP + 1);
	arm_emit(t, "    mmio_write 0x%llx, 4, 1\n", (unsigned long long)ARM_ITS);
	arm_emit_report(t, STEP + 2);
}

static void test_reasons(void **state)
{
	(void)state;
	struct rig r;
	rig_open(&r, steps_its_off_on, true, true);
	expect_direct(&r, 1);

	/* Routes. */
	struct kvm_irq_routing_entry e = arm_msi_entry(GSI, DEVID, EVENT);
	e.flags = 0;
	assert_int_equal(fx_set_routing(r.a.vm, &e, 1), 0);
	expect_software(&r, "software: MSI route without a DeviceID (KVM_MSI_VALID_DEVID)");
	e = (struct kvm_irq_routing_entry){ .gsi = GSI, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = { 0, SPI_PIN } };
	assert_int_equal(fx_set_routing(r.a.vm, &e, 1), 0);
	expect_software(&r, "software: GSI 5 routes to an SPI, not an MSI");
	assert_int_equal(fx_set_routing(r.a.vm, NULL, 0), 0);
	expect_software(&r, "software: GSI 5 has no route");
	e = arm_msi_entry(GSI, DEVID, EVENT);
	e.u.msi.address_lo = 0x09000040;
	assert_int_equal(fx_set_routing(r.a.vm, &e, 1), 0);
	expect_software(&r, "software: doorbell 0x9000040 in no ITS frame");
	route_msi(r.a.vm, 9);
	expect_software(&r, "software: event not mapped (DeviceID 0x18 EventID 9)");
	route_msi(r.a.vm, EVENT);
	expect_direct(&r, 1);

	/* The ITS turned off and on by the guest. */
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 1);
	expect_software(&r, "software: ITS disabled");
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), STEP + 2);
	expect_direct(&r, 1);
	raise_handled(&r, r.a.vcpu[1], 1);

	/* Unpaired: the VFIO trigger goes, the irqfd stays. */
	int32_t none[1] = { -1 };
	assert_int_equal(set_irqs(r.dev, 0, 1, none), 0);
	expect_software(&r, "no host interrupt shares this eventfd");
	struct virq_irqfd_bypass_state st = bypass(&r);
	assert_true(st.remaps >= 1);
	rig_close(&r);
}

/* ---- stress: direct <-> software under traffic ------------------------------------------------------------- */

/*
 * vCPU 0's loop: DISCARD + MAPTI of EventID 3 in one command batch (the ITS never shows it unmapped, but
 * its epoch moves: direct targets go stale and are re-resolved), then a MOVI of EventID 4, which shares
 * LPI 8195 and keeps it alive, to the other collection (the LPI's target moves: direct injection follows
 * it with no re-programming). 32 units of 4 commands fill the 128-slot queue exactly, so the loop body
 * finds the queue as it left it. Interrupts are taken in the spins.
 */
static char *stress_guest0(void)
{
	struct arm_text t = { 0 };

	arm_emit(&t, ARM_HANDLER_REPORT "main:\n");
	arm_emit_cpuif(&t);
	arm_emit_gic_setup(&t, 2, 64);
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0xa0a0a0a0\n", (unsigned long long)(ARM_GICD + 0x448));
	arm_emit(&t, "    mmio_write 0x%llx, 4, 0x100\n", (unsigned long long)(ARM_GICD + 0x108));
	arm_cmd_mapd(&t, DEVID, ARM_ITT(1), 5, true);
	arm_cmd_mapc(&t, 0, 0);
	arm_cmd_mapc(&t, 1, 1);
	arm_cmd_mapti(&t, DEVID, EVENT_SHARED, LPI, 1);
	arm_cmd_mapti(&t, DEVID, EVENT, LPI, 1);
	while (t.cmds % 4) /* units start on a 4-slot boundary: the fixture's half-queue publishes fall between */
		arm_emit_cmd(&t, 0x05, 0, 0, 0); /* SYNC */
	arm_emit_cwriter(&t);
	arm_emit(&t, "    sti\n");
	arm_emit_report(&t, READY);
	arm_emit(&t, "loop:\n");
	for (unsigned u = 0; u < ARM_CMDQ_SLOTS / 4; u++) {
		arm_cmd_discard(&t, DEVID, EVENT);
		arm_cmd_mapti(&t, DEVID, EVENT, LPI, 1);
		arm_emit_cwriter(&t);
		arm_emit(&t, "    spin 150us\n");
		arm_cmd_movi(&t, DEVID, EVENT_SHARED, (uint16_t)(u % 2));
		arm_emit_cmd(&t, 0x05, 0, 0, 0); /* SYNC */
		arm_emit_cwriter(&t);
		arm_emit(&t, "    spin 150us\n");
	}
	arm_emit(&t, "    jmp loop\n");
	return t.buf;
}

static const char stress_guest1[] = ARM_HANDLER_REPORT GUEST1_MAIN;

struct stress_vcpu {
	const struct rig *r;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	_Atomic uint64_t entries; /* handler entries reported (LPI 8195 or SPI 72) */
	_Atomic uint64_t other;   /* anything else reported */
	_Atomic int err;
};

/* The VMM's vCPU thread: each handler entry reports its INTID; the "driver" services the device (ACK). */
static void *stress_vcpu_main(void *arg)
{
	struct stress_vcpu *sv = arg;
	uint64_t bit = 1;

	for (;;) {
		if (virq_ioctl(sv->fd, KVM_RUN, 0) < 0) {
			atomic_store(&sv->err, errno);
			return NULL;
		}
		uint32_t value = 0;
		if (sv->run->exit_reason != KVM_EXIT_MMIO || sv->run->mmio.phys_addr != FX_REPORT_ADDR) {
			atomic_store(&sv->err, -(int)sv->run->exit_reason);
			return NULL;
		}
		memcpy(&value, sv->run->mmio.data, sizeof(value));
		if (value == LPI || value == SPI_INTID) {
			atomic_fetch_add(&sv->entries, 1);
			virq_vfio_region_write(sv->r->dev, &bit, 8, VIRQ_VFIO_REGION_OFFSET(0) + VIRQ_PCI_REG_ACK);
		} else {
			atomic_fetch_add(&sv->other, 1);
		}
	}
}

struct stress_device {
	struct virq_pci_function *fn;
	_Atomic bool stop;
	uint64_t raises;
};

static void *stress_device_main(void *arg)
{
	struct stress_device *d = arg;
	struct timespec gap = { 0, 20000 };

	while (!atomic_load(&d->stop)) {
		virq_pci_function_raise(d->fn, 0);
		d->raises++;
		nanosleep(&gap, NULL);
	}
	return NULL;
}

static void stress_direct_software(unsigned ms)
{
	struct rig r;
	struct virq_pci_function_desc desc = {
		.name = "nic0", .requester_id = 0x0018, .vendor_id = 0x1af4, .device_id = 0x1041, .causes = 4,
		.msix_vectors = 4, .msix_table_bar = 0, .msix_table_offset = 0x2000, .msix_pba_bar = 0,
		.msix_pba_offset = 0x3000,
	};
	struct stress_vcpu sv[2] = { 0 };

	memset(&r, 0, sizeof(r));
	signal(SIGUSR1, arm_on_stop_signal);
	arm_vm_open(&r.a, 2, true, NULL);
	char *p0 = stress_guest0();
	assert_int_equal(virq_guest_load(r.a.vcpu[0], p0), 0);
	assert_int_equal(virq_guest_load(r.a.vcpu[1], stress_guest1), 0);
	free(p0);
	assert_int_equal(fx_run_to_report(r.a.vcpu[0]), READY);
	route_msi(r.a.vm, EVENT);
	assert_int_equal(virq_pci_function_create(&desc, &r.fn), 0);
	r.dev = virq_vfio_device_open(r.fn);
	assert_true(r.dev >= 0);
	r.efd = fx_new_eventfd();
	int32_t fds[1] = { r.efd };
	assert_int_equal(fx_irqfd(r.a.vm, r.efd, GSI, 0, -1), 0);
	assert_int_equal(set_irqs(r.dev, 0, 1, fds), 0);
	assert_int_equal(direct_lpi(r.a.vm, 1), 0);
	expect_direct(&r, 1);

	for (unsigned i = 0; i < 2; i++) {
		sv[i].r = &r;
		sv[i].fd = r.a.vcpu[i];
		sv[i].run = virq_vcpu_run_struct(r.a.vcpu[i]);
		assert_int_equal(pthread_create(&sv[i].thread, NULL, stress_vcpu_main, &sv[i]), 0);
	}
	struct stress_device dev = { .fn = r.fn };
	pthread_t dev_thread;
	assert_int_equal(pthread_create(&dev_thread, NULL, stress_device_main, &dev), 0);

	/* Every millisecond the route flips: the MSI (direct) or SPI 72 (software: eventfd, irqfd, an edge). */
	struct kvm_irq_routing_entry spi = { .gsi = GSI, .type = KVM_IRQ_ROUTING_IRQCHIP, .u.irqchip = { 0, SPI_PIN } };
	struct kvm_irq_routing_entry msi = arm_msi_entry(GSI, DEVID, EVENT);
	/* At least @ms, and (on a loaded machine, for at most 60 s) until both switchers did 20 rounds. */
	struct virq_its *its = its_of(&r);
	unsigned flips = 0;
	uint64_t elapsed_ms;
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		assert_int_equal(fx_set_routing(r.a.vm, flips % 2 ? &msi : &spi, 1), 0);
		flips++;
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &now);
		elapsed_ms = (uint64_t)(((int64_t)now.tv_sec - start.tv_sec) * 1000000000 + (now.tv_nsec - start.tv_nsec)) / 1000000;
	} while (elapsed_ms < ms || ((flips < 20 || atomic_load(&its->epoch) < 20) && elapsed_ms < 60000));
	assert_int_equal(fx_set_routing(r.a.vm, &msi, 1), 0);
	atomic_store(&dev.stop, true);
	pthread_join(dev_thread, NULL);

	/* Every message is handled and acknowledged: the status bit ends clear. */
	struct virq_pci_cause_stats cs = cause(&r);
	for (int i = 0; i < 10000 && cs.status; i++) {
		usleep(1000);
		cs = cause(&r);
	}
	usleep(20000); /* a doubled delivery would show up here */
	cs = cause(&r);
	for (unsigned i = 0; i < 2; i++) {
		__atomic_store_n(&sv[i].run->immediate_exit, 1, __ATOMIC_RELAXED);
		pthread_kill(sv[i].thread, SIGUSR1);
		pthread_join(sv[i].thread, NULL);
		assert_int_equal(atomic_load(&sv[i].err), EINTR);
		assert_int_equal(atomic_load(&sv[i].other), 0);
	}

	struct virq_gsi_counts c = gsi_counts(&r);
	struct virq_irqfd_bypass_state st = bypass(&r);
	uint64_t entries = atomic_load(&sv[0].entries) + atomic_load(&sv[1].entries);
	uint64_t handled = arm_intid_handled(r.a.vcpu[0], LPI) + arm_intid_handled(r.a.vcpu[1], LPI) +
			   arm_intid_handled(r.a.vcpu[0], SPI_INTID);
	printf("# %llu ms: %llu raises, %llu messages (%llu coalesced in the device), %llu direct, %llu through the "
	       "eventfd (%llu fallbacks), %u route flips, %llu producer re-programmings, ITS epoch %llu\n",
	       (unsigned long long)elapsed_ms,
	       (unsigned long long)cs.raised, (unsigned long long)cs.messages, (unsigned long long)cs.coalesced,
	       (unsigned long long)st.direct_injected, (unsigned long long)c.irqfd_signals,
	       (unsigned long long)st.direct_fallbacks, flips, (unsigned long long)(st.posts + st.remaps),
	       (unsigned long long)atomic_load(&its->epoch));
	assert_false(cs.status);
	assert_int_equal(cs.raised, dev.raises);
	assert_int_equal(cs.raised, cs.coalesced + cs.messages);
	assert_int_equal(cs.held + cs.discarded, 0);
	/* Nothing lost: each message was acknowledged by a handler that ran for it ... */
	assert_int_equal(cs.acked, cs.messages);
	/* ... nothing doubled: exactly one handler entry per message ... */
	assert_int_equal(entries, cs.messages);
	assert_int_equal(handled, entries);
	/* ... and each message took exactly one way: latched directly, or written to the eventfd. */
	assert_int_equal(st.direct_injected + c.irqfd_signals, cs.messages);
	assert_true(st.direct_injected > 0);
	assert_true(c.irqfd_signals > 0);
	assert_true(flips >= 20);
	assert_true(atomic_load(&its->epoch) >= 20);

	assert_int_equal(fx_irqfd(r.a.vm, r.efd, GSI, KVM_IRQFD_FLAG_DEASSIGN, -1), 0);
	assert_int_equal(virq_close(r.dev), 0);
	assert_int_equal(virq_pci_function_destroy(r.fn), 0);
	close(r.efd);
	arm_vm_close(&r.a);
}

static void test_stress_direct_software_switching(void **state)
{
	(void)state;
	stress_direct_software(getenv("VIRQ_STRESS_LONG") ? 5000 : 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_consumer_first),
		cmocka_unit_test(test_direct_producer_first),
		cmocka_unit_test(test_switch),
		cmocka_unit_test(test_discard_then_raise_is_dropped_as_software),
		cmocka_unit_test(test_movi_lands_on_the_new_vcpu),
		cmocka_unit_test(test_mapd_unmap_falls_back),
		cmocka_unit_test(test_pending_latch_survives_enable_lpis_off),
		cmocka_unit_test(test_stale_target_falls_back_once),
		cmocka_unit_test(test_reasons),
		cmocka_unit_test(test_stress_direct_software_switching),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
