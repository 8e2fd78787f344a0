/* SPDX-License-Identifier: MIT */
/*
 * kvm_fixture.h - what the tests that go through the KVM-compatible front share: handles opened and
 * closed with their results checked, VMs with or without an irqchip and with halt polling off, vCPUs
 * loaded with a guest program, the "run to the next report" step, eventfds, irqfds, MSIs and GSI routes.
 *
 * Header-only (static inline) and self-contained. From virq it includes <virq/kvm.h> only, so a test that
 * proves a VMM needs nothing else (tests/front/test_spine.c) can use it too.
 *
 * The helpers that check something do it with cmocka's assertions, so they belong on the test's main
 * thread; fx_signal_msi(), fx_irqfd() and fx_set_routing() only return the call's result and may be used
 * from any thread.
 */
#ifndef VIRQ_TESTS_KVM_FIXTURE_H
#define VIRQ_TESTS_KVM_FIXTURE_H

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <virq/kvm.h>

/* The call must fail as a system call does: -1 and this errno. */
#define assert_fails(call, err)                                                                    \
	do {                                                                                       \
		errno = 0;                                                                         \
		long ret_ = (long)(call);                                                          \
		assert_int_equal(ret_, -1);                                                        \
		assert_int_equal(errno, (err));                                                    \
	} while (0)

/* An MSI address for physical destination APIC @dest (fixed delivery, no redirection hint). */
#define MSI_ADDR(dest) (0xfee00000u | ((uint32_t)(dest) << 12))

/* The unclaimed MMIO address the tests' guests report to: each write is a KVM_EXIT_MMIO. */
#define FX_REPORT_ADDR 0xd0000000u

/* ---- handles ----------------------------------------------------------------------------------------- */

static inline int fx_open_sys(void)
{
	int sys = virq_open();
	assert_true(sys >= 0);
	return sys;
}

enum {
	FX_IRQCHIP = 1u << 0,      /* KVM_CREATE_IRQCHIP */
	FX_NO_HALT_POLL = 1u << 1, /* KVM_CAP_HALT_POLL 0: a polling vCPU cannot starve other threads */
};

/* KVM_CREATE_VM, then what @flags ask for, in that order. */
static inline int fx_create_vm(int sys, unsigned flags)
{
	int vm = virq_ioctl(sys, KVM_CREATE_VM, 0);
	assert_true(vm >= 0);
	if (flags & FX_IRQCHIP)
		assert_int_equal(virq_ioctl(vm, KVM_CREATE_IRQCHIP, 0), 0);
	if (flags & FX_NO_HALT_POLL) {
		struct kvm_enable_cap cap = { .cap = KVM_CAP_HALT_POLL, .args = { 0 } };
		assert_int_equal(virq_ioctl(vm, KVM_ENABLE_CAP, &cap), 0);
	}
	return vm;
}

static inline int fx_create_vcpu(int vm, unsigned long id)
{
	int vcpu = virq_ioctl(vm, KVM_CREATE_VCPU, id);
	assert_true(vcpu >= 0);
	return vcpu;
}

/* An application processor starts waiting for INIT/SIPI; this lets it run. */
static inline void fx_set_runnable(int vcpu)
{
	struct kvm_mp_state runnable = { .mp_state = KVM_MP_STATE_RUNNABLE };
	assert_int_equal(virq_ioctl(vcpu, KVM_SET_MP_STATE, &runnable), 0);
}

/* vCPU @id of @vm (RUNNABLE first if @runnable), loaded with @program. */
static inline int fx_create_guest_vcpu(int vm, unsigned long id, bool runnable, const char *program)
{
	int vcpu = fx_create_vcpu(vm, id);
	if (runnable)
		fx_set_runnable(vcpu);
	assert_int_equal(virq_guest_load(vcpu, program), 0);
	return vcpu;
}

/* A fd that is certainly not open: a pipe end, closed again. */
static inline int fx_closed_fd(void)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	close(p[1]);
	return p[0];
}

/* virq_close() each handle, last first; every close must succeed. */
static inline void fx_close_all(const int *fds, size_t n)
{
	for (size_t i = n; i-- > 0;)
		assert_int_equal(virq_close(fds[i]), 0);
}
#define CLOSE_ALL(...) fx_close_all((const int[]){ __VA_ARGS__ }, sizeof((int[]){ __VA_ARGS__ }) / sizeof(int))

/* ---- one VM, one vCPU running a program -------------------------------------------------------------- */

struct fx_guest {
	int sys, vm, vcpu;
	struct kvm_run *run;
};

/* A VM with an irqchip and halt polling off, and vCPU @vcpu_id (RUNNABLE first if @runnable) loaded with
 * @program. */
static inline void fx_guest_open(struct fx_guest *g, unsigned vcpu_id, bool runnable, const char *program)
{
	g->sys = fx_open_sys();
	g->vm = fx_create_vm(g->sys, FX_IRQCHIP | FX_NO_HALT_POLL);
	g->vcpu = fx_create_guest_vcpu(g->vm, vcpu_id, runnable, program);
	g->run = virq_vcpu_run_struct(g->vcpu);
	assert_non_null(g->run);
}

static inline void fx_guest_close(struct fx_guest *g)
{
	CLOSE_ALL(g->sys, g->vm, g->vcpu);
}

/* KVM_RUN to the guest's next report: an MMIO exit at FX_REPORT_ADDR; returns the 32-bit value written. */
static inline uint32_t fx_run_to_report(int vcpu)
{
	struct kvm_run *run = virq_vcpu_run_struct(vcpu);
	uint32_t value = 0;

	assert_non_null(run);
	assert_int_equal(virq_ioctl(vcpu, KVM_RUN, 0), 0);
	assert_int_equal(run->exit_reason, KVM_EXIT_MMIO);
	assert_int_equal(run->mmio.phys_addr, FX_REPORT_ADDR);
	memcpy(&value, run->mmio.data, sizeof(value));
	return value;
}

/* ---- eventfds ---------------------------------------------------------------------------------------- */

/* A non-blocking eventfd. */
static inline int fx_new_eventfd(void)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(efd >= 0);
	return efd;
}

static inline void fx_signal_efd(int efd)
{
	uint64_t one = 1;
	assert_int_equal(write(efd, &one, sizeof(one)), sizeof(one));
}

/* The (non-blocking) eventfd's counter, drained: 0 if it was empty (the read got EAGAIN). */
static inline uint64_t fx_drain_efd(int efd)
{
	uint64_t count = 0;
	errno = 0;
	if (read(efd, &count, sizeof(count)) != sizeof(count)) {
		assert_int_equal(errno, EAGAIN);
		return 0;
	}
	return count;
}

/* Whether @fd polls readable within @timeout_ms (0: right now). */
static inline bool fx_readable_within(int fd, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	return poll(&pfd, 1, timeout_ms) == 1;
}

/* ---- interrupts: irqfd, MSI, IRQ line, routing ------------------------------------------------------- */

/* KVM_IRQFD; returns the ioctl's result (errno set on failure). */
static inline int fx_irqfd(int vm, int fd, uint32_t gsi, uint32_t flags, int resamplefd)
{
	struct kvm_irqfd args = { .fd = (uint32_t)fd, .gsi = gsi, .flags = flags, .resamplefd = (uint32_t)resamplefd };
	return virq_ioctl(vm, KVM_IRQFD, &args);
}

/* KVM_SIGNAL_MSI of @data to physical APIC @dest; returns the ioctl's result. */
static inline int fx_signal_msi(int vm, uint32_t dest, uint32_t data)
{
	struct kvm_msi msi = { .address_lo = MSI_ADDR(dest), .data = data };
	return virq_ioctl(vm, KVM_SIGNAL_MSI, &msi);
}

/* KVM_IRQ_LINE_STATUS: returns the status KVM writes back. */
static inline int fx_line_status(int vm, uint32_t gsi, uint32_t level)
{
	struct kvm_irq_level line = { .irq = gsi, .level = level };
	assert_int_equal(virq_ioctl(vm, KVM_IRQ_LINE_STATUS, &line), 0);
	return line.status;
}

static inline struct kvm_irq_routing_entry fx_irqchip_entry(uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_IRQCHIP };
	e.u.irqchip.irqchip = chip;
	e.u.irqchip.pin = pin;
	return e;
}

static inline struct kvm_irq_routing_entry fx_msi_entry(uint32_t gsi, uint32_t dest, uint32_t data)
{
	struct kvm_irq_routing_entry e = { .gsi = gsi, .type = KVM_IRQ_ROUTING_MSI };
	e.u.msi.address_lo = MSI_ADDR(dest);
	e.u.msi.data = data;
	return e;
}

/* The default routes, GSI n to IOAPIC pin n for n < 24, into @e; returns how many (24). */
static inline uint32_t fx_ioapic_entries(struct kvm_irq_routing_entry *e)
{
	for (uint32_t gsi = 0; gsi < KVM_IOAPIC_NUM_PINS; gsi++)
		e[gsi] = fx_irqchip_entry(gsi, KVM_IRQCHIP_IOAPIC, gsi);
	return KVM_IOAPIC_NUM_PINS;
}

/* A zeroed routing table with room for @nr entries (at least one) and nr set, or NULL; free() it. */
static inline struct kvm_irq_routing *fx_routing_new(uint32_t nr)
{
	struct kvm_irq_routing *r = calloc(1, sizeof(*r) + (nr ? nr : 1) * sizeof(r->entries[0]));
	if (r)
		r->nr = nr;
	return r;
}

static inline struct kvm_irq_routing *fx_routing_alloc(uint32_t nr)
{
	struct kvm_irq_routing *r = fx_routing_new(nr);
	assert_non_null(r);
	return r;
}

/* KVM_SET_GSI_ROUTING with these entries; returns the ioctl's result (errno set on failure). Asserts
 * nothing, so other threads may call it too. */
static inline int fx_set_routing(int vm, const struct kvm_irq_routing_entry *entries, uint32_t nr)
{
	struct kvm_irq_routing *r = fx_routing_new(nr);
	if (!r) {
		errno = ENOMEM;
		return -1;
	}
	if (nr)
		memcpy(r->entries, entries, nr * sizeof(entries[0]));
	int ret = virq_ioctl(vm, KVM_SET_GSI_ROUTING, r);
	int saved = errno;
	free(r);
	errno = saved;
	return ret;
}

#endif /* VIRQ_TESTS_KVM_FIXTURE_H */
