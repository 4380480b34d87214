// For readers that hold back text which may still become a tag (<tool_call>,
// </think>, [TOOL_CALLS]) while a stream's text arrives piece by piece.

/** Length of the longest suffix of `text` that is a proper prefix of `tag` (text that may yet become the tag). */
export function partialTagAt(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) {
    if (text.endsWith(tag.slice(0, n))) return n;
  }
  return 0;
}
