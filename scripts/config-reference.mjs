#!/usr/bin/env node
// docs/CONFIGURATION.md, generated from the option classes of libs/jwt-defense/src with the TypeScript compiler
// API: every decorated field of every options class reachable from `JwtDefenseOptions` (through `@Nested`,
// `@NestedUnion`, `@NestedList` and `@NestedRecord`), with its path, type, default and JSDoc; and the
// registration switches of `JwtDefenseModuleExtras`; then those of `JwtDefenseOpsModule.forRoot()` (`JwtDefenseOpsOptions`,
// under `ops.`, the path its boot errors name).
//
//   npm run docs:config            writes docs/CONFIGURATION.md
//   node scripts/config-reference.mjs --check   exits 1 when the file is stale
//
// test/configuration-reference.e2e-spec.ts runs `buildConfigurationReference()` in `npm test`: the file must be
// up to date, every option the resolver accepts must have its entry, and every entry its JSDoc.
import { join } from 'node:path';
import ts from 'typescript';
import { generatedFileCommand } from './generated-file.mjs';

const SOURCE = 'libs/jwt-defense/src';
const OUTPUT = 'docs/CONFIGURATION.md';
const NESTED_DECORATORS = new Set(['Nested', 'NestedUnion', 'NestedList', 'NestedRecord']);

/** Builds the reference from the sources under `rootDir`; returns the Markdown and what it found. */
export function buildConfigurationReference(rootDir = process.cwd()) {
  const entry = join(rootDir, SOURCE, 'jwt-defense.options.ts');
  const definition = join(rootDir, SOURCE, 'jwt-defense.module-definition.ts');
  const ops = join(rootDir, SOURCE, 'ops/ops.options.ts');
  const program = ts.createProgram([entry, definition, ops], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    experimentalDecorators: true,
    strict: true,
    noEmit: true,
    types: [],
  });
  const checker = program.getTypeChecker();
  const problems = [];
  const rows = []; // { path, type, default, doc, section }
  const sections = []; // { title, anchor, className, doc, rows: [] }

  const rel = (node) => `${join(SOURCE, node.getSourceFile().fileName.split(`${SOURCE}/`)[1] ?? node.getSourceFile().fileName)}`;
  const docOf = (node) => {
    const symbol = node.name ? checker.getSymbolAtLocation(node.name) : undefined;
    const text = symbol ? ts.displayPartsToString(symbol.getDocumentationComment(checker)) : '';
    return text.replace(/\*\\\//g, '*/').replace(/\s*\n\s*/g, ' ').trim();
  };
  const findClass = (name) => {
    for (const file of program.getSourceFiles()) {
      if (!file.fileName.includes(`/${SOURCE}/`)) continue;
      for (const statement of file.statements) if (ts.isClassDeclaration(statement) && statement.name?.text === name) return statement;
    }
    throw new Error(`options class ${name} not found`);
  };
  /** The class an identifier (in a decorator's thunk) refers to. */
  const classOf = (identifier) => {
    let symbol = checker.getSymbolAtLocation(identifier);
    if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
    const declaration = symbol?.declarations?.find(ts.isClassDeclaration);
    if (!declaration) throw new Error(`${identifier.getText()} is not a class (${rel(identifier)})`);
    return declaration;
  };
  const decoratorsOf = (member) => (ts.canHaveDecorators(member) ? (ts.getDecorators(member) ?? []) : []);
  const decoratorName = (decorator) => {
    const call = decorator.expression;
    const callee = ts.isCallExpression(call) ? call.expression : call;
    return ts.isIdentifier(callee) ? callee.text : callee.getText();
  };
  /** `declare readonly [REQUIRED]?: { a: true; b: true }` → ['a', 'b']. */
  const requiredOf = (cls) => {
    const names = new Set();
    for (const member of cls.members) {
      if (!ts.isPropertyDeclaration(member) || !ts.isComputedPropertyName(member.name) || member.name.expression.getText() !== 'REQUIRED') continue;
      if (member.type && ts.isTypeLiteralNode(member.type)) for (const item of member.type.members) if (item.name) names.add(item.name.getText());
    }
    return names;
  };
  /** Members of a class and of the classes it extends (the subclass's own first). */
  const membersOf = (cls) => {
    const members = [...cls.members];
    const heritage = cls.heritageClauses?.find((clause) => clause.token === ts.SyntaxKind.ExtendsKeyword);
    if (heritage) {
      const own = new Set(members.map((member) => member.name?.getText()));
      for (const member of membersOf(classOf(heritage.types[0].expression))) if (!own.has(member.name?.getText())) members.push(member);
    }
    return members;
  };
  const constantValue = (expression) => {
    const type = checker.getTypeAtLocation(expression);
    if (type.isNumberLiteral() || type.isStringLiteral()) return JSON.stringify(type.value);
    return undefined;
  };
  const defaultOf = (member, required) => {
    if (required) return '**required**';
    const init = member.initializer;
    if (!init) return member.questionToken ? 'none' : '**required**';
    let expression = init;
    while (ts.isAsExpression(expression) || ts.isParenthesizedExpression(expression)) expression = expression.expression;
    if (ts.isNewExpression(expression)) return '`{}` (the defaults below)';
    if (ts.isNumericLiteral(expression)) return `\`${Number(expression.text)}\``;
    if (ts.isIdentifier(expression)) return `\`${constantValue(expression) ?? expression.text}\``;
    return `\`${expression.getText().replace(/(\d)_(?=\d)/g, '$1').replace(/\s+/g, ' ')}\``;
  };
  /** The declared type; an alias of a union of literals (`ProxyHeader`) is spelled out, its name kept. */
  const typeOf = (member) => {
    if (!member.type) return checker.typeToString(checker.getTypeAtLocation(member));
    const text = member.type.getText().replace(/\s+/g, ' ');
    const spell = (node) => {
      if (ts.isArrayTypeNode(node)) return spell(node.elementType);
      if (!ts.isTypeReferenceNode(node)) return undefined;
      const symbol = checker.getSymbolAtLocation(node.typeName);
      const aliased = symbol && symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      if (!aliased?.declarations?.some(ts.isTypeAliasDeclaration)) return undefined;
      const type = checker.getDeclaredTypeOfSymbol(aliased);
      if (!type.isUnion() || !type.types.every((item) => item.isStringLiteral() || item.isNumberLiteral())) return undefined;
      return type.types.map((item) => JSON.stringify(item.value).replace(/"/g, "'")).join(' | ');
    };
    const spelled = spell(member.type);
    return spelled ? `${text}: ${spelled}` : text;
  };
  // GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens.
  const anchor = (title) => title.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
  const code = (text) => `\`${text.replace(/\|/g, '\\|')}\``;
  const cell = (text) => text.replace(/\|/g, '\\|');

  /** Documents the fields of `cls` found at `path` (the root: ''), then the nested classes, depth first. */
  function walk(cls, path, title, extraRows = []) {
    const section = { title, anchor: anchor(title), className: cls.name.text, doc: docOf(cls), rows: [...extraRows] };
    sections.push(section);
    const required = requiredOf(cls);
    const nestedLater = [];
    for (const member of membersOf(cls)) {
      if (!ts.isPropertyDeclaration(member) || !ts.isIdentifier(member.name)) continue;
      const decorators = decoratorsOf(member);
      if (decorators.length === 0) continue;
      const name = member.name.text;
      const fieldPath = path ? `${path}.${name}` : name;
      const doc = docOf(member);
      if (!doc) problems.push(`${fieldPath} (${cls.name.text} in ${rel(member)}) has no JSDoc`);
      const row = { path: fieldPath, type: typeOf(member), default: defaultOf(member, required.has(name)), doc, link: undefined };
      section.rows.push(row);
      rows.push(row);
      const nested = decorators.find((decorator) => NESTED_DECORATORS.has(decoratorName(decorator)));
      if (!nested) continue;
      const [first, second] = nested.expression.arguments;
      const kind = decoratorName(nested);
      if (kind === 'NestedUnion') {
        const discriminator = first.text;
        const thunk = second;
        const literal = ts.isParenthesizedExpression(thunk.body) ? thunk.body.expression : thunk.body;
        const variants = literal.properties.map((property) => [property.name.getText().replace(/['"]/g, ''), classOf(property.initializer)]);
        row.link = variants.map(([tag]) => `${fieldPath} (${discriminator}: '${tag}')`);
        for (const [tag, variant] of variants) nestedLater.push([variant, fieldPath, `${fieldPath} (${discriminator}: '${tag}')`]);
      } else {
        const target = classOf(first.body);
        const nestedPath = kind === 'NestedList' ? `${fieldPath}[]` : kind === 'NestedRecord' ? `${fieldPath}.<name>` : fieldPath;
        row.link = [nestedPath];
        nestedLater.push([target, nestedPath, nestedPath]);
      }
    }
    for (const [target, nestedPath, nestedTitle] of nestedLater) walk(target, nestedPath, nestedTitle);
  }

  walk(findClass('JwtDefenseOptions'), '', 'forRoot() options');
  walk(findClass('JwtDefenseOpsOptions'), 'ops', 'JwtDefenseOpsModule.forRoot() options (ops)');

  // The registration switches: an interface beside the module definition.
  const extrasFile = program.getSourceFile(definition);
  const extras = extrasFile.statements.find((statement) => ts.isInterfaceDeclaration(statement) && statement.name.text === 'JwtDefenseModuleExtras');
  const extrasRows = extras.members.filter(ts.isPropertySignature).map((member) => {
    const doc = docOf(member);
    if (!doc) problems.push(`${member.name.getText()} (JwtDefenseModuleExtras) has no JSDoc`);
    const fallback = doc.match(/Default `([^`]+)`/)?.[1];
    return { path: member.name.getText(), type: member.type.getText(), default: fallback ? `\`${fallback}\`` : 'see text', doc };
  });

  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run docs:config` (scripts/config-reference.mjs) from the option classes in',
    '     libs/jwt-defense/src: edit their JSDoc, not this file. `npm test` fails when it is stale. -->',
    '',
    'Every option of `JwtDefenseModule.forRoot({...})` (and of what a `forRootAsync` factory returns), by path. Each',
    "layer's options class holds its defaults and checks; an unknown or misspelled name at any depth, a wrong type",
    'or an out-of-range number stops the app at boot with a `TypeError` naming the path and the fix. A nested',
    'object left out takes its defaults; `type` names the variant of `store`.',
    '',
    '## Contents',
    '',
    '- [Registration switches](#registration-switches)',
    ...sections.map((section) => `- [\`${section.title}\`](#${section.anchor})`),
    '',
    '## Registration switches',
    '',
    "Given beside the options (`forRoot({ ...options, isGlobal })`, `forRootAsync({ useFactory, isGlobal })`): they",
    'decide which providers exist, so they are never read from an async factory (`JwtDefenseModuleExtras`).',
    '',
    '| switch | type | default | meaning |',
    '|---|---|---|---|',
    ...extrasRows.map((row) => `| ${code(row.path)} | ${code(row.type)} | ${row.default} | ${cell(row.doc)} |`),
    '',
  ];
  for (const section of sections) {
    lines.push(`## \`${section.title}\``, '', `\`${section.className}\`${section.doc ? `: ${section.doc}` : ''}`, '');
    lines.push('| option | type | default | meaning |', '|---|---|---|---|');
    for (const row of section.rows) {
      const see = row.link ? ` See ${row.link.map((title) => `[\`${title}\`](#${anchor(title)})`).join(', ')}.` : '';
      lines.push(`| ${code(row.path)} | ${code(row.type)} | ${row.default} | ${cell(row.doc)}${see} |`);
    }
    lines.push('');
  }
  return { markdown: `${lines.join('\n').trimEnd()}\n`, rows, sections, problems };
}

generatedFileCommand('docs:config', OUTPUT, () => {
  const { markdown, problems } = buildConfigurationReference(process.cwd());
  return { text: markdown, problems };
});
