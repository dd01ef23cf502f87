// Runs one pulse command line: parse, dispatch, and turn every outcome into an exit code (0 ok, 1 failed, 2 usage).
import type { CliEnv } from '#pulse/config';
import { checkToken, parseCommandLine, usageOf, type Invocation } from './args.js';
import { CliError, UsageError } from './errors.js';
import { RestClient } from './rest-client.js';
import type { CommandContext, Terminal } from './context.js';

// Each command is loaded when it runs: help and usage errors stay quick, and only tail loads the socket client.
async function dispatch(invocation: Invocation, ctx: CommandContext): Promise<number> {
  const { command } = invocation;
  switch (command.name) {
    case 'help':
      ctx.term.out(`${usageOf(command.command)}\n`);
      return 0;
    case 'tail':
      return (await import('./commands/tail.js')).tailCommand(command, ctx);
    case 'snapshot':
      return (await import('./commands/snapshot.js')).snapshotCommand(command, ctx);
    case 'topics':
      return (await import('./commands/topics.js')).topicsCommand(command, ctx);
    case 'publish':
      return (await import('./commands/publish.js')).publishCommand(command, ctx);
    case 'rebuild':
      return (await import('./commands/rebuild.js')).rebuildCommand(command, ctx);
    case 'status':
      return (await import('./commands/status.js')).statusCommand(command, ctx);
    case 'token':
      return (await import('./commands/token.js')).tokenCommand(command, ctx);
    case 'series':
      return (await import('./commands/series.js')).seriesCommand(command, ctx);
    case 'instance':
      return (await import('./commands/instance.js')).instanceCommand(command, ctx);
    case 'alerts':
      return (await import('./commands/alerts.js')).alertsCommand(command, ctx);
    case 'rules':
      return (await import('./commands/rules.js')).rulesCommand(command, ctx);
    case 'silence':
      return (await import('./commands/silence.js')).silenceCommand(command, ctx);
  }
}

/**
 * Runs `argv` (the arguments after `pulse`) and resolves with the exit code; never throws.
 * `interrupted`: Ctrl-C (tail stops with 0, the rest with 130). `env`: PULSE_TOKEN (used when
 * --token is not given) and the signing key of `pulse token`.
 */
export async function run(
  argv: string[],
  term: Terminal,
  interrupted: AbortSignal,
  env: Partial<CliEnv> = {},
): Promise<number> {
  try {
    const invocation = parseCommandLine(argv);
    const token = invocation.token ?? (env.PULSE_TOKEN ? checkToken(env.PULSE_TOKEN, 'PULSE_TOKEN') : undefined);
    const rest = new RestClient({
      urls: invocation.urls,
      signal: interrupted,
      ...(token !== undefined ? { token } : {}),
    });
    return await dispatch(invocation, {
      rest,
      urls: invocation.urls,
      ...(token !== undefined ? { token } : {}),
      env,
      term,
      interrupted,
    });
  } catch (error) {
    if (interrupted.aborted) {
      term.err('pulse: interrupted\n');
      return 130;
    }
    if (error instanceof UsageError) {
      term.err(`pulse: ${error.message}\n\n${usageOf(error.command)}\n`);
      return 2;
    }
    if (error instanceof CliError) {
      term.err(`pulse: ${error.message}\n`);
      return 1;
    }
    term.err(`pulse: unexpected error: ${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  }
}
