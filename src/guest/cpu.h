/* SPDX-License-Identifier: MIT */
/*
 * cpu.h - the architectural state of a micro-op guest CPU and the control ops that need no device:
 * interrupt entry and return, registers, jumps and counted loops. The engine's run loop (engine/vcpu_run.c)
 * fetches ops and performs the ones that touch the machine (MMIO, port I/O, EOI, hlt).
 *
 * Threads: the state belongs to the vCPU thread; the per-vector statistics are atomics any thread reads.
 */
#ifndef VIRQ_GUEST_CPU_H
#define VIRQ_GUEST_CPU_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "guest/latency.h"
#include "guest/program.h"

/* Nesting depth of interrupt frames; a deeper nest is a guest bug and shuts the vCPU down. */
#define VIRQ_GUEST_MAX_FRAMES 32

struct virq_guest_frame {
	uint32_t return_pc;       /* op to resume */
	uint64_t spin_left_ns;    /* remaining time of an interrupted spin (0 if none) */
};

struct virq_guest_vector_stats {
	_Atomic uint64_t handled;
	_Atomic uint64_t unhandled;
	_Atomic uint64_t last_entry_ns;
	struct virq_latency_hist latency;
};

/* What an Arm vCPU counts per GIC INTID (its latency goes to the vCPU-wide intid_latency). */
struct virq_guest_intid_stats {
	_Atomic uint64_t handled;
	_Atomic uint64_t unhandled;
	_Atomic uint64_t last_entry_ns;
};

#define VIRQ_GUEST_INTID_PAGE 256      /* INTIDs per lazily allocated page of counters */
#define VIRQ_GUEST_INTID_PAGES ((VIRQ_GUEST_MAX_INTID + 1) / VIRQ_GUEST_INTID_PAGE)

/* The register the Arm IRQ vector stub leaves the acknowledged INTID in (docs/guest.md). */
#define VIRQ_GUEST_INTID_REG 15

struct virq_guest_cpu {
	const struct virq_guest_program *prog; /* [V] */
	uint32_t pc;                           /* [V] index of the next op */
	uint64_t regs[VIRQ_GUEST_NR_REGS];     /* [V] */
	bool interrupts_enabled;               /* [V] RFLAGS.IF */
	uint64_t spin_deadline_ns;             /* [V] non-zero while the op at pc is a spin in progress */
	unsigned depth;                        /* [V] */
	struct virq_guest_frame frames[VIRQ_GUEST_MAX_FRAMES];
	struct virq_guest_vector_stats *stats; /* [A] 256 entries */
	/* Arm: per-INTID counters in pages allocated by the vCPU thread at first use, published with
	 * release; and one latency histogram over all INTIDs. */
	struct virq_guest_intid_stats *_Atomic intid_stats[VIRQ_GUEST_INTID_PAGES];
	struct virq_latency_hist *intid_latency; /* [A] */
};

int virq_guest_cpu_init(struct virq_guest_cpu *cpu);
void virq_guest_cpu_destroy(struct virq_guest_cpu *cpu);

/* Point the CPU at a program's entry with interrupts disabled and empty registers. */
void virq_guest_cpu_reset(struct virq_guest_cpu *cpu, const struct virq_guest_program *prog);

/* The op at pc. */
static inline const struct virq_guest_op *virq_guest_cpu_op(const struct virq_guest_cpu *cpu)
{
	return &cpu->prog->ops[cpu->pc];
}

uint64_t virq_guest_cpu_value(const struct virq_guest_cpu *cpu, const struct virq_guest_value *value);

/*
 * Take interrupt @vector at the current op boundary: push a frame, disable interrupts, jump to the
 * handler, record the latency from @raise_ns to @now_ns. Returns 0, or -ENOENT when the vector has no
 * handler (counted unhandled; the vCPU must shut down), -EOVERFLOW when frames nest too deep.
 */
int virq_guest_cpu_interrupt(struct virq_guest_cpu *cpu, uint8_t vector, uint64_t raise_ns, uint64_t now_ns);

/*
 * Arm: take the IRQ exception for @intid, which the GIC CPU interface has just acknowledged (the vector stub
 * read ICC_IAR1_EL1): r15 = @intid, push a frame, mask IRQs, jump to the handler of @intid ("intid N:" or
 * "intid any:"), record the latency. Returns 0, -ENOENT (no handler: counted unhandled; the vCPU must shut
 * down) or -EOVERFLOW.
 */
int virq_guest_cpu_irq(struct virq_guest_cpu *cpu, uint32_t intid, uint64_t raise_ns, uint64_t now_ns);
/* The counters of @intid, or NULL if it was never taken. Any thread. */
const struct virq_guest_intid_stats *virq_guest_cpu_intid_stats(const struct virq_guest_cpu *cpu, uint32_t intid);

/*
 * Execute a control op at pc (iret, eret, sti, cli, jmp, set, add, loop, jz, jnz) and advance pc. Returns true
 * if the op was one of those. iret with no frame is a guest bug: it is ignored (pc advances).
 */
bool virq_guest_cpu_control(struct virq_guest_cpu *cpu, uint64_t now_ns);

#endif /* VIRQ_GUEST_CPU_H */
