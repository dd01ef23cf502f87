// Validates the environment once and hands out the typed config; the one place that reads process.env.
import { Global, Module } from '@nestjs/common';
import { cliEnvSchema, configSchema, type CliEnv, type PulseConfig } from './config.schema.js';

/** Injection token of the validated {@link PulseConfig}. */
export const PULSE_CONFIG = Symbol('PULSE_CONFIG');

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** Parses an environment; throws a {@link ConfigError} listing every problem. */
export function parseConfig(env: Record<string, string | undefined>): PulseConfig {
  const result = configSchema.safeParse(env);
  if (!result.success) throw new ConfigError(result.error.issues.map((issue) => issue.message));
  return result.data;
}

/**
 * The process's config from `process.env`. On invalid input it prints every problem and exits
 * with code 78 (EX_CONFIG) before anything listens or connects.
 */
export function loadConfigOrExit(): PulseConfig {
  try {
    return parseConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\nFix the variables above and start again.\n`);
    process.exit(78);
  }
}

/** Makes a validated config injectable as {@link PULSE_CONFIG} everywhere. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: PulseConfig) {
    return { module: ConfigModule, providers: [{ provide: PULSE_CONFIG, useValue: config }], exports: [PULSE_CONFIG] };
  }
}

/** Auth is on when a key to check tokens is configured. */
export function authEnabled(config: Pick<PulseConfig, 'PULSE_AUTH_SECRET' | 'PULSE_AUTH_PUBLIC_KEY'>): boolean {
  return Boolean(config.PULSE_AUTH_SECRET ?? config.PULSE_AUTH_PUBLIC_KEY);
}

/** The `pulse` command's environment (PULSE_TOKEN, and the signing key for `pulse token`); throws a ConfigError. */
export function readCliEnv(env: Record<string, string | undefined> = process.env): CliEnv {
  const result = cliEnvSchema.safeParse(env);
  if (!result.success)
    throw new ConfigError(result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  return result.data;
}

/** REDIS_URL (one URL or several, comma-separated) with every password replaced by ***, for printing. */
export function maskPasswords(urls: string): string {
  return urls
    .split(',')
    .map((part) => {
      if (!URL.canParse(part.trim())) return part.replace(/\/\/[^@/]*@/, '//***@');
      const url = new URL(part.trim());
      if (url.password) url.password = '***';
      return url.toString().replace(/\/$/, '');
    })
    .join(',');
}

/** The environment handed down to child processes (npm start, test stacks): theirs to validate. */
export function inheritedEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { ...process.env, ...overrides };
}

/**
 * Bounds a graceful shutdown: once SIGTERM or SIGINT arrives, a process still running after
 * `timeoutMs` says so and exits with code 1 (Nest's shutdown hooks do the graceful part).
 */
export function exitIfShutdownHangs(processName: string, timeoutMs: number): void {
  const arm = (signal: NodeJS.Signals) => {
    process.off('SIGTERM', arm);
    process.off('SIGINT', arm);
    setTimeout(() => {
      process.stderr.write(
        `${processName} did not finish shutting down ${timeoutMs} ms after ${signal}: exiting anyway (raise PULSE_SHUTDOWN_TIMEOUT_MS to wait longer)\n`,
      );
      process.exit(1);
    }, timeoutMs).unref();
  };
  process.on('SIGTERM', arm);
  process.on('SIGINT', arm);
}
