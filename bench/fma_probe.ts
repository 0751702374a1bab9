/**
 * How much a fused multiply-add would buy scalpel's wasm kernels on this machine: the conv
 * filter-gradient kernel (core/kernels/c/filter_grad.c) built twice with clang 16 and the
 * committed kernels' flags (core/kernels/c/build.ts) — as
 * committed (a multiply, then an add: wasm SIMD128 has no FMA) and with every
 * multiply-add of its inner loop as relaxed SIMD's `f32x4.relaxed_madd`, which V8 lowers
 * to the CPU's FMA — and timed in turn on resnet-mini's three 3×3 layer shapes at batch
 * 64 (median of 30 alternating calls each). It also counts the outputs whose bits differ,
 * which shows the fused form really ran (one rounding instead of two).
 *
 *   apt-get install clang-16 lld-16
 *   deno run --allow-read --allow-write --allow-run bench/fma_probe.ts
 *
 * Not part of the build: the committed kernels stay FMA-free (bit for bit the kernels
 * they replaced); this measures the ceiling that relaxed SIMD would lift.
 * @module
 */
import { FLAGS } from "../core/kernels/c/build.ts";

const CLANG = "/usr/lib/llvm-16/bin/clang";

const source = await Deno.readTextFile(new URL("../core/kernels/c/filter_grad.c", import.meta.url));
const fused = source
  .replace(
    "#include <wasm_simd128.h>",
    "#include <wasm_simd128.h>\ntypedef float f4 __attribute__((__vector_size__(16)));",
  )
  .replace(
    /(a\d\d) = wasm_f32x4_add\(\1, wasm_f32x4_mul\((x\d), (d\d)\)\);/g,
    "$1 = (v128_t)__builtin_wasm_relaxed_madd_f32x4((f4)$2, (f4)$3, (f4)$1);",
  );
if ((fused.match(/relaxed_madd/g) ?? []).length !== 8) {
  throw new Error("fma_probe: filter_grad.c's inner loop changed; update the rewrite");
}

const build = async (c: string, extra: string[]): Promise<Uint8Array> => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/k.c`, c);
  const run = await new Deno.Command(CLANG, { args: [...FLAGS, ...extra, "-o", `${dir}/k.wasm`, `${dir}/k.c`] })
    .output()
    .catch((e) => {
      throw new Error(`fma_probe: cannot run ${CLANG} (${e.message}); apt-get install clang-16 lld-16`);
    });
  if (!run.success) throw new Error(`fma_probe: clang failed:\n${new TextDecoder().decode(run.stderr)}`);
  const bytes = await Deno.readFile(`${dir}/k.wasm`);
  await Deno.remove(dir, { recursive: true });
  return bytes;
};

type Kernel = { memory: WebAssembly.Memory; compute: (...a: number[]) => void };
const load = (bytes: Uint8Array): Kernel => {
  const memory = new WebAssembly.Memory({ initial: 400 });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory } });
  return { memory, compute: inst.exports.filter_grad_compute as Kernel["compute"] };
};
const kernels = {
  "mul+add": load(await build(source, [])),
  fma: load(await build(fused, ["-mrelaxed-simd"])),
};

const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1];
const layers = [[28, 16, 16], [14, 32, 32], [7, 64, 64]];
const N = 64;
for (const [hw, ci, co] of layers) {
  const nx = N * hw * hw * ci, nd = N * hw * hw * co, no = 9 * ci * co;
  const xT = 2 << 16, dyT = xT + 4 * nx, out = dyT + 4 * nd;
  for (const k of Object.values(kernels)) {
    const f = new Float32Array(k.memory.buffer);
    let s = 1;
    for (let i = 0; i < nx + nd; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      f[(xT >> 2) + i] = s / 2 ** 32 - 0.5;
    }
  }
  const call = (k: Kernel) => k.compute(xT, dyT, out, N, hw, hw, ci, hw, hw, co, 3, 3, 1, 1, 1, 1, 0, co);
  const times = { "mul+add": [] as number[], fma: [] as number[] };
  for (let rep = 0; rep < 33; rep++) {
    for (const name of (rep % 2 ? ["mul+add", "fma"] : ["fma", "mul+add"]) as (keyof typeof kernels)[]) {
      const t0 = performance.now();
      call(kernels[name]);
      if (rep >= 3) times[name].push(performance.now() - t0);
    }
  }
  const [a, b] = [kernels["mul+add"], kernels.fma].map((k) => new Float32Array(k.memory.buffer, out, no));
  const differ = a.filter((v, i) => v !== b[i]).length;
  const flops = 2 * N * hw * hw * 9 * ci * co;
  const gf = (ms: number) => (flops / ms / 1e6).toFixed(1);
  const [m, f] = [median(times["mul+add"]), median(times.fma)];
  console.log(
    `${hw}×${hw}×${ci}→${co}, batch ${N}: mul+add ${m.toFixed(2)} ms (${gf(m)} GFLOP/s), fma ${f.toFixed(2)} ms ` +
      `(${gf(f)} GFLOP/s): ${(m / f).toFixed(2)}× faster; ${differ} of ${no} outputs differ in their bits`,
  );
}
