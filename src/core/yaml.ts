// Its own module, imported with `await import('./yaml.js')`: most commands parse no YAML, and
// the bundle loads the yaml package only when this module is first used.
import { parseDocument } from 'yaml';

export function parseYamlDocument(text: string) {
  return parseDocument(text);
}
