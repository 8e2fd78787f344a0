/* SPDX-License-Identifier: MIT */
/*
 * vcpu_loop.c - one thread per vCPU in the KVM_RUN loop, as QEMU's vCPU threads run: enter the guest,
 * handle the exit on the same thread, enter again.
 *
 * Stopping follows QEMU with KVM: set run->immediate_exit, then signal the thread (a signal with an empty
 * handler, never used to deliver interrupts); KVM_RUN then fails with EINTR, at once or at its next
 * entry, and the thread leaves. Any other way out (a vector without a handler shuts the vCPU down, an
 * access nobody claims) is recorded with a readable reason and wakes whoever waits on the guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "vmm/vmm_internal.h"

#define VMM_STOP_SIGNAL (SIGRTMIN + 3)

static void vmm_stop_signal_handler(int sig)
{
	(void)sig;
}

static void *vmm_vcpu_main(void *arg)
{
	struct vmm_vcpu *vcpu = arg;
	struct kvm_run *run = vcpu->run;

	for (;;) {
		if (virq_ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno != EINTR)
				vmm_fail_run(vcpu->vmm, "vCPU %u: KVM_RUN failed: %s", vcpu->id, strerror(errno));
			return NULL; /* EINTR: the VMM stopped us */
		}
		atomic_fetch_add_explicit(&vcpu->vmm->exits, 1, memory_order_relaxed);
		switch (run->exit_reason) {
		case KVM_EXIT_MSIX_ROUTING_UPDATE: {
			/* The guest re-programmed an entry the engine emulates: its route must follow now. */
			const struct kvm_msix_routing_update *update = kvm_run_msix_routing_update(run);
			struct vmm_device *dev = vmm_device_by_rid(vcpu->vmm, update->dev_id);
			int ret = dev ? vmm_msix_routing_update(dev, update) : -ENODEV;
			if (ret < 0) {
				vmm_fail_run(vcpu->vmm, "vCPU %u: MSI-X routing update of entry %u failed: %s",
					     vcpu->id, update->entry, strerror(-ret));
				return NULL;
			}
			break;
		}
		case KVM_EXIT_MMIO: {
			int ret = vmm_handle_mmio(vcpu, run);
			if (ret < 0) {
				vmm_fail_run(vcpu->vmm, "vCPU %u: guest %s at 0x%llx failed: %s", vcpu->id,
					     run->mmio.is_write ? "write" : "read",
					     (unsigned long long)run->mmio.phys_addr, strerror(-ret));
				return NULL;
			}
			break;
		}
		case KVM_EXIT_SHUTDOWN:
			vmm_fail_run(vcpu->vmm, "vCPU %u: the guest shut down (a vector without a handler?)", vcpu->id);
			return NULL;
		default:
			vmm_fail_run(vcpu->vmm, "vCPU %u: unexpected exit %u", vcpu->id, run->exit_reason);
			return NULL;
		}
	}
}

int vmm_vcpus_start(struct virq_vmm *vmm)
{
	struct sigaction sa = { .sa_handler = vmm_stop_signal_handler };

	sigemptyset(&sa.sa_mask);
	if (sigaction(VMM_STOP_SIGNAL, &sa, NULL) < 0)
		return -errno;
	for (unsigned i = 0; i < vmm->cfg.vcpus; i++) {
		struct vmm_vcpu *vcpu = &vmm->vcpu[i];
		int ret = pthread_create(&vcpu->thread, NULL, vmm_vcpu_main, vcpu);
		if (ret)
			return -ret;
		vcpu->started = true;
	}
	return 0;
}

void vmm_vcpus_stop(struct virq_vmm *vmm)
{
	for (unsigned i = 0; i < vmm->cfg.vcpus; i++) {
		struct vmm_vcpu *vcpu = &vmm->vcpu[i];
		if (!vcpu->started)
			continue;
		__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_RELEASE);
		pthread_kill(vcpu->thread, VMM_STOP_SIGNAL);
		pthread_join(vcpu->thread, NULL);
		vcpu->started = false;
		vcpu->run->immediate_exit = 0;
	}
}
