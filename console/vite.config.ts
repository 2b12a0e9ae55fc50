import { defineConfig } from 'vite';

/**
 * The console, built into dist/console (index.html and hashed assets/*), which the broker
 * serves. JSX goes through Vite's own transformer (oxc) with Preact's automatic runtime:
 * no Babel, no framework plugin. The stylesheet lives in public/assets under a stable name
 * because the server-rendered pages (sign-in, dev IdP, consent) link it too.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
  },
});
