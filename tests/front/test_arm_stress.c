/* SPDX-License-Identifier: MIT */
/*
 * test_arm_stress.c - irqfds on MSI routes to LPIs, signalled from several threads, and KVM_SIGNAL_MSI from
 * another, while the guest keeps remapping those LPIs with MOVI between two collections (two vCPUs). Every
 * injection must be accepted (KVM_SIGNAL_MSI returns 1: the mappings always exist), every LPI must reach a
 * handler, and nothing may crash or race: the stress suite runs this under ThreadSanitizer.
 *
 * The guest's MOVI loop: the whole 128-slot command queue is filled with MOVIs of device 0's events,
 * alternating between collections, and the guest then advances GITS_CWRITER one slot at a time forever,
 * so the ITS runs one MOVI per write (and invalidates its translation cache each time).
 */
#include "arm_fixture.h"

#define NDEV 4
#define NEV 8
#define NLPI (NDEV * NEV)
#define ROUNDS 2000

static uint32_t lpi_of(uint32_t dev, uint32_t event)
{
	return ARM_LPI_BASE + dev * NEV + event;
}

static char *movi_program(void)
{
	struct arm_text t = { 0 };

	arm_emit(&t, ARM_HANDLER_QUIET "main:\n");
	arm_emit_cpuif(&t);
	arm_emit_gic_setup(&t, 2, NLPI);
	for (unsigned d = 0; d < NDEV; d++)
		arm_cmd_mapd(&t, d, ARM_ITT(d), 5, true);
	arm_cmd_mapc(&t, 0, 0);
	arm_cmd_mapc(&t, 1, 1);
	for (unsigned d = 0; d < NDEV; d++)
		for (unsigned e = 0; e < NEV; e++)
			arm_cmd_mapti(&t, d, e, lpi_of(d, e), (uint16_t)((d + e) % 2));
	/* Pad with SYNCs to a full turn of the ring, then fill the ring with MOVIs (run once each as the
	 * fixture publishes every half queue): CREADR = CWRITER = 0 afterwards. */
	while (t.cmds % ARM_CMDQ_SLOTS)
		arm_emit_cmd(&t, 0x05, 0, 0, 0);
	for (unsigned i = 0; i < ARM_CMDQ_SLOTS; i++)
		arm_cmd_movi(&t, 0, (i / 2) % NEV, (uint16_t)(i % 2));
	arm_emit(&t, "    sti\n");
	arm_emit_report(&t, 0x600d);
	arm_emit(&t, "forever:\n    set r1, 32\n    set r3, %u\n", ARM_CMDQ_SLOTS - 1);
	arm_emit(&t, "step:\n    mmio_write 0x%llx, 8, r1\n    add r1, 32\n    loop r3, step\n",
		 (unsigned long long)(ARM_ITS + 0x88));
	arm_emit(&t, "    mmio_write 0x%llx, 8, 0\n    jmp forever\n", (unsigned long long)(ARM_ITS + 0x88));
	return t.buf;
}

struct signaller {
	const int *efds;
	unsigned nr;
	int vm;                 /* >= 0: KVM_SIGNAL_MSI instead of eventfds */
	_Atomic unsigned bad;   /* KVM_SIGNAL_MSI results other than 1 */
};

static void *signaller_main(void *arg)
{
	struct signaller *s = arg;
	uint64_t one = 1;

	for (unsigned r = 0; r < ROUNDS; r++) {
		for (unsigned i = 0; i < s->nr; i++) {
			if (s->vm >= 0) {
				if (arm_signal_msi(s->vm, i / NEV, i % NEV) != 1)
					atomic_fetch_add(&s->bad, 1);
			} else if (write(s->efds[i], &one, sizeof(one)) != sizeof(one)) {
				atomic_fetch_add(&s->bad, 1);
			}
		}
		usleep(200);
	}
	return NULL;
}

static void test_irqfds_to_lpis_while_the_guest_moves_them(void **state)
{
	(void)state;
	struct arm_vm a;
	struct arm_vcpu_thread vt[2] = { 0 };
	arm_vm_open(&a, 2, true, NULL);
	struct arm_text idle = { 0 };
	arm_emit(&idle, ARM_HANDLER_QUIET "main:\n");
	arm_emit_cpuif(&idle);
	arm_emit(&idle, "    sti\n");
	arm_emit_idle(&idle);
	char *p0 = movi_program();
	assert_int_equal(virq_guest_load(a.vcpu[0], p0), 0);
	assert_int_equal(virq_guest_load(a.vcpu[1], idle.buf), 0);
	assert_int_equal(fx_run_to_report(a.vcpu[0]), 0x600d);

	int efd[NLPI];
	struct kvm_irq_routing_entry routes[NLPI];
	for (unsigned i = 0; i < NLPI; i++) {
		efd[i] = fx_new_eventfd();
		routes[i] = arm_msi_entry(i, i / NEV, i % NEV);
	}
	assert_int_equal(fx_set_routing(a.vm, routes, NLPI), 0);
	for (unsigned i = 0; i < NLPI; i++)
		assert_int_equal(fx_irqfd(a.vm, efd[i], i, 0, 0), 0);

	arm_vcpu_start(&vt[0], a.vcpu[0]);
	arm_vcpu_start(&vt[1], a.vcpu[1]);
	struct signaller s[3] = {
		{ .efds = efd, .nr = NLPI / 2, .vm = -1 },
		{ .efds = efd + NLPI / 2, .nr = NLPI / 2, .vm = -1 },
		{ .nr = NLPI, .vm = a.vm },
	};
	pthread_t th[3];
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&th[i], NULL, signaller_main, &s[i]), 0);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(atomic_load(&s[i].bad), 0);

	/* Every LPI reached a handler, on one vCPU or the other (device 0's events moved between them). */
	for (unsigned i = 0; i < NLPI; i++) {
		uint32_t lpi = lpi_of(i / NEV, i % NEV);
		bool seen = false;
		for (int w = 0; w < 100000 && !seen; w++) {
			seen = arm_intid_handled(a.vcpu[0], lpi) + arm_intid_handled(a.vcpu[1], lpi) > 0;
			if (!seen)
				usleep(100);
		}
		assert_true(seen);
	}
	arm_vcpu_stop(&vt[0]);
	arm_vcpu_stop(&vt[1]);
	/* Device 1..3's events never moved: only their collection's vCPU took them. */
	for (unsigned d = 1; d < NDEV; d++)
		for (unsigned e = 0; e < NEV; e++)
			assert_int_equal(arm_intid_handled(a.vcpu[1 - (d + e) % 2], lpi_of(d, e)), 0);
	for (unsigned i = 0; i < NLPI; i++) {
		assert_int_equal(fx_irqfd(a.vm, efd[i], i, KVM_IRQFD_FLAG_DEASSIGN, 0), 0);
		close(efd[i]);
	}
	free(p0);
	free(idle.buf);
	arm_vm_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_irqfds_to_lpis_while_the_guest_moves_them),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
