// What every command gets: the REST client, the gateways, the terminal it writes to, and Ctrl-C.
import type { CliEnv } from '#pulse/config';
import type { RestClient } from './rest-client.js';

/** The process's stdout and stderr, as commands see them. */
export interface Terminal {
  out(text: string): void;
  err(text: string): void;
  /** stdout is a terminal (a person reads it), not a pipe or a file. */
  outIsTTY: boolean;
  /** stderr is a terminal: progress bars may redraw a line. */
  errIsTTY: boolean;
  /** Colours on stdout: a terminal that supports them, and NO_COLOR is not set. */
  colors: boolean;
  /** The same for stderr. */
  errColors: boolean;
  /** Width of the stdout terminal, when it is one. */
  columns?: number;
}

export interface CommandContext {
  rest: RestClient;
  /** Gateway URLs from --url, in order. */
  urls: string[];
  /** --token, or else PULSE_TOKEN. */
  token?: string;
  /** What the CLI read from its environment. */
  env: Partial<CliEnv>;
  term: Terminal;
  /** Aborted on Ctrl-C (SIGINT) and SIGTERM. */
  interrupted: AbortSignal;
}
