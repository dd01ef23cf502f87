// Appends refused by a cardinality limit (instances or rules per topic, topics, a token's topic quota): a 400 or 429 naming the limit, nothing appended.
import { refusal } from '#pulse/contracts';
import { InstanceLimitError, RuleLimitError, TopicLimitError, TopicQuotaError } from '#pulse/event-store';
import { PulseHttpError } from './http-error.js';

/** The answer to an append refused by a cardinality limit (nothing appended), or null for any other failure. */
export function cardinalityRefusal(error: unknown): PulseHttpError | null {
  if (error instanceof InstanceLimitError) {
    const message = `topic ${error.topic} holds ${error.held} instances and PULSE_MAX_INSTANCES_PER_TOPIC is ${error.limit}: instance ${error.instanceId} would be one more; nothing appended`;
    return new PulseHttpError(400, {
      ...refusal('INSTANCE_LIMIT', `events.${error.index}.data.instanceId: ${message}`),
      issues: [{ path: `events.${error.index}.data.instanceId`, message }],
    });
  }
  if (error instanceof RuleLimitError) {
    const message = `topic ${error.topic} holds ${error.held} rules and PULSE_MAX_RULES_PER_TOPIC is ${error.limit}: rule ${error.ruleId} would be one more; nothing appended (remove one with DELETE /api/v1/topics/${error.topic}/rules/<ruleId>, or raise the limit)`;
    return new PulseHttpError(400, {
      ...refusal('RULE_LIMIT', `ruleId: ${message}`),
      issues: [{ path: 'ruleId', message }],
    });
  }
  if (error instanceof TopicLimitError) {
    return new PulseHttpError(
      400,
      refusal(
        'TOPIC_LIMIT',
        `topic: ${error.topic} would be a new topic, and PULSE_MAX_TOPICS (${error.limit}) exist already; nothing appended`,
      ),
    );
  }
  if (error instanceof TopicQuotaError) {
    const message = `topic: ${error.topic} would be a new topic, and this token created PULSE_TOPIC_QUOTA (${error.quota.count}) topics in this window of PULSE_TOPIC_QUOTA_WINDOW_S (${error.quota.windowMs / 1000} s); nothing appended`;
    return new PulseHttpError(429, refusal('TOPIC_QUOTA', message, error.retryAfterMs));
  }
  return null;
}
