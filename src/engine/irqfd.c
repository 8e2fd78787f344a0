/* SPDX-License-Identifier: MIT */
/*
 * irqfd.c - KVM_IRQFD assign and deassign, and the process-wide set of bound eventfds.
 *
 * Identity: an eventfd is its open file, not its number. virq keeps a dup of every bound eventfd and
 * compares files with kcmp(KCMP_FILE). That is how "already bound" (EBUSY, across all VMs as in Linux
 * since 2025) and "the caller closed or reused its number" are found.
 *
 * Shutdown order (KVM's, eventfd.c irqfd_shutdown): take it out of the table and unhook it from every
 * epoll set, wait a grace period so no injection from it is in flight (irqfd_watch.c), leave the
 * resampler (another grace period, so the EOI path no longer sees the resamplefd), then close the dups and
 * free. Deassign waits for all of it, so no injection can happen once it returns.
 *
 * Locking: vm->irqfd_lock protects the VM's list and its resamplers; virq_bound_lock the process-wide
 * set (taken inside irqfd_lock).
 */
#include "engine/irqfd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bypass/notify.h"
#include "engine/arm_vm.h"
#include "engine/kvm_vfio.h"
#include "engine/msix_mmio.h"
#include "engine/rcu.h"
#include "engine/vcpu.h"
#include "engine/vm.h"

static pthread_mutex_t virq_bound_lock = PTHREAD_MUTEX_INITIALIZER;
static struct virq_irqfd *virq_bound;  /* [L:virq_bound_lock] every bound irqfd of every VM */

/* 0 when @a and @b are the same open file; -EBADF when either is closed; >0 when they differ; another
 * -errno when kcmp itself is unavailable (a seccomp filter, a kernel without CONFIG_KCMP). */
static int virq_same_file(int a, int b)
{
	pid_t self = getpid();
	long r = syscall(SYS_kcmp, self, self, KCMP_FILE, a, b);
	return r < 0 ? -errno : (int)r;
}

/* KVM's eventfd_ctx_fdget(): -EBADF if @fd is not open, -EINVAL if it is not an eventfd. */
static int virq_check_eventfd(int fd)
{
	char path[32], target[32];
	ssize_t n;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -EBADF;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0 ? 0 : -EINVAL;
}

/* Add @irqfd to the process-wide set unless its eventfd is already bound (checked and added under one
 * hold of the lock, so two VMs cannot both bind the same eventfd). Returns 0 or -EBUSY. */
static int virq_bound_claim(struct virq_irqfd *irqfd)
{
	int ret = 0;

	pthread_mutex_lock(&virq_bound_lock);
	for (struct virq_irqfd *b = virq_bound; b && ret == 0; b = b->bound_next)
		if (virq_same_file(irqfd->efd, b->efd) == 0)
			ret = -EBUSY;
	if (ret == 0) {
		irqfd->bound_next = virq_bound;
		virq_bound = irqfd;
	}
	pthread_mutex_unlock(&virq_bound_lock);
	return ret;
}

static void virq_bound_remove(struct virq_irqfd *irqfd)
{
	pthread_mutex_lock(&virq_bound_lock);
	for (struct virq_irqfd **link = &virq_bound; *link; link = &(*link)->bound_next) {
		if (*link == irqfd) {
			*link = irqfd->bound_next;
			break;
		}
	}
	pthread_mutex_unlock(&virq_bound_lock);
}

/* ---- the irqfd as a bypass consumer (x86: posting; arm64: direct LPI injection) ---- */

/* The policy's view of the VM's LAPICs: the APIC map (indexed by APIC ID = vCPU id), read under RCU
 * until apics_done, so a map replaced meanwhile is not freed under the decision. */
static struct virq_lapic *const *virq_vm_bypass_apics(void *ctx, unsigned *nr)
{
	struct virq_vm *vm = ctx;

	virq_rcu_read_lock();
	struct virq_apic_map *map = virq_rcu_deref(vm->apic_map);
	*nr = map->nr;
	return map->apics;
}

static void virq_vm_bypass_apics_done(void *ctx)
{
	virq_rcu_read_unlock();
}

/* vCPUs live as long as their VM (an abandoned one is re-decided away first: vcpu.c). */
static uint64_t virq_vm_bypass_desc_addr(void *ctx, unsigned id)
{
	struct virq_vcpu *vcpu = virq_vm_vcpu(ctx, id);

	return vcpu && vcpu->has_lapic ? virq_posted_vcpu_desc_addr(&vcpu->posted) : 0;
}

/*
 * The IRTE now posts to @to: move a request for @from's vector still waiting in @from's PIR (posted
 * before the IRTE write, not yet folded by the old vCPU) into @to, notifying as a post would. The IRTE
 * write has waited out posts in flight, so none lands in @from after this. A bit that also carries a
 * software request of the old vCPU's (the LAPIC override posts IPIs and MSIs into the same PIR) stays
 * where it is: moving it would take that request from its vCPU. (Another device's post of the same
 * vector to the old vCPU still moves: PIR bits carry no source.)
 */
static void virq_vm_bypass_retargeted(void *ctx, const struct virq_bypass_vcpu_info *from,
				      const struct virq_bypass_vcpu_info *to)
{
	struct virq_posted_desc *new = (struct virq_posted_desc *)(uintptr_t)to->pi_desc_addr;

	if (!virq_posted_vcpu_take_device_request(virq_posted_vcpu_of_desc(from->pi_desc_addr), from->vector))
		return;
	struct virq_posted_result r = virq_posted_desc_post(new, to->vector, false);
	if (r.notify)
		virq_bypass_notify(r.ndst, r.nv);
}

/* POST_IRQ / UNPOST_IRQ of the VM's kvm-vfio device, if it has one. Called under the irqfd's bypass
 * lock, which the device's release waits for after clearing the pointer (vm_kvm_vfio.c). */
static enum virq_bypass_override virq_vm_bypass_override(void *ctx, uint32_t gsi)
{
	struct virq_vm *vm = ctx;
	struct virq_kvm_vfio *dev = atomic_load_explicit(&vm->kvm_vfio, memory_order_acquire);

	return dev ? virq_kvm_vfio_override(dev, gsi) : VIRQ_BYPASS_AUTO;
}

static const char *virq_vm_bypass_held(void *ctx, uint32_t gsi)
{
	return virq_msix_gsi_held(ctx, gsi);
}

static void virq_vm_bypass_paired(void *ctx, bool on)
{
	struct virq_vm *vm = ctx;

	if (on)
		atomic_fetch_add(&vm->bypass_paired, 1);
	else
		atomic_fetch_sub(&vm->bypass_paired, 1);
}

static const struct virq_irqfd_bypass_ops virq_vm_bypass_ops = {
	.apics = virq_vm_bypass_apics,
	.apics_done = virq_vm_bypass_apics_done,
	.desc_addr = virq_vm_bypass_desc_addr,
	.retargeted = virq_vm_bypass_retargeted,
	.override = virq_vm_bypass_override,
	.held = virq_vm_bypass_held,
	.paired = virq_vm_bypass_paired,
};

/*
 * The producer has just switched to direct injection: whatever its earlier messages left in the eventfd
 * is injected now, as the irqfd's watcher would have (it may also find it first: one of the two reads
 * gets the count). The irqfd is live: its consumer is registered, and shutdown unregisters it first.
 */
static void virq_vm_bypass_drain(struct virq_irqfd_bypass *b)
{
	virq_irqfd_drain((struct virq_irqfd *)((char *)b - offsetof(struct virq_irqfd, bypass)));
}

/* arm64 (arm_direct.c, docs/forwarding.md "MSIs straight to the LPI"): no posting, no kvm-vfio override. */
static const struct virq_irqfd_bypass_ops virq_vm_arm_bypass_ops = {
	.held = virq_vm_bypass_held,
	.paired = virq_vm_bypass_paired,
	.resolve_lpi = virq_arm_bypass_resolve,
	.inject_lpi = virq_arm_bypass_inject,
	.drain = virq_vm_bypass_drain,
};

/* @irqfd's GSI in the routing table current now. Caller holds vm->irqfd_lock or vm->lock. */
static void virq_irqfd_bypass_route(struct virq_vm *vm, const struct virq_irqfd *irqfd, struct virq_bypass_route *out)
{
	virq_rcu_read_lock();
	virq_routing_bypass_route(virq_rcu_deref(vm->routing), irqfd->gsi, out);
	virq_rcu_read_unlock();
}

/*
 * Register a published irqfd as a bypass consumer (kvm_irqfd_assign's irq_bypass_register_consumer).
 * Caller holds vm->irqfd_lock, so a routing change that published a new table meanwhile either was read
 * here or re-decides this irqfd after us. A failure (another consumer on the same eventfd) only means no
 * bypass: the irqfd works as before, as KVM only logs it. x86 consumers post, arm64 ones inject MSIs
 * straight into their LPI (arm_direct.c; Arm forwarding of INTx lines is not a consumer of this kind).
 */
static void virq_irqfd_bypass_start_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	struct virq_bypass_route route;

	virq_irqfd_bypass_route(vm, irqfd, &route);
	if (virq_irqfd_bypass_init(&irqfd->bypass, vm->arm ? &virq_vm_arm_bypass_ops : &virq_vm_bypass_ops, vm,
				   irqfd->gsi, false, &route) < 0)
		return;
	/* The wakeup handler must be in place before anything can post to a blocked vCPU of ours. */
	if (!vm->arm)
		virq_posted_engine_install();
	if (virq_irqfd_bypass_register(&irqfd->bypass, irqfd->efd) < 0) {
		virq_irqfd_bypass_destroy(&irqfd->bypass);
		return;
	}
	irqfd->bypass_on = true;
}

/* Before the grace period of shutdown: the producer goes back to remapped (its IRTE write waits out
 * posts in flight), so from here every message reaches the eventfd, and no IRTE names our vCPUs. */
static void virq_irqfd_bypass_stop_locked(struct virq_irqfd *irqfd)
{
	if (!irqfd->bypass_on)
		return;
	virq_irqfd_bypass_unregister(&irqfd->bypass);
	virq_irqfd_bypass_destroy(&irqfd->bypass);
	irqfd->bypass_on = false;
}

/* Re-decide the bypassed irqfds on @gsi (UINT32_MAX: all), with a fresh route when @reroute. */
static void virq_irqfd_bypass_update_gsi(struct virq_vm *vm, bool reroute, uint32_t gsi)
{
	struct virq_bypass_route route;

	pthread_mutex_lock(&vm->irqfd_lock);
	for (struct virq_irqfd *irqfd = vm->irqfds; irqfd; irqfd = irqfd->next) {
		if (!irqfd->bypass_on || (gsi != UINT32_MAX && irqfd->gsi != gsi))
			continue;
		if (reroute)
			virq_irqfd_bypass_route(vm, irqfd, &route);
		/* An error leaves the pair remapped, with the reason recorded: nothing to undo here. */
		virq_irqfd_bypass_update(&irqfd->bypass, reroute ? &route : NULL);
	}
	pthread_mutex_unlock(&vm->irqfd_lock);
}

void virq_irqfd_bypass_update_all(struct virq_vm *vm, bool reroute)
{
	virq_irqfd_bypass_update_gsi(vm, reroute, UINT32_MAX);
}

void virq_irqfd_bypass_gsi_changed(struct virq_vm *vm, uint32_t gsi)
{
	virq_irqfd_bypass_update_gsi(vm, false, gsi);
}

void virq_irqfd_bypass_lpis_changed(struct virq_vm *vm, uint64_t changes)
{
	pthread_mutex_lock(&vm->irqfd_lock);
	/* Never backwards: a slower caller that read an older count re-decides anyway (harmless). */
	if (changes > atomic_load(&vm->arm->bypass_seen))
		atomic_store(&vm->arm->bypass_seen, changes);
	for (struct virq_irqfd *irqfd = vm->irqfds; irqfd; irqfd = irqfd->next)
		if (irqfd->bypass_on)
			virq_irqfd_bypass_update(&irqfd->bypass, NULL);
	pthread_mutex_unlock(&vm->irqfd_lock);
}

/* The native call behind `virq explain` (vm.h): the bypass decision of the irqfd on @eventfd. */
int virq_vm_irqfd_bypass(struct virq_vm *vm, int eventfd, struct virq_irqfd_bypass_state *out)
{
	int ret = -ENOENT;

	if (eventfd < 0 || fcntl(eventfd, F_GETFD) < 0)
		return -EBADF;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vm->irqfd_lock);
	for (struct virq_irqfd *irqfd = vm->irqfds; irqfd; irqfd = irqfd->next) {
		if (virq_same_file(eventfd, irqfd->efd) != 0)
			continue;
		out->gsi = irqfd->gsi;
		ret = 0;
		if (!irqfd->bypass_on) {
			snprintf(out->reason, sizeof(out->reason), "not a bypass consumer (another irqfd holds its eventfd)");
			break;
		}
		struct virq_bypass_decision d;
		bool paired = virq_irqfd_bypass_explain(&irqfd->bypass, &d);
		if (!paired) {
			snprintf(out->reason, sizeof(out->reason), "no host interrupt shares this eventfd");
		} else {
			switch (d.mode) {
			case VIRQ_BYPASS_POSTED: out->path = VIRQ_IRQFD_PATH_POSTED; break;
			case VIRQ_BYPASS_REMAPPED: out->path = VIRQ_IRQFD_PATH_REMAPPED; break;
			case VIRQ_BYPASS_DIRECT_LPI: out->path = VIRQ_IRQFD_PATH_DIRECT_LPI; break;
			case VIRQ_BYPASS_SOFTWARE: out->path = VIRQ_IRQFD_PATH_SOFTWARE; break;
			}
			out->vcpu = d.vcpu;
			out->vector = d.vector;
			if (d.mode == VIRQ_BYPASS_DIRECT_LPI) {
				out->devid = d.devid;
				out->eventid = d.eventid;
				out->intid = d.intid;
			}
			snprintf(out->reason, sizeof(out->reason), "%s", d.reason);
		}
		out->posts = atomic_load(&irqfd->bypass.posts);
		out->remaps = atomic_load(&irqfd->bypass.remaps);
		out->failures = atomic_load(&irqfd->bypass.failures);
		out->direct_injected = atomic_load(&irqfd->bypass.injected);
		out->direct_fallbacks = atomic_load(&irqfd->bypass.fallbacks);
		break;
	}
	pthread_mutex_unlock(&vm->irqfd_lock);
	return ret;
}

static void virq_irqfd_free(struct virq_irqfd *irqfd)
{
	if (irqfd->efd >= 0)
		close(irqfd->efd);
	if (irqfd->resample_efd >= 0)
		close(irqfd->resample_efd);
	free(irqfd);
}

/*
 * KVM accepts any GSI, also for resampling irqfds; a GSI no route can name (>= KVM_MAX_IRQ_ROUTES) can
 * never see an EOI, so such an irqfd gets no resampler (vm->resamplers is indexed by GSI).
 */
static bool virq_irqfd_has_resampler(const struct virq_irqfd *irqfd)
{
	return irqfd->resample_efd >= 0 && irqfd->gsi < KVM_MAX_IRQ_ROUTES;
}

/*
 * Tear down an irqfd already unlinked from the VM's list. Caller holds vm->irqfd_lock. Once it is out of
 * the table and every epoll set, one grace period lets each watcher that may have fetched its event
 * finish (irqfd_watch.c): after that no injection from it can happen.
 */
static void virq_irqfd_shutdown_locked(struct virq_vm *vm, struct virq_irqfd *irqfd)
{
	virq_irqfd_bypass_stop_locked(irqfd);
	virq_irqfd_table_remove_locked(vm, irqfd);
	virq_irqfd_unwatch_locked(vm, irqfd);
	virq_rcu_synchronize();
	if (virq_irqfd_has_resampler(irqfd))
		virq_resampler_leave_locked(vm, irqfd);
	virq_bound_remove(irqfd);
	virq_irqfd_free(irqfd);
}

/* Unlink and shut down every irqfd of @vm for which @match says so. Caller holds vm->irqfd_lock. */
static void virq_irqfd_remove_locked(struct virq_vm *vm, bool (*match)(const struct virq_irqfd *, const void *),
				     const void *arg)
{
	struct virq_irqfd **link = &vm->irqfds;

	while (*link) {
		struct virq_irqfd *irqfd = *link;
		if (match(irqfd, arg)) {
			*link = irqfd->next;
			virq_irqfd_shutdown_locked(vm, irqfd);
		} else {
			link = &irqfd->next;
		}
	}
}

/* The caller's number is closed (EBADF) or now names another file (> 0). If kcmp cannot answer at all,
 * nothing is torn down: virq_irqfd_validate_assign() has already refused to bind anything then. */
static bool virq_irqfd_user_closed(const struct virq_irqfd *irqfd, const void *unused)
{
	int r = virq_same_file(irqfd->user_fd, irqfd->efd);
	return r == -EBADF || r > 0;
}

void virq_irqfd_reap_closed(struct virq_vm *vm)
{
	pthread_mutex_lock(&vm->irqfd_lock);
	virq_irqfd_remove_locked(vm, virq_irqfd_user_closed, NULL);
	pthread_mutex_unlock(&vm->irqfd_lock);
}

static bool virq_irqfd_always(const struct virq_irqfd *irqfd, const void *unused)
{
	return true;
}

void virq_irqfd_release_all(struct virq_vm *vm)
{
	pthread_mutex_lock(&vm->irqfd_lock);
	virq_irqfd_remove_locked(vm, virq_irqfd_always, NULL);
	pthread_mutex_unlock(&vm->irqfd_lock);
}

struct virq_irqfd_key {
	int fd;
	uint32_t gsi;
};

static bool virq_irqfd_matches_key(const struct virq_irqfd *irqfd, const void *arg)
{
	const struct virq_irqfd_key *key = arg;
	return irqfd->gsi == key->gsi && virq_same_file(key->fd, irqfd->efd) == 0;
}

/* Deassign is (eventfd, gsi)-keyed and succeeds even when nothing matches, as in KVM. */
static int virq_irqfd_deassign(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	struct virq_irqfd_key key = { .fd = (int)args->fd, .gsi = args->gsi };
	int ret = virq_check_eventfd(key.fd);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&vm->irqfd_lock);
	virq_irqfd_remove_locked(vm, virq_irqfd_matches_key, &key);
	pthread_mutex_unlock(&vm->irqfd_lock);
	return 0;
}

static int virq_irqfd_validate_assign(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	int ret;

	/* Both kinds need the in-kernel irqchip on x86 (kvm_arch_irqfd_allowed; no split irqchip here);
	 * arm64 has no such check: an irqfd before the vGIC exists injects nothing. */
	if (!vm->arm && !atomic_load_explicit(&vm->has_irqchip, memory_order_acquire))
		return -EINVAL;
	ret = virq_check_eventfd((int)args->fd);
	if (ret == 0 && (args->flags & KVM_IRQFD_FLAG_RESAMPLE))
		ret = virq_check_eventfd((int)args->resamplefd);
	if (ret == 0) {
		/* Eventfd identity needs kcmp (ARCHITECTURE.md 8.1): without it, refuse rather than misjudge. */
		int r = virq_same_file((int)args->fd, (int)args->fd);
		if (r < 0)
			ret = r;
	}
	return ret;
}

/* Allocate an irqfd holding its own duplicates of the eventfds. Returns 0 or -errno (a dup can fail
 * with EMFILE, or EBADF if the caller closed the fd meanwhile). */
static int virq_irqfd_alloc(struct virq_vm *vm, const struct kvm_irqfd *args, struct virq_irqfd **out)
{
	struct virq_irqfd *irqfd = calloc(1, sizeof(*irqfd));
	int ret = 0;

	if (!irqfd)
		return -ENOMEM;
	irqfd->vm = vm;
	irqfd->user_fd = (int)args->fd;
	irqfd->gsi = args->gsi;
	irqfd->resample_efd = -1;
	irqfd->efd = fcntl((int)args->fd, F_DUPFD_CLOEXEC, 0);
	if (irqfd->efd < 0)
		ret = -errno;
	if (ret == 0 && (args->flags & KVM_IRQFD_FLAG_RESAMPLE)) {
		irqfd->resample_efd = fcntl((int)args->resamplefd, F_DUPFD_CLOEXEC, 0);
		if (irqfd->resample_efd < 0)
			ret = -errno;
	}
	if (ret < 0) {
		virq_irqfd_free(irqfd);
		return ret;
	}
	*out = irqfd;
	return 0;
}

static int virq_irqfd_assign(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	struct virq_irqfd *irqfd;
	int ret;

	pthread_mutex_lock(&vm->irqfd_lock);
	ret = virq_irqfd_validate_assign(vm, args);
	if (ret < 0)
		goto out_unlock;
	ret = virq_irqfd_alloc(vm, args, &irqfd);
	if (ret < 0)
		goto out_unlock;
	ret = virq_bound_claim(irqfd);
	if (ret < 0)
		goto out_free;
	if (virq_irqfd_has_resampler(irqfd)) {
		ret = virq_resampler_join_locked(vm, irqfd);
		if (ret < 0)
			goto out_unclaim;
	}
	/* Fully set up before the eventfd is watched: the first signal may arrive at once. */
	ret = virq_irqfd_table_reserve_locked(vm, irqfd);
	if (ret < 0)
		goto out_leave;
	ret = virq_irqfd_watch_locked(vm, irqfd);
	if (ret < 0)
		goto out_leave;
	/* Published last: a failed assign can never have injected or drained anything. */
	virq_irqfd_table_publish_locked(vm, irqfd);
	irqfd->next = vm->irqfds;
	vm->irqfds = irqfd;
	/* Only now: a paired producer may stop signalling the eventfd, which must by then be injected
	 * from (remapped) or be unneeded (posted). */
	virq_irqfd_bypass_start_locked(vm, irqfd);
	pthread_mutex_unlock(&vm->irqfd_lock);
	return 0;

out_leave:
	if (virq_irqfd_has_resampler(irqfd))
		virq_resampler_leave_locked(vm, irqfd);
out_unclaim:
	virq_bound_remove(irqfd);
out_free:
	virq_irqfd_free(irqfd);
out_unlock:
	pthread_mutex_unlock(&vm->irqfd_lock);
	return ret;
}

int virq_vm_irqfd(struct virq_vm *vm, const struct kvm_irqfd *args)
{
	if (args->flags & ~(uint32_t)(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE))
		return -EINVAL;
	virq_irqfd_reap_closed(vm);
	if (args->flags & KVM_IRQFD_FLAG_DEASSIGN)
		return virq_irqfd_deassign(vm, args);
	return virq_irqfd_assign(vm, args);
}
