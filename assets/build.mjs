// Bundles smartcare's front-end from npm packages (no CDN at run time).
// Output: src/smartcare/web/static/web/dist/{app.js,app.css,charts.js,fonts/*}
import { build } from "esbuild";
import { mkdirSync } from "node:fs";

const outdir = "src/smartcare/web/static/web/dist";
mkdirSync(outdir, { recursive: true });

const common = { bundle: true, minify: true, sourcemap: false, logLevel: "info", target: ["es2020"] };

await build({ ...common, entryPoints: { app: "assets/app.js" }, outdir, format: "iife" });
// ECharts is large, so only pages with charts load it.
await build({ ...common, entryPoints: { charts: "assets/charts.js" }, outdir, format: "iife" });
await build({
  ...common,
  entryPoints: { app: "assets/app.css" },
  outdir,
  loader: { ".woff": "file", ".woff2": "file" },
  assetNames: "fonts/[name]-[hash]",
});
