// Vite build of the dashboard: plain TypeScript + uPlot to static files in apps/dashboard/dist, served by every gateway at `/`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const lib = (name: string, file = 'index') =>
  fileURLToPath(new URL(`../../libs/${name}/src/${file}.ts`, import.meta.url));
/** Where `vite` (dev) sends API and socket traffic: a gateway of `npm start`. */
const DEV_GATEWAY = 'http://127.0.0.1:3000';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  // Relative asset URLs: the page works wherever a gateway (or a proxy path) serves it.
  base: './',
  resolve: {
    // The sources, not dist/: package.json `imports` point at the tsc output, which has Node-only code paths.
    // The fold (and the SDK's protocol version) come on their own so that the page does not bundle the contracts' zod schemas.
    alias: [
      { find: /^#pulse\/contracts\/fold$/, replacement: lib('contracts', 'fold') },
      { find: /^#pulse\/contracts\/version$/, replacement: lib('contracts', 'version') },
      { find: /^#pulse\/contracts$/, replacement: lib('contracts') },
      { find: /^#pulse\/client$/, replacement: lib('client') },
    ],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      '/api': DEV_GATEWAY,
      '/socket.io': { target: DEV_GATEWAY, ws: true },
    },
  },
});
