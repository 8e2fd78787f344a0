/* SPDX-License-Identifier: MIT */
/*
 * test_vmm_posted.c - the reference VMM's delivery POSTED and REMAPPED (issue 6) end to end: the device
 * behind the VMM's IOMMU, its VFIO descriptor on the VM's kvm-vfio device, irqfds the engine pairs with
 * the VFIO vectors. Checked through what a user reads: the report (delivered per vector and vCPU, the
 * IOMMU's posted and remapped counts) and `virq explain`'s view (mode, reason, target, IRTE, and how
 * often the trigger eventfd was signalled, which a posted interrupt never does).
 */
#include <errno.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/vmm.h"
#include "vmm_fixture.h"

/* Only to see the wakeup handler at work (the VMM itself uses the public API alone). */
#include "engine/posted.h"
#include "engine/vcpu.h"

/*
 * nic0: 4 MSI-X vectors with @delivery on vCPUs 0,1,0,1; plain0: 2 vectors through plain irqfds (no
 * IOMMU), beside it in the same VM. Actions: 0 mask nic0 v2, 1 unmask it, 2 move nic0 v3 to vCPU 0.
 */
static void config_posted(struct virq_vmm_config *cfg, enum virq_vmm_delivery delivery)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->arch = VIRQ_VMM_ARCH_X86_64;
	cfg->vcpus = 2;
	cfg->ndevices = 2;
	struct virq_vmm_device_config *nic = &cfg->devices[0], *plain = &cfg->devices[1];
	vmm_nic_config(nic, "nic0", delivery);
	*plain = *nic;
	strcpy(plain->name, "plain0");
	plain->requester_id = 4 << 3;
	plain->msix_vectors = 2;
	plain->delivery = VIRQ_VMM_DELIVERY_IRQFD;
	cfg->nactions = 3;
	cfg->actions[0] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_MASK, .device = 0, .vector = 2 };
	cfg->actions[1] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_UNMASK, .device = 0, .vector = 2 };
	cfg->actions[2] = (struct virq_vmm_action){ .kind = VIRQ_VMM_ACTION_RETARGET, .device = 0, .vector = 3,
						    .vcpu = 0 };
}

/*
 * POSTED: every message is posted into the target vCPU's descriptor, and the vCPU, halted in the guest's
 * idle loop, is woken through the wakeup vector: each vector handled on its vCPU, the IOMMU counting
 * posts and no remaps, the trigger eventfd never signalled, and explain saying posted with the policy's
 * reason. The device beside it
 * without an IOMMU takes the eventfd and the irqfd, and explain says so.
 */
static void test_posted_delivery(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_posted(&cfg, VIRQ_VMM_DELIVERY_POSTED);
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);
	struct virq_posted_pcpus *p = virq_posted_engine_pcpus();
	uint64_t wakeups = atomic_load(&p->notify_wakeup), kicks = atomic_load(&p->kicks);

	for (unsigned n = 0; n < 5; n++) {
		for (unsigned k = 0; k < 4; k++)
			vmm_raise_settled(vmm, 0, k);
		vmm_raise_settled(vmm, 1, n % 2);
	}
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	for (unsigned k = 0; k < 4; k++) {
		const struct virq_vmm_source_report *s = vmm_row(r, 0, k);
		assert_int_equal(s->raised, 5);
		assert_int_equal(s->delivered, 5);
		assert_int_equal(s->lost, 0);
		assert_int_equal(s->stale, 0);
		assert_int_equal(s->per_vcpu[k % 2], 5);
		assert_int_equal(s->per_vcpu[1 - k % 2], 0);
	}
	assert_int_equal(vmm_row(r, 1, 0)->delivered + vmm_row(r, 1, 1)->delivered, 5);
	assert_true(r->iommu);
	assert_int_equal(r->iommu_posted, 20); /* nic0's messages, each posted; plain0's never reach it */
	assert_int_equal(r->iommu_remapped, 0);
	assert_int_equal(r->iommu_dropped, 0);
	free(r);
	/* One raise at a time, each after the last was handled: the target is halted when most arrive. */
	assert_true(atomic_load(&p->notify_wakeup) > wakeups);
	assert_true(atomic_load(&p->kicks) > kicks);

	for (unsigned k = 0; k < 4; k++) {
		struct virq_vmm_explanation e = vmm_explanation(vmm, 0, k);
		char reason[64];
		assert_string_equal(e.mode, "posted");
		snprintf(reason, sizeof(reason), "fixed delivery to APIC %u vector 0x%x", k % 2, 0x30 + k);
		assert_contains(e.why, reason);
		assert_int_equal(e.target_vcpu, (int)(k % 2));
		assert_int_equal(e.guest_vector, 0x30 + k);
		assert_true(e.irqfd);
		assert_int_equal(e.irte_index, (int)k); /* the first block of the IOMMU's table */
		assert_int_equal(e.irqfd_signals, 0);    /* the eventfd path never ran */
		assert_true(e.bypass_posts >= 1);
	}
	struct virq_vmm_explanation plain = vmm_explanation(vmm, 1, 0);
	assert_string_equal(plain.mode, "software");
	assert_contains(plain.why, "no IOMMU for this device (delivery irqfd)");
	assert_int_equal(plain.irte_index, -1);
	assert_true(plain.irqfd_signals >= 1);
	virq_vmm_destroy(vmm);
}

/* A guest move is a routing change: the engine re-points the IRTE, and the next message is posted there. */
static void test_posted_follows_a_retarget(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_posted(&cfg, VIRQ_VMM_DELIVERY_POSTED);
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);

	vmm_raise_settled(vmm, 0, 3);
	assert_int_equal(virq_vmm_guest_action(vmm, 2), 0); /* v3: vCPU 1 -> 0 */
	struct virq_vmm_explanation e = vmm_explanation(vmm, 0, 3);
	assert_string_equal(e.mode, "posted");
	assert_int_equal(e.target_vcpu, 0);
	assert_contains(e.why, "fixed delivery to APIC 0 vector 0x33");
	vmm_raise_settled(vmm, 0, 3);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	const struct virq_vmm_source_report *s = vmm_row(r, 0, 3);
	assert_int_equal(s->per_vcpu[1], 1);
	assert_int_equal(s->per_vcpu[0], 1);
	assert_int_equal(s->stale, 0);
	assert_int_equal(s->lost, 0);
	assert_int_equal(r->iommu_posted, 2);
	assert_int_equal(r->iommu_remapped, 0);
	free(r);
	assert_int_equal(vmm_explanation(vmm, 0, 3).irqfd_signals, 0);
	virq_vmm_destroy(vmm);
}

/*
 * REMAPPED: UNPOST_IRQ on every vector keeps them on the IOMMU's remapped path, so every message is a
 * host IRQ that signals the trigger eventfd, and the irqfd injects it; explain names the override.
 */
static void test_remapped_delivery(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_posted(&cfg, VIRQ_VMM_DELIVERY_REMAPPED);
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);

	for (unsigned n = 0; n < 3; n++)
		for (unsigned k = 0; k < 4; k++)
			vmm_raise_settled(vmm, 0, k);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	for (unsigned k = 0; k < 4; k++) {
		const struct virq_vmm_source_report *s = vmm_row(r, 0, k);
		assert_int_equal(s->delivered, 3);
		assert_int_equal(s->per_vcpu[k % 2], 3);
		assert_int_equal(s->lost, 0);
	}
	assert_true(r->iommu);
	assert_int_equal(r->iommu_posted, 0);
	assert_int_equal(r->iommu_remapped, 12);
	free(r);
	for (unsigned k = 0; k < 4; k++) {
		struct virq_vmm_explanation e = vmm_explanation(vmm, 0, k);
		assert_string_equal(e.mode, "remapped");
		assert_contains(e.why, "UNPOST_IRQ override");
		assert_int_equal(e.target_vcpu, (int)(k % 2));
		assert_int_equal(e.irqfd_signals, 3); /* each message through the eventfd and the irqfd */
		assert_int_equal(e.bypass_posts, 0);  /* never posted, not even before the override */
	}
	virq_vmm_destroy(vmm);
}

/*
 * With the table in the VMM a masked vector has no irqfd, so no pairing either: its message is remapped
 * to the eventfd and held in the VMM's pending bit, delivered once at unmask, and the vector is posted
 * again once its irqfd is back (as QEMU's switch of VFIO's trigger on mask does on KVM).
 */
static void test_posted_masked_with_the_table_in_the_vmm(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_posted(&cfg, VIRQ_VMM_DELIVERY_POSTED);
	cfg.msix_table_in_vmm = true;
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);

	assert_int_equal(virq_vmm_guest_action(vmm, 0), 0); /* mask v2 */
	struct virq_vmm_explanation e = vmm_explanation(vmm, 0, 2);
	assert_string_equal(e.mode, "remapped");
	assert_false(e.irqfd);
	assert_contains(e.why, "held now: the entry is masked");
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->pending, 1);
	assert_int_equal(vmm_row(r, 0, 2)->coalesced, 1);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 0);
	assert_int_equal(r->iommu_remapped, 1);
	assert_int_equal(r->iommu_posted, 0);
	free(r);
	assert_int_equal(virq_vmm_guest_action(vmm, 1), 0); /* unmask: delivered once */
	assert_int_equal(virq_vmm_settle(vmm, SETTLE_NS), 0); /* acked, or the next raise merges into it */
	vmm_raise_settled(vmm, 0, 2);                                 /* and posted again */
	r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->pending, 0);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 2);
	assert_int_equal(vmm_row(r, 0, 2)->handler_runs, 2);
	assert_int_equal(vmm_row(r, 0, 2)->lost, 0);
	assert_int_equal(r->iommu_remapped, 1);
	assert_int_equal(r->iommu_posted, 1);
	free(r);
	assert_string_equal(vmm_explanation(vmm, 0, 2).mode, "posted");
	virq_vmm_destroy(vmm);
}

/*
 * The same with the table in the engine (the default): the irqfd and its pairing stay, so the engine
 * must stop posting the vector itself while the entry is masked, or its messages would skip the pending
 * bit. Masked: remapped, held in the pending bit; unmasked: delivered once, then posted again.
 */
static void test_posted_masked_with_the_table_in_the_engine(void **state)
{
	(void)state;
	struct virq_vmm_config cfg;
	config_posted(&cfg, VIRQ_VMM_DELIVERY_POSTED);
	struct virq_vmm *vmm = vmm_boot(&cfg, NULL);

	vmm_raise_settled(vmm, 0, 2);
	struct virq_vmm_report *r = vmm_settled_report(vmm);
	uint64_t posted0 = r->iommu_posted, remapped0 = r->iommu_remapped;
	assert_int_equal(posted0, 1);
	free(r);

	assert_int_equal(virq_vmm_guest_action(vmm, 0), 0); /* mask v2 */
	struct virq_vmm_explanation e = vmm_explanation(vmm, 0, 2);
	assert_string_equal(e.mode, "remapped");
	assert_true(e.irqfd);
	assert_contains(e.why, "MSI-X entry masked (held in the pending bit)");
	assert_contains(e.why, "held now: the entry is masked");
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	assert_int_equal(virq_vmm_raise(vmm, 0, 2), 0);
	r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->pending, 1);
	assert_int_equal(vmm_row(r, 0, 2)->coalesced, 1);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 1);
	assert_int_equal(r->iommu_posted, posted0); /* nothing posted while masked */
	assert_true(r->iommu_remapped > remapped0);
	free(r);

	assert_int_equal(virq_vmm_guest_action(vmm, 1), 0); /* unmask: the pending one, once */
	assert_int_equal(virq_vmm_settle(vmm, SETTLE_NS), 0);
	assert_string_equal(vmm_explanation(vmm, 0, 2).mode, "posted");
	vmm_raise_settled(vmm, 0, 2);
	r = vmm_settled_report(vmm);
	assert_int_equal(vmm_row(r, 0, 2)->pending, 0);
	assert_int_equal(vmm_row(r, 0, 2)->delivered, 3);
	assert_int_equal(vmm_row(r, 0, 2)->handler_runs, 3);
	assert_int_equal(vmm_row(r, 0, 2)->lost, 0);
	assert_int_equal(r->iommu_posted, posted0 + 1);
	free(r);
	virq_vmm_destroy(vmm);
}

/* VT-d posting on an arm64 VM is refused before anything is built, naming the device. */
static void test_posted_needs_x86(void **state)
{
	(void)state;
	static const enum virq_vmm_delivery deliveries[] = { VIRQ_VMM_DELIVERY_POSTED, VIRQ_VMM_DELIVERY_REMAPPED };
	static const char *const messages[] = {
		"device nic0: delivery posted needs VT-d interrupt remapping and posted interrupts: x86_64 only",
		"device nic0: delivery remapped needs VT-d interrupt remapping and posted interrupts: x86_64 only",
	};
	for (unsigned i = 0; i < 2; i++) {
		struct virq_vmm_config cfg;
		struct virq_vmm *vmm = (void *)1;
		char err[256] = "";
		config_posted(&cfg, deliveries[i]);
		cfg.arch = VIRQ_VMM_ARCH_ARM64;
		assert_int_equal(virq_vmm_create(&cfg, &vmm, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, messages[i]);
	}
	/* And it needs MSI-X, like any irqfd delivery. */
	struct virq_vmm_config cfg;
	struct virq_vmm *vmm = (void *)1;
	char err[256] = "";
	config_posted(&cfg, VIRQ_VMM_DELIVERY_POSTED);
	cfg.devices[0].msix_vectors = 0;
	cfg.devices[0].intx_pin = 1;
	assert_int_equal(virq_vmm_create(&cfg, &vmm, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "device nic0: delivery posted needs MSI-X");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_posted_delivery),
		cmocka_unit_test(test_posted_follows_a_retarget),
		cmocka_unit_test(test_remapped_delivery),
		cmocka_unit_test(test_posted_masked_with_the_table_in_the_vmm),
		cmocka_unit_test(test_posted_masked_with_the_table_in_the_engine),
		cmocka_unit_test(test_posted_needs_x86),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
