import { tf, initBackend } from "./dist/index.js";
await initBackend("wasm");
function bench(f, n=20) { for (let i=0;i<3;i++) tf.dispose(f()); const s=performance.now(); for (let i=0;i<n;i++){ const r=f(); r.dataSync(); r.dispose();} return ((performance.now()-s)/n); }
const a = tf.randomNormal([512,128]), b = tf.randomNormal([1024,512]);
const w = tf.randomNormal([256,128]); const idx = tf.tensor1d(Array.from({length:1024},(_, i)=> (i*7)%256), "int32");
console.log("transpose 512x128", bench(() => tf.transpose(a)).toFixed(3));
console.log("transpose 1024x512", bench(() => tf.transpose(b)).toFixed(3));
console.log("gather 256x128 [1024]", bench(() => tf.gather(w, idx)).toFixed(3));
console.log("add 1024x512", bench(() => tf.add(b, b)).toFixed(3));
console.log("dataSync only 1024x512", bench(() => tf.clone(b)).toFixed(3));
// JS transpose
function jsT(x) { const [r,c] = x.shape; const v = x.dataSync(); const o = new Float32Array(r*c); for (let i=0;i<r;i++) for (let j=0;j<c;j++) o[j*r+i]=v[i*c+j]; return tf.tensor(o,[c,r]); }
console.log("JS transpose 1024x512 (incl. copies)", bench(() => jsT(b)).toFixed(3));
