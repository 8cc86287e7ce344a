/**
 * No import cycles between the core's modules. A cycle makes evaluation order decide what a
 * module sees at load time (a constant read before it is defined), and it means two modules
 * are one idea split in two. The graph has an edge for every import or re-export that survives
 * compilation: with `verbatimModuleSyntax`, that is every statement but `import type` and
 * `export type` (an `import { type X }` still loads its module, so it counts).
 */
import { describe, expect, test } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

type Sources = ReadonlyMap<string, string>;

/** File → the files of `sources` it loads at run time. */
function importGraph(sources: Sources): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const [file, text] of sources) {
    const targets: string[] = [];
    // Statements start a line; their clause never holds a semicolon, so this stops at each one's end.
    for (const statement of text.matchAll(/^(?:import|export)\b[^;]*;/gm)) {
      const [clause] = statement;
      if (/^(?:import|export)\s+type\b/.test(clause)) continue;
      const specifier = /(?:from\s+|^import\s+)['"](\.\/[^'"]+)['"]/.exec(clause)?.[1];
      if (specifier === undefined) continue;
      const target = specifier.slice(2).replace(/\.js$/, '.ts');
      if (sources.has(target) && !targets.includes(target)) targets.push(target);
    }
    graph.set(file, targets);
  }
  return graph;
}

/** Every cycle, each as the files along it from its smallest name back to it, found by depth-first search. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const found = new Map<string, string[]>();
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (file: string): void => {
    const at = path.indexOf(file);
    if (at >= 0) {
      const cycle = path.slice(at);
      const start = cycle.indexOf([...cycle].sort()[0] ?? file);
      const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
      found.set(rotated.join(' '), [...rotated, rotated[0] ?? file]);
      return;
    }
    if (done.has(file)) return;
    path.push(file);
    for (const target of graph.get(file) ?? []) visit(target);
    path.pop();
    done.add(file);
  };
  for (const file of [...graph.keys()].sort()) visit(file);
  return [...found.values()];
}

const sourceDir = join(import.meta.dirname, '..', 'src');
const coreSources: Sources = new Map(
  readdirSync(sourceDir)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => [file, readFileSync(join(sourceDir, file), 'utf8')]),
);

describe("the core's modules", () => {
  test('import each other without a cycle', () => {
    const graph = importGraph(coreSources);
    // The graph is really read: the reducer loads the handlers, and they load the protocol pieces.
    expect(graph.get('replica.ts')).toEqual(expect.arrayContaining(['boot.ts', 'normal.ts', 'view-change.ts']));
    expect(graph.get('normal.ts')).toContain('state-transfer.ts');
    expect(cycles(graph).map((cycle) => cycle.join(' → '))).toEqual([]);
  });

  test('a cycle is found and named, across multi-line imports and re-exports', () => {
    const graph = importGraph(
      new Map([
        ['a.ts', "import {\n  b,\n  type B,\n} from './b.js';\n"],
        ['b.ts', "export { c } from './c.js';\n"],
        ['c.ts', "import { type A } from './a.js';\nimport * as t from 'io-ts';\n"],
        ['d.ts', "import './d.js';\n"],
      ]),
    );
    expect(cycles(graph)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts'], ['d.ts', 'd.ts']]);
  });

  test('type-only imports do not count: they are erased', () => {
    const graph = importGraph(
      new Map([
        ['a.ts', "import type { B } from './b.js';\n"],
        ['b.ts', "import { a } from './a.js';\nexport type { A } from './a.js';\n"],
      ]),
    );
    expect(graph.get('a.ts')).toEqual([]);
    expect(cycles(graph)).toEqual([]);
  });

  test('an import mentioned in a comment is not an edge', () => {
    const graph = importGraph(new Map([['a.ts', " * import { b } from './b.js';\n"], ['b.ts', "import { a } from './a.js';\n"]]));
    expect(cycles(graph)).toEqual([]);
  });
});
