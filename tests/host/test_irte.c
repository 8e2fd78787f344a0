/* SPDX-License-Identifier: MIT */
/*
 * test_irte.c - the IOMMU's interrupt remapping: every IRTE field of both formats at its bit position,
 * remappable MSI-X messages from an attached function, remapped delivery through VFIO (balanced as
 * without an IOMMU), source-id validation (SVT/SQ/SID, another function's entry), each fault reason
 * with FPD, posted delivery into a descriptor (PIR/ON, the notification only when ON was clear and SN
 * clear or URG), and a storm of posted raises against a folding thread (stress).
 */
#include "host_test.h"
#include "host/pci_function.h"

#include "bypass/notify.h"
#include "bypass/posted_desc.h"

#include <linux/pci_regs.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* ---- IRTE encoding ---- */

/* decode(encode(f)) == f, field by field (padding is not compared). */
static void same_fields(const struct virq_irte_fields *a, const struct virq_irte_fields *b)
{
	assert_int_equal(a->present, b->present);
	assert_int_equal(a->fpd, b->fpd);
	assert_int_equal(a->avail, b->avail);
	assert_int_equal(a->posted, b->posted);
	assert_int_equal(a->vector, b->vector);
	assert_int_equal(a->dest_logical, b->dest_logical);
	assert_int_equal(a->redir_hint, b->redir_hint);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->delivery_mode, b->delivery_mode);
	assert_int_equal(a->dest_id, b->dest_id);
	assert_int_equal(a->urgent, b->urgent);
	assert_int_equal(a->pda, b->pda);
	assert_int_equal(a->sid, b->sid);
	assert_int_equal(a->sq, b->sq);
	assert_int_equal(a->svt, b->svt);
}

static struct virq_irte enc(const struct virq_irte_fields *f)
{
	struct virq_irte e;
	assert_int_equal(virq_irte_encode(f, &e), 0);
	struct virq_irte_fields back;
	virq_irte_decode(&e, &back);
	same_fields(&back, f);
	return e;
}

static void expect_bits(struct virq_irte_fields f, uint64_t lo, uint64_t hi)
{
	struct virq_irte e = enc(&f);
	assert_int_equal(e.lo, lo);
	assert_int_equal(e.hi, hi);
}

static void test_remapped_fields(void **state)
{
	(void)state;
	expect_bits((struct virq_irte_fields){.present = true}, 1ull << 0, 0);
	expect_bits((struct virq_irte_fields){.fpd = true}, 1ull << 1, 0);
	expect_bits((struct virq_irte_fields){.dest_logical = true}, 1ull << 2, 0);
	expect_bits((struct virq_irte_fields){.redir_hint = true}, 1ull << 3, 0);
	expect_bits((struct virq_irte_fields){.level = true}, 1ull << 4, 0);
	expect_bits((struct virq_irte_fields){.delivery_mode = 7}, 7ull << 5, 0);
	expect_bits((struct virq_irte_fields){.delivery_mode = 1}, 1ull << 5, 0);
	expect_bits((struct virq_irte_fields){.avail = 0xa}, 0xaull << 8, 0);
	expect_bits((struct virq_irte_fields){.vector = 0xec}, 0xecull << 16, 0);
	expect_bits((struct virq_irte_fields){.dest_id = 0x89abcdef}, 0x89abcdefull << 32, 0);
	expect_bits((struct virq_irte_fields){.sid = 0xbeef}, 0, 0xbeef);
	expect_bits((struct virq_irte_fields){.sq = 3}, 0, 3ull << 16);
	expect_bits((struct virq_irte_fields){.svt = 2}, 0, 2ull << 18);

	struct virq_irte e;
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.avail = 16}, &e), -EINVAL);
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.sq = 4}, &e), -EINVAL);
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.svt = 4}, &e), -EINVAL);
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.delivery_mode = 8}, &e), -EINVAL);
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.urgent = true}, &e), -EINVAL);
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.pda = 64}, &e), -EINVAL);
}

static void test_posted_fields(void **state)
{
	(void)state;
	const uint64_t im = 1ull << 15;
	expect_bits((struct virq_irte_fields){.posted = true}, im, 0);
	expect_bits((struct virq_irte_fields){.posted = true, .urgent = true}, im | 1ull << 14, 0);
	expect_bits((struct virq_irte_fields){.posted = true, .vector = 0x45}, im | 0x45ull << 16, 0);
	/* Address bits 31:6 in IRTE bits 63:38, bits 63:32 in IRTE bits 127:96. */
	expect_bits((struct virq_irte_fields){.posted = true, .pda = 0x00007f12345678c0ull},
		    im | (0x345678c0ull >> 6) << 38, 0x00007f12ull << 32);
	expect_bits((struct virq_irte_fields){.posted = true, .pda = 0xffffffffffffffc0ull},
		    im | 0x3ffffffull << 38, 0xffffffffull << 32);
	expect_bits((struct virq_irte_fields){.posted = true, .present = true, .fpd = true, .avail = 5, .sid = 0x0100,
					      .sq = 1, .svt = 1},
		    im | 3 | 5ull << 8, 0x0100 | 1ull << 16 | 1ull << 18);

	struct virq_irte e;
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.posted = true, .pda = 0x1020}, &e), -EINVAL);
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.posted = true, .dest_id = 1}, &e), -EINVAL);
	assert_int_equal(virq_irte_encode(&(struct virq_irte_fields){.posted = true, .level = true}, &e), -EINVAL);
}

/* ---- fixtures ---- */

struct rig {
	struct virq_iommu *iommu;
	struct virq_pci_function *fn;
	int dev;
	int efd[8];
};

static void rig_up(struct rig *r, struct virq_iommu *iommu, uint16_t rid, unsigned vectors)
{
	struct virq_pci_function_desc d = host_test_desc();
	d.requester_id = rid;
	r->iommu = iommu;
	r->fn = host_test_fn(&d);
	assert_int_equal(virq_iommu_attach(iommu, r->fn), 0);
	r->dev = virq_vfio_device_open(r->fn);
	assert_true(r->dev >= 0);
	int32_t fds[8];
	for (unsigned i = 0; i < 8; i++)
		fds[i] = r->efd[i] = host_efd();
	assert_int_equal(host_set_eventfds(r->dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, vectors, fds), 0);
}

static void rig_down(struct rig *r)
{
	assert_int_equal(virq_close(r->dev), 0);
	for (unsigned i = 0; i < 8; i++)
		close(r->efd[i]);
	assert_int_equal(virq_pci_function_destroy(r->fn), 0); /* detaches */
}

/* Raise cause @k (= vector k) and let the driver ack it. */
static void raise_ack(struct rig *r, unsigned k)
{
	assert_int_equal(virq_pci_function_raise(r->fn, k), 0);
	host_wr(r->dev, BAR(0, VIRQ_PCI_REG_ACK), 8, 1ull << k);
}

static struct virq_iommu_faults faults(struct virq_iommu *iommu)
{
	struct virq_iommu_faults f;
	assert_int_equal(virq_iommu_faults(iommu, &f), 0);
	return f;
}

static struct virq_iommu_stats istats(struct virq_iommu *iommu)
{
	struct virq_iommu_stats s;
	assert_int_equal(virq_iommu_stats(iommu, &s), 0);
	return s;
}

static uint64_t fault_count(struct virq_iommu *iommu, enum virq_iommu_fault_reason reason)
{
	return faults(iommu).count[reason - VIRQ_IOMMU_FAULT_FIRST];
}

static void put_irte(struct rig *r, unsigned index, struct virq_irte_fields f)
{
	struct virq_irte e;
	assert_int_equal(virq_irte_encode(&f, &e), 0);
	assert_int_equal(virq_iommu_irte_write(r->iommu, index, &e), 0);
}

static unsigned vindex(struct rig *r, unsigned v)
{
	int i = virq_iommu_vector_index(r->fn, v);
	assert_true(i >= 0);
	return (unsigned)i;
}

/* ---- attach, remappable messages, remapped delivery ---- */

static void test_attach_rules(void **state)
{
	(void)state;
	struct virq_iommu *iommu, *small;
	struct virq_pci_function_desc d = host_test_desc();

	assert_int_equal(virq_iommu_create(3, &iommu), -EINVAL);
	assert_int_equal(virq_iommu_create(1, &iommu), -EINVAL);
	assert_int_equal(virq_iommu_create(131072, &iommu), -EINVAL);
	assert_int_equal(virq_iommu_create(64, &iommu), 0);
	assert_int_equal(virq_iommu_create(8, &small), 0);
	struct virq_pci_function *a = host_test_fn(&d), *b = host_test_fn(&d);
	assert_int_equal(virq_iommu_vector_index(a, 0), -EINVAL);
	assert_int_equal(virq_iommu_detach(a), -EINVAL);
	int dev = virq_vfio_device_open(a);
	assert_int_equal(virq_iommu_attach(iommu, a), -EBUSY); /* VFIO is open */
	virq_close(dev);
	assert_int_equal(virq_iommu_attach(iommu, a), 0);
	assert_int_equal(virq_iommu_attach(iommu, a), -EBUSY);
	assert_int_equal(virq_iommu_attach(small, b), 0);
	struct virq_pci_function *c = host_test_fn(&d);
	assert_int_equal(virq_iommu_attach(small, c), -ENOSPC); /* 8 entries, 8 taken */
	assert_int_equal(virq_iommu_destroy(small), -EBUSY);
	assert_int_equal(virq_iommu_detach(b), 0);
	assert_int_equal(virq_iommu_attach(small, c), 0);
	assert_int_equal(virq_iommu_vector_index(c, 7), 7);
	assert_int_equal(virq_iommu_vector_index(c, 8), -EINVAL);
	assert_int_equal(virq_iommu_vector_index(a, 3), 3);
	virq_pci_function_destroy(c);
	virq_pci_function_destroy(b);
	virq_pci_function_destroy(a);
	assert_int_equal(virq_iommu_destroy(small), 0);
	assert_int_equal(virq_iommu_destroy(iommu), 0);
}

static void test_remapped_delivery(void **state)
{
	(void)state;
	struct virq_iommu *iommu;
	struct virq_pci_function_desc d = host_test_desc();
	struct rig r;

	assert_int_equal(virq_iommu_create(256, &iommu), 0);
	/* Another function first, so this one's block does not start at 0. */
	struct virq_pci_function *other = host_test_fn(&d);
	assert_int_equal(virq_iommu_attach(iommu, other), 0);
	rig_up(&r, iommu, 0x0308, 6); /* vectors 6 and 7 stay disabled */

	for (unsigned v = 0; v < 6; v++) {
		unsigned index = vindex(&r, v);
		assert_int_equal(index, 8 + v);
		/* The physical entry holds a remappable message: handle = index, SHV, sub-handle 0. */
		uint32_t e[4];
		assert_int_equal(virq_msix_entry_read(r.fn, v, e), 0);
		assert_int_equal(e[0], 0xfee00000u | index << 5 | 1u << 4 | 1u << 3);
		assert_int_equal(e[2], 0);
		/* Its IRTE: present, remapped, fixed/physical/edge, SVT 1 on the requester ID. */
		struct virq_irte irte;
		struct virq_irte_fields f;
		assert_int_equal(virq_iommu_irte_read(iommu, index, &irte), 0);
		virq_irte_decode(&irte, &f);
		assert_true(f.present);
		assert_false(f.posted);
		assert_int_equal(f.delivery_mode, 0);
		assert_int_equal(f.svt, 1);
		assert_int_equal(f.sq, 0);
		assert_int_equal(f.sid, 0x0308);
	}
	for (unsigned k = 0; k < 8; k++)
		raise_ack(&r, k);
	for (unsigned k = 0; k < 6; k++)
		assert_int_equal(host_efd_take(r.efd[k]), 1);
	assert_int_equal(istats(iommu).remapped, 6);
	/* Held messages of vectors 6, 7 go through the IOMMU when VFIO enables them (6.1 vector count:
	 * re-enable MSI-X with all 8). */
	assert_int_equal(host_stats(r.fn, 6).held, 1);
	assert_int_equal(host_disable_index(r.dev, VFIO_PCI_MSIX_IRQ_INDEX), 0);
	int32_t fds[8];
	for (unsigned i = 0; i < 8; i++)
		fds[i] = r.efd[i];
	assert_int_equal(host_set_eventfds(r.dev, VFIO_PCI_MSIX_IRQ_INDEX, 0, 8, fds), 0);
	assert_int_equal(host_efd_take(r.efd[6]), 1);
	assert_int_equal(host_efd_take(r.efd[7]), 1);
	assert_int_equal(istats(iommu).remapped, 8);
	for (unsigned k = 0; k < 8; k++) {
		struct virq_pci_cause_stats st = host_stats(r.fn, k);
		assert_int_equal(st.raised, st.coalesced + st.messages + st.held + st.discarded);
		assert_int_equal(st.messages, 1);
	}
	assert_int_equal(faults(iommu).recorded, 0);
	rig_down(&r);
	virq_pci_function_destroy(other);
	assert_int_equal(virq_iommu_destroy(iommu), 0);
}

/* ---- source-id validation and faults ---- */

static void test_source_id(void **state)
{
	(void)state;
	struct virq_iommu *iommu;
	struct rig a, b;

	assert_int_equal(virq_iommu_create(64, &iommu), 0);
	rig_up(&a, iommu, 0x0100, 8);
	rig_up(&b, iommu, 0x0215, 8); /* bus 2, device 2, function 5 */

	/* B's vector 0 rewritten to A's entry 3: a function using another's entry is a SID fault. */
	uint32_t e[4], saved[4];
	assert_int_equal(virq_msix_entry_read(b.fn, 0, saved), 0);
	memcpy(e, saved, sizeof(e));
	e[0] = 0xfee00000u | vindex(&a, 3) << 5 | 1u << 4 | 1u << 3;
	assert_int_equal(virq_msix_entry_write(b.fn, 0, e), 0);
	raise_ack(&b, 0);
	struct virq_iommu_faults f = faults(iommu);
	assert_int_equal(f.count[VIRQ_IOMMU_FAULT_SID - VIRQ_IOMMU_FAULT_FIRST], 1);
	assert_int_equal(f.last_reason, VIRQ_IOMMU_FAULT_SID);
	assert_int_equal(f.last_sid, 0x0215);
	assert_int_equal(f.last_index, vindex(&a, 3));
	assert_int_equal(host_efd_take(a.efd[3]) + host_efd_take(b.efd[0]), 0); /* dropped */
	assert_int_equal(istats(iommu).dropped, 1);
	/* With SVT 0 on A's entry the check is off: the message is A's host IRQ, not B's to handle. */
	struct virq_irte_fields af = {.present = true, .vector = 0x40, .sid = 0x0100, .svt = 0};
	put_irte(&a, vindex(&a, 3), af);
	raise_ack(&b, 0);
	assert_int_equal(istats(iommu).unclaimed, 1);
	assert_int_equal(host_efd_take(b.efd[0]), 0);
	assert_int_equal(virq_msix_entry_write(b.fn, 0, saved), 0);

	/* SQ masks function bits of the requester ID (0x0215: function 5 = 0b101). */
	struct {
		uint16_t sid;
		uint8_t sq, svt;
		bool ok;
	} cases[] = {
		{0x0215, 0, 1, true},  {0x0211, 0, 1, false}, {0x0211, 1, 1, true},  {0x0213, 1, 1, false},
		{0x0213, 2, 1, true},  {0x0212, 2, 1, false}, {0x0212, 3, 1, true},  {0x021a, 3, 1, false},
		{0x0102, 0, 2, true},  {0x0202, 0, 2, true},  {0x0304, 0, 2, false}, {0x0101, 3, 2, false},
		{0xffff, 0, 0, true},
	};
	unsigned idx = vindex(&b, 1);
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_irte(&b, idx, (struct virq_irte_fields){.present = true, .vector = 0x41, .sid = cases[i].sid,
							      .sq = cases[i].sq, .svt = cases[i].svt});
		uint64_t before = fault_count(iommu, VIRQ_IOMMU_FAULT_SID);
		raise_ack(&b, 1);
		assert_int_equal(host_efd_take(b.efd[1]), cases[i].ok ? 1 : 0);
		assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_SID) - before, cases[i].ok ? 0 : 1);
	}
	/* A SID fault is qualified (found in a present entry): that entry's FPD suppresses it, and drops. */
	put_irte(&b, idx, (struct virq_irte_fields){.present = true, .fpd = true, .sid = 0x0300, .svt = 1});
	uint64_t before = fault_count(iommu, VIRQ_IOMMU_FAULT_SID);
	struct virq_iommu_faults f0 = faults(iommu);
	raise_ack(&b, 1);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_SID) - before, 0);
	assert_int_equal(faults(iommu).suppressed - f0.suppressed, 1);
	assert_int_equal(host_efd_take(b.efd[1]), 0);
	/* SVT 3 is reserved. */
	struct virq_irte raw = {.lo = 1, .hi = 3ull << 18};
	assert_int_equal(virq_iommu_irte_write(iommu, idx, &raw), 0);
	raise_ack(&b, 1);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_IRTE_RESERVED), 1);
	rig_down(&b);
	rig_down(&a);
	assert_int_equal(virq_iommu_destroy(iommu), 0);
}

static void test_faults(void **state)
{
	(void)state;
	struct virq_iommu *iommu;
	struct rig r;
	uint32_t e[4], saved[4];

	assert_int_equal(virq_iommu_create(16, &iommu), 0);
	rig_up(&r, iommu, 0x0100, 8);
	unsigned idx = vindex(&r, 2);

	/* Not present: recorded; with FPD, suppressed (still dropped). */
	struct virq_irte raw = {.lo = 0, .hi = 0x0100 | 1ull << 18};
	assert_int_equal(virq_iommu_irte_write(iommu, idx, &raw), 0);
	raise_ack(&r, 2);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_NOT_PRESENT), 1);
	raw.lo = 1ull << 1; /* FPD */
	assert_int_equal(virq_iommu_irte_write(iommu, idx, &raw), 0);
	raise_ack(&r, 2);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_NOT_PRESENT), 1);
	assert_int_equal(faults(iommu).suppressed, 1);
	/* Reserved bits of a present entry: remapped bits 14:12, bits 31:24, bits 127:84; posted bits 7:2,
	 * 37:24 and a zero descriptor address. */
	const struct virq_irte bad[] = {
		{.lo = 1 | 1ull << 12, .hi = 0}, {.lo = 1 | 1ull << 24, .hi = 0}, {.lo = 1, .hi = 1ull << (84 - 64)},
		{.lo = 1 | 1ull << 15 | 1ull << 2 | 1ull << 38, .hi = 0}, {.lo = 1 | 1ull << 15 | 1ull << 30 | 1ull << 38},
		{.lo = 1 | 1ull << 15, .hi = 0},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(virq_iommu_irte_write(iommu, idx, &bad[i]), 0);
		raise_ack(&r, 2);
		assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_IRTE_RESERVED), i + 1);
	}
	assert_int_equal(host_efd_take(r.efd[2]), 0);
	assert_int_equal(virq_iommu_irte_write(iommu, 99, &bad[0]), -EINVAL);

	/* Request-side faults, from messages rewritten in the physical table. */
	assert_int_equal(virq_msix_entry_read(r.fn, 4, saved), 0);
	memcpy(e, saved, sizeof(e));
	e[0] = 0xfee00000u | 20u << 5 | 1u << 4 | 1u << 3; /* handle 20 >= 16 entries */
	virq_msix_entry_write(r.fn, 4, e);
	raise_ack(&r, 4);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_INDEX), 1);
	assert_int_equal(faults(iommu).last_index, 20);
	e[0] = 0xfee00000u | 10u << 5 | 1u << 4 | 1u << 3;
	e[2] = 9; /* handle 10 + sub-handle 9 = 19: out of range too */
	virq_msix_entry_write(r.fn, 4, e);
	raise_ack(&r, 4);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_INDEX), 2);
	e[0] = 0xfee00000u | 1u << 4 | 1u << 2; /* handle bit 15 (bit 2): 32768 */
	e[2] = 0;
	virq_msix_entry_write(r.fn, 4, e);
	raise_ack(&r, 4);
	assert_int_equal(faults(iommu).last_index, 32768);
	e[0] = saved[0];
	e[2] = 0x10000; /* data bits 31:16 reserved */
	virq_msix_entry_write(r.fn, 4, e);
	raise_ack(&r, 4);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_REQ_RESERVED), 1);
	e[0] = 0xfee01000u; /* compatibility format */
	e[2] = 0x31;
	virq_msix_entry_write(r.fn, 4, e);
	raise_ack(&r, 4);
	assert_int_equal(fault_count(iommu, VIRQ_IOMMU_FAULT_COMPAT), 1);
	assert_int_equal(host_efd_take(r.efd[4]), 0);
	virq_msix_entry_write(r.fn, 4, saved);
	raise_ack(&r, 4);
	assert_int_equal(host_efd_take(r.efd[4]), 1);

	struct virq_iommu_faults f = faults(iommu);
	assert_int_equal(f.recorded, 1 + 6 + 3 + 1 + 1);
	assert_int_equal(istats(iommu).dropped, f.recorded + f.suppressed);
	rig_down(&r);
	assert_int_equal(virq_iommu_destroy(iommu), 0);
}

/* ---- posted delivery ---- */

struct notes {
	atomic_uint calls;
	_Atomic uint32_t ndst;
	_Atomic uint8_t nv;
};

static void on_note(void *ctx, uint32_t ndst, uint8_t nv)
{
	struct notes *n = ctx;
	atomic_store(&n->ndst, ndst);
	atomic_store(&n->nv, nv);
	atomic_fetch_add(&n->calls, 1);
}

static bool pir_has(struct virq_posted_desc *d, uint8_t v)
{
	return atomic_load(&d->pir[v / 64]) & (1ull << (v % 64));
}

static void test_posted_delivery(void **state)
{
	(void)state;
	struct virq_iommu *iommu;
	struct rig r;
	static struct virq_posted_desc desc;
	struct notes n = {0};
	uint64_t pir[4];

	assert_int_equal(virq_iommu_create(16, &iommu), 0);
	rig_up(&r, iommu, 0x0100, 8);
	assert_int_equal(virq_bypass_notify_install(on_note, &n), 0);
	virq_posted_desc_init(&desc, VIRQ_POSTED_INTR_VECTOR, 7);

	assert_int_equal(virq_iommu_vector_post(r.fn, 3, 0, 0x45), -EINVAL);
	assert_int_equal(virq_iommu_vector_post(r.fn, 3, (uint64_t)(uintptr_t)&desc + 8, 0x45), -EINVAL);
	assert_int_equal(virq_iommu_vector_post(r.fn, 8, (uint64_t)(uintptr_t)&desc, 0x45), -EINVAL);
	assert_int_equal(virq_iommu_vector_post(r.fn, 3, (uint64_t)(uintptr_t)&desc, 0x45), 0);
	struct virq_irte irte;
	struct virq_irte_fields f;
	virq_iommu_irte_read(iommu, vindex(&r, 3), &irte);
	virq_irte_decode(&irte, &f);
	assert_true(f.posted && f.present && !f.urgent);
	assert_int_equal(f.vector, 0x45);
	assert_int_equal(f.pda, (uint64_t)(uintptr_t)&desc);
	assert_int_equal(f.sid, 0x0100); /* source validation copied from the host's entry */
	assert_int_equal(f.svt, 1);

	/* First post: PIR and ON set, one notification with the descriptor's NDST and NV, no eventfd. */
	raise_ack(&r, 3);
	assert_true(pir_has(&desc, 0x45));
	assert_true(virq_posted_desc_on(&desc));
	assert_int_equal(atomic_load(&n.calls), 1);
	assert_int_equal(atomic_load(&n.ndst), 7);
	assert_int_equal(atomic_load(&n.nv), VIRQ_POSTED_INTR_VECTOR);
	assert_int_equal(host_efd_take(r.efd[3]), 0);
	/* ON already set: recorded, coalesced in PIR, no notification. */
	raise_ack(&r, 3);
	assert_int_equal(atomic_load(&n.calls), 1);
	assert_int_equal(istats(iommu).posted_coalesced, 1);
	assert_true(virq_posted_desc_take(&desc, pir));
	assert_int_equal(pir[1], 1ull << 5);
	/* SN set (vCPU not running): only recorded. */
	virq_posted_desc_set_sn(&desc);
	raise_ack(&r, 3);
	assert_true(pir_has(&desc, 0x45));
	assert_false(virq_posted_desc_on(&desc));
	assert_int_equal(atomic_load(&n.calls), 1);
	/* URG overrides SN. */
	f.urgent = true;
	put_irte(&r, vindex(&r, 3), f);
	raise_ack(&r, 3);
	assert_int_equal(atomic_load(&n.calls), 2);
	virq_posted_desc_clear_sn(&desc);
	virq_posted_desc_take(&desc, pir);
	/* Blocked: NV is the wakeup vector. */
	assert_int_equal(virq_iommu_vector_post(r.fn, 3, (uint64_t)(uintptr_t)&desc, 0x46), 0);
	virq_posted_desc_set_nv_ndst(&desc, VIRQ_POSTED_INTR_WAKEUP_VECTOR, 9);
	raise_ack(&r, 3);
	assert_true(pir_has(&desc, 0x46));
	assert_int_equal(atomic_load(&n.calls), 3);
	assert_int_equal(atomic_load(&n.nv), VIRQ_POSTED_INTR_WAKEUP_VECTOR);
	assert_int_equal(atomic_load(&n.ndst), 9);
	virq_posted_desc_take(&desc, pir);
	/* Back to remapped: the host IRQ and the eventfd again; the descriptor is left alone. */
	assert_int_equal(virq_iommu_vector_remap(r.fn, 3), 0);
	raise_ack(&r, 3);
	assert_int_equal(host_efd_take(r.efd[3]), 1);
	assert_false(virq_posted_desc_pir_pending(&desc));

	struct virq_iommu_stats s = istats(iommu);
	assert_int_equal(s.posted, 5);
	assert_int_equal(s.notifications, 3);
	assert_int_equal(s.remapped, 1);
	struct virq_pci_cause_stats st = host_stats(r.fn, 3);
	assert_int_equal(st.messages, 6);
	virq_bypass_notify_remove();
	rig_down(&r);
	assert_int_equal(virq_iommu_destroy(iommu), 0);
}

/* ---- stress: a storm of posted raises against a folding "vCPU" ---- */

struct storm {
	struct rig r;
	struct virq_posted_desc desc;
	atomic_uint notified;
	atomic_bool stop;
	uint64_t folded; /* folder only */
};

static void storm_note(void *ctx, uint32_t ndst, uint8_t nv)
{
	atomic_fetch_add(&((struct storm *)ctx)->notified, 1);
}

/* Folds on notification, then acks the causes it saw, as a guest handler would. */
static void *storm_folder(void *arg)
{
	struct storm *s = arg;
	unsigned seen = 0;
	uint64_t pir[4];

	while (!atomic_load(&s->stop)) {
		unsigned n = atomic_load(&s->notified);
		if (n == seen) {
			sched_yield();
			continue;
		}
		seen = n;
		if (!virq_posted_desc_take(&s->desc, pir))
			continue;
		uint64_t ack = 0;
		for (unsigned v = 0; v < 8; v++)
			if (pir[1] & (1ull << v)) { /* guest vectors 0x40 + v */
				s->folded++;
				ack |= 1ull << v;
			}
		host_wr(s->r.dev, BAR(0, VIRQ_PCI_REG_ACK), 8, ack);
	}
	return NULL;
}

static void test_stress_posted_storm(void **state)
{
	(void)state;
	struct virq_iommu *iommu;
	static struct storm s;
	pthread_t folder;

	assert_int_equal(virq_iommu_create(16, &iommu), 0);
	rig_up(&s.r, iommu, 0x0100, 8);
	virq_posted_desc_init(&s.desc, VIRQ_POSTED_INTR_VECTOR, 0);
	assert_int_equal(virq_bypass_notify_install(storm_note, &s), 0);
	for (unsigned v = 0; v < 8; v++)
		assert_int_equal(virq_iommu_vector_post(s.r.fn, v, (uint64_t)(uintptr_t)&s.desc, (uint8_t)(0x40 + v)), 0);
	pthread_create(&folder, NULL, storm_folder, &s);
	struct virq_traffic t = {.pattern = VIRQ_TRAFFIC_STORM};
	assert_int_equal(virq_pci_function_traffic_start(s.r.fn, &t), 0);
	usleep(300000);
	/* Re-target half the vectors to remapped and back while the storm runs. */
	for (unsigned i = 0; i < 200; i++) {
		unsigned v = i % 4;
		virq_iommu_vector_remap(s.r.fn, v);
		sched_yield();
		virq_iommu_vector_post(s.r.fn, v, (uint64_t)(uintptr_t)&s.desc, (uint8_t)(0x40 + v));
	}
	virq_pci_function_traffic_stop(s.r.fn);
	while (virq_posted_desc_on(&s.desc))
		sched_yield();
	atomic_store(&s.stop, true);
	pthread_join(folder, NULL);
	virq_bypass_notify_remove();

	/* Nothing stranded, and every post either folded or coalesced into a bit that was. */
	assert_false(virq_posted_desc_pir_pending(&s.desc) && !virq_posted_desc_on(&s.desc));
	struct virq_iommu_stats st = istats(iommu);
	uint64_t remapped_signals = 0;
	for (unsigned v = 0; v < 8; v++)
		remapped_signals += host_efd_take(s.r.efd[v]) ? 1 : 0;
	assert_int_equal(st.posted - st.posted_coalesced, s.folded);
	assert_int_equal(faults(iommu).recorded, 0);
	uint64_t messages = 0;
	for (unsigned k = 0; k < 8; k++) {
		struct virq_pci_cause_stats cs = host_stats(s.r.fn, k);
		assert_int_equal(cs.raised, cs.coalesced + cs.messages + cs.held + cs.discarded);
		messages += cs.messages;
	}
	assert_int_equal(messages, st.posted + st.remapped);
	assert_true(remapped_signals <= st.remapped);
	print_message("%lu posted (%lu coalesced in PIR), %lu folded, %lu remapped, %u notifications\n",
		      (unsigned long)st.posted, (unsigned long)st.posted_coalesced, (unsigned long)s.folded,
		      (unsigned long)st.remapped, atomic_load(&s.notified));
	rig_down(&s.r);
	assert_int_equal(virq_iommu_destroy(iommu), 0);
}

/* ---- VFIO vectors as irq bypass producers ---- */

/* A consumer (what an irqfd will be) that posts its producer to @desc while paired. */
struct post_consumer {
	struct virq_bypass_consumer cons;
	struct virq_posted_desc *desc;
	int added, deleted, last_ret;
};

static int post_add_producer(struct virq_bypass_consumer *cons, struct virq_bypass_producer *prod)
{
	struct post_consumer *pc = (struct post_consumer *)cons;
	struct virq_bypass_vcpu_info info = { .pi_desc_addr = (uint64_t)(uintptr_t)pc->desc, .vector = 0x47 };
	pc->added++;
	pc->last_ret = prod->ops->set_vcpu_affinity(prod, &info);
	return 0;
}

static void post_del_producer(struct virq_bypass_consumer *cons, struct virq_bypass_producer *prod)
{
	struct post_consumer *pc = (struct post_consumer *)cons;
	pc->deleted++;
	prod->ops->set_vcpu_affinity(prod, NULL);
}

static const struct virq_bypass_consumer_ops post_consumer_ops = {
	.add_producer = post_add_producer,
	.del_producer = post_del_producer,
};

/*
 * Each MSI-X vector with a trigger is a producer keyed by that eventfd: a consumer on the same eventfd
 * pairs with it in either order and may post it; when either side goes, the vector is remapped again.
 */
static void test_vfio_vectors_are_bypass_producers(void **state)
{
	(void)state;
	static struct virq_posted_desc desc;
	struct virq_iommu *iommu;
	struct rig r;
	uint64_t pir[4];

	assert_int_equal(virq_iommu_create(16, &iommu), 0);
	virq_posted_desc_init(&desc, VIRQ_POSTED_INTR_VECTOR, 0);
	virq_posted_desc_set_sn(&desc); /* not running: posts are only recorded, no notification */

	/* Producer first (VFIO already signals vector 2), then the consumer. */
	rig_up(&r, iommu, 0x0100, 8);
	struct post_consumer pc = { .cons.ops = &post_consumer_ops, .desc = &desc };
	assert_int_equal(virq_bypass_register_consumer(&pc.cons, r.efd[2]), 0);
	assert_int_equal(pc.added, 1);
	assert_int_equal(pc.last_ret, 0);
	raise_ack(&r, 2);
	assert_true(pir_has(&desc, 0x47));
	assert_int_equal(host_efd_take(r.efd[2]), 0); /* posted: the trigger eventfd stays silent */
	virq_posted_desc_take(&desc, pir);

	/* VFIO takes the trigger away: the consumer hears of it and the vector is remapped again. */
	assert_int_equal(host_set_eventfds(r.dev, VFIO_PCI_MSIX_IRQ_INDEX, 2, 1, (int32_t[]){ -1 }), 0);
	assert_int_equal(pc.deleted, 1);
	/* Consumer first this time: VFIO giving the vector its trigger back pairs them again. */
	assert_int_equal(host_set_eventfds(r.dev, VFIO_PCI_MSIX_IRQ_INDEX, 2, 1, (int32_t[]){ r.efd[2] }), 0);
	assert_int_equal(pc.added, 2);
	raise_ack(&r, 2);
	assert_true(pir_has(&desc, 0x47));
	assert_int_equal(host_efd_take(r.efd[2]), 0);
	virq_posted_desc_take(&desc, pir);

	/* The consumer leaves: remapped delivery through the trigger eventfd again. */
	virq_bypass_unregister_consumer(&pc.cons);
	assert_int_equal(pc.deleted, 2);
	raise_ack(&r, 2);
	assert_false(pir_has(&desc, 0x47));
	assert_int_equal(host_efd_take(r.efd[2]), 1);
	rig_down(&r);
	assert_int_equal(virq_iommu_destroy(iommu), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remapped_fields),
		cmocka_unit_test(test_posted_fields),
		cmocka_unit_test(test_attach_rules),
		cmocka_unit_test(test_remapped_delivery),
		cmocka_unit_test(test_source_id),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_posted_delivery),
		cmocka_unit_test(test_vfio_vectors_are_bypass_producers),
		cmocka_unit_test(test_stress_posted_storm),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
