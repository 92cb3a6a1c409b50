export * from "./display.js";
export * from "./tensor.js";
export * from "./image.js";
export * from "./plot.js";
export * from "./table.js";
export * from "./progress.js";
