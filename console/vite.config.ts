import { defineConfig } from 'vite';

// The Go embed package (internal/console) serves this directory at /console/.
// Asset names carry a content hash so they can be cached for a year; index.html is served uncached.
export default defineConfig({
  base: '/console/',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    outDir: '../internal/console/site',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    // No inline <script> or style attribute anywhere: the CSP is script-src 'self'; style-src 'self'.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    cssCodeSplit: false,
  },
  test: { environment: 'jsdom', include: ['src/**/*.test.ts'] },
} as any);
