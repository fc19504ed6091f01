/** The text of src/config/types.generated.ts as schemas/config.schema.json implies it. */
export declare function generate(): Promise<string>;
