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
	return cpu->stats ? 0 : -ENOMEM;
}

void virq_guest_cpu_destroy(struct virq_guest_cpu *cpu)
{
	free(cpu->stats);
	cpu->stats = NULL;
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

	struct virq_guest_frame *frame = &cpu->frames[cpu->depth++];
	frame->return_pc = cpu->pc;
	frame->spin_left_ns = cpu->spin_deadline_ns > now_ns ? cpu->spin_deadline_ns - now_ns : 0;
	cpu->spin_deadline_ns = 0;
	cpu->interrupts_enabled = false;
	cpu->pc = handler;

	virq_latency_record(&st->latency, now_ns > raise_ns ? now_ns - raise_ns : 0);
	atomic_store_explicit(&st->last_entry_ns, now_ns, memory_order_relaxed);
	atomic_fetch_add_explicit(&st->handled, 1, memory_order_release);
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
