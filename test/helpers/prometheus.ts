// Prometheus' text exposition format, parsed by an independent parser (parse-prometheus-text-format,
// a port of the Prometheus Python client's), not by prom-client that wrote it. It ships no types.
import { createRequire } from "node:module";

export interface Family {
  name: string;
  help: string;
  /** COUNTER, GAUGE, HISTOGRAM, SUMMARY, UNTYPED. */
  type: string;
  metrics: {
    labels?: Record<string, string>;
    value?: string;
    buckets?: Record<string, string>;
    count?: string;
    sum?: string;
  }[];
}

const parse = createRequire(import.meta.url)("parse-prometheus-text-format") as (text: string) => Family[];

/** The metric families of an exposition, by name. */
export function prometheusFamilies(text: string): Map<string, Family> {
  return new Map(parse(text).map((f) => [f.name, f]));
}
