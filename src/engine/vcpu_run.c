/* SPDX-License-Identifier: MIT */
/*
 * vcpu_run.c - KVM_RUN: execute the guest's ops on the calling thread until the VMM is needed.
 *
 * At every op boundary the vCPU checks, by reading memory only, whether the VMM asked it to stop
 * (run->immediate_exit) and whether an interrupt may have arrived (`event`, see vcpu.h); if the guest
 * has interrupts enabled and the LAPIC has a vector above PPR, it is taken before the op. Accesses that
 * the engine claims (LAPIC page, IOAPIC window, registered MSI-X tables and PBAs, guest RAM) are handled
 * here; every other access exits to the VMM through struct kvm_run and completes on the next KVM_RUN, as
 * with KVM.
 *
 * On an arm64 VM the interrupt controller is the GICv3 (engine/arm_vm.h): an interrupt is taken when PSTATE.I
 * is clear (sti) and the CPU interface would acknowledge one; the IRQ vector stub acknowledges it (IAR1)
 * before the INTID's handler runs, as a GICv3 guest's vector does. The GIC's frames (GICD, GICR, GITS) are
 * claimed before MSI-X tables and RAM, and the ICC ops (ack, eoir, dir, pmr, eoimode, igrpen1) go to the
 * vCPU's CPU interface.
 *
 * Signals: blocked while ops run, unblocked (atomically, by epoll_pwait) while the vCPU sleeps in hlt,
 * and restored on return, so the VMM's "set immediate_exit, then signal the thread" always stops the vCPU
 * and its handler runs when KVM_RUN returns.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "engine/arm_vm.h"
#include "engine/msix_mmio.h"
#include "engine/probes.h"
#include "engine/vcpu.h"
#include "engine/vm.h"
#include "irqchip/arm/gicv3_regs.h"

enum virq_step {
	VIRQ_STEP_CONTINUE,
	VIRQ_STEP_EXIT,   /* return 0 to the VMM with run->exit_reason set */
	VIRQ_STEP_INTR,   /* return -EINTR, KVM_EXIT_INTR */
};

static bool virq_in_window(uint64_t addr, unsigned size, uint64_t base, uint64_t len)
{
	return addr >= base && addr - base < len && size <= len - (addr - base);
}

static enum virq_step virq_exit_shutdown(struct virq_vcpu *vcpu)
{
	vcpu->shut_down = true;
	vcpu->run->exit_reason = KVM_EXIT_SHUTDOWN;
	return VIRQ_STEP_EXIT;
}

/* Arm: the IRQ exception. The vector stub reads ICC_IAR1_EL1; a spurious 1023 (the interrupt went away
 * or was taken by a preemption check race) returns at once, as Linux's gic_handle_irq does. */
static enum virq_step virq_vcpu_take_irq(struct virq_vcpu *vcpu)
{
	struct virq_gic *gic = virq_arm_gic(vcpu->vm);
	uint64_t raise_ns = 0;
	uint32_t intid = virq_gic_ack(gic, vcpu->id, 1, &raise_ns);

	if (intid == VIRQ_GIC_SPURIOUS)
		return VIRQ_STEP_CONTINUE;
	uint64_t now = virq_now_ns();
	int r = virq_guest_cpu_irq(&vcpu->cpu, intid, raise_ns, now);

	VIRQ_PROBE(deliver, vcpu->id, intid, now - raise_ns);
	return r < 0 ? virq_exit_shutdown(vcpu) : VIRQ_STEP_CONTINUE;
}

/* Take the highest deliverable interrupt, if the guest accepts interrupts now. */
static enum virq_step virq_vcpu_take_interrupt(struct virq_vcpu *vcpu)
{
	if (!virq_vcpu_has_deliverable(vcpu))
		return VIRQ_STEP_CONTINUE;
	if (vcpu->vm->arm)
		return virq_vcpu_take_irq(vcpu);

	int vector = virq_lapic_pending_vector(&vcpu->lapic);
	uint64_t raise_ns = virq_lapic_ack(&vcpu->lapic, vector);
	uint64_t now = virq_now_ns();
	int r = virq_guest_cpu_interrupt(&vcpu->cpu, (uint8_t)vector, raise_ns, now);

	VIRQ_PROBE(deliver, vcpu->id, vector, now - raise_ns);
	if (r < 0)
		return virq_exit_shutdown(vcpu);
	return VIRQ_STEP_CONTINUE;
}

static enum virq_step virq_exit_mmio(struct virq_vcpu *vcpu, uint64_t addr, unsigned size, bool write,
				     uint64_t value)
{
	struct kvm_run *run = vcpu->run;

	run->exit_reason = KVM_EXIT_MMIO;
	run->mmio.phys_addr = addr;
	run->mmio.len = size;
	run->mmio.is_write = write;
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	if (write)
		memcpy(run->mmio.data, &value, size); /* x86 is little-endian, like the guest */
	vcpu->exit_pending = write ? VIRQ_EXIT_PENDING_WRITE : VIRQ_EXIT_PENDING_MMIO_READ;
	return VIRQ_STEP_EXIT;
}

/* The guest changed an MSI-X entry's address or data (msix_mmio.c filled the payload): like an MMIO
 * write, the op completes on the next KVM_RUN, after the VMM has updated the route. */
static enum virq_step virq_exit_msix_routing_update(struct virq_vcpu *vcpu)
{
	vcpu->run->exit_reason = KVM_EXIT_MSIX_ROUTING_UPDATE;
	vcpu->exit_pending = VIRQ_EXIT_PENDING_WRITE;
	return VIRQ_STEP_EXIT;
}

static enum virq_step virq_exit_pio(struct virq_vcpu *vcpu, uint16_t port, unsigned size, bool out,
				    uint64_t value)
{
	struct kvm_run *run = vcpu->run;

	run->exit_reason = KVM_EXIT_IO;
	run->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
	run->io.size = (uint8_t)size;
	run->io.port = port;
	run->io.count = 1;
	run->io.data_offset = VIRQ_VCPU_PIO_OFFSET;
	if (out)
		memcpy((char *)run + VIRQ_VCPU_PIO_OFFSET, &value, size);
	vcpu->exit_pending = out ? VIRQ_EXIT_PENDING_WRITE : VIRQ_EXIT_PENDING_PIO_IN;
	return VIRQ_STEP_EXIT;
}

static bool virq_vcpu_lapic_claims(struct virq_vcpu *vcpu, uint64_t addr, unsigned size)
{
	return vcpu->has_lapic && virq_in_window(addr, size, VIRQ_LAPIC_BASE, VIRQ_LAPIC_SIZE);
}

static bool virq_vcpu_ioapic_claims(struct virq_vcpu *vcpu, uint64_t addr, unsigned size)
{
	return vcpu->has_lapic && virq_in_window(addr, size, VIRQ_IOAPIC_BASE, VIRQ_IOAPIC_SIZE);
}

static enum virq_step virq_vcpu_mmio_write(struct virq_vcpu *vcpu, uint64_t addr, unsigned size, uint64_t value)
{
	enum virq_msix_access msix;

	if (vcpu->vm->arm && virq_arm_mmio_write(vcpu, addr, size, value)) {
		vcpu->reevaluate = true; /* enables, priorities or LPIs may have made something deliverable */
	} else if (virq_vcpu_lapic_claims(vcpu, addr, size)) {
		/* The LAPIC takes aligned 32-bit accesses; KVM ignores others. */
		if (size == 4 && (addr & 3) == 0)
			virq_lapic_mmio_write(&vcpu->lapic, (uint32_t)(addr - VIRQ_LAPIC_BASE), (uint32_t)value);
		vcpu->reevaluate = true; /* TPR, EOI or SVR may have changed what is deliverable */
	} else if (virq_vcpu_ioapic_claims(vcpu, addr, size)) {
		virq_ioapic_mmio_write(&vcpu->vm->ioapic, addr - VIRQ_IOAPIC_BASE, size, value);
	} else if ((msix = virq_msix_mmio_write(vcpu->vm, addr, size, value,
						 kvm_run_msix_routing_update(vcpu->run))) != VIRQ_MSIX_UNCLAIMED) {
		if (msix == VIRQ_MSIX_EXIT)
			return virq_exit_msix_routing_update(vcpu);
	} else if (virq_vm_write_guest(vcpu->vm, addr, &value, size) < 0) {
		return virq_exit_mmio(vcpu, addr, size, true, value);
	}
	vcpu->cpu.pc++;
	return VIRQ_STEP_CONTINUE;
}

/* mem_write stores to guest RAM; like any access nothing backs, an unbacked one exits as MMIO. */
static enum virq_step virq_vcpu_mem_write(struct virq_vcpu *vcpu, uint64_t addr, unsigned size, uint64_t value)
{
	if (virq_vm_write_guest(vcpu->vm, addr, &value, size) < 0)
		return virq_exit_mmio(vcpu, addr, size, true, value);
	vcpu->cpu.pc++;
	return VIRQ_STEP_CONTINUE;
}

static enum virq_step virq_vcpu_mmio_read(struct virq_vcpu *vcpu, const struct virq_guest_op *op)
{
	uint64_t value = 0;

	if (vcpu->vm->arm && virq_arm_mmio_read(vcpu, op->addr, op->size, &value)) {
		/* GICD, GICR or GITS register */
	} else if (virq_vcpu_lapic_claims(vcpu, op->addr, op->size)) {
		if (op->size == 4 && (op->addr & 3) == 0)
			value = virq_lapic_mmio_read(&vcpu->lapic, (uint32_t)(op->addr - VIRQ_LAPIC_BASE));
	} else if (virq_vcpu_ioapic_claims(vcpu, op->addr, op->size)) {
		value = virq_ioapic_mmio_read(&vcpu->vm->ioapic, op->addr - VIRQ_IOAPIC_BASE, op->size);
	} else if (virq_msix_mmio_read(vcpu->vm, op->addr, op->size, &value) == VIRQ_MSIX_UNCLAIMED &&
		   virq_vm_read_guest(vcpu->vm, op->addr, &value, op->size) < 0) {
		return virq_exit_mmio(vcpu, op->addr, op->size, false, 0);
	}
	vcpu->cpu.regs[op->reg] = value;
	vcpu->cpu.pc++;
	return VIRQ_STEP_CONTINUE;
}

static void virq_vcpu_eoi(struct virq_vcpu *vcpu)
{
	if (vcpu->has_lapic) {
		int vector = virq_lapic_eoi(&vcpu->lapic, virq_vcpu_eoi_wanted);
		VIRQ_PROBE(eoi, vcpu->id, vector);
		vcpu->reevaluate = true;
	}
}

/*
 * The ICC system-register ops of an Arm guest. Without an initialised GIC they are UNDEFINED: the vCPU
 * stops. Anything that can change what is deliverable makes the loop look again.
 */
static enum virq_step virq_vcpu_icc(struct virq_vcpu *vcpu, const struct virq_guest_op *op)
{
	struct virq_gic *gic = virq_arm_gic(vcpu->vm);
	uint64_t value = virq_guest_cpu_value(&vcpu->cpu, &op->value);
	unsigned id = vcpu->id;

	if (!gic || id >= gic->nr_vcpus)
		return virq_exit_shutdown(vcpu);
	switch (op->code) {
	case VIRQ_OP_ACK:
		vcpu->cpu.regs[op->reg] = virq_gic_ack(gic, id, 1, NULL);
		break;
	case VIRQ_OP_EOIR:
		virq_gic_eoi(gic, id, 1, (uint32_t)value);
		VIRQ_PROBE(eoi, id, (int)value);
		break;
	case VIRQ_OP_DIR:
		virq_gic_dir(gic, id, (uint32_t)value);
		break;
	case VIRQ_OP_PMR:
		virq_gic_icc_write(gic, id, VIRQ_ICC_PMR, value);
		break;
	case VIRQ_OP_EOIMODE: {
		uint64_t ctlr = virq_gic_icc_read(gic, id, VIRQ_ICC_CTLR) & ~(uint64_t)ICC_CTLR_EOIMODE;
		virq_gic_icc_write(gic, id, VIRQ_ICC_CTLR, (value & 1) ? ctlr | ICC_CTLR_EOIMODE : ctlr);
		break;
	}
	case VIRQ_OP_IGRPEN1:
		virq_gic_icc_write(gic, id, VIRQ_ICC_IGRPEN1, value & 1);
		break;
	default:
		return virq_exit_shutdown(vcpu);
	}
	vcpu->reevaluate = true;
	vcpu->cpu.pc++;
	return VIRQ_STEP_CONTINUE;
}

/* spin: busy-wait, taking interrupts in between; the frame keeps the time left (guest/cpu.c). */
static enum virq_step virq_vcpu_spin(struct virq_vcpu *vcpu, const struct virq_guest_op *op)
{
	uint64_t now = virq_now_ns();

	if (vcpu->cpu.spin_deadline_ns == 0)
		vcpu->cpu.spin_deadline_ns = now + op->ns;
	while (now < vcpu->cpu.spin_deadline_ns) {
		if (atomic_load_explicit(&vcpu->event, memory_order_relaxed) ||
		    (vcpu->has_lapic && virq_posted_vcpu_pending(&vcpu->posted)) ||
		    __atomic_load_n(&vcpu->run->immediate_exit, __ATOMIC_RELAXED))
			return VIRQ_STEP_CONTINUE; /* back to the op boundary, the spin resumes after */
		__builtin_ia32_pause();
		now = virq_now_ns();
	}
	vcpu->cpu.spin_deadline_ns = 0;
	vcpu->cpu.pc++;
	return VIRQ_STEP_CONTINUE;
}

static enum virq_step virq_vcpu_hlt(struct virq_vcpu *vcpu, const sigset_t *wait_mask)
{
	vcpu->cpu.pc++; /* an interrupt that ends the halt returns after the hlt, as on x86 */
	/* Only a deliverable interrupt ends a hlt; a kick for a vector PPR blocks must not skip it. */
	if (virq_vcpu_has_deliverable(vcpu)) {
		vcpu->reevaluate = true;
		return VIRQ_STEP_CONTINUE;
	}
	return virq_vcpu_halt(vcpu, wait_mask) < 0 ? VIRQ_STEP_INTR : VIRQ_STEP_CONTINUE;
}

static enum virq_step virq_vcpu_step(struct virq_vcpu *vcpu, const sigset_t *wait_mask)
{
	struct virq_guest_cpu *cpu = &vcpu->cpu;
	const struct virq_guest_op *op = virq_guest_cpu_op(cpu);

	switch (op->code) {
	case VIRQ_OP_MMIO_WRITE:
		return virq_vcpu_mmio_write(vcpu, op->addr, op->size, virq_guest_cpu_value(cpu, &op->value));
	case VIRQ_OP_MEM_WRITE:
		return virq_vcpu_mem_write(vcpu, op->addr, op->size, virq_guest_cpu_value(cpu, &op->value));
	case VIRQ_OP_MMIO_READ:
		return virq_vcpu_mmio_read(vcpu, op);
	case VIRQ_OP_OUT:
		return virq_exit_pio(vcpu, (uint16_t)op->addr, op->size, true, virq_guest_cpu_value(cpu, &op->value));
	case VIRQ_OP_IN:
		return virq_exit_pio(vcpu, (uint16_t)op->addr, op->size, false, 0);
	case VIRQ_OP_EOI:
		virq_vcpu_eoi(vcpu);
		cpu->pc++;
		return VIRQ_STEP_CONTINUE;
	case VIRQ_OP_HLT:
		return virq_vcpu_hlt(vcpu, wait_mask);
	case VIRQ_OP_SPIN:
		return virq_vcpu_spin(vcpu, op);
	case VIRQ_OP_SHUTDOWN:
		return virq_exit_shutdown(vcpu);
	case VIRQ_OP_ACK:
	case VIRQ_OP_EOIR:
	case VIRQ_OP_DIR:
	case VIRQ_OP_PMR:
	case VIRQ_OP_EOIMODE:
	case VIRQ_OP_IGRPEN1:
		return virq_vcpu_icc(vcpu, op);
	case VIRQ_OP_STI:
	case VIRQ_OP_IRET:
	case VIRQ_OP_ERET:
		vcpu->reevaluate = true;
		virq_guest_cpu_control(cpu, virq_now_ns());
		return VIRQ_STEP_CONTINUE;
	default:
		/* Registers, jumps, loops, cli. An op the engine does not know stops the vCPU, never spins. */
		return virq_guest_cpu_control(cpu, 0) ? VIRQ_STEP_CONTINUE : virq_exit_shutdown(vcpu);
	}
}

/* Finish the op that exited: a read or port input takes the data the VMM supplied; any op resumes after. */
static void virq_vcpu_complete_exit(struct virq_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	const struct virq_guest_op *op = virq_guest_cpu_op(&vcpu->cpu);
	uint64_t value = 0;

	switch (vcpu->exit_pending) {
	case VIRQ_EXIT_PENDING_NONE:
		return;
	case VIRQ_EXIT_PENDING_MMIO_READ:
		memcpy(&value, run->mmio.data, op->size);
		vcpu->cpu.regs[op->reg] = value;
		break;
	case VIRQ_EXIT_PENDING_PIO_IN:
		memcpy(&value, (char *)run + VIRQ_VCPU_PIO_OFFSET, op->size);
		vcpu->cpu.regs[op->reg] = value;
		break;
	case VIRQ_EXIT_PENDING_WRITE:
		break;
	}
	vcpu->exit_pending = VIRQ_EXIT_PENDING_NONE;
	vcpu->cpu.pc++;
}

static int virq_vcpu_execute(struct virq_vcpu *vcpu, const sigset_t *wait_mask)
{
	struct kvm_run *run = vcpu->run;

	if (vcpu->shut_down) {
		run->exit_reason = KVM_EXIT_SHUTDOWN;
		return 0;
	}
	switch (atomic_load(&vcpu->mp_state)) {
	case KVM_MP_STATE_RUNNABLE:
		break;
	case KVM_MP_STATE_HALTED:
		/* Set by KVM_SET_MP_STATE (e.g. a restored VM): resume in the halt, as KVM does. */
		if (virq_vcpu_halt(vcpu, wait_mask) < 0)
			goto intr;
		atomic_store(&vcpu->mp_state, KVM_MP_STATE_RUNNABLE);
		break;
	default:
		if (virq_vcpu_wait_runnable(vcpu, wait_mask) < 0)
			goto intr;
	}
	vcpu->reevaluate = true;

	for (;;) {
		if (__atomic_load_n(&run->immediate_exit, __ATOMIC_RELAXED))
			goto intr;
		/* Posted requests (VT-d through the IOMMU) reach IRR here, as vmx_sync_pir_to_irr does on VM
		 * entry: one relaxed load when nothing was posted, no syscall, no lock. */
		if (virq_vcpu_fold_posted(vcpu))
			vcpu->reevaluate = true;
		if ((vcpu->reevaluate || atomic_load_explicit(&vcpu->event, memory_order_relaxed)) &&
		    (vcpu->has_lapic || vcpu->vm->arm)) {
			vcpu->reevaluate = false;
			if (virq_vcpu_take_interrupt(vcpu) == VIRQ_STEP_EXIT)
				return 0;
		}
		switch (virq_vcpu_step(vcpu, wait_mask)) {
		case VIRQ_STEP_CONTINUE:
			continue;
		case VIRQ_STEP_EXIT:
			return 0;
		case VIRQ_STEP_INTR:
			goto intr;
		}
	}
intr:
	run->exit_reason = KVM_EXIT_INTR;
	return -EINTR;
}

int virq_vcpu_run(struct virq_vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	sigset_t block, saved;
	int ret;

	if (atomic_exchange(&vcpu->in_run, true))
		return -EBUSY;
	if (!vcpu->program) {
		ret = -ENOEXEC;
		goto out;
	}
	/* arm64: the vGIC must be initialised and its frames placed before a vCPU runs (KVM). */
	ret = virq_arm_vcpu_run_check(vcpu);
	if (ret < 0)
		goto out;
	/* As KVM does, complete the previous exit before looking at immediate_exit. */
	virq_vcpu_complete_exit(vcpu);
	if (__atomic_load_n(&run->immediate_exit, __ATOMIC_RELAXED)) {
		run->exit_reason = KVM_EXIT_INTR;
		ret = -EINTR;
		goto out;
	}
	/* Keep synchronous fault signals deliverable; everything else waits for a halt or the return. */
	sigfillset(&block);
	sigdelset(&block, SIGSEGV);
	sigdelset(&block, SIGBUS);
	sigdelset(&block, SIGFPE);
	sigdelset(&block, SIGILL);
	sigdelset(&block, SIGTRAP);
	sigdelset(&block, SIGABRT);
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	atomic_store(&vcpu->mode, VIRQ_VCPU_RUNNING);
	virq_vcpu_current = vcpu;
	/* KVM's vcpu_load / vcpu_put around the run: posts notify 0xf2 and are folded at op boundaries
	 * while inside, only recorded (SN) while outside; running() sets ON for what was recorded. */
	if (vcpu->has_lapic)
		virq_posted_vcpu_running(&vcpu->posted, virq_posted_this_pcpu());
	ret = virq_vcpu_execute(vcpu, &saved);
	if (vcpu->has_lapic)
		virq_posted_vcpu_sched_out(&vcpu->posted);
	virq_vcpu_current = NULL;
	atomic_store(&vcpu->mode, VIRQ_VCPU_OUTSIDE);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
out:
	atomic_store(&vcpu->in_run, false);
	return ret;
}
