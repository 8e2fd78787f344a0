/* SPDX-License-Identifier: MIT */
/*
 * test_arm_fastpath.c - inside the engine, what the front cannot show: an irqfd on an MSI route to an
 * LPI takes the ITS translation cache after the first (slow-path) delivery, as KVM's irqfd wake-up does,
 * and a MOVI (which invalidates the cache) sends the next one through the tables again.
 */
#include "../front/arm_fixture.h"

#include "engine/arm_vm.h"
#include "engine/vm.h"

static struct virq_its *its_of(int vm_fd)
{
	struct virq_vm *vm = virq_vm_of_fd(vm_fd);
	assert_non_null(vm);
	assert_non_null(vm->arm);
	assert_true(atomic_load(&vm->arm->nr_its) == 1);
	return &vm->arm->its[0]->its;
}

static void test_irqfd_to_lpi_uses_the_translation_cache(void **state)
{
	(void)state;
	struct arm_vm a;
	struct arm_text t = { 0 };
	arm_vm_open(&a, 1, true, NULL);
	arm_emit(&t, ARM_HANDLER_REPORT "main:\n");
	arm_emit_cpuif(&t);
	arm_emit_gic_setup(&t, 1, 64);
	arm_cmd_mapd(&t, 1, ARM_ITT(1), 5, true);
	arm_cmd_mapc(&t, 0, 0);
	arm_cmd_mapc(&t, 1, 0);
	arm_cmd_mapti(&t, 1, 0, 8200, 0);
	arm_emit_cwriter(&t);
	arm_emit(&t, "    sti\n");
	arm_emit_report(&t, 0x600d);
	arm_cmd_movi(&t, 1, 0, 1);
	arm_emit_cwriter(&t);
	arm_emit_report(&t, 0x600e);
	arm_emit_idle(&t);
	assert_int_equal(virq_guest_load(a.vcpu[0], t.buf), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600d);

	struct kvm_irq_routing_entry e = arm_msi_entry(3, 1, 0);
	assert_int_equal(fx_set_routing(a.vm, &e, 1), 0);
	int efd = fx_new_eventfd();
	assert_int_equal(fx_irqfd(a.vm, efd, 3, 0, 0), 0);
	struct virq_its *its = its_of(a.vm);
	uint64_t hits0 = atomic_load(&its->stats.cache_hits), misses0 = atomic_load(&its->stats.cache_misses);

	/* First delivery: a miss, translated from the ITS's tables, which fills the cache. */
	arm_signal_irqfd_sync(a.vm, efd, 3);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 8200);
	assert_int_equal(atomic_load(&its->stats.cache_misses) - misses0, 1);
	assert_int_equal(atomic_load(&its->stats.cache_hits) - hits0, 0);
	/* The next ones hit. */
	for (int i = 0; i < 5; i++) {
		arm_signal_irqfd_sync(a.vm, efd, 3);
		assert_int_equal(fx_run_to_report(a.vcpu[0]), 8200);
	}
	assert_int_equal(atomic_load(&its->stats.cache_hits) - hits0, 5);
	assert_int_equal(atomic_load(&its->stats.cache_misses) - misses0, 1);
	/* MOVI invalidates: the next delivery misses once more, then hits again. */
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600e);
	uint64_t inval = atomic_load(&its->stats.invalidations);
	assert_true(inval > 0);
	arm_signal_irqfd_sync(a.vm, efd, 3);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 8200);
	assert_int_equal(atomic_load(&its->stats.cache_misses) - misses0, 2);
	assert_int_equal(fx_irqfd(a.vm, efd, 3, KVM_IRQFD_FLAG_DEASSIGN, 0), 0);
	close(efd);
	free(t.buf);
	arm_vm_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irqfd_to_lpi_uses_the_translation_cache),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
