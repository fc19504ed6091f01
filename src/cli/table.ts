/**
 * Rows as aligned text columns, two spaces apart: left-aligned, but the
 * columns in `right` (numbers) right-aligned; the last column is not padded.
 */
export function columns(
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number> = new Set(),
): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  }
  return rows.map((row) =>
    row
      .map((cell, i) =>
        right.has(i)
          ? cell.padStart(widths[i] ?? 0)
          : i === row.length - 1
            ? cell
            : cell.padEnd(widths[i] ?? 0),
      )
      .join("  ")
      .trimEnd(),
  );
}

/** A cell shown with colour codes: `plain` is the same text without them, for the widths. */
export interface Painted {
  plain: string;
  painted: string;
}

/** columns() for cells that may carry colour codes: widths from their plain text. */
export function paintedColumns(
  rows: readonly (readonly (string | Painted)[])[],
  right: ReadonlySet<number> = new Set(),
): string[] {
  const plainOf = (cell: string | Painted) => (typeof cell === "string" ? cell : cell.plain);
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, plainOf(cell).length);
  }
  return rows.map((row) =>
    row
      .map((cell, i) => {
        const shown = typeof cell === "string" ? cell : cell.painted;
        const pad = " ".repeat(Math.max(0, (widths[i] ?? 0) - plainOf(cell).length));
        return right.has(i) ? pad + shown : i === row.length - 1 ? shown : shown + pad;
      })
      .join("  ")
      .trimEnd(),
  );
}
