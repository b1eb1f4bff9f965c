/** Loads the yaml package on demand (most commands never parse YAML besides config.yaml). */
export async function parseYamlDocument(text: string) {
  const m = (await import('yaml')) as typeof import('yaml') & { default?: typeof import('yaml') };
  // Bundled, yaml's CommonJS build arrives as a default export.
  const parseDocument = m.parseDocument ?? m.default!.parseDocument;
  return parseDocument(text);
}
