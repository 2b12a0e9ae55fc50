#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the `prepare` script).
import('../dist/clients/cli/main.js').catch((error) => {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('dist/clients/cli')) {
    console.error('portcullis: not built yet; run `npm run build` first.');
    process.exit(1);
  }
  throw error;
});
