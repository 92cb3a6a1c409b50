// Renders logo.svg into the kernelspec's logo-32x32.png and logo-64x64.png (committed; run after editing the SVG):
//   node kernels/vlab/logo/render.mjs
// sharp is @vlab/data's dependency, found in the workspace's node_modules; the kernel does not depend on it.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";

const dir = path.dirname(fileURLToPath(import.meta.url));
const svg = fs.readFileSync(path.join(dir, "logo.svg"));
for (const size of [32, 64]) {
  const file = path.join(dir, `logo-${size}x${size}.png`);
  await sharp(svg, { density: (72 * size) / 64 })
    .resize(size, size)
    .png({ compressionLevel: 9 })
    .toFile(file);
  console.log(`wrote ${file}`);
}
