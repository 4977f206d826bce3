// Bundles the page scripts (with MapLibre GL JS) into ../static (or $LAADPLAN_WEB_OUT): reproducible
// from package-lock.json (`npm ci && npm run build`); a test rebuilds and compares with the shipped files.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.env.LAADPLAN_WEB_OUT || join(here, "..", "static");
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "app.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  outfile: join(out, "app.js"),
  legalComments: "none",
  logLevel: "warning",
});
await build({
  entryPoints: [join(here, "src", "app.css")],
  bundle: true,
  minify: true,
  outfile: join(out, "app.css"),
  logLevel: "warning",
});
copyFileSync(join(here, "node_modules", "maplibre-gl", "dist", "maplibre-gl.css"), join(out, "maplibre-gl.css"));
copyFileSync(join(here, "src", "favicon.svg"), join(out, "favicon.svg"));
console.log(`built into ${out}`);
