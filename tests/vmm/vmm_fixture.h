/* SPDX-License-Identifier: MIT */
/*
 * vmm_fixture.h - what the reference VMM's tests share: boot a configuration or fail with the VMM's own
 * message, settle and take a report, find a report row, raise one cause and wait until it is serviced,
 * explain a source. Include after <cmocka.h>.
 */
#ifndef VIRQ_TESTS_VMM_FIXTURE_H
#define VIRQ_TESTS_VMM_FIXTURE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vmm.h"

#define SETTLE_NS 2000000000ull

/*
 * The NIC every VMM test starts from: @name at requester ID 00:03.0, 4 MSI-X vectors with table and PBA
 * in BAR 2 (PBA at 0x800), the NIC driver, vectors on vCPUs 0,1,0,1, delivered as @delivery.
 */
static inline void vmm_nic_config(struct virq_vmm_device_config *nic, const char *name,
				  enum virq_vmm_delivery delivery)
{
	memset(nic, 0, sizeof(*nic));
	strcpy(nic->name, name);
	nic->requester_id = 3 << 3;
	nic->msix_vectors = 4;
	nic->msix_table_bar = 2;
	nic->msix_pba_bar = 2;
	nic->msix_pba_offset = 0x800;
	nic->delivery = delivery;
	nic->driver = VIRQ_VMM_DRIVER_NIC;
	for (unsigned k = 0; k < 4; k++)
		nic->affinity[k] = k % 2;
}

/* virq_vmm_create + virq_vmm_start, with @on_event (NULL: none) observing from the start. */
static inline struct virq_vmm *vmm_boot(const struct virq_vmm_config *cfg, virq_vmm_event_fn *on_event)
{
	struct virq_vmm *vmm;
	char err[256] = "";
	int ret = virq_vmm_create(cfg, &vmm, err, sizeof(err));

	if (ret < 0)
		fail_msg("virq_vmm_create: %s", err);
	if (on_event)
		virq_vmm_set_event_handler(vmm, on_event, NULL);
	ret = virq_vmm_start(vmm);
	if (ret < 0)
		fail_msg("virq_vmm_start: %d (%s)", ret, virq_vmm_failure(vmm) ? virq_vmm_failure(vmm) : "-");
	return vmm;
}

static inline const struct virq_vmm_source_report *vmm_row(const struct virq_vmm_report *r, unsigned device,
							    unsigned source)
{
	for (unsigned i = 0; i < r->nsources; i++)
		if (r->sources[i].device == device && r->sources[i].source == source)
			return &r->sources[i];
	fail_msg("no row for device %u source %u", device, source);
	return NULL;
}

/* Settle (every raise delivered or held) and take a report, to free(). */
static inline struct virq_vmm_report *vmm_settled_report(struct virq_vmm *vmm)
{
	assert_int_equal(virq_vmm_settle(vmm, SETTLE_NS), 0);
	struct virq_vmm_report *r = virq_vmm_report(vmm);
	assert_non_null(r);
	return r;
}

/* Raise @cause of @device and wait until it is serviced (one at a time: nothing coalesces). */
static inline void vmm_raise_settled(struct virq_vmm *vmm, unsigned device, unsigned cause)
{
	assert_int_equal(virq_vmm_raise(vmm, device, cause), 0);
	assert_int_equal(virq_vmm_settle(vmm, SETTLE_NS), 0);
}

static inline struct virq_vmm_explanation vmm_explanation(struct virq_vmm *vmm, unsigned device, unsigned source)
{
	struct virq_vmm_explanation e;
	assert_int_equal(virq_vmm_explain(vmm, device, source, &e), 0);
	return e;
}

static inline void assert_contains(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("\"%s\" does not contain \"%s\"", text, part);
}

#endif /* VIRQ_TESTS_VMM_FIXTURE_H */
