/**
 * Seeded randomness. Every random draw in an experiment comes from a stream
 * derived from (root seed, stage path), e.g. `rngFor(seed, ["trial", key, "batches"])`,
 * so adding a trial or a stage never changes another's numbers.
 * Generator: xoroshiro128+ from `pure-rand`.
 * @module
 */
import { xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

/** A stage path: the stable name of the place that draws random numbers. */
export type StreamPath = ReadonlyArray<string | number>;

/** 32-bit FNV-1a style mix of a string with a salt (used to derive state words). */
const hash32 = (text: string, salt: number): number => {
  let h = (0x811c9dc5 ^ salt) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // final avalanche (murmur3 fmix32)
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h | 0;
};

/** A seeded random stream with the draws experiment code needs. */
export class Rng {
  readonly #gen: RandomGenerator;
  #spareNormal: number | undefined = undefined;

  constructor(gen: RandomGenerator) {
    this.#gen = gen;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return uniformFloat64(this.#gen);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`Rng.int: n must be >= 1, got ${n}`);
    return uniformInt(this.#gen, 0, n - 1);
  }

  /** Standard normal draw (Box–Muller, caching the second value). */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const v = this.#spareNormal;
      this.#spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** Fill a new Float32Array with N(0, std²) draws. */
  normals(count: number, std = 1): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = this.normal() * std;
    return out;
  }
}

/** The stream for `path` under `rootSeed`; equal inputs give equal streams. */
export const rngFor = (rootSeed: number, path: StreamPath): Rng => {
  const text = `${rootSeed}\u0000${path.map(String).join("\u0000")}`;
  const state: number[] = [
    hash32(text, 1),
    hash32(text, 2),
    hash32(text, 3),
    hash32(text, 4),
  ];
  if (!state.some((s) => s !== 0)) state[0] = 1;
  return new Rng(xoroshiro128plusFromState(state));
};
