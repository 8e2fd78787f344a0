/* SPDX-License-Identifier: MIT */
/*
 * fake_guest.h - the owner of a GICv3 in the Arm irqchip tests: a flat guest RAM buffer at GPA 0 whose
 * read/write ops refuse anything out of bounds with -EFAULT, and kick / resample ops that record every
 * call (the resampler can lower the SPI the way the engine's resample irqfd does, and checks that no GIC
 * lock is held when it runs).
 */
#ifndef VIRQ_TESTS_IRQCHIP_ARM_FAKE_GUEST_H
#define VIRQ_TESTS_IRQCHIP_ARM_FAKE_GUEST_H

#include <errno.h>
#include <string.h>

#include "irqchip/arm/gicv3.h"

#define FAKE_RAM_SIZE 0x200000u

struct fake {
	struct virq_gic gic;
	uint8_t ram[FAKE_RAM_SIZE];
	unsigned kicks[VIRQ_GIC_MAX_VCPUS];
	unsigned resamples;
	unsigned resample_pin;
	bool resample_lowers;   /* the resampler de-asserts the line, as a resample irqfd does */
	bool resample_locked;   /* a resample ran while a GIC lock was held */
};

static inline int fake_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct fake *f = ctx;

	if (gpa > FAKE_RAM_SIZE || len > FAKE_RAM_SIZE - gpa)
		return -EFAULT;
	memcpy(buf, f->ram + gpa, len);
	return 0;
}

static inline int fake_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct fake *f = ctx;

	if (gpa > FAKE_RAM_SIZE || len > FAKE_RAM_SIZE - gpa)
		return -EFAULT;
	memcpy(f->ram + gpa, buf, len);
	return 0;
}

static inline void fake_kick(void *ctx, unsigned vcpu)
{
	struct fake *f = ctx;

	f->kicks[vcpu]++;
}

static inline void fake_resample(void *ctx, unsigned pin)
{
	struct fake *f = ctx;

	f->resamples++;
	f->resample_pin = pin;
	if (pthread_mutex_trylock(&f->gic.lock) == 0)
		pthread_mutex_unlock(&f->gic.lock);
	else
		f->resample_locked = true;
	if (f->resample_lowers)
		virq_gic_set_spi_level(&f->gic, pin, false);
}

static const struct virq_gic_ops fake_ops = { fake_read, fake_write, fake_kick, fake_resample, NULL };

static inline void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

#define CHECK_EQ(name, got, want)                                                                       \
	do {                                                                                            \
		long long g_ = (long long)(got), w_ = (long long)(want);                                \
		if (g_ != w_)                                                                           \
			fail_msg("%s: %s = %#llx, want %#llx", (name), #got, g_, w_);                  \
	} while (0)

#endif /* VIRQ_TESTS_IRQCHIP_ARM_FAKE_GUEST_H */
