/* SPDX-License-Identifier: MIT */
/*
 * vcpu.c - vCPU life cycle, the LAPIC's view of the engine (struct virq_lapic_ops), the wake-up protocol
 * of vcpu.h, program loading and MP state.
 *
 * Life cycle follows KVM: a vCPU lives as long as its VM. A vCPU handle holds a reference on the VM, not
 * on the vCPU, so a LAPIC stays valid for every thread that found it in the VM's APIC map.
 */
#include "engine/vcpu.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "engine/arm_vm.h"
#include "engine/rcu.h"
#include "engine/vm.h"

uint64_t virq_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

_Thread_local struct virq_vcpu *virq_vcpu_current;

/*
 * The pCPU model of posted interrupts (engine/posted.h): process-wide, as the notification slot it
 * serves (bypass/notify.h). Initialised once; the handler goes into the slot the first time an irqfd
 * becomes a bypass consumer, and stays: a notification may reach it at any time after, and its context
 * (this object) is never freed.
 */
static struct virq_posted_pcpus virq_posted_cpus;
static pthread_once_t virq_posted_cpus_once = PTHREAD_ONCE_INIT;
static int virq_posted_cpus_err;
static pthread_mutex_t virq_posted_install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool virq_posted_installed; /* [L:virq_posted_install_lock] */

static void virq_posted_cpus_setup(void)
{
	virq_posted_cpus_err = virq_posted_pcpus_init(&virq_posted_cpus);
}

struct virq_posted_pcpus *virq_posted_engine_pcpus(void)
{
	pthread_once(&virq_posted_cpus_once, virq_posted_cpus_setup);
	return virq_posted_cpus_err ? NULL : &virq_posted_cpus;
}

int virq_posted_engine_install(void)
{
	struct virq_posted_pcpus *p = virq_posted_engine_pcpus();
	int ret = 0;

	if (!p)
		return virq_posted_cpus_err;
	pthread_mutex_lock(&virq_posted_install_lock);
	/* -EBUSY: another handler (a test's) holds the slot; posts still land, only blocked vCPUs are not
	 * woken by them, so try again with the next consumer rather than fail anything. */
	if (!virq_posted_installed && (ret = virq_posted_pcpus_install(p)) == 0)
		virq_posted_installed = true;
	pthread_mutex_unlock(&virq_posted_install_lock);
	return ret;
}

static void virq_vcpu_posted_kick(void *ctx)
{
	virq_vcpu_kick(ctx);
}

static const struct virq_posted_ops virq_vcpu_posted_ops = {
	.kick = virq_vcpu_posted_kick,
};

static void virq_vcpu_apicv_install(struct virq_vcpu *vcpu, bool on)
{
	virq_lapic_set_intr_ops(&vcpu->lapic, on ? &virq_posted_lapic_intr_ops : NULL, &vcpu->posted);
}

bool virq_vcpu_fold_posted(struct virq_vcpu *vcpu)
{
	if (!vcpu->has_lapic || virq_posted_vcpu_fold_lapic(&vcpu->posted, &vcpu->lapic) == 0)
		return false;
	/* AUTO: a device's post reached this vCPU (software ones only exist once on): posting is in use, so
	 * its software deliveries join the same path from now on. Only on a fold that took something. */
	if (vcpu->apicv_mode == VIRQ_APICV_AUTO && !virq_lapic_intr_ops(&vcpu->lapic))
		virq_vcpu_apicv_install(vcpu, true);
	return true;
}

int virq_vcpu_set_apicv(struct virq_vcpu *vcpu, enum virq_vcpu_apicv mode)
{
	if (!vcpu->has_lapic)
		return -ENODEV;
	if (mode != VIRQ_APICV_AUTO && mode != VIRQ_APICV_ON && mode != VIRQ_APICV_OFF)
		return -EINVAL;
	/* in_run is the ownership token (as for program loads): the run loop reads the mode unlocked. */
	if (atomic_exchange(&vcpu->in_run, true))
		return -EBUSY;
	vcpu->apicv_mode = mode;
	/* Deliveries racing with this take either path; what is left in PIR is folded by the next run. */
	virq_vcpu_apicv_install(vcpu, mode == VIRQ_APICV_ON);
	atomic_store(&vcpu->in_run, false);
	return 0;
}

bool virq_vcpu_apicv_active(const struct virq_vcpu *vcpu)
{
	return vcpu->has_lapic && virq_lapic_intr_ops(&vcpu->lapic) != NULL;
}

void virq_vcpu_kick(struct virq_vcpu *vcpu)
{
	int halted = VIRQ_VCPU_HALTED;

	atomic_store_explicit(&vcpu->event, true, memory_order_seq_cst);
	/* The vCPU's own thread (harvesting an irqfd while halted, or an ICR self-IPI) looks at `event`
	 * before it sleeps again: no wake-up write needed. */
	if (vcpu == virq_vcpu_current)
		return;
	if (atomic_load_explicit(&vcpu->mode, memory_order_seq_cst) != VIRQ_VCPU_HALTED)
		return;
	/* Only the injector that claims the halted vCPU pays for the wake-up write. */
	if (atomic_compare_exchange_strong(&vcpu->mode, &halted, VIRQ_VCPU_WAKING)) {
		uint64_t one = 1;
		atomic_fetch_add_explicit(&vcpu->halt_stats.wakeups, 1, memory_order_relaxed);
		if (write(vcpu->wake_fd, &one, sizeof(one)) < 0) {
			/* Only EAGAIN is possible (counter saturated), and then the vCPU is woken anyway. */
		}
	}
}

bool virq_vcpu_has_deliverable(struct virq_vcpu *vcpu)
{
	atomic_exchange_explicit(&vcpu->event, false, memory_order_seq_cst);
	if (!vcpu->cpu.interrupts_enabled)
		return false;
	if (vcpu->vm->arm) {
		struct virq_gic *gic = virq_arm_gic(vcpu->vm);
		return gic && vcpu->id < gic->nr_vcpus && virq_gic_pending(gic, vcpu->id);
	}
	return vcpu->has_lapic && virq_lapic_pending_vector(&vcpu->lapic) >= 0;
}

static void virq_vcpu_lapic_kick(void *opaque)
{
	virq_vcpu_kick(opaque);
}

static void virq_vcpu_lapic_eoi_broadcast(void *opaque, uint8_t vector, bool level)
{
	struct virq_vcpu *vcpu = opaque;
	virq_ioapic_eoi(&vcpu->vm->ioapic, vector, level);
}

bool virq_vcpu_eoi_wanted(void *opaque, uint8_t vector)
{
	struct virq_vcpu *vcpu = opaque;
	return virq_ioapic_wants_eoi(&vcpu->vm->ioapic, vector);
}

static int virq_vcpu_lapic_send_ipi(void *opaque, const struct virq_apic_irq *irq)
{
	struct virq_vcpu *vcpu = opaque;
	struct virq_vm *vm = vcpu->vm;

	virq_rcu_read_lock();
	struct virq_apic_map *map = virq_rcu_deref(vm->apic_map);
	int r = virq_apic_deliver(map->apics, map->nr, &vcpu->lapic, irq);
	virq_rcu_read_unlock();
	return r;
}

/* INIT parks the vCPU (KVM_MP_STATE_INIT_RECEIVED); STARTUP after INIT makes it runnable. */
static void virq_vcpu_lapic_init_sipi(void *opaque, bool startup, uint8_t sipi_vector)
{
	struct virq_vcpu *vcpu = opaque;
	uint32_t expected = KVM_MP_STATE_INIT_RECEIVED;

	if (!startup)
		atomic_store(&vcpu->mp_state, KVM_MP_STATE_INIT_RECEIVED);
	else
		atomic_compare_exchange_strong(&vcpu->mp_state, &expected, KVM_MP_STATE_RUNNABLE);
	virq_vcpu_kick(vcpu);
}

static const struct virq_lapic_ops virq_vcpu_lapic_ops = {
	.kick = virq_vcpu_lapic_kick,
	.eoi_broadcast = virq_vcpu_lapic_eoi_broadcast,
	.send_ipi = virq_vcpu_lapic_send_ipi,
	.init_sipi = virq_vcpu_lapic_init_sipi,
	.eoi_wanted = virq_vcpu_eoi_wanted,
};

/*
 * Publish a copy of the APIC map with @vcpu's LAPIC added (@present) or removed, then free the old map
 * after a grace period. Caller holds vm->lock. Returns 0 or -ENOMEM (the old map stays).
 */
static int virq_vm_publish_apic_map_locked(struct virq_vm *vm, struct virq_vcpu *vcpu, bool present)
{
	struct virq_apic_map *old = atomic_load_explicit(&vm->apic_map, memory_order_relaxed);
	unsigned nr = old->nr > vcpu->id ? old->nr : vcpu->id + 1;
	struct virq_apic_map *map = calloc(1, sizeof(*map) + nr * sizeof(map->apics[0]));

	if (!map)
		return -ENOMEM;
	map->nr = nr;
	memcpy(map->apics, old->apics, old->nr * sizeof(map->apics[0]));
	map->apics[vcpu->id] = present ? &vcpu->lapic : NULL;
	virq_rcu_assign(vm->apic_map, map);
	virq_rcu_synchronize();
	free(old);
	return 0;
}

/*
 * Take @vcpu back out of the VM (APIC map and vm->vcpus) so it can be freed. Caller holds vm->lock.
 * Returns false if there was no memory for the smaller APIC map: the vCPU then stays in the VM,
 * unreachable but valid, and is freed with it.
 */
static bool virq_vm_unpublish_vcpu_locked(struct virq_vm *vm, struct virq_vcpu *vcpu)
{
	bool unpublished = !vcpu->has_lapic || virq_vm_publish_apic_map_locked(vm, vcpu, false) == 0;

	/* irqfd assign and deassign walk vm->vcpus under irqfd_lock and use each halt_epfd. */
	pthread_mutex_lock(&vm->irqfd_lock);
	atomic_store(&vm->vcpus[vcpu->id], unpublished ? NULL : vcpu);
	pthread_mutex_unlock(&vm->irqfd_lock);
	return unpublished;
}

/*
 * Undo virq_vm_vcpu_create() when the caller could not give the vCPU a handle (KVM unwinds the same way
 * when installing the vCPU's fd fails), and drop its VM reference. Nothing can be running it: no thread
 * has a handle to it.
 */
void virq_vm_vcpu_abandon(struct virq_vcpu *vcpu)
{
	struct virq_vm *vm = vcpu->vm;

	pthread_mutex_lock(&vm->lock);
	bool unpublished = virq_vm_unpublish_vcpu_locked(vm, vcpu);
	if (unpublished) {
		atomic_fetch_sub(&vm->nr_vcpus, 1);
		/* An irqfd may have posted to it meanwhile: re-decide without it before its descriptor goes. */
		if (!vm->arm)
			virq_irqfd_bypass_update_all(vm, false);
	}
	pthread_mutex_unlock(&vm->lock);
	if (unpublished)
		virq_vcpu_destroy(vcpu);
	virq_vm_put(vm);
}

static struct virq_vcpu *virq_vcpu_alloc(struct virq_vm *vm, unsigned id)
{
	struct virq_posted_pcpus *pcpus = virq_posted_engine_pcpus();
	/* 64-byte aligned for the posted descriptor (sizeof is a multiple of it: the member is aligned). */
	struct virq_vcpu *vcpu = pcpus ? aligned_alloc(64, sizeof(*vcpu)) : NULL;

	if (!vcpu)
		return NULL;
	memset(vcpu, 0, sizeof(*vcpu));
	/* First, so virq_vcpu_destroy() may run from here on. */
	virq_posted_vcpu_init(&vcpu->posted, pcpus, &virq_vcpu_posted_ops, vcpu);
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	vcpu->halt_epfd = epoll_create1(EPOLL_CLOEXEC);
	/* Edge-triggered: every write is one wake-up and the counter never needs draining (a syscall saved
	 * per delivery; the 64-bit counter cannot fill up). */
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u64 = VIRQ_VCPU_WAKE_COOKIE };
	if (vcpu->wake_fd >= 0 && vcpu->halt_epfd >= 0 &&
	    epoll_ctl(vcpu->halt_epfd, EPOLL_CTL_ADD, vcpu->wake_fd, &ev) < 0) {
		close(vcpu->halt_epfd);
		vcpu->halt_epfd = -1;
	}
	vcpu->run = mmap(NULL, VIRQ_VCPU_RUN_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vcpu->run == MAP_FAILED)
		vcpu->run = NULL;
	if (vcpu->wake_fd < 0 || vcpu->halt_epfd < 0 || !vcpu->run || virq_guest_cpu_init(&vcpu->cpu) < 0) {
		virq_vcpu_destroy(vcpu);
		return NULL;
	}
	pthread_mutex_init(&vcpu->program_lock, NULL);
	return vcpu;
}

int virq_vm_vcpu_create(struct virq_vm *vm, unsigned long id, struct virq_vcpu **out)
{
	struct virq_vcpu *vcpu;
	int ret;

	if (id >= VIRQ_MAX_VCPUS)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	ret = -EEXIST;
	if (atomic_load(&vm->vcpus[id]))
		goto out_unlock;
	ret = virq_arm_vcpu_create_check_locked(vm);
	if (ret < 0)
		goto out_unlock;
	ret = -ENOMEM;
	vcpu = virq_vcpu_alloc(vm, (unsigned)id);
	if (!vcpu)
		goto out_unlock;

	vcpu->has_lapic = atomic_load(&vm->has_irqchip);
	virq_lapic_init(&vcpu->lapic, (uint32_t)id, &virq_vcpu_lapic_ops, vcpu);
	/* With an in-kernel irqchip every vCPU but the BSP waits for INIT/SIPI, as in KVM. */
	atomic_store(&vcpu->mp_state, vcpu->has_lapic && id != 0 ? KVM_MP_STATE_UNINITIALIZED
								: KVM_MP_STATE_RUNNABLE);
	if (vcpu->has_lapic) {
		ret = virq_vm_publish_apic_map_locked(vm, vcpu, true);
		if (ret < 0) {
			virq_vcpu_destroy(vcpu);
			goto out_unlock;
		}
	}
	/* Under irqfd_lock, so an irqfd bound meanwhile is either seen here or sees this vCPU. */
	pthread_mutex_lock(&vm->irqfd_lock);
	ret = virq_irqfd_watch_vcpu_locked(vm, vcpu);
	if (ret == 0)
		atomic_store(&vm->vcpus[id], vcpu);
	pthread_mutex_unlock(&vm->irqfd_lock);
	if (ret < 0) {
		if (virq_vm_unpublish_vcpu_locked(vm, vcpu))
			virq_vcpu_destroy(vcpu);
		goto out_unlock;
	}
	atomic_fetch_add(&vm->nr_vcpus, 1);
	atomic_store(&vm->vcpu_created, true);
	virq_vm_get(vm);
	*out = vcpu;
	ret = 0;
out_unlock:
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

void virq_vcpu_destroy(struct virq_vcpu *vcpu)
{
	/* Off any blocked list: a late wakeup notification then finds nothing. No IRTE points here any
	 * more (irqfds, and with them their posted producers, are gone before vCPUs; kvm-x86.md 1.13). */
	virq_posted_vcpu_destroy(&vcpu->posted);
	if (vcpu->wake_fd >= 0)
		close(vcpu->wake_fd);
	if (vcpu->halt_epfd >= 0)
		close(vcpu->halt_epfd);
	if (vcpu->run)
		munmap(vcpu->run, VIRQ_VCPU_RUN_SIZE);
	virq_guest_program_free(vcpu->program);
	virq_guest_cpu_destroy(&vcpu->cpu);
	free(vcpu);
}

void virq_vcpu_put(struct virq_vcpu *vcpu)
{
	virq_vm_put(vcpu->vm);
}

unsigned virq_vcpu_id(const struct virq_vcpu *vcpu)
{
	return vcpu->id;
}

struct kvm_run *virq_vcpu_kvm_run(struct virq_vcpu *vcpu)
{
	return vcpu->run;
}

int virq_vcpu_load_guest(struct virq_vcpu *vcpu, const char *text, char *err, size_t err_len)
{
	struct virq_guest_error perr = { 0 };
	struct virq_guest_program *prog;
	int ret = virq_guest_parse(text, &prog, &perr);

	if (ret < 0) {
		if (err && err_len)
			snprintf(err, err_len, "%s", perr.message);
		return ret;
	}
	/* An x86 program (vectors, eoi, port I/O) cannot run on an Arm vCPU, nor the reverse. */
	enum virq_guest_arch want = vcpu->vm->arm ? VIRQ_GUEST_ARCH_ARM : VIRQ_GUEST_ARCH_X86;
	if (prog->arch != VIRQ_GUEST_ARCH_ANY && prog->arch != want) {
		if (err && err_len)
			snprintf(err, err_len, "an %s program cannot run on a vCPU of an %s VM",
				 prog->arch == VIRQ_GUEST_ARCH_ARM ? "Arm" : "x86", vcpu->vm->arm ? "arm64" : "x86");
		virq_guest_program_free(prog);
		return -EINVAL;
	}
	/* in_run doubles as the ownership token: a thread inside KVM_RUN owns the program. */
	if (atomic_exchange(&vcpu->in_run, true)) {
		virq_guest_program_free(prog);
		return -EBUSY;
	}
	virq_guest_program_free(vcpu->program);
	vcpu->program = prog;
	virq_guest_cpu_reset(&vcpu->cpu, prog);
	vcpu->exit_pending = VIRQ_EXIT_PENDING_NONE;
	vcpu->shut_down = false;
	vcpu->reevaluate = true;
	atomic_store(&vcpu->in_run, false);
	return 0;
}

int virq_vcpu_get_mp_state(struct virq_vcpu *vcpu, struct kvm_mp_state *state)
{
	state->mp_state = atomic_load(&vcpu->mp_state);
	return 0;
}

int virq_vcpu_set_mp_state(struct virq_vcpu *vcpu, const struct kvm_mp_state *state)
{
	switch (state->mp_state) {
	case KVM_MP_STATE_RUNNABLE:
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_SIPI_RECEIVED:
		break;
	default:
		return -EINVAL;
	}
	/* KVM refuses SIPI_RECEIVED and INIT_RECEIVED without an in-kernel LAPIC. */
	if (!vcpu->has_lapic && state->mp_state != KVM_MP_STATE_RUNNABLE)
		return -EINVAL;
	/* KVM turns SIPI_RECEIVED into INIT_RECEIVED with the SIPI pending, which lets the vCPU start. */
	uint32_t st = state->mp_state == KVM_MP_STATE_SIPI_RECEIVED ? KVM_MP_STATE_RUNNABLE : state->mp_state;
	atomic_store(&vcpu->mp_state, st);
	virq_vcpu_kick(vcpu);
	return 0;
}

int virq_vcpu_vector_counts(struct virq_vcpu *vcpu, uint8_t vector, struct virq_vector_counts *out)
{
	const struct virq_lapic_vector_stats *ls = &vcpu->lapic.stats[vector];
	const struct virq_guest_vector_stats *gs = &vcpu->cpu.stats[vector];

	out->accepted = atomic_load_explicit(&ls->accepted, memory_order_relaxed);
	out->coalesced = atomic_load_explicit(&ls->coalesced, memory_order_relaxed);
	out->delivered = atomic_load_explicit(&ls->delivered, memory_order_relaxed);
	out->eoi = atomic_load_explicit(&ls->eoi, memory_order_relaxed);
	out->handled = atomic_load_explicit(&gs->handled, memory_order_acquire);
	out->unhandled = atomic_load_explicit(&gs->unhandled, memory_order_relaxed);
	out->last_entry_ns = atomic_load_explicit(&gs->last_entry_ns, memory_order_relaxed);
	out->latency_max_ns = atomic_load_explicit(&gs->latency.max_ns, memory_order_relaxed);
	out->latency_p50_ns = virq_latency_percentile(&gs->latency, 500);
	out->latency_p99_ns = virq_latency_percentile(&gs->latency, 990);
	return 0;
}

int virq_vcpu_intid_counts(struct virq_vcpu *vcpu, uint32_t intid, struct virq_intid_counts *out)
{
	if (!vcpu->vm->arm)
		return -ENODEV;
	if (intid > VIRQ_GUEST_MAX_INTID)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	const struct virq_guest_intid_stats *st = virq_guest_cpu_intid_stats(&vcpu->cpu, intid);
	if (st) {
		out->handled = atomic_load_explicit(&st->handled, memory_order_acquire);
		out->unhandled = atomic_load_explicit(&st->unhandled, memory_order_relaxed);
		out->last_entry_ns = atomic_load_explicit(&st->last_entry_ns, memory_order_relaxed);
	}
	struct virq_gic *gic = virq_arm_gic(vcpu->vm);
	if (gic && vcpu->id < gic->nr_vcpus) {
		const struct virq_gic_cpu_stats *cs = &gic->cpus[vcpu->id].stats;
		out->cpu_acked = atomic_load_explicit(&cs->acked, memory_order_relaxed);
		out->cpu_eoi = atomic_load_explicit(&cs->eoi, memory_order_relaxed);
		out->cpu_deactivated = atomic_load_explicit(&cs->deactivated, memory_order_relaxed);
		out->cpu_spurious = atomic_load_explicit(&cs->spurious, memory_order_relaxed);
	}
	const struct virq_latency_hist *lat = vcpu->cpu.intid_latency;
	out->latency_max_ns = atomic_load_explicit(&lat->max_ns, memory_order_relaxed);
	out->latency_p50_ns = virq_latency_percentile(lat, 500);
	out->latency_p99_ns = virq_latency_percentile(lat, 990);
	return 0;
}

uint64_t virq_vcpu_spurious_eoi(struct virq_vcpu *vcpu)
{
	return atomic_load_explicit(&vcpu->lapic.spurious_eoi, memory_order_relaxed);
}

int virq_vcpu_halt_counts(struct virq_vcpu *vcpu, struct virq_halt_counts *out)
{
	out->halts = atomic_load_explicit(&vcpu->halt_stats.halts, memory_order_relaxed);
	out->poll_success = atomic_load_explicit(&vcpu->halt_stats.poll_success, memory_order_relaxed);
	out->poll_fail = atomic_load_explicit(&vcpu->halt_stats.poll_fail, memory_order_relaxed);
	out->sleeps = atomic_load_explicit(&vcpu->halt_stats.sleeps, memory_order_relaxed);
	out->wakeups = atomic_load_explicit(&vcpu->halt_stats.wakeups, memory_order_relaxed);
	out->poll_ns = __atomic_load_n(&vcpu->halt_poll_ns, __ATOMIC_RELAXED);
	return 0;
}
