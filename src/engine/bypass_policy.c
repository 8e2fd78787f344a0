/* SPDX-License-Identifier: MIT */
/*
 * bypass_policy.c - posted or remapped, with a reason (rules in bypass_policy.h).
 *
 * Every path ends in virq_bypass_say(), so each decision carries exactly one sentence; a refusal under
 * POST_IRQ says that POST_IRQ was refused and why, so an override that could not take effect is never
 * silent.
 */
#include "engine/bypass_policy.h"

#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>

#define VIRQ_APIC_BROADCAST 0xffu

static enum virq_bypass_mode virq_bypass_say(struct virq_bypass_decision *out, enum virq_bypass_mode mode,
					     enum virq_bypass_override ovr, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static enum virq_bypass_mode virq_bypass_say(struct virq_bypass_decision *out, enum virq_bypass_mode mode,
					     enum virq_bypass_override ovr, const char *fmt, ...)
{
	const char *head = mode == VIRQ_BYPASS_POSTED ? "posted: " : "remapped: ";
	const char *why = ovr == VIRQ_BYPASS_FORCE_POST ? (mode == VIRQ_BYPASS_POSTED ? "POST_IRQ, " :
							   "POST_IRQ refused: ") : "";
	int n = snprintf(out->reason, sizeof(out->reason), "%s%s", head, why);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out->reason + n, sizeof(out->reason) - (size_t)n, fmt, ap);
	va_end(ap);
	out->mode = mode;
	return mode;
}

static const char *virq_bypass_dm_name(uint8_t dm)
{
	static const char *const names[8] = {"fixed", "lowest-priority", "SMI", "remote-read",
					     "NMI", "INIT", "start-up", "ExtINT"};
	return names[dm & 7];
}

/* Lowest priority as the APIC bus sees it (delivery mode, or the MSI's redirection hint). */
static bool virq_bypass_lowest(const struct virq_apic_irq *irq)
{
	return irq->delivery_mode == VIRQ_APIC_DM_LOWEST || irq->msi_redir_hint;
}

static bool virq_bypass_candidate(const struct virq_lapic *apic, const struct virq_apic_irq *irq, bool lowest)
{
	return apic && virq_lapic_match_dest(apic, irq->dest_id, irq->dest_logical) &&
	       (!lowest || virq_lapic_sw_enabled(apic));
}

/*
 * The vCPUs @irq would reach: their count, and in *@vcpu the one that gets it when the answer is a
 * single vCPU (the only target, or the vector-hashed pick among lowest-priority candidates, chosen
 * exactly as virq_apic_deliver chooses, so posted and software delivery agree).
 */
static unsigned virq_bypass_targets(const struct virq_bypass_policy_in *in, const struct virq_apic_irq *irq,
				    unsigned *vcpu)
{
	bool lowest = virq_bypass_lowest(irq);
	unsigned n = 0, k;

	for (unsigned i = 0; i < in->nr_apics; i++) {
		if (virq_bypass_candidate(in->apics[i], irq, lowest)) {
			if (n == 0)
				*vcpu = i;
			n++;
		}
	}
	if (!lowest || n <= 1)
		return n;
	k = irq->vector % n;
	for (unsigned i = 0; i < in->nr_apics; i++) {
		if (virq_bypass_candidate(in->apics[i], irq, lowest) && k-- == 0) {
			*vcpu = i;
			break;
		}
	}
	return 1;
}

enum virq_bypass_mode virq_bypass_decide(const struct virq_bypass_policy_in *in, struct virq_bypass_decision *out)
{
	const struct virq_bypass_route *rt = in->route;
	enum virq_bypass_override ovr = in->override;
	const enum virq_bypass_mode R = VIRQ_BYPASS_REMAPPED;
	struct virq_apic_irq irq;
	unsigned vcpu = 0, n;

	*out = (struct virq_bypass_decision){.mode = R};
	if (in->no_iommu)
		return virq_bypass_say(out, R, ovr, "no IOMMU (the producer cannot post)");
	if (ovr == VIRQ_BYPASS_FORCE_REMAP)
		return virq_bypass_say(out, R, ovr, "UNPOST_IRQ override");
	if (in->explicit_only && ovr != VIRQ_BYPASS_FORCE_POST)
		return virq_bypass_say(out, R, ovr, "automatic bypass off and no POST_IRQ");
	if (in->held)
		return virq_bypass_say(out, R, ovr, "%s (held in the pending bit)", in->held);
	if (!rt || rt->nr_entries == 0)
		return virq_bypass_say(out, R, ovr, "GSI has no route");
	if (rt->nr_entries > 1)
		return virq_bypass_say(out, R, ovr, "GSI has %u routes", rt->nr_entries);
	if (rt->type != KVM_IRQ_ROUTING_MSI)
		return virq_bypass_say(out, R, ovr, "route is not an MSI (type %u)", rt->type);

	virq_msi_decode(rt->address_lo, rt->address_hi, rt->data, false, &irq);
	if (irq.delivery_mode != VIRQ_APIC_DM_FIXED && irq.delivery_mode != VIRQ_APIC_DM_LOWEST)
		return virq_bypass_say(out, R, ovr, "%s delivery", virq_bypass_dm_name(irq.delivery_mode));
	if (!irq.dest_logical && irq.dest_id == VIRQ_APIC_BROADCAST)
		return virq_bypass_say(out, R, ovr, "broadcast destination");

	n = virq_bypass_targets(in, &irq, &vcpu);
	const char *kind = irq.dest_logical ? "logical" : "physical";
	if (n == 0)
		return virq_bypass_say(out, R, ovr, "%s destination 0x%x matches no vCPU", kind, irq.dest_id);
	if (n > 1)
		return virq_bypass_say(out, R, ovr, "%s destination with %u targets", kind, n);

	out->vcpu = vcpu;
	out->apic_id = virq_lapic_id(in->apics[vcpu]);
	out->vector = irq.vector;
	return virq_bypass_say(out, VIRQ_BYPASS_POSTED, ovr, "%s delivery to APIC %u vector 0x%02x",
			       virq_bypass_dm_name(irq.delivery_mode), out->apic_id, irq.vector);
}
