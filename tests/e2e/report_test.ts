/**
 * The HTML report of a real (tiny) run, produced by the CLI as a user would run it:
 * parse-level checks on report.html (one <svg> per chart, one bar per shift ×
 * selection, self-contained, hostile labels escaped) and, when Chromium is
 * installed, a headless render (a screenshot that is not blank, and the SVG
 * elements present in the rendered DOM). Then `scalpel schema` and `scalpel cache`
 * on the cache that run filled.
 */
import { strict as assert } from "node:assert";
import { decode } from "fast-png";
import { parse as parseYaml } from "yaml";
import { fixture, ROOT, runCli, tempDir } from "../helpers.ts";

const count = (text: string, re: RegExp) => text.match(re)?.length ?? 0;

const scalpel = runCli;

/** How many marks of a kind (Vega's aria-roledescription: `bar`, `rule mark`, `rect mark`, `point`) an SVG holds. */
const marks = (svg: string, role: string) => count(svg, new RegExp(`aria-roledescription="${role}"`, "g"));

/** A shift label no report may interpret as markup. */
const EVIL_LABEL = `<script>alert("x")</script><img src=x onerror='alert(1)'>&`;

/** A custom shift (identity target) whose label is hostile. */
const evilPlugin = `import { defineShift, Effect, Schema } from "${ROOT}mod.ts";
export default defineShift({
  name: "evil-label",
  description: "the unchanged dataset, under a label full of markup",
  options: Schema.Struct({}),
  make: () => Effect.succeed({ label: ${
  JSON.stringify(EVIL_LABEL)
}, sourceKey: "clean", apply: (base) => ({ source: base, target: base }) }),
});
`;

const SHIFTS = 3;
const SELECTIONS = ["none", "block2", "last-layer", "all"];

/** tiny.yaml's settings, two seeds (for error bars), an `all` selection and the hostile shift. */
const pipelineYaml = async () => {
  const tiny = await Deno.readTextFile(fixture("pipelines/tiny.yaml"));
  return tiny
    .replace("name: tiny", "name: tiny-report\nseeds: 2\nplugins: [./evil_shift.ts]")
    .replace("  - label-permutation", "  - label-permutation\n  - evil-label")
    .replace(/^selections: .*$/m, `selections: [${SELECTIONS.join(", ")}]`) +
    `report: { charts: [${fixture("charts/test_accuracy_by_seed.vl.json")}] }\n`;
};

const CHROMIUM = "/usr/bin/chromium";

const chromiumFlags = (profile: string) => [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-dev-shm-usage",
  `--user-data-dir=${profile}`,
];

/** Run headless Chromium (HOME and XDG dirs inside `dir`), at most 90 s. */
const chromium = async (dir: string, args: string[]) => {
  const out = await new Deno.Command(CHROMIUM, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: { HOME: dir, XDG_CONFIG_HOME: `${dir}/.config`, XDG_CACHE_HOME: `${dir}/.cache-home` },
    signal: AbortSignal.timeout(90_000),
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
};

/** The text of the n-th <svg>…</svg> element. */
const svgAt = (html: string, n: number) => html.match(/<svg[\s\S]*?<\/svg>/g)?.[n] ?? "";

Deno.test("e2e: report.html of a tiny run (parse checks, headless Chromium), then `schema` and `cache`", async (t) => {
  const dir = await tempDir("e2e-report");
  const out = `${dir}/run`;
  const cache = `${dir}/cache`;
  await Deno.writeTextFile(`${dir}/evil_shift.ts`, evilPlugin);
  await Deno.writeTextFile(`${dir}/pipeline.yaml`, await pipelineYaml());
  const r = await scalpel(["run", `${dir}/pipeline.yaml`, "--out", out, "--cache", cache, "--quiet"], [dir]);
  assert.equal(r.code, 0, r.stderr);
  const html = await Deno.readTextFile(`${out}/report.html`);

  await t.step("report.html: one <svg> per chart, one bar per shift × selection; each spec beside it", async () => {
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<title>scalpel: tiny-report<\/title>/);
    assert.equal(count(html, /<svg /g), 4, "bars, bars relative to `all`, heat-map, the pipeline file's chart");
    for (let i = 0; i < 4; i++) {
      assert.match(svgAt(html, i), /^<svg [^>]*role="img" aria-label="[^"]+"/, `svg ${i} is an accessible image`);
      assert.match(svgAt(html, i), /<title>[^<]+<\/title>/);
    }
    assert.equal(marks(svgAt(html, 0), "bar"), SHIFTS * SELECTIONS.length);
    assert.equal(marks(svgAt(html, 1), "bar"), SHIFTS * (SELECTIONS.length - 1), "all but `all`");
    assert.equal(marks(svgAt(html, 2), "rect mark"), SHIFTS * SELECTIONS.length);
    const errorBars = marks(svgAt(html, 0), "rule mark");
    assert.ok(errorBars > 0 && errorBars <= SHIFTS * SELECTIONS.length, `two seeds ⇒ error bars (${errorBars})`);
    assert.match(svgAt(html, 0), />Target test accuracy \(%\)<\/text>/, "y axis label");
    assert.match(svgAt(html, 0), />distribution shift<\/text>/, "x axis label");
    // the pipeline file's chart: one point per result line (3 shifts × 4 selections × 2 seeds; `none` once per lr)
    const results = (await Deno.readTextFile(`${out}/results.jsonl`)).trim().split("\n").length;
    assert.equal(marks(svgAt(html, 3), "point"), results);
    const files = [...Deno.readDirSync(`${out}/charts`)].map((e) => e.name).sort();
    assert.deepEqual(files, [
      "accuracy-by-subset.vl.json",
      "custom-1-test_accuracy_by_seed.vl.json",
      "heatmap.vl.json",
      "relative-to-all.vl.json",
    ]);
    const spec = JSON.parse(await Deno.readTextFile(`${out}/charts/accuracy-by-subset.vl.json`));
    assert.equal(spec.$schema, "https://vega.github.io/schema/vega-lite/v6.json");
    assert.equal(spec.data.values.length, SHIFTS * SELECTIONS.length, "the spec carries its data");
    assert.equal(count(html, /<td class="num best">/g), SHIFTS, "best per shift marked in the table");
    assert.match(html, /<pre class="pipeline">\{\n {2}&quot;name&quot;: &quot;tiny-report&quot;/);
    assert.match(html, /<th scope="row">backend<\/th><td>wasm<\/td>/);
  });

  await t.step("report.html is self-contained and escapes the hostile shift label", () => {
    const urls = html.match(/https?:\/\/[^\s"'<>)]*/g) ?? [];
    assert.deepEqual([...new Set(urls)], ["http://www.w3.org/2000/svg"], "no network references but the SVG xmlns");
    assert.equal(count(html, /<script/gi), 0, "no script element");
    assert.equal(count(html, /<img/gi), 0, "no img element");
    // attribute names of every tag (quoted values removed: the escaped label lives in data-* values)
    const attributes = (html.match(/<[a-z][^>]*>/gi) ?? []).flatMap((tag) =>
      [...tag.replace(/"[^"]*"/g, '""').matchAll(/\s([a-z-:]+)=/gi)].map((m) => m[1].toLowerCase())
    );
    assert.ok(attributes.length > 100);
    for (const bad of ["src", "href", "onerror", "onload", "style"]) {
      assert.ok(!attributes.includes(bad), `no ${bad}= attribute`);
    }
    assert.ok(html.includes("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=&#39;"));
  });

  await t.step("summary.md and report.html agree on the best cells", async () => {
    const md = await Deno.readTextFile(`${out}/summary.md`);
    const table = md.slice(md.indexOf("| selection |"), md.indexOf("Chosen on validation"));
    const bold = [...table.matchAll(/\*\*([^*]+)\*\*/g)].map((m) => m[1]).sort();
    assert.equal(bold.length, SHIFTS);
    const best = [...html.matchAll(/<td class="num best"><strong>([^<]+)<\/strong>/g)].map((m) => m[1]).sort();
    assert.deepEqual(best, bold);
  });

  const found = await Deno.stat(CHROMIUM).then(() => true, () => false);
  // under CI a missing browser fails the build; elsewhere the check is skipped with a note
  const ci = Deno.env.get("CI") === "true";
  if (!found && !ci) console.log(`skipping the browser check: ${CHROMIUM} not found (apt-get install chromium)`);
  await t.step({
    name: "headless Chromium renders it: a non-blank screenshot, the SVG elements in the DOM",
    ignore: !found && !ci,
    fn: async () => {
      assert.ok(found, `${CHROMIUM} not found: .ci/run installs it (apt-get install chromium)`);
      const url = new URL(`file://${out}/report.html`).href;
      const png = `${out}/report.png`; // next to the report, for people to look at
      const shot = await chromium(dir, [
        ...chromiumFlags(`${dir}/profile-1`),
        `--screenshot=${png}`,
        "--window-size=1200,1600",
        url,
      ]);
      assert.equal(shot.code, 0, shot.stderr);
      const bytes = await Deno.readFile(png);
      assert.ok(bytes.length > 20_000, `a real image, got ${bytes.length} bytes`);
      const image = decode(bytes);
      assert.deepEqual([image.width, image.height], [1200, 1600]);
      const channels = image.channels;
      const colours = new Set<number>();
      let ink = 0;
      for (let i = 0; i < image.data.length; i += channels) {
        const [r, g, b] = [image.data[i], image.data[i + 1], image.data[i + 2]];
        colours.add((r << 16) | (g << 8) | b);
        if (r + g + b < 600) ink++;
      }
      const pixels = image.width * image.height;
      assert.ok(colours.size > 100, `many colours (charts, anti-aliased text), got ${colours.size}`);
      assert.ok(ink / pixels > 0.03, `not blank: ${((100 * ink) / pixels).toFixed(1)} % non-white pixels`);

      const dom = await chromium(dir, [...chromiumFlags(`${dir}/profile-2`), "--dump-dom", url]);
      assert.equal(dom.code, 0, dom.stderr);
      assert.equal(count(dom.stdout, /<svg /g), 4, "four SVG elements after rendering");
      assert.equal(
        marks(dom.stdout, "bar"),
        SHIFTS * SELECTIONS.length + SHIFTS * (SELECTIONS.length - 1),
      );
      assert.equal(marks(dom.stdout, "rect mark"), SHIFTS * SELECTIONS.length);
      assert.equal(count(dom.stdout, /<script/gi), 0, "the hostile label did not become an element");
      assert.equal(count(dom.stdout, /<img/gi), 0);
    },
  });

  await t.step("a chart spec that does not compile is refused before the run starts, naming the file", async () => {
    await Deno.writeTextFile(`${dir}/bad.vl.json`, JSON.stringify({ mark: "no-such-mark", encoding: {} }));
    await Deno.writeTextFile(`${dir}/notjson.vl.json`, "{ mark: bar");
    for (
      const [chart, why] of [
        ["./bad.vl.json", /does not compile as a Vega-Lite spec: mark: "no-such-mark" is not a Vega-Lite mark/],
        ["./notjson.vl.json", /is not JSON/],
        ["./missing.vl.json", /cannot be read: no such file/],
      ] as const
    ) {
      const file = `${dir}/bad-chart.yaml`;
      await Deno.writeTextFile(file, (await pipelineYaml()).replace(/^report: .*$/m, `report: { charts: [${chart}] }`));
      for (const command of ["validate", "run"]) {
        const r = await scalpel(
          [command, file, ...(command === "run" ? ["--out", `${dir}/bad-run`, "--cache", cache] : [])],
          [dir],
        );
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`report\\.charts\\[0\\]: ${chart.replace(".", "\\.")} `));
        assert.match(r.stderr, why);
        assert.equal(await Deno.stat(`${dir}/bad-run`).catch(() => undefined), undefined, "nothing created");
      }
    }
  });

  await t.step("`scalpel schema` prints a JSON Schema covering the pipeline file's keys", async () => {
    const s = await scalpel(["schema"], [dir]);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /^\{\n {2}"\$schema": "http:\/\/json-schema\.org\/draft-07\/schema#",\n/, "pretty-printed");
    const schema = JSON.parse(s.stdout);
    assert.equal(schema.type, "object");
    assert.deepEqual([...schema.required].sort(), ["dataset", "selections", "shifts"]); // model or source: checked on load
    assert.ok("model" in schema.properties && "source" in schema.properties);
    const file = parseYaml(await pipelineYaml()) as Record<string, unknown>;
    for (const key of Object.keys(file)) assert.ok(key in schema.properties, `schema lacks ${key}`);
  });

  await t.step("`scalpel cache list` shows the pre-trained model the run cached", async () => {
    const key = JSON.parse((await Deno.readTextFile(`${out}/results.jsonl`)).split("\n")[0]).pretrained;
    const l = await scalpel(["cache", "list", "--cache", cache], [dir]);
    assert.equal(l.code, 0, l.stderr);
    const lines = l.stdout.trim().split("\n");
    assert.equal(lines.length, 3, l.stdout);
    assert.match(lines[0], /^key +model +dataset +source +seed +budget +backend +source acc +size$/);
    assert.match(
      lines[1],
      new RegExp(
        `^${key} +small-cnn +mnist\\(trainLimit=2000, testLimit=1000\\) +clean +1 +` +
          `1 epochs, batch 64, lr 0\\.001, 1000 examples +wasm +\\d+\\.\\d\\d % +\\d+ KiB$`,
      ),
    );
    assert.match(lines[2], new RegExp(`^1 cached model\\(s\\), \\d+ KiB in ${cache}$`));
  });

  await t.step("`scalpel cache clear` on a run directory refuses and deletes nothing", async () => {
    const before = [...Deno.readDirSync(out)].map((e) => e.name).sort();
    const c = await scalpel(["cache", "clear", "--cache", out], [dir]);
    assert.equal(c.code, 1, c.stdout);
    assert.match(c.stderr, /^error: Model cache .*: is not a scalpel model cache: it has no scalpel-cache\.json/);
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), before, "nothing deleted");
    assert.ok(before.includes("pipeline.resolved.json") && before.includes("summary.json"));
  });

  await t.step("`scalpel cache clear` deletes only the cache's own files", async () => {
    await Deno.writeTextFile(`${cache}/0123456789abcdef.weights.tmp-123`, "partial");
    await Deno.writeTextFile(`${cache}/notes.json`, "{}");
    await Deno.writeTextFile(`${cache}/notes.txt`, "not a cache file");
    const c = await scalpel(["cache", "clear", "--cache", cache], [dir]);
    assert.equal(c.code, 0, c.stderr);
    assert.match(c.stdout, /deleted .*0123456789abcdef\.weights\.tmp-123\n/);
    assert.match(c.stdout, /deleted .*\.weights\n/);
    assert.match(c.stdout, /deleted .*\.json\n/);
    assert.match(c.stdout, /Deleted 3 file\(s\), .* from /);
    assert.deepEqual(
      [...Deno.readDirSync(cache)].map((e) => e.name).sort(),
      ["notes.json", "notes.txt", "scalpel-cache.json"],
    );
    const again = await scalpel(["cache", "clear", "--cache", cache], [dir]);
    assert.match(again.stdout, /is empty; nothing to delete/);
    const l = await scalpel(["cache", "list", "--cache", cache], [dir]);
    assert.match(l.stdout, /The cache .* is empty\./);
    const none = await scalpel(["cache", "list", "--cache", `${dir}/no-such-cache`], [dir]);
    assert.equal(none.code, 0);
    assert.match(none.stdout, /is empty\./);
    const file = await scalpel(["cache", "list", "--cache", `${cache}/notes.txt`], [dir]);
    assert.equal(file.code, 1);
    assert.match(file.stderr, /^error: Model cache .*notes\.txt: is not a directory\./);
  });
});
