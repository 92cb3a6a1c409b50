export * from "./display.js";
export * from "./tensor.js";
export * from "./image.js";
export * from "./grid.js";
export * from "./overlay.js";
export * from "./plot.js";
export { PALETTE, type Axis, type Datum, type Figure, type Layout, type Trace } from "./figure.js";
export { niceTicks } from "./scales.js";
export { colorAt } from "./colors.js";
export { figureSvg } from "./svg.js";
export { figureText } from "./figure_text.js";
export {
  figureBundle,
  figureHtml,
  plotlyMode,
  resetPlotly,
  setPlotlyInlining,
  setPlotlyMode,
  type PlotlyMode,
} from "./html.js";
export * from "./live_plot.js";
export * from "./table.js";
export * from "./progress.js";
