import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface UwsRuntime {
  native: boolean;
  binary: string;
  reason?: string;
}

/**
 * Whether uWebSockets.js runs its native binary. The registry build silently falls back to a
 * slow JavaScript shim when the binary does not load, so chatd checks the same condition itself.
 */
export function detectUwsRuntime(): UwsRuntime {
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  if (/^(true|1)$/i.test(process.env.UWS_USE_FALLBACK ?? '')) {
    return { native: false, binary, reason: 'UWS_USE_FALLBACK is set' };
  }
  try {
    require(`uWebSockets.js/binaries/${binary}`);
    return { native: true, binary };
  } catch (error) {
    return { native: false, binary, reason: (error as Error).message.split('\n')[0] };
  }
}
