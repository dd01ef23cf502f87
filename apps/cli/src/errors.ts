// The two ways a pulse command fails: a usage error (exit 2) or a failure with advice (exit 1).

/** The command line is wrong; the user fixes the arguments. Exit code 2, with the usage of `command`. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** Whose usage to print; the general usage when absent. */
    readonly command?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The command could not do its job; `message` says what happened and what to do. Exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}
