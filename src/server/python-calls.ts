// The pythonic tool-call parser's reader (tool-parsers.ts): Python's
// syntax for a list of calls with literal keyword arguments, read without
// Python; and one literal alone (qwen3_coder's arguments, tool-parsers-xml.ts).

/** A Python list of calls that does not parse (caught inside PythonCalls.read). */
class NotPython extends Error {}

/**
 * Containers nested deeper than this are not read (the text stays text):
 * the reader recurses, and a model's output of ten thousand '[' would
 * otherwise overflow the stack and fail the request.
 */
export const MAX_NESTING = 256;

/**
 * Python's syntax for a list of calls with keyword arguments whose values
 * are literals, as vLLM's pythonic parser takes them: [f(a=1, b='x'),
 * g(c=[True, None], d={'k': 2.5})]. Strings ('', "", triple-quoted, with
 * Python's escapes), numbers, True, False, None, lists, tuples (as lists)
 * and dicts with string or number keys; a positional argument, a name or
 * an expression as a value is not a call.
 */
export class PythonCalls {
  private i = 0;
  private depth = 0;
  private constructor(private readonly s: string) {}

  static read(text: string): { name: string; args: Record<string, unknown> }[] | null {
    const p = new PythonCalls(text);
    try {
      const calls = p.list(() => p.call(), ']');
      p.ws();
      return p.i === text.length ? calls : null;
    } catch (err) {
      if (err instanceof NotPython) return null;
      throw err;
    }
  }

  /**
   * One literal, as ast.literal_eval reads it within this subset (for
   * qwen3_coder's untyped and container arguments); null if `text` is not one.
   */
  static literal(text: string): { value: unknown } | null {
    const p = new PythonCalls(text);
    try {
      const value = p.value();
      p.ws();
      return p.i === text.length ? { value } : null;
    } catch (err) {
      if (err instanceof NotPython) return null;
      throw err;
    }
  }

  private fail(): never {
    throw new NotPython();
  }

  private ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  private eat(ch: string): boolean {
    this.ws();
    if (this.s[this.i] !== ch) return false;
    this.i++;
    return true;
  }

  private expect(ch: string): void {
    if (!this.eat(ch)) this.fail();
  }

  /** Items up to `close` (its opening already read), comma-separated, a trailing comma allowed. */
  private items<T>(item: () => T, close: string): T[] {
    const out: T[] = [];
    while (!this.eat(close)) {
      out.push(item());
      if (!this.eat(',')) {
        this.expect(close);
        break;
      }
    }
    return out;
  }

  private list<T>(item: () => T, close: ']' | ')'): T[] {
    this.expect(close === ']' ? '[' : '(');
    return this.items(item, close);
  }

  private name(): string {
    this.ws();
    const m = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*/.exec(this.s.slice(this.i));
    if (m === null) this.fail();
    this.i += m[0].length;
    return m[0];
  }

  private call(): { name: string; args: Record<string, unknown> } {
    const name = this.name();
    const args: Record<string, unknown> = {};
    this.list(() => {
      const key = this.name();
      this.expect('=');
      args[key] = this.value();
    }, ')');
    return { name, args };
  }

  /** Reads a container one level deeper; past MAX_NESTING the text is not Python here. */
  private nested<T>(read: () => T): T {
    if (++this.depth > MAX_NESTING) this.fail();
    try {
      return read();
    } finally {
      this.depth--;
    }
  }

  private value(): unknown {
    this.ws();
    const c = this.s[this.i];
    if (c === '"' || c === "'") return this.string(c);
    if (c === '[' || c === '(' || c === '{') return this.nested(() => this.container(c));
    return this.scalar();
  }

  private container(c: '[' | '(' | '{'): unknown {
    if (c === '[') return this.list(() => this.value(), ']');
    if (c === '(') return this.list(() => this.value(), ')');
    this.i++;
    const obj: Record<string, unknown> = {};
    this.items(() => {
      const k = this.value();
      if (typeof k !== 'string' && typeof k !== 'number') this.fail();
      this.expect(':');
      obj[String(k)] = this.value();
    }, '}');
    return obj;
  }

  private scalar(): unknown {
    const num = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/.exec(this.s.slice(this.i));
    if (num !== null) {
      this.i += num[0].length;
      return Number(num[0]);
    }
    const word = this.name();
    if (word === 'True') return true;
    if (word === 'False') return false;
    if (word === 'None') return null;
    return this.fail();
  }

  private static readonly ESCAPES: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '0': '\0', a: '\x07', b: '\b', f: '\f', v: '\v', '\n': '' };

  private string(q: string): string {
    const triple = this.s.startsWith(q.repeat(3), this.i);
    const close = triple ? q.repeat(3) : q;
    this.i += close.length;
    let out = '';
    for (;;) {
      if (this.i >= this.s.length) this.fail();
      if (this.s.startsWith(close, this.i)) {
        this.i += close.length;
        return out;
      }
      const ch = this.s[this.i++];
      if (ch === '\n' && !triple) this.fail();
      if (ch !== '\\') {
        out += ch;
        continue;
      }
      if (this.i >= this.s.length) this.fail();
      const e = this.s[this.i++];
      const digits = e === 'x' ? 2 : e === 'u' ? 4 : e === 'U' ? 8 : 0;
      if (digits === 0) {
        // An unknown escape keeps its backslash, as in Python.
        out += PythonCalls.ESCAPES[e] ?? `\\${e}`;
        continue;
      }
      const hex = this.s.slice(this.i, this.i + digits);
      const code = /^[0-9a-fA-F]+$/.test(hex) && hex.length === digits ? parseInt(hex, 16) : -1;
      if (code < 0 || code > 0x10ffff) this.fail();
      out += String.fromCodePoint(code);
      this.i += digits;
    }
  }
}
