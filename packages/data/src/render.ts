/**
 * Rendering shapes-world scenes: scene → SVG → pixels, through sharp (libvips + librsvg, anti-aliased).
 *
 *   const png = await renderScene(scene);                  // PNG bytes (RGB), for display or files
 *   const x = await renderScenes(scenes);                  // tf.Tensor4D [B, 3, H, W] float32 in [0, 1]
 *   const { data, shape } = await renderScenesRaw(scenes); // the same numbers as a Float32Array, no tfjs needed
 *
 * Speed. One sharp call costs about 1 ms whatever the image size, so a batch is drawn as an atlas: up to a few
 * hundred scenes tiled into one SVG, each in its own nested `<svg>` viewport (which clips it to its tile), one
 * sharp call, then the tiles are cut out. Measured on 2 shared cores: ~1 ms per 32-px image one by one, ~0.07 ms
 * per image through the atlas (4096 images in about 0.3 s). Tiles are pixel-aligned and clipped, so each tile is
 * byte-identical to the scene rendered alone (a test checks this).
 */
import os from "node:os";
import sharp from "sharp";
import { tf } from "@vlab/core";
import { COLORS, outline, type RGB, type Scene } from "./shapes.js";

function rgb(c: RGB): string {
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The scene's drawing: a background rectangle and one filled element per object (no `<svg>` wrapper). */
export function sceneElements(scene: Scene): string {
  let out = `<rect width="${scene.width}" height="${scene.height}" fill="${rgb(scene.background)}"/>`;
  for (const o of scene.objects) {
    const fill = rgb(COLORS[o.color]);
    const g = outline(o.shape, o.x, o.y, o.r);
    if (g.kind === "circle") out += `<circle cx="${g.cx}" cy="${g.cy}" r="${g.r}" fill="${fill}"/>`;
    else out += `<polygon points="${g.points.map(([x, y]) => `${x},${y}`).join(" ")}" fill="${fill}"/>`;
  }
  return out;
}

/** The scene as a standalone SVG document (1 SVG unit = 1 pixel). */
export function sceneSvg(scene: Scene): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}">${sceneElements(scene)}</svg>`;
}

/** Renders one scene to PNG bytes (8-bit RGB, no alpha). Same scene → byte-identical PNG. */
export async function renderScene(scene: Scene): Promise<Buffer> {
  return sharp(Buffer.from(sceneSvg(scene)))
    .removeAlpha()
    .png()
    .toBuffer();
}

/** Renders one scene to interleaved 8-bit RGB pixels, `[H, W, 3]` row-major. */
export async function renderSceneRgb(scene: Scene): Promise<Uint8Array> {
  const buf = await sharp(Buffer.from(sceneSvg(scene)))
    .removeAlpha()
    .raw()
    .toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

export interface RenderOptions {
  /** Atlases rendered at the same time (default: the number of cores; sharp's thread pool does the work). */
  concurrency?: number;
  /** At most this many scenes per atlas (default 256; also capped so an atlas stays under ~1.5 M pixels). */
  perAtlas?: number;
  /** Called after each atlas with the number of scenes rendered so far (for a progress bar). */
  onProgress?: (done: number, total: number) => void;
}

/** A batch of images as plain numbers: `data` is `[B, 3, H, W]` float32 in [0, 1], channel-first like PyTorch. */
export interface RawBatch {
  data: Float32Array;
  shape: [number, number, number, number];
}

/** Renders `scenes[start, end)` as one atlas and writes them, channel-first and /255, into `out`. */
async function renderAtlas(scenes: readonly Scene[], start: number, end: number, out: Float32Array): Promise<void> {
  const batch = scenes.slice(start, end);
  const [first] = batch;
  if (!first) throw new RangeError(`renderScenes: no scenes in [${start}, ${end})`);
  const { width: W, height: H } = first; // all one size (checked by renderScenesRaw)
  const count = end - start;
  const cols = Math.ceil(Math.sqrt((count * H) / W)); // roughly square atlas
  const rows = Math.ceil(count / cols);
  let body = "";
  for (const [k, scene] of batch.entries()) {
    const x = (k % cols) * W,
      y = Math.floor(k / cols) * H;
    body += `<svg x="${x}" y="${y}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${sceneElements(scene)}</svg>`;
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${cols * W}" height="${rows * H}">${body}</svg>`;
  // [rows·H, cols·W, 3]
  const px = await sharp(Buffer.from(svg), { limitInputPixels: false }).removeAlpha().raw().toBuffer();
  const rowStride = cols * W * 3;
  const plane = H * W;
  if (px.length < rows * H * rowStride)
    throw new Error(`renderScenes: sharp returned ${px.length} bytes for a ${cols * W}x${rows * H} RGB atlas`);
  /* eslint-disable @typescript-eslint/no-non-null-assertion -- every src < rows·H·rowStride ≤ px.length (checked
     above) */
  for (let k = 0; k < count; k++) {
    const ox = (k % cols) * W,
      oy = Math.floor(k / cols) * H;
    const base = (start + k) * 3 * plane; // image start in [B, 3, H, W]
    for (let y = 0; y < H; y++) {
      let src = (oy + y) * rowStride + ox * 3;
      const dst = base + y * W;
      for (let x = 0; x < W; x++, src += 3) {
        out[dst + x] = px[src]! / 255;
        out[dst + plane + x] = px[src + 1]! / 255;
        out[dst + 2 * plane + x] = px[src + 2]! / 255;
      }
    }
  }
  /* eslint-enable @typescript-eslint/no-non-null-assertion */
}

/** Renders scenes that all share one size into `[B, 3, H, W]` float32 numbers in [0, 1] (no tfjs involved). */
export async function renderScenesRaw(scenes: readonly Scene[], opts: RenderOptions = {}): Promise<RawBatch> {
  const [first] = scenes;
  if (!first) throw new RangeError("renderScenes: no scenes given");
  const { width: W, height: H } = first;
  scenes.forEach((s, i) => {
    if (s.width !== W || s.height !== H) {
      throw new RangeError(
        `renderScenes: all scenes in a batch must have one size; scene 0 is ${W}x${H}, scene ${i} is ` +
          `${s.width}x${s.height}`,
      );
    }
  });
  const B = scenes.length;
  const data = new Float32Array(B * 3 * H * W);
  const perAtlas = Math.max(1, Math.min(opts.perAtlas ?? 256, Math.floor(1_500_000 / (W * H))));
  const chunks: [number, number][] = [];
  for (let s = 0; s < B; s += perAtlas) chunks.push([s, Math.min(B, s + perAtlas)]);
  const concurrency = Math.max(1, opts.concurrency ?? os.availableParallelism());
  let next = 0,
    done = 0;
  const worker = async () => {
    for (let chunk = chunks[next++]; chunk; chunk = chunks[next++]) {
      const [s, e] = chunk;
      await renderAtlas(scenes, s, e, data);
      done += e - s;
      opts.onProgress?.(done, B);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, chunks.length) }, worker));
  return { data, shape: [B, 3, H, W] };
}

/** Renders scenes that all share one size into a tensor `[B, 3, H, W]` float32 in [0, 1] (the caller disposes it). */
export async function renderScenes(scenes: readonly Scene[], opts: RenderOptions = {}): Promise<tf.Tensor4D> {
  const { data, shape } = await renderScenesRaw(scenes, opts);
  return tf.tensor4d(data, shape, "float32");
}
