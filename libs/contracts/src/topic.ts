// Topic names: the unit of ordering, retention and subscription.
import { z } from 'zod';

/** A topic name: lower-case letters, digits, `.`, `_`, `-`; starts with a letter or digit; 1–64 chars. */
export const TOPIC_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export const topicSchema = z
  .string({ error: 'expected a topic name (string)' })
  .regex(TOPIC_PATTERN, 'expected a topic name: 1-64 chars of a-z 0-9 . _ -, starting with a letter or digit');
