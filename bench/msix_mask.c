/* SPDX-License-Identifier: MIT */
/*
 * msix_mask.c - what the in-engine MSI-X table (seed 002) saves a guest that masks and unmasks its
 * vector in every handler, as old Linux and RHEL5 guests did (perf-floors.md B10: vfio-pci went from
 * 20 Mbps to line rate when that stopped costing a round trip).
 *
 * One rig, one guest: the handler of vector 0x41 writes its own table entry's vector control (mask,
 * then unmask) and reports. Path A registers the table with the engine (KVM_REGISTER_MSIX_MMIO) so both
 * writes are handled inside KVM_RUN; path B, the floor, unregisters it, so both writes exit to the
 * vCPU thread, which completes them as a VMM that emulates the table would (doing nothing else: the
 * floor is the exits' own cost, a lower bound for a real VMM). The sample is the time from the handler's
 * entry (stamped by the engine) to its report exit (stamped by the vCPU thread): the mask cycle.
 * msix_exits_avoided counts exits per handler run on each side.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bench_int.h"

#define MSIX_BENCH_TABLE 0xc0000000ull /* guest-physical table address, claimed by nothing else */
#define MSIX_BENCH_DEV_ID 0x18

static const char virq_bench_msix_guest[] =
	"vector 0x41:\n"
	"    mmio_write 0xc000000c, 4, 1   ; mask our own vector (entry 0's vector control)\n"
	"    mmio_write 0xc000000c, 4, 0   ; and unmask it\n"
	"    mmio_write 0xd0000000, 4, 1   ; report: the cycle is done\n"
	"    eoi\n"
	"    iret\n"
	"main:\n"
	"    mmio_write 0xfee000f0, 4, 0x1ff\n"
	"    sti\n"
	"loop:\n"
	"    hlt\n"
	"    jmp loop\n";

struct msix_bench {
	struct virq_bench_rig rig;
	uint32_t table[4];   /* entry 0: the route's address and data, unmasked (the engine's base_va) */
	uint64_t pba;
	double exits_engine, exits_vmm; /* per handler run, last block of each side */
};

static int msix_bench_window(struct msix_bench *mb, bool reg, uint16_t type, uint64_t gpa, void *copy)
{
	struct kvm_msix_mmio_user u = {
		.dev_id = MSIX_BENCH_DEV_ID,
		.type = KVM_MSIX_MMIO_TYPE_ASSIGNED_DEV | type,
		.max_entries_nr = 1,
		.base_addr = gpa,
		.base_va = (uint64_t)(uintptr_t)copy,
	};
	return reg ? virq_vm_register_msix_mmio(mb->rig.vm, &u) : virq_vm_unregister_msix_mmio(mb->rig.vm, &u);
}

/* Hand the table to the engine (A) or take it back (B). The vCPU is outside KVM_RUN. */
static int msix_bench_table_in_engine(struct msix_bench *mb, bool in_engine)
{
	int ret;

	if (!in_engine) {
		ret = msix_bench_window(mb, false, KVM_MSIX_MMIO_TYPE_BASE_TABLE, 0, NULL);
		return ret < 0 ? ret : msix_bench_window(mb, false, KVM_MSIX_MMIO_TYPE_BASE_PBA, 0, NULL);
	}
	ret = msix_bench_window(mb, true, KVM_MSIX_MMIO_TYPE_BASE_TABLE, MSIX_BENCH_TABLE, mb->table);
	if (ret == 0)
		ret = msix_bench_window(mb, true, KVM_MSIX_MMIO_TYPE_BASE_PBA, MSIX_BENCH_TABLE + 0x800, &mb->pba);
	if (ret == 0)
		ret = virq_vm_msix_mmio_bind(mb->rig.vm, MSIX_BENCH_DEV_ID, 0, VIRQ_BENCH_MSI_GSI);
	return ret;
}

/* One block: signal, wait for the report, sample entry -> report. */
static int msix_bench_block(struct msix_bench *mb, bool in_engine, double *samples, int iters)
{
	struct virq_bench_rig *rig = &mb->rig;
	int n = 0, ret = in_engine ? msix_bench_table_in_engine(mb, true) : 0;
	uint64_t count;

	if (ret < 0) {
		fprintf(stderr, "virq bench: msix mask: table %s: %s\n", in_engine ? "registration" : "removal",
			strerror(-ret));
		return ret;
	}
	uint64_t exits0 = atomic_load(&rig->exits);
	uint64_t mark = virq_bench_rig_halt(rig).sleeps;
	virq_bench_rig_enter(rig);
	ret = virq_bench_rig_settle(rig, mark, false);
	for (int i = 0; ret == 0 && i < iters; i++) {
		mark = virq_bench_rig_halt(rig).sleeps;
		if ((ret = virq_bench_write1(rig->irq_fd)) < 0)
			break;
		if ((ret = virq_bench_wait_read(rig->ack_fd, VIRQ_BENCH_TIMEOUT_MS, &count)) < 0)
			break;
		struct virq_vector_counts v = virq_bench_rig_vector(rig);
		uint64_t reported = atomic_load(&rig->report_ns);
		samples[n++] = reported > v.last_entry_ns ? (double)(reported - v.last_entry_ns) : 0;
		ret = virq_bench_rig_settle(rig, mark, false);
	}
	ret = virq_bench_rig_finish(rig, ret, n);
	if (ret > 0) {
		double exits = (double)(atomic_load(&rig->exits) - exits0) / ret;
		*(in_engine ? &mb->exits_engine : &mb->exits_vmm) = exits;
	}
	if (in_engine) {
		int r = msix_bench_table_in_engine(mb, false); /* the floor's blocks run without it */
		if (r < 0 && ret >= 0)
			ret = r;
	}
	return ret;
}

static int msix_bench_engine(void *ctx, double *samples, int iters)
{
	return msix_bench_block(ctx, true, samples, iters);
}

static int msix_bench_vmm(void *ctx, double *samples, int iters)
{
	return msix_bench_block(ctx, false, samples, iters);
}

int virq_bench_msix_mask(const struct virq_bench_sel *sel)
{
	struct msix_bench mb = {
		.table = { 0xfee00000u, 0, VIRQ_BENCH_MSI_VECTOR, 0 }, /* the rig's route: APIC 0, vector 0x41 */
	};
	struct virq_bench_ab_result res;
	int ret = virq_bench_rig_create(&mb.rig, VIRQ_BENCH_IRQ_MSI, virq_bench_msix_guest, 0);

	if (ret < 0)
		return ret;
	struct virq_bench_ab ab = {
		.name = "msix_mask_cycle_ns", .ctx = &mb,
		.path = msix_bench_engine, .floor = msix_bench_vmm,
		.iters = 200, .min_pairs = 3, .max_pairs = 12, .budget_s = 3.0,
	};
	ret = virq_bench_interleave(&ab, &res);
	if (ret == 0) {
		virq_bench_emit(sel, "msix_mask_cycle_ns", res.path_p50, "ns", res.floor_p50, res.ratio_p50);
		virq_bench_emit(sel, "msix_exits_avoided", mb.exits_vmm - mb.exits_engine, "exits",
				mb.exits_vmm, (mb.exits_vmm - mb.exits_engine) / mb.exits_vmm);
	}
	virq_bench_rig_destroy(&mb.rig);
	return ret;
}
