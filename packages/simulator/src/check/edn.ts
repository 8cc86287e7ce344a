/**
 * A small, strict reader for the subset of EDN that Jepsen histories use: maps, vectors,
 * keywords, integers, strings, nil, true and false, with commas as whitespace and `;` comments.
 * Anything else (floats, symbols, sets, lists, tags, characters) is refused with its line and
 * column, as is input past the bounds below: this reads files a user passes, never trusted.
 * Iterative (an explicit stack), so no nesting can overflow the call stack.
 */
import { HistoryError } from './codec.js';

export interface Keyword {
  readonly kind: 'keyword';
  /** Without the colon: `:ok` is 'ok'. */
  readonly name: string;
}

export interface EdnMap {
  readonly kind: 'map';
  readonly entries: ReadonlyArray<readonly [EdnValue, EdnValue]>;
  readonly line: number;
  readonly column: number;
}

export type EdnValue = null | boolean | number | string | Keyword | EdnMap | readonly EdnValue[];

export const EDN_DEPTH_MAX = 32;
export const EDN_STRING_LENGTH_MAX = 64 * 1024;

export function isKeyword(value: EdnValue | undefined, name?: string): value is Keyword {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && (value as Keyword | EdnMap).kind === 'keyword' && (name === undefined || (value as Keyword).name === name);
}

/** Whether the value is a vector (`Array.isArray` alone would type its items as any). */
export function isVector(value: EdnValue | undefined): value is readonly EdnValue[] {
  return Array.isArray(value);
}

export function isEdnMap(value: EdnValue | undefined): value is EdnMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && (value as Keyword | EdnMap).kind === 'map';
}

/** The map's value for keyword `:name`, or undefined if absent. */
export function mapGet(map: EdnMap, name: string): EdnValue | undefined {
  return map.entries.find(([key]) => isKeyword(key, name))?.[1];
}

export function describeEdn(value: EdnValue | undefined): string {
  const text = printEdn(value, 3);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
}

function printEdn(value: EdnValue | undefined, depthLeft: number): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'nil';
  if (typeof value !== 'object') return JSON.stringify(value);
  if (depthLeft === 0) return '…';
  if (isVector(value)) return `[${value.map((item) => printEdn(item, depthLeft - 1)).join(' ')}]`;
  if (value.kind === 'keyword') return `:${value.name}`;
  return `{${value.entries.map(([k, v]) => `${printEdn(k, depthLeft - 1)} ${printEdn(v, depthLeft - 1)}`).join(', ')}}`;
}

/** A collection being read: its items so far and where it opened. */
interface Open {
  readonly closer: ']' | '}';
  readonly items: EdnValue[];
  readonly line: number;
  readonly column: number;
}

const SYMBOL_CHAR = /[A-Za-z0-9*+!\-_?<>=./]/;

/** Reads every top-level form of `text`. */
export function readEdn(text: string, formsMax: number): EdnValue[] {
  return new EdnReader(text, formsMax).readAll();
}

class EdnReader {
  private offset = 0;
  private line = 1;
  private column = 1;
  private readonly stack: Open[] = [];
  private readonly forms: EdnValue[] = [];

  constructor(
    private readonly text: string,
    private readonly formsMax: number,
  ) {}

  readAll(): EdnValue[] {
    for (;;) {
      this.skipBlank();
      if (this.offset >= this.text.length) break;
      this.readToken();
    }
    const open = this.stack.at(-1);
    if (open !== undefined) throw this.error(`unclosed '${open.closer === ']' ? '[' : '{'}' opened at line ${open.line}, column ${open.column}`);
    return this.forms;
  }

  private error(message: string): HistoryError {
    return new HistoryError(`EDN line ${this.line}, column ${this.column}: ${message}`);
  }

  private advance(count: number): void {
    for (let i = 0; i < count; i++) {
      if (this.text[this.offset] === '\n') {
        this.line++;
        this.column = 1;
      } else this.column++;
      this.offset++;
    }
  }

  private skipBlank(): void {
    while (this.offset < this.text.length) {
      const char = this.text[this.offset]!;
      if (char === ';') {
        while (this.offset < this.text.length && this.text[this.offset] !== '\n') this.advance(1);
      } else if (char === ',' || /\s/.test(char)) this.advance(1);
      else return;
    }
  }

  private emit(value: EdnValue): void {
    const open = this.stack.at(-1);
    if (open !== undefined) open.items.push(value);
    else {
      if (this.forms.length >= this.formsMax) throw this.error(`more than ${this.formsMax} top-level forms`);
      this.forms.push(value);
    }
  }

  private readToken(): void {
    const char = this.text[this.offset]!;
    if (char === '[' || char === '{') return this.openCollection(char === '[' ? ']' : '}');
    if (char === ']' || char === '}') return this.closeCollection(char);
    if (char === '"') return this.emit(this.readString());
    if (char === ':') return this.emit(this.readKeyword());
    if (/[0-9+-]/.test(char)) return this.emit(this.readNumberOrSign());
    if (/[A-Za-z]/.test(char)) return this.emit(this.readWord());
    throw this.error(describeUnsupported(char));
  }

  private openCollection(closer: ']' | '}'): void {
    if (this.stack.length >= EDN_DEPTH_MAX) throw this.error(`nested deeper than ${EDN_DEPTH_MAX}`);
    this.stack.push({ closer, items: [], line: this.line, column: this.column });
    this.advance(1);
  }

  private closeCollection(closer: ']' | '}'): void {
    const open = this.stack.pop();
    if (open === undefined) throw this.error(`'${closer}' closes nothing`);
    if (open.closer !== closer) throw this.error(`'${closer}' does not close the '${open.closer === ']' ? '[' : '{'}' opened at line ${open.line}, column ${open.column}`);
    if (closer === ']') {
      this.advance(1);
      return this.emit(open.items);
    }
    if (open.items.length % 2 !== 0) throw this.error(`a map needs an even number of forms (the map opened at line ${open.line}, column ${open.column})`);
    const entries: [EdnValue, EdnValue][] = [];
    for (let i = 0; i < open.items.length; i += 2) entries.push([open.items[i]!, open.items[i + 1]!]);
    this.advance(1);
    this.emit({ kind: 'map', entries, line: open.line, column: open.column });
  }

  private readString(): string {
    let value = '';
    this.advance(1);
    for (;;) {
      if (this.offset >= this.text.length) throw this.error('unterminated string');
      const char = this.text[this.offset]!;
      if (char === '"') break;
      if (char === '\\') {
        const escaped = ESCAPES[this.text[this.offset + 1] ?? ''];
        if (escaped === undefined) throw this.error(`unsupported escape '\\${this.text[this.offset + 1] ?? ''}' in a string (allowed: \\" \\\\ \\n \\t \\r)`);
        value += escaped;
        this.advance(2);
      } else {
        value += char;
        this.advance(1);
      }
      if (value.length > EDN_STRING_LENGTH_MAX) throw this.error(`a string longer than ${EDN_STRING_LENGTH_MAX} characters`);
    }
    this.advance(1);
    return value;
  }

  private readName(): string {
    const start = this.offset;
    while (this.offset < this.text.length && SYMBOL_CHAR.test(this.text[this.offset]!)) {
      if (this.offset - start >= 256) throw this.error('a name longer than 256 characters');
      this.advance(1);
    }
    return this.text.slice(start, this.offset);
  }

  private readKeyword(): Keyword {
    this.advance(1);
    const name = this.readName();
    if (name === '' || !/^[A-Za-z*+!\-_?<>=]/.test(name)) throw this.error(`a keyword needs a name starting with a letter, got ':${name}'`);
    this.checkDelimited();
    return { kind: 'keyword', name };
  }

  private readNumberOrSign(): number {
    const line = this.line;
    const column = this.column;
    const name = this.readName();
    this.checkDelimited();
    if (!/^[+-]?\d+N?$/.test(name)) {
      throw new HistoryError(`EDN line ${line}, column ${column}: only integers are supported, got '${name}'${/^[+-]$/.test(name) ? ' (a symbol)' : ''}`);
    }
    const value = Number(name.replace(/N$/, ''));
    if (!Number.isSafeInteger(value)) throw new HistoryError(`EDN line ${line}, column ${column}: integer ${name} is out of the safe range (±2^53−1)`);
    return value === 0 ? 0 : value; // no -0
  }

  private readWord(): null | boolean {
    const line = this.line;
    const column = this.column;
    const name = this.readName();
    this.checkDelimited();
    if (name === 'nil') return null;
    if (name === 'true') return true;
    if (name === 'false') return false;
    throw new HistoryError(`EDN line ${line}, column ${column}: symbols are not supported, got '${name}' (only nil, true and false)`);
  }

  /** A token must end at whitespace, a comma, a delimiter, a comment or the end. */
  private checkDelimited(): void {
    const char = this.text[this.offset];
    if (char === undefined || /[\s,\]}[{";]/.test(char)) return;
    throw this.error(describeUnsupported(char));
  }
}

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', r: '\r' };

function describeUnsupported(char: string): string {
  const what: Record<string, string> = {
    '#': 'sets, tags and discards (#) are not supported',
    '(': 'lists are not supported (use a vector [...])',
    ')': 'lists are not supported',
    '\\': 'characters are not supported',
    "'": 'quote is not supported',
    '^': 'metadata is not supported',
    '`': 'syntax quote is not supported',
    '~': 'unquote is not supported',
    '@': 'deref is not supported',
  };
  return what[char] ?? `unexpected character ${JSON.stringify(char)}`;
}
