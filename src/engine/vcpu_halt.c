/* SPDX-License-Identifier: MIT */
/*
 * vcpu_halt.c - what a vCPU does in hlt: KVM's halt polling, then sleep until woken.
 *
 * Halt polling (virt/kvm/kvm_main.c, kvm_vcpu_halt): before sleeping, spin for up to an adaptive budget
 * in case an interrupt arrives soon; a wake-up from a spin costs a cache-line transfer instead of a
 * cross-core thread wake-up (about 10 µs here). The budget starts at 0, grows to 10 µs and then doubles
 * (up to the VM's maximum) while halts end within the maximum, and drops back to 0 when a halt lasts
 * longer than the maximum (KVM's default shrink factor 0). The VM's maximum is KVM_CAP_HALT_POLL; 0
 * turns polling off.
 *
 * Sleeping: epoll_pwait() on wake_fd (edge-triggered, so it is never drained) and on the VM's irqfd
 * eventfds, whose signals a halted vCPU takes and injects itself (irqfd_watch.c). The wait uses the VMM's
 * own signal mask, so a signal sent to stop the vCPU ends the sleep even if it arrived between our last
 * check and the call (signals stay blocked while the guest runs ops; see vcpu_run.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine/vcpu.h"
#include "engine/vm.h"

#define VIRQ_HALT_POLL_GROW_START_NS 10000ull
#define VIRQ_HALT_EVENTS 16

static bool virq_vcpu_stop_requested(struct virq_vcpu *vcpu)
{
	return __atomic_load_n(&vcpu->run->immediate_exit, __ATOMIC_RELAXED) != 0;
}

static void virq_vcpu_adapt_poll(struct virq_vcpu *vcpu, uint64_t halt_ns, uint64_t max_ns)
{
	uint64_t budget = vcpu->halt_poll_ns;

	if (max_ns == 0)
		budget = 0;
	else if (halt_ns <= budget)
		return;
	else if (budget && halt_ns > max_ns)
		budget = 0;
	else if (budget < max_ns && halt_ns < max_ns) {
		budget *= 2;
		if (budget < VIRQ_HALT_POLL_GROW_START_NS)
			budget = VIRQ_HALT_POLL_GROW_START_NS;
		if (budget > max_ns)
			budget = max_ns;
	}
	__atomic_store_n(&vcpu->halt_poll_ns, budget, __ATOMIC_RELAXED);
}

/* Spin until an interrupt is deliverable or the budget runs out. Returns true on success. */
static bool virq_vcpu_poll(struct virq_vcpu *vcpu, uint64_t start_ns, uint64_t budget_ns)
{
	while (virq_now_ns() - start_ns < budget_ns) {
		/* A post while polling notifies the running vector (0xf2), which kicks nobody: look at ON. */
		if ((virq_vcpu_fold_posted(vcpu) || atomic_load_explicit(&vcpu->event, memory_order_relaxed)) &&
		    virq_vcpu_has_deliverable(vcpu))
			return true;
		if (virq_vcpu_stop_requested(vcpu))
			return false;
		__builtin_ia32_pause();
	}
	return false;
}

/*
 * Sleep until @ready(vcpu) holds. Returns 0, or -EINTR when the VMM asked the vCPU to stop
 * (immediate_exit) or a signal arrived.
 */
static int virq_vcpu_sleep(struct virq_vcpu *vcpu, const sigset_t *wait_mask, bool (*ready)(struct virq_vcpu *))
{
	struct epoll_event events[VIRQ_HALT_EVENTS];
	int ret = 0, n;

	for (;;) {
		atomic_store_explicit(&vcpu->mode, VIRQ_VCPU_HALTED, memory_order_seq_cst);
		/* A post whose wakeup kick saw us still RUNNING (so wrote no wake_fd), or one block() found
		 * pending: the seq_cst ON load pairs with the mode store above as `event` does (vcpu.h). */
		if (vcpu->has_lapic && virq_posted_desc_on(&vcpu->posted.desc))
			virq_vcpu_fold_posted(vcpu);
		if (ready(vcpu))
			break;
		if (virq_vcpu_stop_requested(vcpu)) {
			ret = -EINTR;
			break;
		}
		atomic_fetch_add_explicit(&vcpu->halt_stats.sleeps, 1, memory_order_relaxed);
		/* A late write from a wake-up already seen costs one spurious pass here, nothing more. */
		n = epoll_pwait(vcpu->halt_epfd, events, VIRQ_HALT_EVENTS, -1, wait_mask);
		if (n < 0 && errno == EINTR) {
			ret = -EINTR;
			break;
		}
		/* An irqfd's signal woke this vCPU rather than the poller: inject it from here. While this
		 * thread was waking, further exclusive wake-ups stopped at it too, so take every ready event
		 * before deciding anything: nobody else will. */
		while (n > 0) {
			for (int i = 0; i < n; i++)
				if (events[i].data.u64 != VIRQ_VCPU_WAKE_COOKIE)
					virq_irqfd_harvest(vcpu->vm, events[i].data.u64);
			n = n == VIRQ_HALT_EVENTS ? epoll_wait(vcpu->halt_epfd, events, VIRQ_HALT_EVENTS, 0) : 0;
		}
	}
	atomic_store_explicit(&vcpu->mode, VIRQ_VCPU_RUNNING, memory_order_seq_cst);
	return ret;
}

static bool virq_vcpu_irq_ready(struct virq_vcpu *vcpu)
{
	if (!virq_vcpu_has_deliverable(vcpu))
		return false;
	vcpu->reevaluate = true;
	return true;
}

/*
 * The sleep of a hlt with KVM's posted-interrupt states around it (kvm-x86.md 3.3): with IF=1 the vCPU
 * is blocked (on its pCPU's wakeup list, NV 0xf1: a post wakes it through the notification handler's
 * kick); with IF=0 no interrupt can end the halt, so posts are only recorded (SN), as when preempted.
 * block() reporting a post that raced with its NV switch needs nothing more: the sleep loop folds before
 * its first ready() check.
 */
static int virq_vcpu_halt_sleep(struct virq_vcpu *vcpu, const sigset_t *wait_mask)
{
	bool blocked = vcpu->has_lapic && vcpu->cpu.interrupts_enabled;
	int ret;

	if (blocked)
		virq_posted_vcpu_block(&vcpu->posted, virq_posted_this_pcpu());
	else if (vcpu->has_lapic)
		virq_posted_vcpu_sched_out(&vcpu->posted);
	ret = virq_vcpu_sleep(vcpu, wait_mask, virq_vcpu_irq_ready);
	if (blocked)
		virq_posted_vcpu_unblock(&vcpu->posted);
	else if (vcpu->has_lapic)
		virq_posted_vcpu_running(&vcpu->posted, virq_posted_this_pcpu());
	return ret;
}

int virq_vcpu_halt(struct virq_vcpu *vcpu, const sigset_t *wait_mask)
{
	uint64_t max_ns = atomic_load_explicit(&vcpu->vm->halt_poll_max_ns, memory_order_relaxed);
	uint64_t start = virq_now_ns();
	uint64_t budget = vcpu->halt_poll_ns < max_ns ? vcpu->halt_poll_ns : max_ns;
	int ret = 0;

	atomic_fetch_add_explicit(&vcpu->halt_stats.halts, 1, memory_order_relaxed);
	/* With interrupts disabled only the VMM can end a hlt, so polling would be wasted. */
	if (budget && vcpu->cpu.interrupts_enabled) {
		if (virq_vcpu_poll(vcpu, start, budget)) {
			atomic_fetch_add_explicit(&vcpu->halt_stats.poll_success, 1, memory_order_relaxed);
			vcpu->reevaluate = true;
			virq_vcpu_adapt_poll(vcpu, virq_now_ns() - start, max_ns);
			return 0;
		}
		atomic_fetch_add_explicit(&vcpu->halt_stats.poll_fail, 1, memory_order_relaxed);
	}
	ret = virq_vcpu_halt_sleep(vcpu, wait_mask);
	if (ret == 0)
		virq_vcpu_adapt_poll(vcpu, virq_now_ns() - start, max_ns);
	return ret;
}

static bool virq_vcpu_runnable(struct virq_vcpu *vcpu)
{
	atomic_exchange_explicit(&vcpu->event, false, memory_order_seq_cst);
	return atomic_load(&vcpu->mp_state) == KVM_MP_STATE_RUNNABLE;
}

int virq_vcpu_wait_runnable(struct virq_vcpu *vcpu, const sigset_t *wait_mask)
{
	if (virq_vcpu_runnable(vcpu))
		return 0;
	return virq_vcpu_sleep(vcpu, wait_mask, virq_vcpu_runnable);
}
