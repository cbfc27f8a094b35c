import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vite';

// The app is served by `chatd serve` from the REST port; `npm run build:web` writes web/dist.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [svelte({ configFile: false, compilerOptions: { css: 'external' } })],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The strict CSP forbids inline scripts; no module preload polyfill is injected inline either.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
});
