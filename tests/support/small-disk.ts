import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A file system of a few megabytes that a test can fill, and what gives it back. */
export interface SmallDisk {
  /** A directory on it: the same path for the test and for chatd. */
  path: string;
  /** How it was made: `mount` (root), `userns` (an unprivileged user and mount namespace). */
  kind: 'mount' | 'userns';
  /** Prepended to the command line of every chatd that uses it (empty when mounted in place). */
  prefix: string[];
  release(): Promise<void>;
}

/**
 * A tmpfs of `sizeMb`, for a real "no space left on device".
 *
 * Root mounts it in place. Anyone else mounts it inside a new user and mount namespace
 * (unshare -Urm) held by a sleeping process H, at /tmp/chatd-tmpfs-X there, and uses the path
 * /proc/H/root/tmp/chatd-tmpfs-X, which the kernel lets H's owner traverse into H's namespace.
 * The test's own file operations reach the tmpfs through it as they are. chatd runs inside the
 * namespace (`prefix`: nsenter), because SQLite resolves symbolic links in database paths and
 * /proc/H/root reads as "/": from outside that would land on the empty directory under the
 * mount; inside, "/" is H's root, so the same path names the tmpfs for chatd and its database.
 *
 * When neither way is possible this throws: the disk-full test fails, it never skips.
 * CHATD_TEST_SMALL_DISK=userns takes the unprivileged way as root too, to try it.
 */
export async function smallDisk(sizeMb: number): Promise<SmallDisk> {
  const dir = mkdtempSync(join(tmpdir(), 'chatd-tmpfs-'));
  const options = `size=${sizeMb}m`;
  if (process.getuid?.() === 0 && process.env.CHATD_TEST_SMALL_DISK !== 'userns') {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]);
    return { path: dir, kind: 'mount', prefix: [], release: async () => void execFileSync('umount', ['-l', dir]) };
  }

  // unshare execs the shell, which execs sleep: the pid stays the namespace's holder throughout.
  const holder = spawn('unshare', ['--user', '--map-root-user', '--mount', 'sh', '-c', 'mount -t tmpfs -o "$1" tmpfs "$2" && echo mounted && exec sleep 86400', 'sh', options, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  holder.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const fail = (why: string) =>
      reject(new Error(`cannot make a ${sizeMb} MB tmpfs: not root, and ${why} (this needs unprivileged user namespaces: sysctl user.max_user_namespaces, kernel.unprivileged_userns_clone)`));
    holder.once('error', (error) => fail(`unshare could not run: ${error.message}`));
    holder.once('exit', (code) => fail(`unshare -Urm exited ${code}: ${stderr.trim()}`));
    holder.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('mounted')) resolve();
    });
  });
  const path = `/proc/${holder.pid}/root${dir}`;
  return {
    path,
    kind: 'userns',
    // Our own uid is the namespace's root (--map-root-user), so nsenter keeps it rather than
    // calling setgroups, which that namespace denies; it works in the tmpfs.
    prefix: ['nsenter', `--target=${holder.pid}`, '--user', '--mount', '--preserve-credentials', `--wd=${path}`],
    // The tmpfs goes with the last process of its namespace.
    release: async () => {
      holder.kill('SIGKILL');
      await exited;
    },
  };
}
