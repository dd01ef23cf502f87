// Pulse access tokens: JWTs signed with HS256 (a shared secret) or an asymmetric key, minted and checked with jose.
import { errors, importPKCS8, importSPKI, jwtVerify, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { tokenClaimsSchema, type Principal, type Role } from './claims.js';

/** Why a token was refused; stable strings (see `ErrorReason` in the contracts). */
export type TokenProblem = 'TOKEN_MISSING' | 'TOKEN_MALFORMED' | 'TOKEN_EXPIRED' | 'TOKEN_INVALID';

export class TokenError extends Error {
  constructor(
    readonly reason: TokenProblem,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

/** Asymmetric algorithms accepted with a public key. */
export const ASYMMETRIC_ALGS = ['RS256', 'ES256', 'EdDSA'] as const;
export type AsymmetricAlg = (typeof ASYMMETRIC_ALGS)[number];

/** How tokens are checked: a shared secret (HS256) or a public key (PEM, SPKI) with its algorithm. */
export type VerifyKey = { secret: string } | { publicKey: string; alg: AsymmetricAlg };
/** How tokens are signed: the shared secret, or the private key (PEM, PKCS#8) matching the public one. */
export type SignKey = { secret: string } | { privateKey: string; alg: AsymmetricAlg };

/** What a new token says. */
export interface MintOptions {
  sub: string;
  role: Role;
  /** Topic patterns (`*` as wildcard). @default ['*'] */
  topics?: string[];
  /** Lifetime in seconds. @default 3600 */
  ttlSeconds?: number;
}

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Signs a token. */
export async function mintToken(key: SignKey, options: MintOptions): Promise<string> {
  const [alg, signing] =
    'secret' in key
      ? ['HS256', new TextEncoder().encode(key.secret)]
      : [key.alg, await importPKCS8(key.privateKey, key.alg)];
  return new SignJWT({ role: options.role, topics: options.topics ?? ['*'] })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setSubject(options.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600))
    .sign(signing);
}

/** Checks tokens against one key; every refusal is a TokenError with its reason. */
export class TokenVerifier {
  private readonly key: Promise<Uint8Array | CryptoKey>;
  private readonly algorithms: string[];

  constructor(key: VerifyKey) {
    this.algorithms = 'secret' in key ? ['HS256'] : [key.alg];
    this.key =
      'secret' in key ? Promise.resolve(new TextEncoder().encode(key.secret)) : importSPKI(key.publicKey, key.alg);
    // An unusable key is every verify's TOKEN_INVALID, not an unhandled rejection at start (the config check names it first).
    this.key.catch(() => undefined);
  }

  async verify(token: unknown): Promise<Principal> {
    if (token === undefined || token === null || token === '')
      throw new TokenError(
        'TOKEN_MISSING',
        'a token is required: send "Authorization: Bearer <token>" (REST) or auth.token (socket handshake); mint one with `pulse token`',
      );
    if (typeof token !== 'string' || token.length > 8192 || !JWT_SHAPE.test(token))
      throw new TokenError('TOKEN_MALFORMED', 'the token is not a JWT (three base64url parts separated by dots)');
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, await this.key, {
        algorithms: this.algorithms,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (error) {
      if (error instanceof errors.JWTExpired)
        throw new TokenError('TOKEN_EXPIRED', 'the token has expired; mint a new one');
      if (
        error instanceof errors.JWSInvalid ||
        error instanceof errors.JWTInvalid ||
        error instanceof errors.JOSENotSupported
      ) {
        throw new TokenError('TOKEN_MALFORMED', `the token cannot be read: ${(error as Error).message}`);
      }
      if (error instanceof errors.JOSEAlgNotAllowed)
        throw new TokenError(
          'TOKEN_INVALID',
          `the token is signed with an algorithm this gateway does not accept (${this.algorithms.join(', ')})`,
        );
      if (error instanceof errors.JWTClaimValidationFailed)
        throw new TokenError('TOKEN_INVALID', `the token's claims are not accepted: ${error.message}`);
      // Bad signature (JWSSignatureVerificationFailed) and anything else: not ours to trust.
      throw new TokenError('TOKEN_INVALID', "the token signature does not verify with this gateway's key");
    }
    const claims = tokenClaimsSchema.safeParse(payload);
    if (!claims.success)
      throw new TokenError(
        'TOKEN_INVALID',
        `the token's claims are not usable: ${claims.error.issues.map((issue) => `${issue.path.join('.') || 'claims'}: ${issue.message}`).join('; ')}`,
      );
    return {
      sub: claims.data.sub,
      role: claims.data.role,
      topics: claims.data.topics,
      expiresAt: claims.data.exp * 1000,
    };
  }
}
