/** maskbridge's version (package.json says the same; test/unit/cli-output.test.ts checks). */
export const VERSION = '0.2.0';
