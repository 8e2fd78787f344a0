/* SPDX-License-Identifier: MIT */
/*
 * test_load.c - loading scenarios that are right: the embedded default, an example file with every
 * device kind, a scripted file with steps, and an unreadable or broken file (errno and FILE:LINE).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "scenario/scenario.h"

static const char *data_path(const char *file)
{
	static char path[4096];
	const char *dir = getenv("VIRQ_SCENARIO_DATA");
	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/scenario/data", file);
	return path;
}

static struct virq_scenario *load_ok(const char *file)
{
	struct virq_scenario *sc = NULL;
	char err[512] = "";
	int r = virq_scenario_load_file(data_path(file), &sc, err, sizeof(err));
	if (r)
		fail_msg("%s", err);
	return sc;
}

static void test_default(void **state)
{
	struct virq_scenario *sc = NULL;
	char err[512];
	int r = virq_scenario_load_text(VIRQ_SCENARIO_DEFAULT_NAME, virq_scenario_default_text,
	                                strlen(virq_scenario_default_text), &sc, err, sizeof(err));
	if (r)
		fail_msg("%s", err);
	assert_string_equal(sc->name, "nic-and-legacy");
	assert_string_equal(sc->path, "<default>");
	assert_string_equal(sc->arch, "x86_64");
	assert_int_equal(sc->vmm.vcpus, 2);
	assert_int_equal(sc->vmm.halt_poll_ns, 0);
	assert_int_equal(sc->run_ns, 3000000000ull);
	assert_int_equal(sc->settle_timeout_ns, VIRQ_SCENARIO_DEFAULT_SETTLE_NS);
	assert_int_equal(sc->vmm.ndevices, 2);

	const struct virq_vmm_device_config *nic = &sc->vmm.devices[0], *legacy = &sc->vmm.devices[1];
	assert_string_equal(nic->name, "nic0");
	assert_int_equal(nic->requester_id, 0x18);
	assert_int_equal(nic->msix_vectors, 4);
	assert_int_equal(nic->msix_table_bar, 2);
	assert_int_equal(nic->msix_table_offset, 0);
	assert_int_equal(nic->msix_pba_bar, 2);
	assert_int_equal(nic->msix_pba_offset, 0x800);
	assert_int_equal(nic->intx_pin, 0);
	assert_int_equal(nic->delivery, VIRQ_VMM_DELIVERY_IRQFD);
	assert_int_equal(nic->driver, VIRQ_VMM_DRIVER_NIC);
	for (unsigned v = 0; v < 4; v++)
		assert_int_equal(nic->affinity[v], v % 2);
	assert_int_equal(nic->handler_ns, 2000);
	assert_int_equal(nic->retarget_ns, 500000000ull);
	assert_false(nic->start_masked);
	assert_int_equal(nic->traffic.pattern, VIRQ_TRAFFIC_POISSON);
	assert_int_equal(nic->traffic.rate, 20000);
	assert_int_equal(nic->traffic.causes_mask, 0);

	assert_string_equal(legacy->name, "legacy0");
	assert_int_equal(legacy->requester_id, 0x20);
	assert_int_equal(legacy->msix_vectors, 0);
	assert_int_equal(legacy->intx_pin, 1);
	assert_int_equal(legacy->delivery, VIRQ_VMM_DELIVERY_RESAMPLE);
	assert_int_equal(legacy->driver, VIRQ_VMM_DRIVER_INTX);
	assert_int_equal(legacy->affinity[0], 0);
	assert_int_equal(legacy->handler_ns, 5000);
	assert_int_equal(legacy->retarget_ns, 0);
	assert_int_equal(legacy->traffic.pattern, VIRQ_TRAFFIC_FIXED);
	assert_int_equal(legacy->traffic.rate, 2000);

	assert_int_equal(sc->nsteps, 0);
	assert_int_equal(sc->vmm.nactions, 0);
	assert_int_equal(sc->nexpects, 2);
	assert_string_equal(sc->expects[0].text, "lost == 0");
	assert_int_equal(sc->expects[0].field, VIRQ_SCENARIO_FIELD_LOST);
	assert_int_equal(sc->expects[0].cmp, VIRQ_SCENARIO_CMP_EQ);
	assert_string_equal(sc->expects[1].text, "balanced");
	assert_int_equal(sc->expects[1].field, VIRQ_SCENARIO_FIELD_BALANCED);
	assert_true(sc->expects[0].line > 1 && sc->expects[1].line == sc->expects[0].line + 1);
	virq_scenario_free(sc);
}

static void test_example_file(void **state)
{
	struct virq_scenario *sc = load_ok("nic-and-legacy.yaml");
	assert_non_null(sc);
	assert_string_equal(sc->path, data_path("nic-and-legacy.yaml"));
	assert_int_equal(sc->settle_timeout_ns, 500000000ull);
	assert_int_equal(sc->vmm.ndevices, 3);

	const struct virq_vmm_device_config *nic = &sc->vmm.devices[0], *legacy = &sc->vmm.devices[1],
	                                     *quiet = &sc->vmm.devices[2];
	assert_int_equal(nic->traffic.seed, 7);
	assert_int_equal(nic->traffic.causes_mask, 0x5); /* vectors [0, 2] */
	assert_int_equal(legacy->driver, VIRQ_VMM_DRIVER_INTX_NO_ACK);

	/* No traffic: pattern none, rate 0 (the VMM starts no thread). Default driver from the device kind. */
	assert_int_equal(quiet->requester_id, 0x1ff);
	assert_int_equal(quiet->delivery, VIRQ_VMM_DELIVERY_USERSPACE);
	assert_int_equal(quiet->driver, VIRQ_VMM_DRIVER_NIC);
	assert_int_equal(quiet->msix_table_bar, 4);
	assert_int_equal(quiet->msix_table_offset, 0x1000);
	assert_int_equal(quiet->msix_pba_bar, 5);
	assert_int_equal(quiet->msix_pba_offset, 0);
	assert_int_equal(quiet->traffic.rate, 0);
	assert_int_not_equal(quiet->traffic.pattern, VIRQ_TRAFFIC_STORM);
	assert_true(quiet->start_masked);
	assert_int_equal(quiet->affinity[0], 1);
	assert_int_equal(quiet->affinity[1], 1); /* default: vector i on vCPU i % vcpus */
	assert_int_equal(quiet->handler_ns, 1000);

	assert_int_equal(sc->nexpects, 3);
	assert_int_equal(sc->expects[1].line, 29);
	assert_int_equal(sc->expects[1].scope, VIRQ_SCENARIO_SCOPE_DEVICE);
	assert_int_equal(sc->expects[1].device, 1);
	assert_int_equal(sc->expects[1].field, VIRQ_SCENARIO_FIELD_P99);
	assert_int_equal(sc->expects[1].cmp, VIRQ_SCENARIO_CMP_LT);
	assert_int_equal(sc->expects[1].value, 5000000);
	assert_int_equal(sc->expects[2].scope, VIRQ_SCENARIO_SCOPE_SOURCE);
	assert_int_equal(sc->expects[2].source, 2);
	assert_int_equal(sc->expects[2].value, 10000);
	virq_scenario_free(sc);
}

static void test_steps_file(void **state)
{
	struct virq_scenario *sc = load_ok("steps.yaml");
	assert_non_null(sc);
	assert_int_equal(sc->run_ns, 0);
	assert_int_equal(sc->nsteps, 9);
	static const struct { enum virq_scenario_step_kind kind; unsigned line; } want[] = {
		{ VIRQ_SCENARIO_STEP_RAISE, 9 },  { VIRQ_SCENARIO_STEP_EXPECT, 10 }, { VIRQ_SCENARIO_STEP_GUEST, 11 },
		{ VIRQ_SCENARIO_STEP_RAISE, 13 }, { VIRQ_SCENARIO_STEP_EXPECT, 14 }, { VIRQ_SCENARIO_STEP_GUEST, 15 },
		{ VIRQ_SCENARIO_STEP_WAIT, 16 },  { VIRQ_SCENARIO_STEP_EXPECT, 17 }, { VIRQ_SCENARIO_STEP_GUEST, 20 },
	};
	for (unsigned i = 0; i < 9; i++) {
		assert_int_equal(sc->steps[i].kind, want[i].kind);
		assert_int_equal(sc->steps[i].line, want[i].line);
	}
	assert_int_equal(sc->steps[0].raise.device, 0);
	assert_int_equal(sc->steps[0].raise.cause, 2);
	assert_int_equal(sc->steps[1].expect.n, 1);
	assert_int_equal(sc->steps[1].expect.v[0].line, 10);
	assert_int_equal(sc->steps[4].expect.n, 2);
	assert_string_equal(sc->steps[4].expect.v[0].text, "nic0.vector[2].pending");
	assert_int_equal(sc->steps[4].expect.v[0].cmp, VIRQ_SCENARIO_CMP_NONZERO);
	assert_int_equal(sc->steps[6].wait.ns, 10000000);
	assert_int_equal(sc->steps[7].expect.n, 2);
	assert_true(sc->steps[7].expect.v[0].negate);
	assert_int_equal(sc->steps[7].expect.v[0].line, 18);
	assert_int_equal(sc->steps[7].expect.v[1].line, 19);

	/* Guest steps compile to the config's actions, in order. */
	assert_int_equal(sc->vmm.nactions, 3);
	assert_int_equal(sc->steps[2].guest.action, 0);
	assert_int_equal(sc->steps[5].guest.action, 1);
	assert_int_equal(sc->steps[8].guest.action, 2);
	assert_int_equal(sc->vmm.actions[0].kind, VIRQ_VMM_ACTION_MASK);
	assert_int_equal(sc->vmm.actions[0].vector, 2);
	assert_int_equal(sc->vmm.actions[1].kind, VIRQ_VMM_ACTION_UNMASK);
	assert_int_equal(sc->vmm.actions[2].kind, VIRQ_VMM_ACTION_RETARGET);
	assert_int_equal(sc->vmm.actions[2].device, 0);
	assert_int_equal(sc->vmm.actions[2].vector, 2);
	assert_int_equal(sc->vmm.actions[2].vcpu, 1);
	assert_int_equal(sc->nexpects, 1);
	virq_scenario_free(sc);
}

static void test_missing_file(void **state)
{
	struct virq_scenario *sc = NULL;
	char err[512];
	assert_int_equal(virq_scenario_load_file(data_path("no-such-file.yaml"), &sc, err, sizeof(err)), -ENOENT);
	assert_null(sc);
	char want[4200];
	snprintf(want, sizeof(want), "%s: cannot open: No such file or directory", data_path("no-such-file.yaml"));
	assert_string_equal(err, want);
}

static void test_broken_file(void **state)
{
	struct virq_scenario *sc = NULL;
	char err[512], want[4200];
	assert_int_equal(virq_scenario_load_file(data_path("bad-syntax.yaml"), &sc, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:4:2: YAML syntax error: did not find expected key (while parsing a block "
	         "mapping that starts at line 1)", data_path("bad-syntax.yaml"));
	assert_string_equal(err, want);
}

/* Text need not be NUL-terminated: only @len bytes are read. */
static void test_text_length(void **state)
{
	struct virq_scenario *sc = NULL;
	char err[512];
	size_t len = strlen(virq_scenario_default_text);
	char *copy = malloc(len + 16);
	memcpy(copy, virq_scenario_default_text, len);
	memcpy(copy + len, "\ngarbage: [", 11);
	assert_int_equal(virq_scenario_load_text("x", copy, len, &sc, err, sizeof(err)), 0);
	virq_scenario_free(sc);
	free(copy);
	virq_scenario_free(NULL);
}

/* arch: arm64 loads into an arm64 VMM configuration; the default stays x86_64. */
static void test_arm64(void **state)
{
	static const char text[] = "name: a\nvm: { arch: arm64, vcpus: 2 }\n"
	                           "devices: [ { name: nic0, pci: 00:03.0, msix: { vectors: 8 } } ]\n"
	                           "guest: [ { device: nic0, retarget: every 10ms } ]\nrun: 1s\nexpect: lost == 0\n";
	struct virq_scenario *sc = NULL;
	char err[512] = "";
	if (virq_scenario_load_text("a.yaml", text, strlen(text), &sc, err, sizeof(err)))
		fail_msg("%s", err);
	assert_string_equal(sc->arch, "arm64");
	assert_int_equal(sc->vmm.arch, VIRQ_VMM_ARCH_ARM64);
	assert_int_equal(sc->vmm.devices[0].requester_id, 0x18); /* its DeviceID on the ITS */
	assert_int_equal(sc->vmm.devices[0].retarget_ns, 10000000ull);
	virq_scenario_free(sc);
	sc = load_ok("steps.yaml"); /* no arch key */
	assert_int_equal(sc->vmm.arch, VIRQ_VMM_ARCH_X86_64);
	virq_scenario_free(sc);
}

/*
 * delivery posted and remapped load as MSI-X deliveries of an x86 VM (the VMM puts them behind its IOMMU),
 * and the whole-report fields posted and remapped, which count that IOMMU's messages, are accepted then.
 */
static void test_posted_and_remapped(void **state)
{
	static const char text[] = "name: p\nvm: { vcpus: 2 }\n"
	                           "devices:\n"
	                           "  - { name: nic0, pci: 00:03.0, msix: { vectors: 16 }, delivery: posted }\n"
	                           "  - { name: nic1, pci: 00:04.0, msix: { vectors: 2 }, delivery: remapped }\n"
	                           "run: 1s\nexpect: [ posted > 0, remapped > 0, \"not nic1.vector[1].pending\" ]\n";
	struct virq_scenario *sc = NULL;
	char err[512] = "";
	(void)state;
	if (virq_scenario_load_text("p.yaml", text, strlen(text), &sc, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(sc->vmm.arch, VIRQ_VMM_ARCH_X86_64);
	assert_int_equal(sc->vmm.devices[0].delivery, VIRQ_VMM_DELIVERY_POSTED);
	assert_int_equal(sc->vmm.devices[0].driver, VIRQ_VMM_DRIVER_NIC);
	assert_int_equal(sc->vmm.devices[1].delivery, VIRQ_VMM_DELIVERY_REMAPPED);
	assert_string_equal(virq_vmm_delivery_name(sc->vmm.devices[0].delivery), "posted");
	assert_string_equal(virq_vmm_delivery_name(sc->vmm.devices[1].delivery), "remapped");
	assert_int_equal(sc->nexpects, 3);
	assert_int_equal(sc->expects[0].field, VIRQ_SCENARIO_FIELD_POSTED);
	assert_int_equal(sc->expects[0].scope, VIRQ_SCENARIO_SCOPE_ALL);
	assert_int_equal(sc->expects[1].field, VIRQ_SCENARIO_FIELD_REMAPPED);
	virq_scenario_free(sc);
}

/*
 * delivery forwarded loads as an INTx delivery of an arm64 VM: the intx driver by default, one cause, and
 * the whole-report fields direct_completions and vfio_unmasks, which count the forwarded lines, accepted.
 */
static void test_forwarded(void **state)
{
	static const char text[] = "name: f\nvm: { arch: arm64, vcpus: 2 }\n"
	                           "devices:\n"
	                           "  - { name: legacy0, pci: 00:04.0, intx: { pin: A }, delivery: forwarded,\n"
	                           "      traffic: { pattern: fixed, rate: 1k/s, vectors: [0] } }\n"
	                           "  - { name: legacy1, pci: 00:05.0, intx: { pin: B }, delivery: forwarded }\n"
	                           "guest:\n  - { device: legacy1, driver: intx-no-ack, affinity: [1] }\n"
	                           "steps:\n  - raise: legacy0.intx\n"
	                           "run: 1s\nexpect: [ direct_completions > 0, vfio_unmasks == 0, legacy0.intx.delivered ]\n";
	struct virq_scenario *sc = NULL;
	char err[512] = "";
	(void)state;
	if (virq_scenario_load_text("f.yaml", text, strlen(text), &sc, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(sc->vmm.arch, VIRQ_VMM_ARCH_ARM64);
	assert_int_equal(sc->vmm.devices[0].delivery, VIRQ_VMM_DELIVERY_FORWARDED);
	assert_int_equal(sc->vmm.devices[0].driver, VIRQ_VMM_DRIVER_INTX);
	assert_int_equal(sc->vmm.devices[0].intx_pin, 1);
	assert_int_equal(sc->vmm.devices[1].driver, VIRQ_VMM_DRIVER_INTX_NO_ACK);
	assert_int_equal(sc->vmm.devices[1].affinity[0], 1);
	assert_true(virq_vmm_delivery_intx(sc->vmm.devices[0].delivery));
	assert_false(virq_vmm_delivery_intx(VIRQ_VMM_DELIVERY_POSTED));
	assert_string_equal(virq_vmm_delivery_name(sc->vmm.devices[0].delivery), "forwarded");
	assert_int_equal(sc->nexpects, 3);
	assert_int_equal(sc->expects[0].field, VIRQ_SCENARIO_FIELD_DIRECT_COMPLETIONS);
	assert_int_equal(sc->expects[0].scope, VIRQ_SCENARIO_SCOPE_ALL);
	assert_int_equal(sc->expects[1].field, VIRQ_SCENARIO_FIELD_VFIO_UNMASKS);
	assert_int_equal(sc->expects[2].scope, VIRQ_SCENARIO_SCOPE_SOURCE);
	virq_scenario_free(sc);
}

/*
 * vm.gic: v3 (the default, also when written) or v4 on arm64, which sets gic_v4 (the VMM enables
 * KVM_CAP_VIRQ_ARM_DIRECT_LPI); the whole-report field direct, which counts direct injections, accepted
 * with v4 and an irqfd MSI-X device.
 */
static void test_gic(void **state)
{
	static const char v4[] = "name: g\nvm: { arch: arm64, vcpus: 2, gic: v4 }\n"
	                         "devices:\n  - { name: nic0, pci: 00:03.0, msix: { vectors: 8 },\n"
	                         "      traffic: { pattern: fixed, rate: 1k/s } }\n"
	                         "guest:\n  - { device: nic0, retarget: every 50ms }\n"
	                         "run: 1s\nexpect: [ direct >= 100, lost == 0 ]\n";
	static const char v3[] = "name: g\nvm:\n  arch: arm64\n  gic: v3\n"
	                         "devices: [ { name: nic0, pci: 00:03.0, msix: { vectors: 1 } } ]\nrun: 1s\n";
	static const char none[] = "name: g\nvm: { arch: arm64 }\n"
	                           "devices: [ { name: nic0, pci: 00:03.0, msix: { vectors: 1 } } ]\nrun: 1s\n";
	struct virq_scenario *sc = NULL;
	char err[512] = "";
	(void)state;
	if (virq_scenario_load_text("g.yaml", v4, strlen(v4), &sc, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(sc->vmm.arch, VIRQ_VMM_ARCH_ARM64);
	assert_true(sc->vmm.gic_v4);
	assert_int_equal(sc->vmm.devices[0].delivery, VIRQ_VMM_DELIVERY_IRQFD);
	assert_int_equal(sc->nexpects, 2);
	assert_int_equal(sc->expects[0].field, VIRQ_SCENARIO_FIELD_DIRECT);
	assert_int_equal(sc->expects[0].scope, VIRQ_SCENARIO_SCOPE_ALL);
	assert_int_equal(sc->expects[0].cmp, VIRQ_SCENARIO_CMP_GE);
	assert_int_equal(sc->expects[0].value, 100);
	virq_scenario_free(sc);
	if (virq_scenario_load_text("g.yaml", v3, strlen(v3), &sc, err, sizeof(err)))
		fail_msg("%s", err);
	assert_int_equal(sc->vmm.arch, VIRQ_VMM_ARCH_ARM64);
	assert_false(sc->vmm.gic_v4);
	virq_scenario_free(sc);
	if (virq_scenario_load_text("g.yaml", none, strlen(none), &sc, err, sizeof(err)))
		fail_msg("%s", err);
	assert_false(sc->vmm.gic_v4);
	virq_scenario_free(sc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default),      cmocka_unit_test(test_example_file), cmocka_unit_test(test_steps_file),
		cmocka_unit_test(test_missing_file), cmocka_unit_test(test_broken_file),  cmocka_unit_test(test_text_length),
		cmocka_unit_test(test_arm64),        cmocka_unit_test(test_posted_and_remapped),
		cmocka_unit_test(test_forwarded),    cmocka_unit_test(test_gic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
