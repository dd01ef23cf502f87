// `pulse token`: mints an access token with the key in PULSE_AUTH_SECRET (or PULSE_AUTH_PRIVATE_KEY).
import { mintToken, type MintOptions, type SignKey } from '#pulse/auth';
import { CliError } from '../errors.js';
import type { CommandContext } from '../context.js';

export async function tokenCommand(
  command: Required<Pick<MintOptions, 'sub' | 'role' | 'topics' | 'ttlSeconds'>> & { json: boolean },
  ctx: CommandContext,
): Promise<number> {
  const { PULSE_AUTH_SECRET: secret, PULSE_AUTH_PRIVATE_KEY: privateKey, PULSE_AUTH_ALG: alg } = ctx.env;
  let key: SignKey;
  if (secret) key = { secret };
  else if (privateKey) key = { privateKey, alg: alg ?? 'RS256' };
  else
    throw new CliError(
      "pulse token signs with PULSE_AUTH_SECRET (the gateways' secret) or PULSE_AUTH_PRIVATE_KEY; set one in the environment",
    );
  let token: string;
  try {
    token = await mintToken(key, command);
  } catch (error) {
    throw new CliError(`cannot sign the token: ${(error as Error).message}`);
  }
  const expiresAt = new Date(Date.now() + command.ttlSeconds * 1000).toISOString();
  ctx.term.out(
    `${command.json ? JSON.stringify({ token, sub: command.sub, role: command.role, topics: command.topics, expiresAt }) : token}\n`,
  );
  if (!command.json && ctx.term.errIsTTY)
    ctx.term.err(
      `${command.role} token for ${command.sub} on ${command.topics.join(', ')}, valid until ${expiresAt}\n`,
    );
  return 0;
}
