import { describe, expect, it } from 'vitest';
import { BatchLoader } from '../../src/modules/rooms/batch-loader.js';

describe('BatchLoader', () => {
  it('fetches the keys asked for in one turn together, once each', async () => {
    const calls: string[][] = [];
    const loader = new BatchLoader<string>(async (keys) => {
      calls.push(keys);
      return new Map(keys.map((key) => [key, key.toUpperCase()]));
    }, () => undefined);
    const values = await Promise.all([loader.load('a'), loader.load('b'), loader.load('a')]);
    expect(values).toEqual(['A', 'B', 'A']);
    expect(calls).toEqual([['a', 'b']]);
  });

  it('runs one fetch at a time; keys asked for meanwhile share the next one', async () => {
    const calls: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const loader = new BatchLoader<string>(async (keys) => {
      calls.push(keys);
      if (calls.length === 1) await gate;
      return new Map(keys.map((key) => [key, key.toUpperCase()]));
    }, () => undefined);
    const first = loader.load('a');
    await new Promise((resolve) => setImmediate(resolve));
    const later = [loader.load('b')];
    await new Promise((resolve) => setImmediate(resolve));
    later.push(loader.load('c'), loader.load('a'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([['a']]);
    release();
    expect(await Promise.all([first, ...later])).toEqual(['A', 'B', 'C', 'A']);
    expect(calls).toEqual([['a'], ['b', 'c']]);
  });

  it('fetches again a key invalidated while its answer was on the way', async () => {
    let version = 1;
    const loaded: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const loader = new BatchLoader<number>(async (keys) => {
      const seen = version;
      if (seen === 1) await gate;
      return new Map(keys.map((key) => [key, seen]));
    }, (key, value) => loaded.push(`${key}=${value}`));
    const pending = loader.load('room');
    await new Promise((resolve) => setImmediate(resolve));
    version = 2;
    loader.invalidate('room');
    release();
    expect(await pending).toBe(2);
    expect(loaded).toEqual(['room=2']);
  });

  it('passes a failed fetch to every waiter of the batch', async () => {
    const loader = new BatchLoader<number>(async () => {
      throw new Error('database down');
    }, () => undefined);
    await expect(Promise.all([loader.load('a'), loader.load('b')])).rejects.toThrow('database down');
  });
});
