/**
 * README "The client": its examples compile against wsfleet/client's types, the browser one is
 * ten lines, and its error table lists exactly the codes the client gives.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CLIENT_ERRORS } from '../../client/index.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(`${ROOT}README.md`, 'utf8');
const SECTION = README.split('### The client (`wsfleet/client`)')[1]?.split('\n### ')[0] ?? '';
const EXAMPLES = [...SECTION.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');

/** Type-checks `code` as a module in the repository, with 'wsfleet/client' mapped to client/. */
function diagnostics(name: string, code: string): string[] {
  const file = `${ROOT}readme-example-${name}.ts`;
  const options: ts.CompilerOptions = {
    strict: true,
    noUncheckedIndexedAccess: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
    types: ['node'],
    typeRoots: [`${ROOT}node_modules/@types`],
    baseUrl: ROOT,
    paths: { 'wsfleet/client': ['client/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (path, language, ...rest) =>
    path === file ? ts.createSourceFile(path, code, language) : getSourceFile(path, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (path) => path === file || fileExists(path);
  const program = ts.createProgram([file], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))
    .filter((text) => !text.includes("Option 'baseUrl' is deprecated"));
}

describe('README: the client', () => {
  it('has a browser example of at most ten lines and a Node example', () => {
    expect(EXAMPLES).toHaveLength(2);
    const [browser, node] = EXAMPLES;
    expect(browser?.trimEnd().split('\n').length).toBeLessThanOrEqual(10);
    expect(browser).toContain('location.host');
    expect(node).toContain("from 'ws'");
  });

  it.each(EXAMPLES.map((code, i) => [i === 0 ? 'browser' : 'node', code]))(
    'compiles the %s example against the types',
    (name, code) => {
      expect(diagnostics(name, code)).toEqual([]);
    },
  );

  it('fails to compile an example that misuses the API (the check can fail)', () => {
    const wrong =
      "import { connect } from 'wsfleet/client';\nconnect('wss://x/ws').subscribe('c', { since: 'one' });\n";
    expect(diagnostics('wrong', wrong).join('\n')).toMatch(/'string' is not assignable to type 'number'/);
  });

  it('lists exactly the codes the client gives in its error table', () => {
    const table = SECTION.split('**Errors**')[1]?.split('**Size**')[0] ?? '';
    const listed = [...table.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.keys(CLIENT_ERRORS).sort());
  });
});
