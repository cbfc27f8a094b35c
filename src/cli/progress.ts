/** One self-overwriting status line on a terminal (stderr, so stdout stays clean); silent otherwise. */
export function progressLine(stream: NodeJS.WriteStream = process.stderr): { update(text: string): void; done(): void } {
  const live = Boolean(stream.isTTY);
  let last = 0;
  let shown = false;
  return {
    update(text) {
      const now = Date.now();
      if (!live || now - last < 100) return;
      last = now;
      shown = true;
      stream.write(`\r\x1b[2K${text.slice(0, Math.max(20, (stream.columns ?? 80) - 1))}`);
    },
    done() {
      if (live && shown) stream.write('\r\x1b[2K');
    },
  };
}
