// Free text that every part of Pulse can store and read back: Redis's Lua JSON included.
import { z } from 'zod';

/** A UTF-16 surrogate outside a pair (JSON can carry one as `\ud800`; no text encoding can). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/**
 * Free text of at most `max` chars that is well-formed Unicode: Redis's Lua JSON refuses a lone
 * surrogate's escape, so an event holding one could never be folded into its topic's projections.
 */
export const textSchema = (max: number) =>
  z
    .string()
    .max(max)
    .refine(
      (text) => !LONE_SURROGATE.test(text),
      'expected well-formed text: a lone UTF-16 surrogate (\\uD800-\\uDFFF outside a pair) is not text',
    );
