// Who is asking and what they may do: one place that checks tokens and permissions for REST and sockets alike.
import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import {
  ANONYMOUS,
  roleAllows,
  topicAllowed,
  TokenError,
  TokenVerifier,
  type Action,
  type Principal,
} from '#pulse/auth';
import { authEnabled, PULSE_CONFIG, type PulseConfig } from '#pulse/config';
import { refusal } from '#pulse/contracts';
import { AccessDenied } from './access-denied.js';

/** What each action is, in a refusal's words: "a viewer token may not <…> <topic or this gateway>". */
const DOING: Record<Action, string> = {
  read: 'subscribe to or read',
  publish: 'publish to',
  scrape: 'read the metrics of',
  admin: 'use the admin endpoints of',
};

@Injectable()
export class AuthService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');
  private readonly verifier: TokenVerifier | null;
  /** True when tokens are required (PULSE_AUTH_SECRET or PULSE_AUTH_PUBLIC_KEY is set). */
  readonly enabled: boolean;

  constructor(@Inject(PULSE_CONFIG) config: PulseConfig) {
    this.enabled = authEnabled(config);
    this.verifier = !this.enabled
      ? null
      : config.PULSE_AUTH_SECRET
        ? new TokenVerifier({ secret: config.PULSE_AUTH_SECRET })
        : new TokenVerifier({ publicKey: config.PULSE_AUTH_PUBLIC_KEY!, alg: config.PULSE_AUTH_ALG });
  }

  onApplicationBootstrap(): void {
    // Said on every start, so that nobody runs an open gateway without knowing it.
    if (!this.enabled)
      this.logger.warn(
        'auth is OFF: anyone who reaches this gateway may read, publish and use the admin endpoints. Set PULSE_AUTH_SECRET to require tokens.',
      );
    else this.logger.log('auth is on: tokens are required on sockets and REST');
  }

  /** The holder of `token`; everyone is ANONYMOUS (admin on every topic) when auth is off. */
  async authenticate(token: unknown): Promise<Principal> {
    if (!this.verifier) return ANONYMOUS;
    try {
      return await this.verifier.verify(token);
    } catch (error) {
      if (error instanceof TokenError) throw new AccessDenied(401, refusal(error.reason, error.message));
      throw error;
    }
  }

  /** Throws AccessDenied (403) unless `principal` may do `action` (on `topic`, when given). */
  authorize(principal: Principal, action: Action, topic?: string): void {
    if (!roleAllows(principal, action)) {
      throw new AccessDenied(
        403,
        refusal('ROLE_FORBIDDEN', `a ${principal.role} token may not ${DOING[action]} ${topic ?? 'this gateway'}`),
      );
    }
    if (topic !== undefined && !topicAllowed(principal, topic)) {
      throw new AccessDenied(
        403,
        refusal(
          'TOPIC_FORBIDDEN',
          `this token does not cover topic ${topic} (its topics: ${principal.topics.join(', ') || 'none'})`,
        ),
      );
    }
  }
}

/** The Bearer token of an Authorization header (or the password of Basic, for browsers on Bull Board); undefined when absent. */
export function tokenFromHeader(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value = ''] = header.trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() === 'bearer') return value;
  if (scheme?.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return header;
}
