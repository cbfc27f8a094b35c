#!/usr/bin/env node
// The image's health check: healthy while chatd is ready (its database answers), not merely
// running. A script of its own rather than an inline `node -e`, so that every compose
// implementation passes it through unchanged (podman-compose mangles multi-word commands).
const port = process.env.PORT || 3000;
fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(4000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
