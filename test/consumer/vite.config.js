// The consumer's Vite build; it fails if anything the page imports reaches for a Node built-in.
import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

const builtins = new Set(builtinModules);

export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true },
  plugins: [
    {
      name: 'no-node-builtins',
      enforce: 'pre',
      resolveId(id, importer) {
        if (id.startsWith('node:') || builtins.has(id))
          this.error(`${importer ?? 'the page'} imports the Node built-in "${id}", which a browser does not have`);
        return null;
      },
    },
  ],
});
