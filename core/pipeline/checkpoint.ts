/**
 * A paused trial's checkpoint as bytes, so that another process (a worker fed by a
 * queue, an advisor continuing the survivors of a rung) can continue it: a JSON header
 * (epoch, losses, multipliers, best epoch, validation curve, …), then every array —
 * current weights, best weights, Adam's moments — in the snapshot format of
 * core/model.ts. Decoding checks the format and fails on a damaged buffer.
 * @module
 */
import { Schema } from "effect";
import { decodeSnapshot, encodeSnapshot, type Snapshot } from "../model.ts";
import { MetricsSchema } from "../results.ts";
import type { TrialCheckpoint } from "./trial.ts";

const Finite = Schema.transform(Schema.NullOr(Schema.Number), Schema.Number, {
  strict: true,
  decode: (x) => x ?? NaN,
  encode: (x) => (Number.isFinite(x) ? x : null),
});

const HeaderSchema = Schema.Struct({
  format: Schema.Literal("scalpel-checkpoint/1"),
  key: Schema.String,
  epoch: Schema.Int,
  steps: Schema.Array(Schema.Tuple(Schema.String, Schema.Number)),
  adamSteps: Schema.Array(Schema.Tuple(Schema.String, Schema.Number)),
  epochLosses: Schema.Array(Finite),
  multipliersByEpoch: Schema.Array(Schema.Array(Schema.Tuple(Schema.String, Schema.Number))),
  best: Schema.Struct({ epoch: Schema.Int, val: MetricsSchema }),
  curve: Schema.Array(Finite),
  touched: Schema.Array(Schema.String),
  seconds: Schema.Number,
});

/** Prefixes of the arrays in the snapshot part. */
const WEIGHTS = "w:";
const BEST = "b:";
const M = "m:";
const V = "v:";

/** Encode a checkpoint. */
export const encodeCheckpoint = (c: TrialCheckpoint): Uint8Array => {
  const header = new TextEncoder().encode(JSON.stringify(
    Schema.encodeSync(HeaderSchema)({
      format: "scalpel-checkpoint/1",
      key: c.key,
      epoch: c.train.epoch,
      steps: [...c.train.stepsByVariable],
      adamSteps: [...c.train.slots].map(([name, s]) => [name, s.step] as const),
      epochLosses: c.train.epochLosses,
      multipliersByEpoch: c.train.multipliersByEpoch.map((m) => [...m]),
      best: { epoch: c.best.epoch, val: c.best.val },
      curve: c.curve,
      touched: c.touched,
      seconds: c.seconds,
    }),
  ));
  const arrays = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, w] of c.weights) arrays.set(WEIGHTS + name, w);
  for (const [name, w] of c.best.weights) arrays.set(BEST + name, w);
  for (const [name, s] of c.train.slots) {
    arrays.set(M + name, { shape: [s.m.length], data: s.m });
    arrays.set(V + name, { shape: [s.v.length], data: s.v });
  }
  const body = encodeSnapshot(arrays);
  const out = new Uint8Array(4 + header.length + body.length);
  new DataView(out.buffer).setUint32(0, header.length, true);
  out.set(header, 4);
  out.set(body, 4 + header.length);
  return out;
};

/** Decode a checkpoint; throws on a damaged or foreign buffer. */
export const decodeCheckpoint = (bytes: Uint8Array): TrialCheckpoint => {
  if (bytes.length < 4) throw new Error("checkpoint too short");
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + length > bytes.length) throw new Error("checkpoint truncated in its header");
  const h = Schema.decodeUnknownSync(Schema.parseJson(HeaderSchema))(
    new TextDecoder().decode(bytes.subarray(4, 4 + length)),
  );
  const arrays = decodeSnapshot(bytes.subarray(4 + length));
  const part = (prefix: string): Snapshot =>
    new Map([...arrays].filter(([n]) => n.startsWith(prefix)).map(([n, w]) => [n.slice(prefix.length), w]));
  const m = part(M);
  const v = part(V);
  const adam = new Map(h.adamSteps);
  return {
    key: h.key,
    train: {
      epoch: h.epoch,
      slots: new Map([...m].map(([name, w]) => [name, { m: w.data, v: v.get(name)!.data, step: adam.get(name)! }])),
      epochLosses: h.epochLosses,
      multipliersByEpoch: h.multipliersByEpoch.map((pairs) => new Map(pairs)),
      stepsByVariable: new Map(h.steps),
    },
    weights: part(WEIGHTS),
    best: { epoch: h.best.epoch, val: h.best.val, weights: part(BEST) },
    curve: h.curve,
    touched: h.touched,
    seconds: h.seconds,
  };
};
