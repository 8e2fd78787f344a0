/* SPDX-License-Identifier: MIT */
/*
 * test_irqfd_bypass.c - the irqfd's bypass consumer (src/engine/irqfd_bypass.c) against a fake producer
 * whose set_vcpu_affinity records its calls: pairing in both registration orders programs the producer
 * posted to the target vCPU's descriptor and guest vector; routing updates re-decide (to remapped, to
 * another vCPU without a remapped step, not at all when nothing changed); an override read through the
 * ops; a producer that cannot post, a vCPU without a descriptor and a failing post fall back to
 * remapped with a reason; unregistering either side returns a posted producer to remapped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "engine/irqfd_bypass.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NR 4
#define MAX_CALLS 16

static void nop_kick(void *o) { (void)o; }
static void nop_eoi(void *o, uint8_t v, bool l) { (void)o, (void)v, (void)l; }
static int nop_ipi(void *o, const struct virq_apic_irq *i) { (void)o, (void)i; return 0; }
static const struct virq_lapic_ops nop_ops = {.kick = nop_kick, .eoi_broadcast = nop_eoi, .send_ipi = nop_ipi};

struct fake_producer {
	struct virq_bypass_producer prod;
	int result;                        /* what set_vcpu_affinity returns */
	unsigned calls;
	struct { bool posted; struct virq_bypass_vcpu_info info; } log[MAX_CALLS];
};

static int fake_set_vcpu_affinity(struct virq_bypass_producer *prod, const struct virq_bypass_vcpu_info *info)
{
	struct fake_producer *fp = (struct fake_producer *)prod;
	assert_true(fp->calls < MAX_CALLS);
	fp->log[fp->calls].posted = info != NULL;
	if (info)
		fp->log[fp->calls].info = *info;
	fp->calls++;
	return info ? fp->result : 0;
}

static const struct virq_bypass_producer_ops fake_producer_ops = {.set_vcpu_affinity = fake_set_vcpu_affinity};
static const struct virq_bypass_producer_ops no_post_ops = {0}; /* no set_vcpu_affinity: no IOMMU */

struct fake_vm {
	struct virq_lapic *apic[NR];
	uint64_t desc[NR];                 /* descriptor addresses handed out; 0 = none */
	enum virq_bypass_override ovr;
	int efd;
	struct fake_producer fp;
	struct virq_irqfd_bypass b;
};

static struct virq_lapic *const *vm_apics(void *ctx, unsigned *nr)
{
	struct fake_vm *vm = ctx;
	*nr = NR;
	return vm->apic;
}

static uint64_t vm_desc_addr(void *ctx, unsigned vcpu)
{
	struct fake_vm *vm = ctx;
	return vcpu < NR ? vm->desc[vcpu] : 0;
}

static enum virq_bypass_override vm_override(void *ctx, uint32_t gsi)
{
	struct fake_vm *vm = ctx;
	assert_int_equal(gsi, 24);
	return vm->ovr;
}

static const struct virq_irqfd_bypass_ops vm_ops = {.apics = vm_apics, .desc_addr = vm_desc_addr,
						    .override = vm_override};

static struct virq_bypass_route msi(uint32_t dest, bool logical, uint8_t vector)
{
	return (struct virq_bypass_route){
		.nr_entries = 1, .type = KVM_IRQ_ROUTING_MSI,
		.address_lo = 0xfee00000u | dest << 12 | (logical ? 4u : 0), .data = vector,
	};
}

static int setup(void **state)
{
	struct fake_vm *vm = calloc(1, sizeof(*vm));
	for (unsigned i = 0; i < NR; i++) {
		vm->apic[i] = calloc(1, sizeof(struct virq_lapic));
		virq_lapic_init(vm->apic[i], i, &nop_ops, NULL);
		atomic_store(&vm->apic[i]->svr, 0x1ff);
		atomic_store(&vm->apic[i]->ldr, (1u << i) << 24);
		atomic_store(&vm->apic[i]->dfr, 0xffffffffu);
		vm->desc[i] = 0x10000 + 0x40 * i;
	}
	vm->efd = eventfd(0, EFD_CLOEXEC);
	vm->fp.prod.ops = &fake_producer_ops;
	struct virq_bypass_route rt = msi(1, false, 0x41);
	assert_int_equal(virq_irqfd_bypass_init(&vm->b, &vm_ops, vm, 24, false, &rt), 0);
	*state = vm;
	return 0;
}

static int teardown(void **state)
{
	struct fake_vm *vm = *state;
	virq_irqfd_bypass_unregister(&vm->b);
	virq_bypass_unregister_producer(&vm->fp.prod);
	virq_irqfd_bypass_destroy(&vm->b);
	close(vm->efd);
	for (unsigned i = 0; i < NR; i++)
		free(vm->apic[i]);
	free(vm);
	return 0;
}

static void expect_posted(struct fake_vm *vm, unsigned call, unsigned vcpu, uint8_t vector)
{
	assert_true(vm->fp.calls > call);
	assert_true(vm->fp.log[call].posted);
	assert_int_equal(vm->fp.log[call].info.pi_desc_addr, vm->desc[vcpu]);
	assert_int_equal(vm->fp.log[call].info.vector, vector);
}

static void expect_reason(struct fake_vm *vm, bool paired, const char *reason)
{
	struct virq_bypass_decision d;
	assert_int_equal(virq_irqfd_bypass_explain(&vm->b, &d), paired);
	assert_string_equal(d.reason, reason);
}

static void test_pair_consumer_first(void **state)
{
	struct fake_vm *vm = *state;

	assert_int_equal(virq_irqfd_bypass_register(&vm->b, vm->efd), 0);
	assert_int_equal(vm->fp.calls, 0);
	expect_reason(vm, false, "posted: fixed delivery to APIC 1 vector 0x41"); /* decided, not applied */
	assert_int_equal(virq_bypass_register_producer(&vm->fp.prod, vm->efd), 0);
	assert_int_equal(vm->fp.calls, 1);
	expect_posted(vm, 0, 1, 0x41);
	expect_reason(vm, true, "posted: fixed delivery to APIC 1 vector 0x41");
}

static void test_pair_producer_first_and_unregister(void **state)
{
	struct fake_vm *vm = *state;

	assert_int_equal(virq_bypass_register_producer(&vm->fp.prod, vm->efd), 0);
	assert_int_equal(virq_irqfd_bypass_register(&vm->b, vm->efd), 0);
	expect_posted(vm, 0, 1, 0x41);
	/* Deassign: the consumer goes, the producer returns to remapped. */
	virq_irqfd_bypass_unregister(&vm->b);
	assert_int_equal(vm->fp.calls, 2);
	assert_false(vm->fp.log[1].posted);
	/* Re-register, then the producer goes (VFIO disables MSI-X): remapped again. */
	assert_int_equal(virq_irqfd_bypass_register(&vm->b, vm->efd), 0);
	expect_posted(vm, 2, 1, 0x41);
	virq_bypass_unregister_producer(&vm->fp.prod);
	assert_int_equal(vm->fp.calls, 4);
	assert_false(vm->fp.log[3].posted);
	assert_false(virq_bypass_consumer_paired(&vm->b.consumer));
}

static void test_routing_updates(void **state)
{
	struct fake_vm *vm = *state;
	struct virq_bypass_route rt;

	assert_int_equal(virq_irqfd_bypass_register(&vm->b, vm->efd), 0);
	assert_int_equal(virq_bypass_register_producer(&vm->fp.prod, vm->efd), 0);
	assert_int_equal(vm->fp.calls, 1);
	/* Unchanged route: no IRTE write. */
	rt = msi(1, false, 0x41);
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, &rt), 0);
	assert_int_equal(vm->fp.calls, 1);
	/* Re-target (seed 000): straight to the new descriptor and vector. */
	rt = msi(2, false, 0x42);
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, &rt), 0);
	assert_int_equal(vm->fp.calls, 2);
	expect_posted(vm, 1, 2, 0x42);
	/* Multi-destination: back to remapped. */
	rt = msi(0x3, true, 0x43);
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, &rt), 0);
	assert_int_equal(vm->fp.calls, 3);
	assert_false(vm->fp.log[2].posted);
	expect_reason(vm, true, "remapped: logical destination with 2 targets");
	/* Still remapped after another refused change: nothing to tell the producer. */
	rt = msi(0xff, false, 0x43);
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, &rt), 0);
	assert_int_equal(vm->fp.calls, 3);
	expect_reason(vm, true, "remapped: broadcast destination");
}

static void test_override_via_ops(void **state)
{
	struct fake_vm *vm = *state;

	assert_int_equal(virq_irqfd_bypass_register(&vm->b, vm->efd), 0);
	assert_int_equal(virq_bypass_register_producer(&vm->fp.prod, vm->efd), 0);
	vm->ovr = VIRQ_BYPASS_FORCE_REMAP; /* UNPOST_IRQ, then kvm-vfio's override_changed */
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, NULL), 0);
	assert_int_equal(vm->fp.calls, 2);
	assert_false(vm->fp.log[1].posted);
	expect_reason(vm, true, "remapped: UNPOST_IRQ override");
	vm->ovr = VIRQ_BYPASS_FORCE_POST;
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, NULL), 0);
	expect_posted(vm, 2, 1, 0x41);
	expect_reason(vm, true, "posted: POST_IRQ, fixed delivery to APIC 1 vector 0x41");
}

static void test_producer_cannot_post(void **state)
{
	struct fake_vm *vm = *state;

	vm->fp.prod.ops = &no_post_ops;
	assert_int_equal(virq_irqfd_bypass_register(&vm->b, vm->efd), 0);
	assert_int_equal(virq_bypass_register_producer(&vm->fp.prod, vm->efd), 0); /* pairing still works */
	assert_true(virq_bypass_consumer_paired(&vm->b.consumer));
	expect_reason(vm, true, "remapped: no IOMMU (the producer cannot post)");
	assert_int_equal(atomic_load(&vm->b.failures), 1);
}

static void test_post_failures(void **state)
{
	struct fake_vm *vm = *state;
	struct virq_bypass_route rt;

	vm->desc[1] = 0; /* vCPU 1 has no descriptor */
	assert_int_equal(virq_irqfd_bypass_register(&vm->b, vm->efd), 0);
	assert_int_equal(virq_bypass_register_producer(&vm->fp.prod, vm->efd), 0);
	assert_int_equal(vm->fp.calls, 0);
	expect_reason(vm, true, "remapped: posting to vCPU 1 failed (No such device)");
	/* Posted to vCPU 2, then a re-target whose post fails: the producer is put back to remapped. */
	rt = msi(2, false, 0x41);
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, &rt), 0);
	expect_posted(vm, 0, 2, 0x41);
	vm->fp.result = -EIO;
	rt = msi(3, false, 0x41);
	assert_int_equal(virq_irqfd_bypass_update(&vm->b, &rt), -EIO);
	assert_int_equal(vm->fp.calls, 3);
	assert_false(vm->fp.log[2].posted);
	expect_reason(vm, true, "remapped: posting to vCPU 3 failed (Input/output error)");
}

static void test_init_errors(void **state)
{
	(void)state;
	struct virq_irqfd_bypass b;
	const struct virq_irqfd_bypass_ops half = {.apics = vm_apics};
	assert_int_equal(virq_irqfd_bypass_init(&b, NULL, NULL, 0, false, NULL), -EINVAL);
	assert_int_equal(virq_irqfd_bypass_init(&b, &half, NULL, 0, false, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pair_consumer_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pair_producer_first_and_unregister, setup, teardown),
		cmocka_unit_test_setup_teardown(test_routing_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_override_via_ops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_producer_cannot_post, setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_failures, setup, teardown),
		cmocka_unit_test(test_init_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
