/**
 * Notebook hygiene, the same rules as the packages' code (see the README's "Lint and format"):
 *
 *   npm run format:notebooks [-- notebooks/02-clip.ipynb …]   formats every code cell with prettier (printWidth 120)
 *   npm run lint:notebooks                                       checks, changes nothing; exits 1 naming each fault
 *
 * Checked for each notebook: it is nbformat 4.5 JSON with the vlab kernelspec; code cells are committed without
 * outputs or execution counts; each code cell is prettier-formatted, at most MAX_LINES lines and MAX_WIDTH
 * characters a line (anything longer belongs in a package, and the cell calls it). Markdown cells are left as written.
 */
import fs from "node:fs";
import path from "node:path";
import { format, resolveConfig } from "prettier";

const MAX_LINES = 25;
const MAX_WIDTH = 120;

interface Cell {
  cell_type: string;
  id?: string;
  source: string | string[];
  outputs?: unknown[];
  execution_count?: number | null;
}

interface Notebook {
  nbformat: number;
  nbformat_minor: number;
  metadata: { kernelspec?: { name?: string } };
  cells: Cell[];
}

const text = (source: string | string[]): string => (Array.isArray(source) ? source.join("") : source);

function readNotebook(file: string): Notebook {
  let nb: Notebook;
  try {
    nb = JSON.parse(fs.readFileSync(file, "utf8")) as Notebook;
  } catch (e) {
    throw new Error(`${file}: not a readable notebook (${(e as Error).message})`, { cause: e });
  }
  if (nb.nbformat !== 4 || !Array.isArray(nb.cells)) throw new Error(`${file}: not an nbformat 4 notebook`);
  return nb;
}

/**
 * Formats one code cell as prettier formats a TypeScript module (top-level await is fine), without the last newline.
 */
async function formatCell(source: string, where: string): Promise<string> {
  const options = (await resolveConfig(path.resolve("x.ts"))) ?? {};
  try {
    const out = await format(source, { ...options, parser: "typescript", printWidth: MAX_WIDTH });
    return out.replace(/\n+$/, "");
  } catch (e) {
    throw new Error(`${where}: prettier cannot parse this cell (${(e as Error).message.split("\n")[0]})`, { cause: e });
  }
}

async function processNotebook(file: string, write: boolean): Promise<string[]> {
  const nb = readNotebook(file);
  const faults: string[] = [];
  if (nb.nbformat_minor < 5) faults.push(`${file}: nbformat_minor ${nb.nbformat_minor}, want 4.5 (cell ids)`);
  if (nb.metadata.kernelspec?.name !== "vlab") faults.push(`${file}: kernelspec is not "vlab"`);
  for (const [i, cell] of nb.cells.entries()) {
    if (cell.cell_type !== "code") continue;
    const where = `${file} cell ${i + 1}${cell.id ? ` (id ${cell.id})` : ""}`;
    const source = text(cell.source);
    const formatted = await formatCell(source, where);
    if (write) cell.source = Array.isArray(cell.source) ? formatted.split(/(?<=\n)/) : formatted;
    else if (formatted !== source) faults.push(`${where}: not formatted (npm run format:notebooks)`);
    const lines = formatted.split("\n");
    if (lines.length > MAX_LINES) faults.push(`${where}: ${lines.length} lines (at most ${MAX_LINES})`);
    for (const [j, line] of lines.entries()) {
      if (line.length > MAX_WIDTH)
        faults.push(`${where} line ${j + 1}: ${line.length} characters (at most ${MAX_WIDTH})`);
    }
    if ((cell.outputs ?? []).length > 0 || (cell.execution_count ?? null) !== null) {
      if (write) Object.assign(cell, { outputs: [], execution_count: null });
      else faults.push(`${where}: committed with outputs (notebooks are committed without them)`);
    }
  }
  if (write) {
    const json = `${JSON.stringify(nb, null, 1)}\n`;
    if (json !== fs.readFileSync(file, "utf8")) fs.writeFileSync(file, json);
  }
  return faults;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const write = args.includes("--write");
  const given = args.filter((a) => !a.startsWith("--"));
  const files = given.length
    ? given
    : fs
        .readdirSync("notebooks")
        .filter((f) => f.endsWith(".ipynb"))
        .sort()
        .map((f) => path.join("notebooks", f));
  const faults: string[] = [];
  for (const file of files) faults.push(...(await processNotebook(file, write)));
  for (const f of faults) console.error(f);
  if (faults.length > 0) {
    console.error(`${faults.length} notebook fault(s) in ${files.length} notebook(s)`);
    process.exitCode = 1;
  } else
    console.log(`${files.length} notebook(s) ${write ? "formatted" : "checked"}: every code cell within the limits`);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : String(e));
  process.exitCode = 1;
});
