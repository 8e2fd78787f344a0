/* SPDX-License-Identifier: MIT */
/*
 * fuzz_its.c - libFuzzer target: what a guest can do to a GICv3 ITS and its LPIs. A fresh GICv3 (4 vCPUs)
 * and ITS are set up per input over 1 MiB of fake guest RAM, with valid tables and LPIs enabled, then each
 * record of the input is one action: a 32-byte command queued and CWRITER advanced, an ITS register write
 * (any offset, width and value), raw bytes stored into guest memory (tables, ITTs, the queue itself),
 * an MSI, a redistributor or distributor write (EnableLPIs toggles, PROPBASER/PENDBASER, INVLPIR,
 * INVALLR), an acknowledge + EOI, SAVE_TABLES, RESET + RESTORE_TABLES, or a userspace register write.
 * Command fields are often narrowed to small IDs so that commands succeed and interact. Guest-controlled
 * input must never crash or reach outside guest RAM (ARCHITECTURE.md section 7): ASan and UBSan check
 * every access, and the fake memory ops refuse anything out of bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "irqchip/arm/gicv3.h"
#include "irqchip/arm/its.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x100000u
#define NR_VCPUS 4
#define PROP_BASE 0x10000u
#define PEND_BASE 0x20000u /* 8 KiB per vCPU */
#define DEV_TABLE 0x40000u
#define COLL_TABLE 0x50000u
#define CMDQ_BASE 0x60000u
#define ITT_BASE 0x80000u

static uint8_t ram[RAM_SIZE];

static int ram_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
		return -EFAULT;
	memcpy(buf, ram + gpa, len);
	return 0;
}

static int ram_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	if (gpa > RAM_SIZE || len > RAM_SIZE - gpa)
		return -EFAULT;
	memcpy(ram + gpa, buf, len);
	return 0;
}

static void kick(void *ctx, unsigned vcpu)
{
}

static void resample(void *ctx, unsigned pin)
{
}

static const struct virq_gic_ops ops = { ram_read, ram_write, kick, resample, NULL };

struct input {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct input *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A command, its fields narrowed to interacting IDs when @narrow. */
static void queue_command(struct virq_its *its, struct input *in, bool narrow)
{
	static const uint8_t opcodes[] = { 0x01, 0x03, 0x04, 0x05, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	uint64_t dw[4] = { take(in, 8), take(in, 8), take(in, 8), take(in, 8) };
	uint64_t cwriter = virq_its_mmio_read(its, 0x88, 8);
	uint64_t cbaser = virq_its_mmio_read(its, 0x80, 8);
	uint64_t qsize = ((cbaser & 0xff) + 1) << 12;
	uint64_t gpa = (cbaser & 0x000fffffffff0000ull) + cwriter;

	if (narrow) {
		uint8_t op = opcodes[(dw[0] & 0xff) % sizeof(opcodes)];

		dw[0] = (uint64_t)((dw[0] >> 32) & 0x3f) << 32 | op;
		dw[1] = (uint64_t)(8192 + ((dw[1] >> 32) & 0x1ff)) << 32 | (dw[1] & 0x1f);
		if (op == 0x08) /* MAPD: Size 0..7, an ITT inside RAM, V mostly set */
			dw[1] = dw[1] & 0x7;
		dw[2] = (dw[2] & (1ull << 63)) | (uint64_t)((dw[2] >> 16) & 0x7) << 16 | (dw[2] & 0x7) |
			(op == 0x08 ? ITT_BASE + ((dw[2] >> 8) & 0x3f) * 0x800 : 0);
		dw[3] = (uint64_t)((dw[3] >> 16) & 0x7) << 16;
	}
	if (gpa + 32 <= RAM_SIZE)
		for (int i = 0; i < 4; i++)
			put64(&ram[gpa + 8 * i], dw[i]);
	virq_its_mmio_write(its, 0x88, 8, (cwriter + 32) % qsize);
}

static void setup(struct virq_gic *gic, struct virq_its *its)
{
	virq_gic_dist_write(gic, 0x0, 4, 2);
	virq_gic_redist_write(gic, 0, 0x70, 8, PROP_BASE | 15);
	for (unsigned v = 0; v < NR_VCPUS; v++) {
		virq_gic_redist_write(gic, v, 0x78, 8, PEND_BASE + v * 0x2000u);
		virq_gic_redist_write(gic, v, 0x0, 4, 1);
		virq_gic_icc_write(gic, v, VIRQ_ICC_PMR, 0xff);
		virq_gic_icc_write(gic, v, VIRQ_ICC_IGRPEN1, 1);
	}
	memset(ram + PROP_BASE, 0xa1, 0x10000); /* priority 0xa0, enabled */
	virq_its_mmio_write(its, 0x100, 8, (1ull << 63) | DEV_TABLE);
	virq_its_mmio_write(its, 0x108, 8, (1ull << 63) | COLL_TABLE);
	virq_its_mmio_write(its, 0x80, 8, (1ull << 63) | CMDQ_BASE);
	virq_its_mmio_write(its, 0x0, 4, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t its_regs[] = { 0x0, 0x4, 0x8, 0x80, 0x84, 0x88, 0x90, 0x100, 0x104, 0x108, 0x10c, 0x110 };
	static const uint64_t rd_regs[] = { 0x0, 0x70, 0x74, 0x78, 0x7c, 0xa0, 0xb0, 0x10100, 0x10200 };
	struct input in = { data, size };
	struct virq_gic gic;
	struct virq_its its;

	memset(ram, 0, sizeof(ram));
	if (virq_gic_init(&gic, NR_VCPUS, 64, &ops, NULL))
		return 0;
	if (virq_its_init(&its, &gic)) {
		virq_gic_destroy(&gic);
		return 0;
	}
	virq_its_set_base(&its, 0x8000000);
	setup(&gic, &its);
	while (in.left) {
		uint8_t action = (uint8_t)take(&in, 1);
		uint64_t a = take(&in, 2), v;

		switch (action % 11) {
		case 0:
		case 1:
			queue_command(&its, &in, action % 11 == 0 || (a & 1));
			break;
		case 2:
			v = take(&in, 8);
			virq_its_mmio_write(&its, (a & 0x8000) ? a & 0x1fffc : its_regs[a % 12], (a & 0x4000) ? 8 : 4, v);
			break;
		case 3: { /* raw bytes into guest memory */
			uint64_t gpa = take(&in, 3) % RAM_SIZE;
			unsigned n = (unsigned)(a % 16);

			for (unsigned i = 0; i < n && gpa + i < RAM_SIZE; i++)
				ram[gpa + i] = (uint8_t)take(&in, 1);
			break;
		}
		case 4:
			v = take(&in, 4);
			virq_its_translate_and_inject(&its, (a & 1) ? (uint32_t)v : (uint32_t)(v & 0x3f),
						      (a & 1) ? (uint32_t)(a >> 1) : (uint32_t)((a >> 1) & 0x1f));
			break;
		case 5:
			v = take(&in, 8);
			virq_gic_redist_write(&gic, (unsigned)(a >> 8) % NR_VCPUS, rd_regs[(a & 0xff) % 9],
					      (a & 0x8000) ? 4 : 8, v);
			break;
		case 6: {
			unsigned vcpu = (unsigned)a % NR_VCPUS;
			uint32_t intid = virq_gic_ack(&gic, vcpu, 1, NULL);

			virq_gic_eoi(&gic, vcpu, 1, intid);
			break;
		}
		case 7:
			virq_its_save_tables(&its);
			break;
		case 8:
			virq_its_reset(&its);
			v = take(&in, 8);
			virq_its_mmio_write(&its, 0x100, 8, (1ull << 63) | (v & (1ull << 62)) | DEV_TABLE | (v & 3));
			virq_its_mmio_write(&its, 0x108, 8, (1ull << 63) | COLL_TABLE);
			virq_its_mmio_write(&its, 0x80, 8, (1ull << 63) | CMDQ_BASE);
			virq_its_restore_tables(&its);
			virq_its_mmio_write(&its, 0x0, 4, 1);
			break;
		case 9:
			v = take(&in, 8);
			virq_its_uaccess_write(&its, its_regs[a % 12], v);
			break;
		case 10:
			v = take(&in, 8);
			virq_gic_dist_write(&gic, a & 0xfffc, 4, v);
			break;
		}
	}
	virq_gic_save_pending_tables(&gic);
	virq_its_destroy(&its);
	virq_gic_destroy(&gic);
	return 0;
}
