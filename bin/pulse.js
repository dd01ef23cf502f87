#!/usr/bin/env node
// The `pulse` command: runs the built CLI (apps/cli, compiled by `npm run build`).
import('../dist/apps/cli/src/main.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/apps/cli')) {
    process.stderr.write('pulse: the CLI is not built yet; run `npm run build` in the Pulse folder first\n');
  } else {
    process.stderr.write(`pulse: ${error?.stack ?? error}\n`);
  }
  process.exit(1);
});
