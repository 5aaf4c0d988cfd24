#!/usr/bin/env node
// Writes pairs.json beside this file: texts and the GPT-2 token ids that the
// JavaScript encoder of the gpt-3-encoder package gives them, for
// tests/test_tokenizer.cpp. That encoder uses GPT-2's pattern and merge order,
// but JavaScript's \s differs from the White_Space property GPT-2 splits on
// (it takes U+FEFF, not U+0085), so texts with those characters are refused
// here; test_tokenizer.cpp checks them another way.
// Usage: scripts/fetch_data.sh; node tests/tokenizer/make_pairs.js
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..', '..');
const encoderDir = path.join(root, 'data', 'gpt-3-encoder');
const { encode, decode } = require(encoderDir);

const gpt2Pattern = String.raw`/'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu`;
if (!fs.readFileSync(path.join(encoderDir, 'Encoder.js'), 'utf8').includes(gpt2Pattern))
  throw new Error(`${encoderDir}/Encoder.js does not split with GPT-2's pattern`);

const texts = [
  '',
  'Hello world',
  "Hello, world! How's it going?",
  // whitespace runs
  'a b', 'a  b', 'a     b', 'a\tb', 'a\t\tb', 'line one\nline two', 'one\n\ntwo\n\n\nthree',
  'trailing spaces   ', '   leading spaces', ' ', '    ', '\n', '\t', '\r\n', 'a \t\n b',
  'x  \n  y', 'end with newline\n', 'spaces before newline   \nnext',
  'no\u00a0break\u3000ideographic\u2028line', // Unicode spaces GPT-2 and JavaScript agree on
  // contractions
  "it's", "don't", "they're", "we've", "I'm", "you'll", "he'd", "it'd've",
  "IT'S", "DON'T", "'S", "'T", "'Re", "O'Neil's", "rock 'n' roll", "''s", " 's", "'",
  "the dogs' bones", "’s curly apostrophe",
  // numbers
  '1234567890123456789012345', '3.14159', '1,000,000', '-42', '2024-05-20', ' 7 8 9', '0x1F',
  '\u00bd \u00b2 \u0663\u0664', // vulgar fraction, superscript, Arabic-Indic digits
  // punctuation runs
  '!!!???...', '--', '(x)', '[[{}]]', 'a...b', '<<>> ==>', ' !!! ', '$100.00', '@#%&*', 'e.g., i.e.;',
  '"quoted"', '\u201csmart quotes\u201d', '\u2014dash\u2013', 'a/b\\c',
  // non-ASCII Latin and other scripts
  'caf\u00e9', 'na\u00efve fa\u00e7ade', 'Stra\u00dfe', '\u00df\u1e9e', '\u00c5ngstr\u00f6m',
  'e\u0301', // e and a combining acute: the mark is neither letter nor digit
  '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8', '\u4e2d\u6587\u5b57\u7b26', '\ud55c\uad6d\uc5b4',
  '\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac', '\u0420\u0443\u0441\u0441\u043a\u0438\u0439',
  '\u0627\u0644\u0639\u0631\u0628\u064a\u0629', '\u0939\u093f\u0928\u094d\u0926\u0940', '\u0e44\u0e17\u0e22',
  // emoji, including sequences of several code points
  '\u{1F600}', '\u{1F44D}\u{1F3FD}', '\u{1F1E9}\u{1F1EA}\u{1F1EF}\u{1F1F5}',
  '\u{1F468}\u200d\u{1F469}\u200d\u{1F467}\u200d\u{1F466}', '\u2764\ufe0f', 'I \u2764\ufe0f \u{1F355}!',
  'zero\u200bwidth',
  // control characters
  'nul\u0000byte', 'bell\u0007',
  // mixed
  'GPT-2 costs $5.00 (approx.) \u2014 na\u00efve \u65e5\u672c \u{1F600}\n',
  'The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX! 1 2 3 4 5\n\n  Indented\tline',
  'def f(x):\n    return x ** 2  # square\n',
  '<a href="https://example.com/path?q=1&r=2">link</a>',
  // The special token as text: encoded as ordinary text, as GPT-2's encoder does.
  '<|endoftext|>', 'a<|endoftext|>b',
];

const pairs = texts.map(text => {
  if (/[\u0085\ufeff]/u.test(text)) throw new Error(`${JSON.stringify(text)}: JavaScript's \\s differs from GPT-2's here`);
  const ids = encode(text);
  if (!ids.every(id => Number.isInteger(id) && id >= 0 && id <= 50256))
    throw new Error(`${JSON.stringify(text)}: the encoder gave ids outside the vocabulary: ${ids}`);
  if (decode(ids) !== text) throw new Error(`${JSON.stringify(text)}: ids do not decode to the text`);
  return { text, ids };
});

const out = path.join(__dirname, 'pairs.json');
fs.writeFileSync(out, '[\n' + pairs.map(p => '  ' + JSON.stringify(p)).join(',\n') + '\n]\n');
console.log(`wrote ${pairs.length} pairs to ${out}`);
