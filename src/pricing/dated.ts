/** A month and day as OpenAI's older snapshots write them ("0613"): only real dates, so "-8192" stays. */
const MMDD = "(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\\d|3[01])";

/** A snapshot's date (-2024-08-06, -20241022, -0613) or "-latest" at the end of a model name. */
export const DATE_SUFFIX = new RegExp(`-(?:\\d{4}-\\d{2}-\\d{2}|\\d{8}|${MMDD}|latest)$`);

/** A dated preview ("gpt-4-1106-preview"): the date goes, "-preview" stays. */
const DATED_PREVIEW = new RegExp(`-${MMDD}-preview$`);

/** The name without its snapshot date or "-latest": the model an alias resolves to, undated. */
export function undated(name: string): string {
  return name.replace(DATE_SUFFIX, "");
}

/** Also a dated preview's date: "gpt-4-1106-preview" → "gpt-4-preview". */
export function undatedPreview(name: string): string {
  return undated(name).replace(DATED_PREVIEW, "-preview");
}
