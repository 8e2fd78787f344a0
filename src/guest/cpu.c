/* SPDX-License-Identifier: MIT */
/*
 * cpu.c - interrupt entry/return and control ops of the micro-op guest (see cpu.h).
 *
 * An interrupt frame also saves what is left of an interrupted "spin", so that, as with a real busy
 * loop, the time spent in the handler does not count against the spin: the remaining time resumes
 * after iret.
 */
#include "guest/cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int virq_guest_cpu_init(struct virq_guest_cpu *cpu)
{
	memset(cpu, 0, sizeof(*cpu));
	cpu->stats = calloc(256, sizeof(*cpu->stats));
	cpu->intid_latency = calloc(1, sizeof(*cpu->intid_latency));
	if (!cpu->stats || !cpu->intid_latency) {
		virq_guest_cpu_destroy(cpu);
		return -ENOMEM;
	}
	return 0;
}

void virq_guest_cpu_destroy(struct virq_guest_cpu *cpu)
{
	free(cpu->stats);
	cpu->stats = NULL;
	free(cpu->intid_latency);
	cpu->intid_latency = NULL;
	for (unsigned i = 0; i < VIRQ_GUEST_INTID_PAGES; i++) {
		free(atomic_load_explicit(&cpu->intid_stats[i], memory_order_relaxed));
		atomic_store_explicit(&cpu->intid_stats[i], NULL, memory_order_relaxed);
	}
}

void virq_guest_cpu_reset(struct virq_guest_cpu *cpu, const struct virq_guest_program *prog)
{
	cpu->prog = prog;
	cpu->pc = prog ? prog->entry : 0;
	memset(cpu->regs, 0, sizeof(cpu->regs));
	cpu->interrupts_enabled = false;
	cpu->spin_deadline_ns = 0;
	cpu->depth = 0;
}

uint64_t virq_guest_cpu_value(const struct virq_guest_cpu *cpu, const struct virq_guest_value *value)
{
	return value->is_reg ? cpu->regs[value->reg] : value->imm;
}

/* Interrupt entry, both architectures: save where to resume (and a spin's time left), mask, jump. */
static void virq_guest_cpu_enter(struct virq_guest_cpu *cpu, uint32_t handler, uint64_t now_ns)
{
	struct virq_guest_frame *frame = &cpu->frames[cpu->depth++];

	frame->return_pc = cpu->pc;
	frame->spin_left_ns = cpu->spin_deadline_ns > now_ns ? cpu->spin_deadline_ns - now_ns : 0;
	cpu->spin_deadline_ns = 0;
	cpu->interrupts_enabled = false;
	cpu->pc = handler;
}

int virq_guest_cpu_interrupt(struct virq_guest_cpu *cpu, uint8_t vector, uint64_t raise_ns, uint64_t now_ns)
{
	struct virq_guest_vector_stats *st = &cpu->stats[vector];
	uint32_t handler = cpu->prog->handler[vector];

	if (handler == VIRQ_GUEST_NO_HANDLER) {
		atomic_fetch_add_explicit(&st->unhandled, 1, memory_order_relaxed);
		return -ENOENT;
	}
	if (cpu->depth == VIRQ_GUEST_MAX_FRAMES)
		return -EOVERFLOW;
	virq_guest_cpu_enter(cpu, handler, now_ns);

	virq_latency_record(&st->latency, now_ns > raise_ns ? now_ns - raise_ns : 0);
	atomic_store_explicit(&st->last_entry_ns, now_ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->handled, 1, memory_order_release);
	return 0;
}

/* The counter page of @intid, allocated on first use (vCPU thread only); NULL if memory ran out. */
static struct virq_guest_intid_stats *virq_guest_intid_page(struct virq_guest_cpu *cpu, uint32_t intid)
{
	_Atomic(struct virq_guest_intid_stats *) *slot = &cpu->intid_stats[intid / VIRQ_GUEST_INTID_PAGE];
	struct virq_guest_intid_stats *page = atomic_load_explicit(slot, memory_order_relaxed);

	if (!page) {
		page = calloc(VIRQ_GUEST_INTID_PAGE, sizeof(*page));
		if (!page)
			return NULL;
		atomic_store_explicit(slot, page, memory_order_release);
	}
	return &page[intid % VIRQ_GUEST_INTID_PAGE];
}

const struct virq_guest_intid_stats *virq_guest_cpu_intid_stats(const struct virq_guest_cpu *cpu, uint32_t intid)
{
	if (intid > VIRQ_GUEST_MAX_INTID)
		return NULL;
	const struct virq_guest_intid_stats *page =
		atomic_load_explicit(&cpu->intid_stats[intid / VIRQ_GUEST_INTID_PAGE], memory_order_acquire);
	return page ? &page[intid % VIRQ_GUEST_INTID_PAGE] : NULL;
}

int virq_guest_cpu_irq(struct virq_guest_cpu *cpu, uint32_t intid, uint64_t raise_ns, uint64_t now_ns)
{
	struct virq_guest_intid_stats *st = intid <= VIRQ_GUEST_MAX_INTID ? virq_guest_intid_page(cpu, intid) : NULL;
	uint32_t handler = intid <= VIRQ_GUEST_MAX_INTID ? virq_guest_intid_handler(cpu->prog, intid)
							  : VIRQ_GUEST_NO_HANDLER;

	if (handler == VIRQ_GUEST_NO_HANDLER) {
		if (st)
			atomic_fetch_add_explicit(&st->unhandled, 1, memory_order_relaxed);
		return -ENOENT;
	}
	if (cpu->depth == VIRQ_GUEST_MAX_FRAMES)
		return -EOVERFLOW;
	/* The vector stub's register: what it read from ICC_IAR1_EL1. */
	cpu->regs[VIRQ_GUEST_INTID_REG] = intid;
	virq_guest_cpu_enter(cpu, handler, now_ns);
	virq_latency_record(cpu->intid_latency, now_ns > raise_ns ? now_ns - raise_ns : 0);
	if (st) {
		atomic_store_explicit(&st->last_entry_ns, now_ns, memory_order_relaxed);
		atomic_fetch_add_explicit(&st->handled, 1, memory_order_release);
	}
	return 0;
}

static void virq_guest_cpu_iret(struct virq_guest_cpu *cpu, uint64_t now_ns)
{
	if (cpu->depth == 0) {
		cpu->pc++;
		return;
	}
	struct virq_guest_frame *frame = &cpu->frames[--cpu->depth];
	cpu->pc = frame->return_pc;
	/* A spin interrupted with time left resumes with exactly that much time. */
	cpu->spin_deadline_ns = frame->spin_left_ns ? now_ns + frame->spin_left_ns : 0;
	cpu->interrupts_enabled = true;
}

static void virq_guest_cpu_branch(struct virq_guest_cpu *cpu, const struct virq_guest_op *op, bool taken)
{
	cpu->pc = taken ? op->target : cpu->pc + 1;
}

bool virq_guest_cpu_control(struct virq_guest_cpu *cpu, uint64_t now_ns)
{
	const struct virq_guest_op *op = virq_guest_cpu_op(cpu);

	switch (op->code) {
	case VIRQ_OP_IRET:
	case VIRQ_OP_ERET:
		virq_guest_cpu_iret(cpu, now_ns);
		return true;
	case VIRQ_OP_STI:
		cpu->interrupts_enabled = true;
		break;
	case VIRQ_OP_CLI:
		cpu->interrupts_enabled = false;
		break;
	case VIRQ_OP_JMP:
		virq_guest_cpu_branch(cpu, op, true);
		return true;
	case VIRQ_OP_SET:
		cpu->regs[op->reg] = virq_guest_cpu_value(cpu, &op->value);
		break;
	case VIRQ_OP_ADD:
		cpu->regs[op->reg] += virq_guest_cpu_value(cpu, &op->value);
		break;
	case VIRQ_OP_LOOP:
		virq_guest_cpu_branch(cpu, op, --cpu->regs[op->reg] != 0);
		return true;
	case VIRQ_OP_JZ:
		virq_guest_cpu_branch(cpu, op, cpu->regs[op->reg] == 0);
		return true;
	case VIRQ_OP_JNZ:
		virq_guest_cpu_branch(cpu, op, cpu->regs[op->reg] != 0);
		return true;
	default:
		return false;
	}
	cpu->pc++;
	return true;
}
